/* Every setting of a run: data, model, training, evaluation, output. The
 * train subcommand writes them to DIR/config.json so that eval and predict
 * rebuild the same model. */
#ifndef SASREC_CONFIG_H
#define SASREC_CONFIG_H

#include "models/sasrec/cli/flags.h"
#include "models/sasrec/model.h"

#define CONFIG_FILE "config.json"
#define MODEL_FILE  "model.safetensors"
#define LOG_FILE    "log.jsonl"
#define CURVE_FILE  "curve.svg"

typedef struct {
    /* data */
    const char *data;                           /* NULL: the built-in synthetic data */
    int format;                                 /* DataFormat */
    const char *user_col, *item_col, *time_col; /* csv columns, NULL: by name */
    /* model */
    int64_t max_len, hidden, layers, heads;
    double dropout, attn_dropout, init_std;
    int norm; /* NormPlacement */
    int mask; /* MaskKind */
    /* training */
    int64_t batch, epochs, patience, seed, threads;
    double lr, weight_decay, clip; /* clip 0: off */
    int loss;                      /* LossKind */
    int dense;                     /* 1: the dense step (padding included) instead of the length-aware one */
    /* evaluation */
    int protocol; /* Protocol */
    const char *sample_file;
    int64_t sample_seed;
    int seen; /* SeenPolicy */
    int64_t eval_batch;
    int64_t k; /* predict: items per user */
    /* output */
    const char *out;   /* train: the model folder; predict: the CSV file */
    const char *model; /* eval, predict: the model folder */
    const char *dot;   /* explain: Graphviz file of one training step */
} RunConfig;

/* The seed's defaults (docs/sasrec.md), output in run/. */
RunConfig config_defaults(void);
/* The model settings of a run for a catalogue of n_items. */
SasrecConfig config_model(const RunConfig *c, int64_t n_items);

/* Flag tables of the subcommands over c; return the number of flags (at most CONFIG_MAX_FLAGS). */
#define CONFIG_MAX_FLAGS 48
int config_train_flags(RunConfig *c, Flag *flags);
int config_eval_flags(RunConfig *c, Flag *flags);
int config_predict_flags(RunConfig *c, Flag *flags);
int config_explain_flags(RunConfig *c, Flag *flags);
/* Checks settings that involve several flags (hidden % heads, ...); -1 and a one-line message. */
int config_check(const RunConfig *c, const char *cmd, NnError *err);

/* Writes every setting and n_items as DIR/config.json, atomically. */
int config_write(const char *dir, const RunConfig *c, int64_t n_items, NnError *err);
/* Reads the model settings (and n_items) of DIR/config.json into c; -1 and a message naming the file and the setting.
 */
int config_read_model(const char *dir, RunConfig *c, int64_t *n_items, NnError *err);
/* config_read_model on the bytes of a config.json; path names it in messages. */
int config_parse_model(const char *path, const char *buf, size_t len, RunConfig *c, int64_t *n_items, NnError *err);
/* dir/name into buf (aborts if it does not fit). */
const char *config_path(char *buf, size_t size, const char *dir, const char *name);

#endif
