#include "models/sasrec/cli/model_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/memory.h"
#include "models/sasrec/io/regular_file.h"
#include "io/safetensors.h"
#include "models/sasrec/io/sha256.h"
#include "models/sasrec/data/idmap.h"
#include "models/sasrec/data/popularity.h"
#include "nn/checkpoint.h"

/* The largest items.txt of n items: each id at most DATASET_MAX_ID_BYTES and CRLF, and a byte order mark. */
static uint64_t items_bound(int64_t n_items) { return (uint64_t)n_items * (DATASET_MAX_ID_BYTES + 2) + 3; }

static int check_sum(const char *path, const Sha256Hex *want, const Sha256Hex *got, NnError *err) {
    if (strcmp(want->s, got->s) == 0) return 0;
    return nn_fail(err,
                   "%s does not match the SHA-256 that config.json records (%.12s..., the file has %.12s...): the "
                   "folder mixes files of different runs, or the file changed after training; retrain, or restore "
                   "the folder",
                   path, want->s, got->s);
}

/* Whether stored tensor name exists with shape (d0, d1); a message naming config.json's settings otherwise. */
static int expect_shape(const SafeTensors *st, const char *path, const char *name, int64_t d0, int64_t d1,
                        const char *settings, NnError *err) {
    int k = safetensors_find(st, name);
    const int64_t *shape;
    if (k >= 0 && safetensors_shape(st, k, &shape) == 2 && shape[0] == d0 && shape[1] == d1) return 0;
    return nn_fail(err, "%s: %s; config.json (%s) expects tensor '%s' of shape (%lld, %lld): the two files do not "
                        "belong together",
                   path, k < 0 ? "has no such tensor" : "its shape differs", settings, name, (long long)d0,
                   (long long)d1);
}

/* The checkpoint's header against config.json, before a model of config.json's size is built: the item and
 * position tables and the number of blocks bound the model's size by the file's. */
static int check_header(const SafeTensors *st, const char *path, const SasrecConfig *m, NnError *err) {
    char settings[200], name[96];
    const char *block = m->block == BLOCK_LIGR ? "ligr" : "sasrec";
    const char *ffn_in = m->block == BLOCK_LIGR ? "ffn.gate.weight" : "ffn.fc1.weight"; /* (ff_mult * H, H) */
    snprintf(settings, sizeof settings, "n_items %lld, max_len %lld, hidden %lld, layers %d, block %s, ff_mult %d",
             (long long)m->n_items, (long long)m->max_len, (long long)m->hidden, m->layers, block, m->ff_mult);
    int64_t H = m->hidden;
    if (expect_shape(st, path, "item_emb.weight", m->n_items + 1, H, settings, err) ||
        expect_shape(st, path, "pos_emb.weight", m->max_len, H, settings, err))
        return -1;
    for (int i = 0; i < m->layers; i++) {
        snprintf(name, sizeof name, "encoder.layers.%d.%s", i, ffn_in);
        if (expect_shape(st, path, name, (int64_t)m->ff_mult * H, H, settings, err)) return -1;
    }
    snprintf(name, sizeof name, "encoder.layers.%d.%s", m->layers, ffn_in);
    if (safetensors_find(st, name) >= 0)
        return nn_fail(err, "%s: holds more than the %d blocks config.json (%s) says: the two files do not belong "
                            "together", path, m->layers, settings);
    return 0;
}

/* DIR/popular.txt (DIR open as dir), checked against its recorded SHA-256, into lm->popular. */
static int read_popular(int dir, const RunConfig *c, LoadedModel *lm, NnError *err) {
    char path[4096];
    config_path(path, sizeof path, c->model_dir, POPULARITY_FILE);
    char *data;
    size_t len;
    /* a count is at most 19 digits and a CRLF; a byte order mark */
    if (regular_file_read_at(dir, POPULARITY_FILE, path, (uint64_t)c->model.n_items * 21 + 3, &data, &len, err))
        return -1;
    Sha256Hex got = sha256_of(data, len);
    int64_t *count = nn_malloc((size_t)(c->model.n_items + 1) * sizeof *count);
    if (check_sum(path, &c->checksums.popular, &got, err) ||
        popularity_read_buffer(path, data, len, c->model.n_items, count, err)) {
        free(data);
        free(count);
        return -1;
    }
    free(data);
    lm->popular = count;
    return 0;
}

