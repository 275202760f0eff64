/* sasrec predict: the top-K unseen items of every user, as CSV (user,item). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "io/atomic_file.h"
#include "models/sasrec/cli/commands.h"
#include "models/sasrec/cli/model_dir.h"
#include "models/sasrec/eval.h"
#include "models/sasrec/score_check.h"
#include "models/sasrec/topk.h"

static const char *USAGE = "usage: sasrec predict --model DIR --out FILE.csv [--data PATH] [--k 10] [flags]\n"
                           "Writes, for every user of --data, the K items the model ranks highest among those the\n"
                           "user has not interacted with, reading the user's whole sequence: CSV with the header\n"
                           "user,item and K rows per user, in raw ids (the Boostcamp submission format).";

/* A CSV field, quoted when it holds a comma, a quote or a line break. */
static void write_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* What the visit of each batch of user vectors needs: the top K unseen items of every user go to f. */
typedef struct {
    const Dataset *ds;
    const Tensor *items; /* the item table (N + 1, H) */
    FILE *f;
    int64_t k;
    int32_t *top;            /* (batch, k) */
    const int32_t **exclude; /* (batch) each user's sequence */
    int64_t *n_exclude;      /* (batch) */
    int64_t *count;          /* (batch) */
    int64_t rows;            /* rows written */
    int64_t nonfinite;       /* users whose scores were NaN or infinite: none of theirs is written */
} Writer;

static void write_top_k(void *ctx, const SeqBatch *b, const Tensor *U) {
    Writer *w = ctx;
    for (int i = 0; i < b->B; i++) w->exclude[i] = dataset_seq(w->ds, b->user[i], &w->n_exclude[i]);
    topk_items(w->items, U->data, b->B, w->k, w->exclude, w->n_exclude, w->top, NULL, w->count);
    for (int i = 0; i < b->B; i++) {
        if (w->count[i] < 0) { /* NaN or infinite scores: score_check.h */
            w->nonfinite++;
            continue;
        }
        for (int64_t k = 0; k < w->count[i]; k++) {
            write_field(w->f, w->ds->user_ids[b->user[i]]);
            fputc(',', w->f);
            write_field(w->f, w->ds->item_ids[w->top[i * w->k + k]]);
            fputc('\n', w->f);
        }
        w->rows += w->count[i];
    }
}

int app_predict(int argc, char **argv) {
    RunConfig c = config_defaults();
    c.out = NULL;
    int rc = app_parse("predict", USAGE, argc, argv, &c, config_predict_flags);
    if (rc != APP_CONTINUE) return rc;
    NnError err;
    if (!c.model_dir || !c.out) {
        fprintf(stderr, "sasrec predict: %s is required\n", !c.model_dir ? "--model DIR" : "--out FILE.csv");
        return 2;
    }
    const char *inputs[] = {c.data};
    if (app_check_model_dir("predict", c.model_dir, &err) ||
        (c.data && app_check_input("predict", "--data", c.data, &err)) ||
        app_check_output_apart("predict", "--out", c.out, c.model_dir, inputs, 1, &err)) {
        fprintf(stderr, "sasrec %s\n", err.msg);
        return 2;
    }
    double started = clock_seconds();
    LoadedModel lm;
    if (app_load_model(&c, &lm, &err)) return app_fail("predict", &err, APP_EXIT_DATA);
    app_note_legacy("predict", &c, &lm);
    Dataset ds = {0};
    int code = 1;
    AtomicFile *af = NULL;
    if (app_load_data(&c, &lm.vocab, 1, &ds, &err)) goto fail;
    if (c.k > ds.n_items) {
        nn_fail(&err, "--k %lld is larger than the %lld items the model knows", (long long)c.k, (long long)ds.n_items);
        goto fail;
    }
    if (app_plan(PLAN_PREDICT, &c, &lm.model.cfg, &ds, &err)) {
        code = APP_EXIT_USAGE;
        goto fail;
    }
    if (!(af = atomic_open(c.out, &err))) goto fail;
    Writer w = {.ds = &ds, .items = lm.model.item_emb.weight, .f = atomic_stream(af), .k = c.k};
    fputs("user,item\n", w.f);
    size_t nb = (size_t)c.eval.batch;
    w.top = nn_malloc(nb * (size_t)c.k * sizeof *w.top);
    w.exclude = nn_malloc(nb * sizeof *w.exclude);
    w.n_exclude = nn_malloc(nb * sizeof *w.n_exclude);
    w.count = nn_malloc(nb * sizeof *w.count);
    eval_visit_users(&lm.model, &ds, SPLIT_SUBMIT, &c.eval, write_top_k, &w);
    free(w.top);
    free(w.exclude);
    free(w.n_exclude);
    free(w.count);
    if (w.nonfinite) {
        nn_fail(&err, "the model gives NaN or infinite scores for %lld of %lld users; no recommendations were "
                      "written (retrain it)", (long long)w.nonfinite, (long long)ds.n_users);
        goto fail;
    }
    if (atomic_commit(af, &err)) {
        af = NULL;
        goto fail;
    }
    af = NULL;
    printf("predict: %lld users, %lld rows written to %s; %lld interactions with items the model has never seen "
           "were ignored; %lld users were skipped because none of their items is known to the model\n",
           (long long)ds.n_users, (long long)w.rows, c.out, (long long)ds.unknown_items, (long long)ds.skipped_users);
    printf("{\"users\": %lld, \"rows\": %lld, \"k\": %lld, \"unknown_items\": %lld, \"skipped_users\": %lld, "
           "\"seconds\": %.2f}\n",
           (long long)ds.n_users, (long long)w.rows, (long long)c.k, (long long)ds.unknown_items,
           (long long)ds.skipped_users, clock_seconds() - started);
    code = 0;
    goto done;
fail:
    code = app_fail("predict", &err, code);
done:
    atomic_abort(af);
    dataset_free(&ds);
    app_free_model(&lm);
    return code;
}
