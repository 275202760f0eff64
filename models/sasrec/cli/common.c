/* realpath is XSI, not in the POSIX base set the Makefile asks for. */
#define _DEFAULT_SOURCE
#include "models/sasrec/cli/common.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models/sasrec/cli/preset.h"
#include "models/sasrec/data/synthetic.h"
#include "io/atomic_file.h"
#include "models/sasrec/io/regular_file.h"
#include "base/parallel.h"

int app_fail(const char *cmd, const NnError *err, int code) {
    fprintf(stderr, "sasrec %s: %s\n", cmd, err->msg);
    return err->resource ? APP_EXIT_RESOURCES : code;
}

int app_parse(const char *cmd, const char *usage, int argc, char **argv, RunConfig *c,
              int (*table)(RunConfig *, Flag *)) {
    Flag flags[CONFIG_MAX_FLAGS];
    RunConfig start = *c;
    int n = table(c, flags), help = 0;
    NnError err;
    if (preset_parse(cmd, argc, argv, flags, n, c, &start, &help, &err)) {
        fprintf(stderr, "sasrec %s\n", err.msg);
        return 2;
    }
    if (help) {
        flags_print_help(stdout, usage, flags, n);
        for (int k = 0; k < n; k++)
            if (flags[k].dest == (void *)&c->preset) preset_print(stdout); /* the table takes --preset */
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

/* The real path of the folder holding path into buf (trailing slashes dropped; a path ending in . or .. is
 * resolved first, so that "m/." is m, held by m's parent); NULL if it cannot be resolved. */
static char *real_folder(const char *path, char *buf) {
    char dir[PATH_MAX];
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    if (n >= sizeof dir) return NULL;
    memcpy(dir, path, n);
    dir[n] = '\0';
    char *slash = strrchr(dir, '/'), *base = slash ? slash + 1 : dir;
    if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        if (!realpath(dir, buf)) return NULL;
        slash = strrchr(buf, '/');
        if (slash == buf) slash[1] = '\0'; /* held by the root */
        else *slash = '\0';
        return buf;
    }
    if (!slash) return realpath(".", buf);
    if (slash == dir) slash[1] = '\0';
    else *slash = '\0';
    return realpath(dir, buf);
}

/* Whether dir holds a model folder's signature: a config.json that sasrec train writes, or a config.json
 * beside a model.safetensors (one whose config.json is damaged is still a model folder). */
static int is_model_folder(const char *dir) {
    char config[PATH_MAX + 32], model[PATH_MAX + 32];
    snprintf(config, sizeof config, "%s/%s", strcmp(dir, "/") ? dir : "", CONFIG_FILE);
    snprintf(model, sizeof model, "%s/%s", strcmp(dir, "/") ? dir : "", TRAIN_MODEL_FILE);
    struct stat st;
    if (stat(config, &st) != 0) return 0;
    if (stat(model, &st) == 0) return 1;
    char *buf = NULL;
    size_t len;
    int ours = regular_file_read(config, CONFIG_MAX_BYTES, &buf, &len, NULL) == 0 && config_recognise(buf, len);
    free(buf);
    return ours;
}

/* The innermost model folder that holds folder (a real path) at any depth, into found; 0 if none. */
static int model_folder_around(const char *folder, char *found, size_t size) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", folder);
    for (;;) {
        if (is_model_folder(dir)) {
            snprintf(found, size, "%s", dir);
            return 1;
        }
        char *slash = strrchr(dir, '/');
        if (!slash || strcmp(dir, "/") == 0) return 0;
        if (slash == dir) slash[1] = '\0'; /* up to the root */
        else *slash = '\0';
    }
}

int app_check_outside_models(const char *cmd, const char *flag, const char *path, NnError *err) {
    char folder[PATH_MAX], model[PATH_MAX];
    if (real_folder(path, folder) && model_folder_around(folder, model, sizeof model))
        return nn_fail(err, "%s: %s %s is inside the model folder %s, whose files it could destroy (sasrec train "
                            "alone writes there, into the folder it replaces); write it elsewhere", cmd, flag, path,
                       model);
    return 0;
}

int app_check_output(const char *cmd, const char *flag, const char *path, const char *const *inputs, int n,
                     NnError *err) {
    struct stat out, in;
    int exists = lstat(path, &out) == 0;
    if (exists && S_ISLNK(out.st_mode))
        return nn_fail(err, "%s: %s %s is a symbolic link; sasrec writes no output through a link (give the real "
                            "path)", cmd, flag, path);
    if (exists && S_ISDIR(out.st_mode))
        return nn_fail(err, "%s: %s %s is a folder; give the path of a file", cmd, flag, path);
    for (int i = 0; exists && i < n; i++) /* by device and inode: through links, hard links and other spellings */
        if (inputs[i] && stat(inputs[i], &in) == 0 && in.st_dev == out.st_dev && in.st_ino == out.st_ino)
            return nn_fail(err, "%s: %s %s is the input %s, which this run reads; write the output elsewhere", cmd,
                           flag, path, inputs[i]);
    if (app_check_outside_models(cmd, flag, path, err)) return -1;
    NnError e;
    AtomicFile *af = atomic_open(path, &e); /* creates, then drops, a temporary file beside path */
    if (!af) return nn_fail(err, "%s: %s %s cannot be written: %s", cmd, flag, path, e.msg);
    atomic_abort(af);
    return 0;
}

int app_load_data(const RunConfig *c, const Dataset *item_vocab, int min_interactions, Dataset *ds, NnError *err) {
    if (!c->data) {
        SyntheticOptions so = synthetic_default_options();
        if (synthetic_generate(&so, ds, err)) return -1;
        if (!item_vocab) return 0;
        /* a model trained on the synthetic data: its vocabulary must be the same */
        if (item_vocab->n_items != ds->n_items) {
            int64_t has = ds->n_items; /* read before the data set goes */
            dataset_free(ds);
            return nn_fail(err,
                           "the model was not trained on the built-in synthetic data (it knows %lld items, the data "
                           "has %lld); give --data with the file it was trained on",
                           (long long)item_vocab->n_items, (long long)has);
        }
        return 0;
    }
    LoadOptions lo = c->load;
    lo.min_interactions = min_interactions;
    return dataset_load(c->data, &lo, item_vocab, ds, err);
}

int app_check_data_for_model(const char *cmd, const RunConfig *c, NnError *err) {
    if (c->data || c->trained_on_builtin) return 0;
    return nn_fail(err, "%s: --model %s was not trained on the built-in synthetic data (its %s names the data it came "
                        "from); give --data with that file: a model is never scored on data it did not come from",
                   cmd, c->model_dir, CONFIG_FILE);
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