/* Physical memory in bytes (0 if unknown). */
static double physical_bytes(void) {
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (double)pages * (double)size : 0;
}

/* Builds the model from checked parts; takes over checkpoint (freed either way). */
static int build(RunConfig *c, const char *items_path, const char *items, size_t items_len, const char *ckpt_path,
                 char *checkpoint, size_t checkpoint_len, LoadedModel *lm, NnError *err) {
    SafeTensors *st = safetensors_adopt(checkpoint, checkpoint_len, ckpt_path, err);
    if (!st || check_header(st, ckpt_path, &c->model, err)) goto fail;
    if (idmap_read_items_buffer(items_path, items, items_len, &lm->vocab, err)) goto fail;
    if (lm->vocab.n_items != c->model.n_items) {
        nn_fail(err, "%s lists %lld items but config.json says %lld", items_path, (long long)lm->vocab.n_items,
                (long long)c->model.n_items);
        goto fail;
    }
    sasrec_init(&lm->model, &c->model, 0);
    if (checkpoint_apply(st, ckpt_path, &lm->model.m, NULL, err)) goto fail;
    safetensors_free(st);
    return 0;
fail:
    safetensors_free(st);
    app_free_model(lm);
    return -1;
}

int app_load_model_buffers(RunConfig *c, const char *config, size_t config_len, const char *items, size_t items_len,
                           char *checkpoint, size_t checkpoint_len, LoadedModel *lm, NnError *err) {
    memset(lm, 0, sizeof *lm);
    if (config_parse_model(CONFIG_FILE, config, config_len, c, err)) {
        free(checkpoint);
        return -1;
    }
    lm->legacy = !c->checksums.present;
    if (c->checksums.present) {
        Sha256Hex got = sha256_of(items, items_len);
        if (check_sum(IDMAP_ITEMS, &c->checksums.items, &got, err)) {
            free(checkpoint);
            return -1;
        }
        got = sha256_of(checkpoint, checkpoint_len);
        if (check_sum(TRAIN_MODEL_FILE, &c->checksums.model, &got, err)) {
            free(checkpoint);
            return -1;
        }
    }
    return build(c, IDMAP_ITEMS, items, items_len, TRAIN_MODEL_FILE, checkpoint, checkpoint_len, lm, err);
}

