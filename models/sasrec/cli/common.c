/* realpath is XSI, not in the POSIX base set the Makefile asks for. */
#define _DEFAULT_SOURCE
#include "models/sasrec/cli/common.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models/sasrec/data/synthetic.h"
#include "io/atomic_file.h"
#include "base/parallel.h"

int app_fail(const char *cmd, const NnError *err, int code) {
    fprintf(stderr, "sasrec %s: %s\n", cmd, err->msg);
    return err->resource ? APP_EXIT_RESOURCES : code;
}

int app_parse(const char *cmd, const char *usage, int argc, char **argv, RunConfig *c,
              int (*table)(RunConfig *, Flag *)) {
    Flag flags[CONFIG_MAX_FLAGS];
    int n = table(c, flags), help = 0;
    NnError err;
    if (flags_parse(cmd, argc, argv, flags, n, &help, &err)) {
        fprintf(stderr, "sasrec %s\n", err.msg);
        return 2;
    }
    if (help) {
        flags_print_help(stdout, usage, flags, n);
        return 0;
    }
    if (config_check(c, cmd, &err)) {
        fprintf(stderr, "sasrec %s\n", err.msg);
        return 2;
    }
    nn_set_threads(c->threads);
    return APP_CONTINUE;
}

int app_check_input(const char *cmd, const char *flag, const char *path, NnError *err) {
    struct stat st;
    if (stat(path, &st) != 0) return nn_fail(err, "%s: %s %s: %s", cmd, flag, path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return nn_fail(err, "%s: %s %s is a folder, expected a file", cmd, flag, path);
    FILE *f = fopen(path, "rb");
    if (!f) return nn_fail(err, "%s: %s %s: %s", cmd, flag, path, strerror(errno));
    fclose(f);
    return 0;
}

int app_check_model_dir(const char *cmd, const char *dir, NnError *err) {
    struct stat st;
    if (stat(dir, &st) != 0) return nn_fail(err, "%s: --model %s: %s", cmd, dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return nn_fail(err, "%s: --model %s is not a folder (give the folder sasrec train wrote)", cmd, dir);
    const char *needed[] = {CONFIG_FILE, TRAIN_MODEL_FILE};
    for (int i = 0; i < 2; i++) {
        char path[4096];
        config_path(path, sizeof path, dir, needed[i]);
        if (stat(path, &st) != 0)
            return nn_fail(err, "%s: --model %s holds no %s (is it a folder written by sasrec train?)", cmd, dir,
                           needed[i]);
    }
    return 0;
}

int app_check_output_file(const char *cmd, const char *flag, const char *path, NnError *err) {
    NnError e;
    AtomicFile *af = atomic_open(path, &e); /* creates, then drops, a temporary file beside path */
    if (!af) return nn_fail(err, "%s: %s %s cannot be written: %s", cmd, flag, path, e.msg);
    atomic_abort(af);
    return 0;
}

/* The real path of the folder holding path into buf; NULL if it cannot be resolved. */
static char *real_folder(const char *path, char *buf) {
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash) return realpath(".", buf);
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= sizeof dir) return NULL;
    memcpy(dir, path, n);
    dir[n] = '\0';
    return realpath(dir, buf);
}

int app_check_output_apart(const char *cmd, const char *flag, const char *path, const char *model_dir,
                           const char *const *inputs, int n, NnError *err) {
    if (app_check_output_file(cmd, flag, path, err)) return -1;
    char folder[PATH_MAX], model[PATH_MAX];
    if (model_dir && real_folder(path, folder) && realpath(model_dir, model)) {
        size_t m = strlen(model);
        if (strncmp(folder, model, m) == 0 && (folder[m] == '\0' || folder[m] == '/' || m == 1))
            return nn_fail(err, "%s: %s %s is inside the --model folder %s, whose files it could destroy; write it "
                                "elsewhere", cmd, flag, path, model_dir);
    }
    struct stat out, in;
    if (stat(path, &out) != 0) return 0; /* a new file cannot be an input */
    for (int i = 0; i < n; i++)
        if (inputs[i] && stat(inputs[i], &in) == 0 && in.st_dev == out.st_dev && in.st_ino == out.st_ino)
            return nn_fail(err, "%s: %s %s is the input %s; write the output elsewhere", cmd, flag, path, inputs[i]);
    return 0;
}

int app_load_data(const RunConfig *c, const Dataset *item_vocab, int min_interactions, Dataset *ds, NnError *err) {
    if (!c->data) {
        SyntheticOptions so = synthetic_default_options();
        if (synthetic_generate(&so, ds, err)) return -1;
        if (!item_vocab) return 0;
        /* a model trained on the synthetic data: its vocabulary must be the same */
        if (item_vocab->n_items != ds->n_items) {
            dataset_free(ds);
            return nn_fail(err,
                           "the model was not trained on the built-in synthetic data (%lld items, the data has %lld); "
                           "give --data",
                           (long long)item_vocab->n_items, (long long)ds->n_items);
        }
        return 0;
    }
    LoadOptions lo = c->load;
    lo.min_interactions = min_interactions;
    return dataset_load(c->data, &lo, item_vocab, ds, err);
}

int app_samples(const RunConfig *c, const Dataset *ds, SampleSet *out, NnError *err) {
    if (c->sample_file) return sample_read(c->sample_file, ds, SAMPLE_DEFAULT_NEG, out, err);
    SampleMethod m = c->sample_method == SAMPLE_AUTO ? sample_auto_method(ds) : c->sample_method;
    double cost = (double)ds->n_users * (double)ds->n_items;
    printf("samples: %d negatives per user, %s (%s: %lld users x %lld items = %.3g %s %.3g)\n", SAMPLE_DEFAULT_NEG,
           m == SAMPLE_S3REC ? "S3-Rec's lists (generate_test.py)" : "the fast sampler (uniform over unseen items)",
           c->sample_method == SAMPLE_AUTO ? "auto" : "chosen", (long long)ds->n_users, (long long)ds->n_items, cost,
           cost <= SAMPLE_S3REC_MAX_COST ? "<=" : ">", SAMPLE_S3REC_MAX_COST);
    fflush(stdout);
    int rc = m == SAMPLE_S3REC ? sample_generate(ds, SAMPLE_DEFAULT_NEG, c->sample_seed, out, err)
                               : sample_generate_fast(ds, SAMPLE_DEFAULT_NEG, c->sample_seed, out, err);
    if (rc == 0) return 0;
    char msg[sizeof err->msg];
    snprintf(msg, sizeof msg, "%s", err->msg);
    return nn_fail(err, "%s: %s (for a catalogue this small, use --eval full)", c->data ? c->data : "synthetic data",
                   msg);
}

int app_plan(PlanCommand cmd, const RunConfig *c, const SasrecConfig *mc, const Dataset *ds, NnError *err) {
    MemoryPlan plan = memory_plan(cmd, mc, &c->train, &c->eval, ds, c->k);
    return memory_plan_check(&plan, err);
}
