/* sasrec predict: the top-K unseen items of every user, as CSV (user,item). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/memory.h"
#include "io/atomic_file.h"
#include "models/sasrec/cli/commands.h"
#include "models/sasrec/cli/model_dir.h"
#include "base/progress.h"
#include "models/sasrec/io/textfile.h"
#include "models/sasrec/data/idmap.h"
#include "models/sasrec/data/popularity.h"
#include "models/sasrec/recommend.h"

static const char *USAGE = "usage: sasrec predict --model DIR --out FILE.csv [--data PATH] [--k 10] [flags]\n"
                           "Writes, for every user of --data, the K items the model ranks highest among those the\n"
                           "user has not interacted with, reading the user's whole sequence: CSV with the header\n"
                           "user,item and K rows per user, in raw ids (the Boostcamp submission format). Users the model\n"
                           "was not trained on are welcome; items it does not know are ignored, and a user left with\n"
                           "no known item gets the most popular items (as sasrec serve answers). Without --data: the\n"
                           "built-in synthetic data, for a model trained on it (any other model asks for --data).";

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

/* How many users of ds are not in the model folder's users.txt (users the model was not trained on). */
static int64_t count_unknown_users(const RunConfig *c, const Dataset *ds, NnError *err) {
    char path[4096];
    TextFile f;
    if (textfile_read_exact(config_path(path, sizeof path, c->model_dir, IDMAP_USERS), &f, err)) return -1;
    unsigned char *known = nn_calloc((size_t)ds->n_users + 1, 1);
    LineReader r = textfile_lines(&f);
    TextLine line;
    int64_t n_known = 0;
    while (textfile_next_nonblank(&r, &line)) {
        int64_t u = dataset_user_index(ds, line.p, line.len);
        if (u >= 0 && !known[u]) known[u] = 1, n_known++;
    }
    free(known);
    textfile_free(&f);
    return ds->n_users - n_known;
}

/* What predict counts while it writes. */
typedef struct {
    int64_t rows, popular, nothing, nonfinite; /* rows written; users answered by popularity, with nothing,
                                                  with NaN or infinite scores (none of theirs is written) */
} Written;

/* Recommends for users [first, first + n) of ds (items mapped to the model's by map, unknown ones dropped)
 * and writes their rows to f. */
static void predict_users(Recommender *rec, const Dataset *ds, const int32_t *map, int64_t first, int n, int64_t k,
                          const Dataset *vocab, FILE *f, RecRequest *req, RecAnswer *ans, int32_t *known,
                          Written *w) {
    int32_t *at = known;
    for (int i = 0; i < n; i++) {
        int64_t len;
        const int32_t *seq = dataset_seq(ds, first + i, &len);
        req[i] = (RecRequest){.items = at, .exclude_seen = 1, .k = k};
        for (int64_t t = 0; t < len; t++)
            if (map[seq[t]]) *at++ = map[seq[t]];
        req[i].n_items = at - req[i].items;
    }
    recommend(rec, req, ans, n);
    for (int i = 0; i < n; i++) {
        w->popular += ans[i].from == REC_POPULAR;
        w->nothing += ans[i].from == REC_NO_FALLBACK;
        w->nonfinite += ans[i].from == REC_NOT_FINITE;
        for (int64_t j = 0; j < ans[i].count; j++) {
            write_field(f, ds->user_ids[first + i]);
            fputc(',', f);
            write_field(f, vocab->item_ids[ans[i].item[j]]);
            fputc('\n', f);
        }
        w->rows += ans[i].count;
    }
}

/* The flags' paths: the model folder, --data and --out (not one of the inputs). Prints the message and returns
 * APP_EXIT_USAGE when one is missing or unusable. */
static int check_paths(const RunConfig *c) {
    NnError err;
    if (!c->model_dir || !c->out) {
        fprintf(stderr, "sasrec predict: %s is required\n", !c->model_dir ? "--model DIR" : "--out FILE.csv");
        return APP_EXIT_USAGE;
    }
    const char *inputs[] = {c->data};
    if (app_check_model_dir("predict", c->model_dir, &err) ||
        (c->data && app_check_input("predict", "--data", c->data, &err)) ||
        app_check_output("predict", "--out", c->out, inputs, 1, &err)) {
        fprintf(stderr, "sasrec %s\n", err.msg);
        return APP_EXIT_USAGE;
    }
    return 0;
}

/* What of --data the model does not know. */
typedef struct {
    int64_t users, items, interactions;
} Unknown;

/* Loads every user of --data, with the file's own item ids (items the model does not know are dropped
 * later, and a user left with none gets the most popular items, recommend.h, as sasrec serve answers), and
 * plans the run. 0, or the exit code with the message in err. */
static int load_users(const RunConfig *c, const LoadedModel *lm, Dataset *ds, Unknown *u, NnError *err) {
    if (app_load_data(c, NULL, 1, ds, err)) return APP_EXIT_DATA;
    u->users = count_unknown_users(c, ds, err);
    if (u->users < 0) return APP_EXIT_DATA;
    if (c->k > lm->vocab.n_items) {
        nn_fail(err, "--k %lld is larger than the %lld items the model knows", (long long)c->k,
                (long long)lm->vocab.n_items);
        return APP_EXIT_DATA;
    }
    if (app_plan(PLAN_PREDICT, c, &lm->model.cfg, ds, err)) return APP_EXIT_USAGE;
    return 0;
}

