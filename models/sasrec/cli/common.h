/* What the subcommands share: flags, input and output checks, data loading. */
#ifndef NN_MODELS_SASREC_CLI_COMMON_H
#define NN_MODELS_SASREC_CLI_COMMON_H

#include "models/sasrec/cli/config.h"
#include "models/sasrec/data/dataset.h"
#include "models/sasrec/data/sample.h"
#include "models/sasrec/memory_plan.h"

#define APP_CONTINUE -1 /* app_parse: go on with the command */

/* Exit codes of the sasrec program (README, main.c); 130 and 143 for SIGINT and SIGTERM (signals.h). */
#define APP_EXIT_DATA       1 /* a problem the data revealed, or a write that failed during the run */
#define APP_EXIT_USAGE      2 /* a bad command line or an unusable path, found before any work */
#define APP_EXIT_NOT_FINITE 3 /* the loss or the model's scores became NaN or infinite */
#define APP_EXIT_RESOURCES  4 /* not enough memory or disk space */

/* Parses argv with the table of cmd into c (defaults already in c). Returns
 * APP_CONTINUE, 0 after printing --help, or 2 after printing the error. */
int app_parse(const char *cmd, const char *usage, int argc, char **argv, RunConfig *c,
              int (*table)(RunConfig *, Flag *));
/* 0 if path is a readable regular file; else a message naming flag and path. */
int app_check_input(const char *cmd, const char *flag, const char *path, NnError *err);
/* 0 if dir is a model folder written by sasrec train (it holds config.json and the model). */
int app_check_model_dir(const char *cmd, const char *dir, NnError *err);
/* The check every single-file writer (predict --out, explain --dot, gen --out) makes before any work: path
 * is not a symbolic link or a folder; it is none of the n inputs (NULL entries skipped; compared by device
 * and inode, so through links and other spellings); no model folder holds it at any depth (a folder with
 * sasrec's config.json, or a config.json and a model.safetensors; resolved through links); and a file can
 * be created there (its folder exists and is writable, path is absent or a regular file). 0, or -1 and a
 * message naming the path and why (the caller exits 2). */
int app_check_output(const char *cmd, const char *flag, const char *path, const char *const *inputs, int n,
                     NnError *err);
/* Loads c->data (or the built-in synthetic data when c->data is NULL) with
 * users of at least min_interactions; item_vocab as in dataset_load. */
int app_load_data(const RunConfig *c, const Dataset *item_vocab, int min_interactions, Dataset *ds, NnError *err);
/* 0 if no model folder holds the folder of path, at any depth and through links (the part of app_check_output
 * that train --out, a folder written by stage.h, needs too); else -1 and a message (exit 2). */
int app_check_outside_models(const char *cmd, const char *flag, const char *path, NnError *err);
/* Without --data, eval and predict read the built-in synthetic data; 0 if the model came from it (config.json,
 * read into c), else -1 and a message asking for --data (the caller exits 2). */
int app_check_data_for_model(const char *cmd, const RunConfig *c, NnError *err);
/* The evaluation negatives: read from c->sample_file or generated from c->sample_seed by
 * c->sample_method (auto: by size, SAMPLE_S3REC_MAX_COST); prints a line saying which. */
int app_samples(const RunConfig *c, const Dataset *ds, SampleSet *out, NnError *err);
/* The memory plan of cmd with c's flags, model mc (n_items set) and data ds: 0 if it fits the memory
 * available, else -1 and the message of memory_plan_check (the caller exits 2). */
int app_plan(PlanCommand cmd, const RunConfig *c, const SasrecConfig *mc, const Dataset *ds, NnError *err);
/* Prints "sasrec <cmd>: <message>" to stderr and returns code, or APP_EXIT_RESOURCES when err->resource. */
int app_fail(const char *cmd, const NnError *err, int code);

#endif
