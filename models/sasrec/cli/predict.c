/* sasrec predict: the top-K unseen items of every user, as CSV (user,item). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "models/sasrec/cli/commands.h"
#include "models/sasrec/cli/model_dir.h"
#include "models/sasrec/batch.h"
#include "models/sasrec/eval.h"
#include "models/sasrec/topk.h"
#include "models/sasrec/train.h"
#include "io/atomic_file.h"

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

int app_predict(int argc, char **argv) {
    RunConfig c = config_defaults();
    c.out = NULL;
    int rc = app_parse("predict", USAGE, argc, argv, &c, config_predict_flags);
    if (rc != APP_CONTINUE) return rc;
    NnError err;
    if (!c.model || !c.out) {
        fprintf(stderr, "sasrec predict: %s is required\n", !c.model ? "--model DIR" : "--out FILE.csv");
        return 2;
    }
    if (app_check_model_dir("predict", c.model, &err) ||
        (c.data && app_check_input("predict", "--data", c.data, &err)) ||
        app_check_output_file("predict", "--out", c.out, &err)) {
        fprintf(stderr, "sasrec %s\n", err.msg);
        return 2;
    }
    double started = train_now();
    LoadedModel lm;
    if (app_load_model(&c, &lm, &err)) return app_fail("predict", &err, 1);
    Dataset ds = {0};
    int code = 1;
    AtomicFile *af = NULL;
    if (app_load_data(&c, &lm.vocab, 1, &ds, &err)) goto fail;
    if (c.k > ds.n_items) {
        nn_fail(&err, "--k %lld is larger than the %lld items the model knows", (long long)c.k, (long long)ds.n_items);
        goto fail;
    }
    if (!(af = atomic_open(c.out, &err))) goto fail;
    FILE *f = atomic_stream(af);
    fputs("user,item\n", f);

    Sasrec *s = &lm.model;
    int64_t L = s->cfg.max_len, N1 = ds.n_items + 1, rows = 0;
    int64_t nb = eval_batch_users(c.eval_batch, ds.n_users, ds.n_items);
    int grad = ag_set_grad_enabled(0);
    module_train(&s->m, 0);
    Graph *g = graph_new();
    SeqBatch b;
    batch_alloc(&b, (int)nb, (int)L);
    int64_t *users = nn_malloc((size_t)nb * sizeof *users), *top = nn_malloc((size_t)c.k * sizeof *top);
    real *scores = nn_malloc((size_t)(nb * N1) * sizeof *scores);
    unsigned char *seen = nn_calloc((size_t)N1, 1);
    for (int64_t start = 0; start < ds.n_users; start += nb) {
        int n = (int)(ds.n_users - start < nb ? ds.n_users - start : nb);
        for (int i = 0; i < n; i++) users[i] = start + i;
        batch_fill(&b, &ds, SPLIT_SUBMIT, users, n, NULL, 0);
        Tokens t = sasrec_tokens(g, b.input, b.len, n, L, 1);
        eval_score_all(s, sasrec_last(g, sasrec_forward(s, g, &t), &t), scores);
        for (int i = 0; i < n; i++) {
            int64_t len;
            const int32_t *seq = dataset_seq(&ds, users[i], &len);
            for (int64_t k = 0; k < len; k++) seen[seq[k]] = 1;
            int64_t got = topk_select(scores + (int64_t)i * N1, seen, N1, c.k, top);
            for (int64_t k = 0; k < len; k++) seen[seq[k]] = 0;
            for (int64_t k = 0; k < got; k++) {
                write_field(f, ds.user_ids[users[i]]);
                fputc(',', f);
                write_field(f, ds.item_ids[top[k]]);
                fputc('\n', f);
            }
            rows += got;
        }
        graph_reset(g);
    }
    free(users);
    free(top);
    free(scores);
    free(seen);
    batch_free(&b);
    graph_free(g);
    ag_set_grad_enabled(grad);
    if (atomic_commit(af, &err)) {
        af = NULL;
        goto fail;
    }
    af = NULL;
    printf("predict: %lld users, %lld rows written to %s; %lld interactions with items the model has never seen "
           "were ignored; %lld users were skipped because none of their items is known to the model\n",
           (long long)ds.n_users, (long long)rows, c.out, (long long)ds.unknown_items, (long long)ds.skipped_users);
    printf("{\"users\": %lld, \"rows\": %lld, \"k\": %lld, \"unknown_items\": %lld, \"skipped_users\": %lld, "
           "\"seconds\": %.2f}\n",
           (long long)ds.n_users, (long long)rows, (long long)c.k, (long long)ds.unknown_items,
           (long long)ds.skipped_users, train_now() - started);
    code = 0;
    goto done;
fail:
    app_fail("predict", &err, code);
done:
    atomic_abort(af);
    dataset_free(&ds);
    app_free_model(&lm);
    return code;
}
