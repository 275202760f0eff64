/* Loading a trained model folder for eval and predict: settings, ids, weights,
 * each file checked before anything is built from it.
 *
 * Order: config.json (a regular file of at most 1 MiB, every setting in its
 * range); items.txt and model.safetensors read as regular files of bounded
 * size (a FIFO or a link to a device is refused without blocking) and, when
 * config.json records checksums, checked against them (a folder mixing two
 * runs, or a shuffled items.txt, is refused); the checkpoint's header checked
 * against config.json (the item and position tables and the number of blocks)
 * and against the machine's memory; only then is the model built and the
 * weights loaded (names, shapes, finite values: nn/checkpoint.h).
 *
 * popular.txt (models/sasrec/data/popularity.h) is read when config.json
 * records its checksum; a folder written before it existed loads without it
 * (lm->popular NULL: serve and predict then have no most-popular fallback).
 *
 * The folder is opened once and every file read relative to it (openat), so
 * that one load sees one folder while sasrec train swaps a new one into its
 * place; a load that failed because the old folder's files were removed
 * meanwhile starts again from the new folder.
 *
 * A folder written before checksums were recorded (config.json without
 * CONFIG_MARKER) still loads, checked as above but without checksums: lm->legacy
 * is set and the commands print a one-line note suggesting to retrain. */
#ifndef NN_MODELS_SASREC_CLI_MODEL_DIR_H
#define NN_MODELS_SASREC_CLI_MODEL_DIR_H

#include "models/sasrec/cli/common.h"

typedef struct {
    Dataset vocab; /* the model's items (idmap) */
    Sasrec model;
    int legacy; /* config.json records no checksums (an older folder) */
    int64_t *popular; /* (n_items + 1) each item's count in the training part (popular.txt); NULL: none */
} LoadedModel;

/* Reads c->model_dir's config.json (model settings into c->model), items.txt
 * and model.safetensors. -1 and a message naming the file on any problem
 * (err->resource when memory is what lacks). */
int app_load_model(RunConfig *c, LoadedModel *lm, NnError *err);
/* app_load_model on files already in memory (the fuzz harness): names stand for paths in messages. */
int app_load_model_buffers(RunConfig *c, const char *config, size_t config_len, const char *items, size_t items_len,
                           char *checkpoint, size_t checkpoint_len, LoadedModel *lm, NnError *err);
/* Without --eval in argv, evaluates by the protocol the model was selected by (config.json's "eval"), and says
 * so on stderr when that is not the default: a model trained with --eval full is not ranked against 100
 * sampled items without a word. */
void app_model_protocol(const char *cmd, int argc, char **argv, RunConfig *c);
/* Whether argv types --eval (as "--eval V" or "--eval=V"). */
int app_eval_given(int argc, char **argv);
/* Prints the one-line note for a legacy folder (see above), if lm is one. */
void app_note_legacy(const char *cmd, const RunConfig *c, const LoadedModel *lm);
/* Frees what app_load_model built. */
void app_free_model(LoadedModel *lm);

#endif
