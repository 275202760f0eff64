/* Every setting of a run, in one struct whose members are the settings
 * types of the code they configure: the data loader's, the model's, the
 * training run's and the evaluation's. Each has its defaults in one function
 * (dataset_default_options, sasrec_default_config, train_default_config,
 * eval_default_options); the flag tables point straight into the members.
 * The train subcommand writes them to DIR/config.json so that eval and
 * predict rebuild the same model. */
#ifndef NN_MODELS_SASREC_CLI_CONFIG_H
#define NN_MODELS_SASREC_CLI_CONFIG_H

#include "models/sasrec/io/sha256.h"
#include "models/sasrec/cli/flags.h"
#include "models/sasrec/data/dataset.h"
#include "models/sasrec/train.h"

#define CONFIG_FILE      "config.json"
#define CONFIG_MARKER    "sasrec_model_folder" /* config.json's first key: marks a folder this program wrote, */
#define CONFIG_VERSION   1                     /* with the version of the folder's layout as its value */
#define CONFIG_MAX_BYTES (1 << 20)               /* the largest config.json read */
#define CONFIG_MPI_SHARDS 6 /* --shards in a build with MPI: 1, 2, 3 and 6 ranks divide it */

/* The SHA-256 of the files of a model folder other than config.json, which records them. */
typedef struct {
    int present; /* 0: a folder written before checksums were recorded (no CONFIG_MARKER key) */
    Sha256Hex items, users, model; /* items.txt, users.txt, model.safetensors */
    int has_popular;   /* 0: a folder written before popular.txt (data/popularity.h) was added */
    Sha256Hex popular; /* popular.txt */
} ModelChecksums;

/* sasrec serve's settings (docs/sasrec.md, section 7.1). */
typedef struct {
    int batch;        /* requests per encoder pass, 256 */
    int64_t wait_us;  /* how long the first request of a pass waits for others to arrive, 200 us */
    int64_t max_k;    /* the largest k a request may ask for, 1000 */
    int64_t max_line; /* the longest request line in bytes, 1 MiB */
} ServeConfig;

/* How the data is cut into training, validation and test (--split). */
typedef enum {
    SPLIT_KIND_LOO,  /* leave-one-out: each user's last item tests, the one before validates (the seed) */
    SPLIT_KIND_TIME, /* by time: --valid-from and --test-from (models/sasrec/data/timesplit.h) */
} SplitKind;

typedef struct {
    /* data */
    const char *data; /* NULL: the built-in synthetic data */
    LoadOptions load; /* format and csv columns; min_interactions is set per subcommand */
    SplitKind split;  /* SPLIT_KIND_LOO */
    const char *valid_from, *test_from; /* SPLIT_KIND_TIME: the times, as given (checked by config_check) */
    char split_times[2][64];            /* eval: valid_from and test_from as config.json records them */
    const char *init;                   /* train --init: the model folder to start from (warm start) */
    int has_parent;                     /* --init given: parent_model is the parent's model.safetensors digest */
    Sha256Hex parent_model;
    /* what the subcommands run */
    SasrecConfig model; /* n_items comes from the data (train) or config.json (eval, predict) */
    TrainConfig train;
    EvalOptions eval;        /* samples and graph are set when the run has them */
    const char *sample_file; /* sampled protocol: the negatives of this file, or generated: */
    uint64_t sample_seed;    /* the seed of generated negatives, SAMPLE_DEFAULT_SEED */
    SampleMethod sample_method; /* how they are generated: SAMPLE_AUTO (by size), SAMPLE_S3REC or SAMPLE_FAST */
    int threads;             /* every core (or OMP_NUM_THREADS): results do not depend on it */
    int64_t k;               /* predict: items per user; serve: per request unless it says; 10 */
    ServeConfig serve;
    /* files */
    const char *out;       /* train: the model folder ("run"); predict: the CSV file */
    const char *model_dir; /* eval, predict: the model folder */
    const char *dot;       /* explain: Graphviz file of one training step */
    int profile;           /* explain: print the profile of one training step instead of the data flow */
    const char *svg;       /* explain: the profile's bar chart (SVG) goes here; implies profile */
    int profile_clock;     /* explain: 0 wall time, 1 the main thread's CPU time (ProfileClock) */
    const char *preset;    /* train: the --preset its settings started from (preset.h), or NULL */
    int force;             /* train: replace a non-empty --out that is not a model folder (kept aside whole) */
    ModelChecksums checksums; /* train: written to config.json; eval, predict: read from it */
    int trained_on_builtin;   /* eval, predict: config.json's "data" is null (trained on the built-in synthetic data) */
    int model_protocol;       /* eval, compare: the protocol config.json records ("eval"), or -1 when it has none */
} RunConfig;

/* The defaults of every setting (docs/sasrec.md, sections 3 to 5), output in run/; config.json is section 7. */
RunConfig config_defaults(void);

/* Flag tables of the subcommands over c; return the number of flags (at most CONFIG_MAX_FLAGS). */
#define CONFIG_MAX_FLAGS 48
int config_train_flags(RunConfig *c, Flag *flags);
int config_eval_flags(RunConfig *c, Flag *flags);
int config_predict_flags(RunConfig *c, Flag *flags);
int config_explain_flags(RunConfig *c, Flag *flags);
int config_serve_flags(RunConfig *c, Flag *flags);
/* Checks settings that involve several flags (hidden % heads, ...); -1 and a one-line message. */
int config_check(const RunConfig *c, const char *cmd, NnError *err);

/* The times of --split time as TimeKeys (valid_from = test_from without --valid-from); -1 naming the flag. */
int config_split_times(const RunConfig *c, const char *cmd, TimeKey *valid_from, TimeKey *test_from, NnError *err);
/* Checks --split, --valid-from and --test-from together (part of config_check); -1 and a one-line message. */
int config_check_split(const RunConfig *c, const char *cmd, NnError *err);

/* Writes every setting (c->model.n_items included) and c->checksums as DIR/config.json, atomically. */
int config_write(const char *dir, const RunConfig *c, NnError *err);
/* Reads the model settings (n_items included) of DIR/config.json into c->model (and the loss into c->train), its
 * checksums into c->checksums, its split (--split, the times into c->split_times) into c, and whether it came from the built-in data into c->trained_on_builtin, DIR being open
 * as dirfd (openat); -1 and a message naming the file and the setting. */
int config_read_model(int dirfd, const char *dir, RunConfig *c, NnError *err);
/* Whether buf holds a config.json this program wrote (with CONFIG_MARKER, or an older one without it). */
int config_recognise(const char *buf, size_t len);
/* config_read_model on the bytes of a config.json; path names it in messages. */
int config_parse_model(const char *path, const char *buf, size_t len, RunConfig *c, NnError *err);
/* dir/name into buf (aborts if it does not fit). */
const char *config_path(char *buf, size_t size, const char *dir, const char *name);

#endif
