#include "models/sasrec/cli/serve_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/memory.h"
#include "models/sasrec/io/sha256.h"

#define CONFIG_MAX_BYTES (1 << 20)

/* The folder's identity: its inode and config.json's SHA-256; -1 if either cannot be read. */
static int identity(const char *dir, dev_t *dev, ino_t *ino, char digest[65]) {
    struct stat st;
    if (stat(dir, &st) != 0) return -1;
    *dev = st.st_dev;
    *ino = st.st_ino;
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char *buf = nn_malloc(CONFIG_MAX_BYTES);
    size_t n = fread(buf, 1, CONFIG_MAX_BYTES, f);
    fclose(f);
    Sha256Hex h = sha256_of(buf, n);
    free(buf);
    memcpy(digest, h.s, 65);
    return 0;
}

/* The model's scores for its most popular item (or item 1) alone: NaN or infinite ones refuse the model. */
static int scores_finite(Recommender *r) {
    int32_t item = r->pop_order ? r->pop_order[0] : 1, top;
    real score;
    RecRequest q = {.items = &item, .n_items = 1, .k = 1};
    RecAnswer a = {.item = &top, .score = &score};
    recommend(r, &q, &a, 1);
    return a.from != REC_NOT_FINITE;
}

int serve_model_load(ServeModel *m, const RunConfig *flags, NnError *err) {
    for (int attempt = 0;; attempt++) {
        *m = (ServeModel){.c = *flags};
        dev_t dev;
        ino_t ino;
        char before[65];
        if (identity(flags->model_dir, &m->dev, &m->ino, before))
            return nn_fail(err, "cannot read %s/config.json", flags->model_dir);
        if (app_load_model(&m->c, &m->lm, err)) return -1;
        int same = !identity(flags->model_dir, &dev, &ino, m->digest) && dev == m->dev && ino == m->ino &&
                   strcmp(before, m->digest) == 0;
        if (!same) { /* replaced while it was read: read the new one */
            app_free_model(&m->lm);
            if (attempt < 5) continue;
            return nn_fail(err, "%s kept changing while it was read", flags->model_dir);
        }
        break;
    }
    recommender_init(&m->rec, &m->lm.model, m->lm.popular, m->c.serve.batch);
    if (!scores_finite(&m->rec)) {
        serve_model_free(m);
        return nn_fail(err, "the model in %s gives NaN or infinite scores; retrain it", flags->model_dir);
    }
    return 0;
}

void serve_model_free(ServeModel *m) {
    recommender_free(&m->rec);
    app_free_model(&m->lm);
    memset(m, 0, sizeof *m);
}

int serve_model_changed(const ServeModel *m) {
    struct stat st;
    if (stat(m->c.model_dir, &st) != 0) return 1;
    if (st.st_dev != m->dev || st.st_ino != m->ino) return 1;
    dev_t dev;
    ino_t ino;
    char digest[65];
    return identity(m->c.model_dir, &dev, &ino, digest) || strcmp(digest, m->digest) != 0;
}