/* The file's item -> the model's (0: unknown), counting the unknown items and interactions into u. */
static int32_t *map_items(const Dataset *ds, const Dataset *vocab, Unknown *u) {
    int32_t *map = nn_malloc((size_t)(ds->n_items + 1) * sizeof *map);
    for (int64_t j = 1; j <= ds->n_items; j++) {
        map[j] = dataset_item_id(vocab, ds->item_ids[j], strlen(ds->item_ids[j]));
        u->items += map[j] == 0;
    }
    for (int64_t t = 0; t < ds->seq_start[ds->n_users]; t++) u->interactions += map[ds->items[t]] == 0;
    return map;
}

/* Writes the rows of every user of ds to f, --eval-batch users at a time, with a progress bar. */
static Written write_rows(const RunConfig *c, LoadedModel *lm, const Dataset *ds, const int32_t *map, FILE *f) {
    int nb = c->eval.batch < ds->n_users ? c->eval.batch : (int)ds->n_users;
    Recommender rec;
    recommender_init(&rec, &lm->model, lm->popular, nb);
    RecRequest *req = nn_malloc((size_t)nb * sizeof *req);
    RecAnswer *ans = nn_malloc((size_t)nb * sizeof *ans);
    int32_t *top = nn_malloc((size_t)nb * (size_t)c->k * sizeof *top);
    real *score = nn_malloc((size_t)nb * (size_t)c->k * sizeof *score);
    int32_t *known = nn_malloc((size_t)(ds->seq_start[ds->n_users] + 1) * sizeof *known);
    for (int i = 0; i < nb; i++) ans[i] = (RecAnswer){.item = top + i * c->k, .score = score + i * c->k};
    Written w = {0};
    Progress bar;
    progress_start(&bar, "predict", "users", ds->n_users);
    for (int64_t first = 0; first < ds->n_users; first += nb) {
        int n = (int)(ds->n_users - first < nb ? ds->n_users - first : nb);
        predict_users(&rec, ds, map, first, n, c->k, &lm->vocab, f, req, ans, known, &w);
        progress_update(&bar, first + n, NULL);
    }
    progress_end(&bar);
    recommender_free(&rec);
    free(req), free(ans), free(top), free(score), free(known);
    return w;
}

/* The summary line and the JSON line. */
static void report(const RunConfig *c, const Dataset *ds, const Unknown *u, const Written *w, double started) {
    printf("predict: %lld users (%lld not in the model's training data), %lld rows written to %s; %lld of %lld items "
           "(%lld interactions) are unknown to the model and were ignored; %lld users with no known item got the "
           "most popular items%s\n",
           (long long)ds->n_users, (long long)u->users, (long long)w->rows, c->out, (long long)u->items,
           (long long)ds->n_items, (long long)u->interactions, (long long)w->popular,
           w->nothing ? " (none: the model folder has no popular.txt)" : "");
    printf("{\"users\": %lld, \"rows\": %lld, \"k\": %lld, \"unknown_users\": %lld, \"unknown_items\": %lld, "
           "\"unknown_interactions\": %lld, \"popular_fallback_users\": %lld, \"no_fallback_users\": %lld, "
           "\"seconds\": %.2f}\n",
           (long long)ds->n_users, (long long)w->rows, (long long)c->k, (long long)u->users, (long long)u->items,
           (long long)u->interactions, (long long)w->popular, (long long)w->nothing, clock_seconds() - started);
}

/* Loads --data into ds and writes --out whole (or nothing). 0, or the exit code with the message in err. */
static int predict_file(const RunConfig *c, LoadedModel *lm, Dataset *ds, double started, NnError *err) {
    Unknown u = {0};
    int code = load_users(c, lm, ds, &u, err);
    if (code) return code;
    int32_t *map = map_items(ds, &lm->vocab, &u);
    if (!lm->popular)
        fprintf(stderr, "sasrec predict: note: %s has no %s (written by an earlier sasrec): users with no item the "
                        "model knows get no rows; retrain to get the most-popular fallback\n", c->model_dir,
                POPULARITY_FILE);
    AtomicFile *af = atomic_open(c->out, err);
    if (!af) {
        free(map);
        return APP_EXIT_DATA;
    }
    FILE *f = atomic_stream(af);
    fputs("user,item\n", f);
    Written w = write_rows(c, lm, ds, map, f);
    free(map);
    if (w.nonfinite) {
        nn_fail(err, "the model gives NaN or infinite scores for %lld of %lld users; no recommendations were "
                     "written (retrain it)", (long long)w.nonfinite, (long long)ds->n_users);
        atomic_abort(af);
        return APP_EXIT_DATA;
    }
    if (atomic_commit(af, err)) return APP_EXIT_DATA;
    report(c, ds, &u, &w, started);
    return 0;
}

int app_predict(int argc, char **argv) {
    RunConfig c = config_defaults();
    c.out = NULL;
    int rc = app_parse("predict", USAGE, argc, argv, &c, config_predict_flags);
    if (rc != APP_CONTINUE) return rc;
    if ((rc = check_paths(&c)) != 0) return rc;
    NnError err;
    double started = clock_seconds();
    LoadedModel lm;
    if (app_load_model(&c, &lm, &err)) return app_fail("predict", &err, APP_EXIT_DATA);
    app_note_legacy("predict", &c, &lm);
    if (app_check_data_for_model("predict", &c, &err)) {
        fprintf(stderr, "sasrec %s\n", err.msg);
        app_free_model(&lm);
        return APP_EXIT_USAGE;
    }
    Dataset ds = {0};
    int code = predict_file(&c, &lm, &ds, started, &err);
    if (code) code = app_fail("predict", &err, code);
    dataset_free(&ds);
    app_free_model(&lm);
    return code;
}