/* app_load_model from the folder open as dir: every file is read relative to it. */
static int load_from(int dir, RunConfig *c, LoadedModel *lm, NnError *err) {
    memset(lm, 0, sizeof *lm);
    if (config_read_model(dir, c->model_dir, c, err)) return -1;
    lm->legacy = !c->checksums.present;
    char items_path[4096], users_path[4096], ckpt_path[4096];
    config_path(items_path, sizeof items_path, c->model_dir, IDMAP_ITEMS);
    config_path(users_path, sizeof users_path, c->model_dir, IDMAP_USERS);
    config_path(ckpt_path, sizeof ckpt_path, c->model_dir, TRAIN_MODEL_FILE);
    uint64_t ckpt_size;
    if (regular_file_size_at(dir, TRAIN_MODEL_FILE, ckpt_path, SAFETENSORS_MAX_FILE, &ckpt_size, err)) return -1;
    double need = 2.0 * (double)ckpt_size, have = physical_bytes(); /* the file, and the model at least as big */
    if (have > 0 && need > have)
        return nn_fail_resource(err, "%s: loading it needs at least %.1f GiB, more than this machine's %.1f GiB",
                                ckpt_path, need / (1 << 30), have / (1 << 30));
    char *items = NULL, *checkpoint = NULL;
    size_t items_len, ckpt_len;
    if (regular_file_read_at(dir, IDMAP_ITEMS, items_path, items_bound(c->model.n_items), &items, &items_len, err))
        return -1;
    if (c->checksums.present) {
        Sha256Hex got = sha256_of(items, items_len), users;
        if (check_sum(items_path, &c->checksums.items, &got, err) ||
            regular_file_sha256_at(dir, IDMAP_USERS, users_path, items_bound(INT32_MAX), &users, err) ||
            check_sum(users_path, &c->checksums.users, &users, err)) {
            free(items);
            return -1;
        }
    }
    if (regular_file_read_at(dir, TRAIN_MODEL_FILE, ckpt_path, SAFETENSORS_MAX_FILE, &checkpoint, &ckpt_len, err)) {
        free(items);
        return -1;
    }
    if (c->checksums.present) {
        Sha256Hex got = sha256_of(checkpoint, ckpt_len);
        if (check_sum(ckpt_path, &c->checksums.model, &got, err)) {
            free(items);
            free(checkpoint);
            return -1;
        }
    }
    int rc = build(c, items_path, items, items_len, ckpt_path, checkpoint, ckpt_len, lm, err);
    free(items);
    if (rc == 0 && c->checksums.has_popular && read_popular(dir, c, lm, err)) {
        app_free_model(lm);
        return -1;
    }
    return rc;
}

/* Whether the folder open as dir is no longer the one at path (sasrec train put another in its place). */
static int replaced(int dir, const char *path) {
    struct stat open_st, now;
    if (fstat(dir, &open_st) != 0 || stat(path, &now) != 0) return 1;
    return open_st.st_dev != now.st_dev || open_st.st_ino != now.st_ino;
}

int app_load_model(RunConfig *c, LoadedModel *lm, NnError *err) {
    /* the folder is opened once and every file read relative to it, so one load sees one folder even while
     * train swaps a new one into its place; train then removes the files of the old one, so a load that failed
     * while the path came to name another folder starts again from the new one */
    for (int attempt = 1;; attempt++) {
        int dir = open(c->model_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0) return nn_fail_os(err, errno, "--model %s", c->model_dir);
        int rc = load_from(dir, c, lm, err), again = rc != 0 && attempt < 5 && replaced(dir, c->model_dir);
        close(dir);
        if (!again) return rc;
    }
}

int app_eval_given(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--eval") || !strncmp(argv[i], "--eval=", 7)) return 1;
    return 0;
}

void app_model_protocol(const char *cmd, int argc, char **argv, RunConfig *c) {
    if (app_eval_given(argc, argv) || c->model_protocol < 0 || c->model_protocol == (int)c->eval.protocol) return;
    c->eval.protocol = (Protocol)c->model_protocol;
    fprintf(stderr, "sasrec %s: ranking by the model's protocol, %s (its %s records \"eval\": \"%s\"); "
                    "--eval %s for the other\n",
            cmd, metrics_protocol_name(c->eval.protocol), CONFIG_FILE, metrics_protocol_name(c->eval.protocol),
            c->eval.protocol == PROTOCOL_FULL ? "sample" : "full");
}

void app_note_legacy(const char *cmd, const RunConfig *c, const LoadedModel *lm) {
    if (lm->legacy)
        fprintf(stderr,
                "sasrec %s: note: %s/%s records no checksums (written by an earlier sasrec): its files were checked "
                "against each other but cannot be proven to come from one run; retrain to get checksums\n",
                cmd, c->model_dir, CONFIG_FILE);
}

void app_free_model(LoadedModel *lm) {
    free(lm->popular);
    lm->popular = NULL;
    sasrec_free(&lm->model);
    dataset_free(&lm->vocab);
}
