/* sasrec serve: recommendations on demand. Loads the model folder once, then
 * answers JSON request lines from stdin with one JSON line each on stdout, in
 * order (docs/sasrec.md, section 7.1).
 *
 * The loop: wait for a line; take every other line already buffered and, if
 * there were some (a burst is arriving), wait up to --wait-us for more while
 * the pass has room (--batch); a lone request never waits. Parse each line
 * (raw ids mapped through items.txt, unknown ones dropped and counted); rank
 * the batch with one encoder pass (models/sasrec/recommend.h); write and flush
 * the answers. A line that cannot be answered gets an error answer in its
 * place and the loop goes on. End of input: exit 0. SIGINT or SIGTERM: the
 * batch in hand is answered, then exit 130 or 143. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "io/json.h"
#include "models/sasrec/cli/commands.h"
#include "models/sasrec/cli/model_dir.h"
#include "models/sasrec/cli/serve_input.h"
#include "models/sasrec/cli/signals.h"
#include "models/sasrec/data/popularity.h"
#include "models/sasrec/recommend.h"

static const char *USAGE =
    "usage: sasrec serve --model DIR [--k 10] [--threads N] [flags]\n"
    "Answers recommendation requests, one JSON object per line on stdin, with one JSON line each on stdout,\n"
    "in order, flushed as soon as it is ready:\n"
    "  request  {\"id\": \"any string\", \"items\": [\"raw item id\", ...], \"k\": 10, \"exclude\": [...], "
    "\"exclude_seen\": true}\n"
    "           (only items is required; items oldest first, raw ids as in the training data)\n"
    "  answer   {\"id\": ..., \"items\": [...], \"scores\": [...], \"unknown\": n} or {\"id\": ..., \"error\": \"...\"}\n"
    "Unknown items are skipped and counted; a request with no known item gets the most popular items\n"
    "(\"fallback\": \"popular\"). Ends with exit 0 at the end of input (docs/sasrec.md, section 7.1).";

#define SERVE_MAX_DEPTH 4 /* an object of arrays of strings needs 2 levels; deeper JSON is refused early */

/* One request line, parsed: what to recommend, or why it cannot be answered. */
typedef struct {
    char *id; /* the request's "id" (owned, valid UTF-8; id_len bytes), or NULL: none */
    size_t id_len;
    int failed; /* 1: answer with err.msg */
    NnError err;
    int32_t *items, *exclude; /* owned: known internal ids */
    int64_t n_items, n_exclude, cap_items, cap_exclude;
    int64_t unknown; /* items of "items" the model does not know */
    int64_t k;
    int exclude_seen;
} Pending;

static int fail(Pending *p, const char *fmt, const char *arg) {
    p->failed = 1;
    snprintf(p->err.msg, sizeof p->err.msg, fmt, arg);
    return -1;
}

/* Appends the known ids of the raw ids in array v to *ids (growing it); counts the unknown ones in *unknown. */
static int read_ids(Pending *p, const Json *v, const char *key, const Dataset *vocab, int32_t **ids, int64_t *n,
                    int64_t *cap, int64_t *unknown) {
    if (json_type(v) != JSON_ARRAY) return fail(p, "\"%s\" must be an array of raw item ids (strings)", key);
    size_t count = json_count(v);
    if ((int64_t)count > *cap) *ids = nn_realloc(*ids, (size_t)(*cap = (int64_t)count) * sizeof **ids);
    for (size_t i = 0; i < count; i++) {
        const Json *e = json_at(v, i);
        size_t len;
        const char *raw = json_type(e) == JSON_STRING ? json_string(e, &len) : json_number_text(e);
        if (!raw) return fail(p, "every element of \"%s\" must be a raw item id (a string, or a number as written)", key);
        if (json_type(e) == JSON_NUMBER) len = strlen(raw);
        int32_t id = dataset_item_id(vocab, raw, len);
        if (id)
            (*ids)[(*n)++] = id;
        else
            (*unknown)++;
    }
    return 0;
}

/* Parses one request line into p (reset first); p->failed and a message when it cannot be answered. */
static void parse_request(const char *line, size_t len, const Dataset *vocab, const RunConfig *c, Pending *p) {
    free(p->id);
    p->id = NULL;
    p->failed = 0;
    p->n_items = p->n_exclude = p->unknown = 0;
    p->k = c->k;
    p->exclude_seen = 1;
    if (len == 0) {
        fail(p, "%s", "an empty line; expected a JSON object such as {\"items\": [\"raw item id\", ...]}");
        return;
    }
    JsonLimits lim = {.max_bytes = (size_t)c->serve.max_line, .max_depth = SERVE_MAX_DEPTH};
    NnError e;
    JsonDoc *doc = json_parse(line, len, &lim, &e);
    if (!doc) {
        fail(p, "not a JSON object: %.900s", e.msg);
        return;
    }
    const Json *root = json_root(doc), *items = NULL;
    if (json_type(root) != JSON_OBJECT) {
        fail(p, "a request is a JSON object, not a%s; expected {\"items\": [\"raw item id\", ...]}",
             json_type(root) == JSON_ARRAY ? "n array" : " single value");
        goto done;
    }
    const Json *id = json_get(root, "id"); /* first, so that every later error can name the request */
    if (id && json_type(id) != JSON_NULL) {
        if (json_type(id) != JSON_STRING) {
            fail(p, "%s", "\"id\" must be a string");
            goto done;
        }
        const char *s = json_string(id, &p->id_len);
        p->id = memcpy(nn_malloc(p->id_len + 1), s, p->id_len + 1);
    }
    for (size_t m = 0; m < json_count(root); m++) {
        const char *key = json_key_at(root, m, NULL);
        const Json *v = json_value_at(root, m);
        int64_t ignored = 0;
        if (strcmp(key, "id") == 0) continue;
        if (strcmp(key, "items") == 0) {
            items = v;
            if (read_ids(p, v, key, vocab, &p->items, &p->n_items, &p->cap_items, &p->unknown)) goto done;
        } else if (strcmp(key, "exclude") == 0) {
            if (read_ids(p, v, key, vocab, &p->exclude, &p->n_exclude, &p->cap_exclude, &ignored)) goto done;
        } else if (strcmp(key, "k") == 0) {
            if (json_int64(v, &p->k) || p->k < 1 || p->k > c->serve.max_k) {
                char bound[64];
                snprintf(bound, sizeof bound, "%lld", (long long)c->serve.max_k);
                fail(p, "\"k\" must be a whole number from 1 to %s (sasrec serve --max-k)", bound);
                goto done;
            }
        } else if (strcmp(key, "exclude_seen") == 0) {
            if (json_bool(v, &p->exclude_seen)) {
                fail(p, "%s", "\"exclude_seen\" must be true or false");
                goto done;
            }
        } else {
            fail(p, "unknown member \"%.64s\"; a request has id, items, k, exclude and exclude_seen", key);
            goto done;
        }
    }
    if (!items) fail(p, "%s", "no \"items\": a request needs the list of raw item ids, oldest first (it may be empty)");
done:
    json_free(doc);
}

/* Writes the answer of p (ans unless p failed) as one line. */
static void write_answer(FILE *f, const Pending *p, const RecAnswer *ans, const Dataset *vocab) {
    fputs("{\"id\": ", f);
    if (p->id)
        json_write_string(f, p->id, p->id_len, NULL);
    else
        fputs("null", f);
    const char *error = p->failed ? p->err.msg
                        : ans->from == REC_NO_FALLBACK
                            ? "no item of the request is known to the model, and its folder has no popular.txt to fall "
                              "back on (written by an earlier sasrec: retrain to get it)"
                        : ans->from == REC_NOT_FINITE ? "the model gives NaN or infinite scores for this sequence"
                                                      : NULL;
    if (error) {
        fputs(", \"error\": ", f);
        if (json_write_string(f, error, strlen(error), NULL)) fputs("\"(a message that is not UTF-8)\"", f);
        if (!p->failed) fprintf(f, ", \"unknown\": %lld", (long long)p->unknown);
        fputs("}\n", f);
        return;
    }
    fputs(", \"items\": [", f);
    for (int64_t j = 0; j < ans->count; j++) {
        const char *raw = vocab->item_ids[ans->item[j]];
        if (j) fputs(", ", f);
        json_write_string(f, raw, strlen(raw), NULL); /* items.txt is checked UTF-8 (io/textfile.h) */
    }
    fputs("], \"scores\": [", f);
    for (int64_t j = 0; j < ans->count; j++) fprintf(f, j ? ", %.9g" : "%.9g", (double)ans->score[j]);
    fprintf(f, "], \"unknown\": %lld%s}\n", (long long)p->unknown,
            ans->from == REC_POPULAR ? ", \"fallback\": \"popular\"" : "");
}

/* What the loop owns. */
typedef struct {
    const RunConfig *c;
    const Dataset *vocab;
    Recommender rec;
    ServeInput in;
    Pending *pending;  /* (batch) */
    RecRequest *req;   /* (batch) */
    RecAnswer *ans;    /* (batch) */
    int32_t *top;      /* (batch, max_k) */
    real *score;       /* (batch, max_k) */
    int64_t answered, errors, popular, unknown; /* totals, for the last stderr line */
} Server;

/* Adds line (or an oversize line's error) to the batch as request n. */
static void add_line(Server *s, int n, LineStatus st, const char *line, size_t len) {
    Pending *p = &s->pending[n];
    if (st == LINE_OVERSIZE) {
        free(p->id);
        p->id = NULL;
        char bound[64];
        snprintf(bound, sizeof bound, "%lld", (long long)s->c->serve.max_line);
        fail(p, "the line is longer than %s bytes (sasrec serve --max-line) and was skipped", bound);
        return;
    }
    parse_request(line, len, s->vocab, s->c, p);
}

/* Collects the next batch: blocks for its first line (waking to look at the stop flag), then takes what is
 * buffered; when that is more than one line (a burst is arriving), waits at most --wait-us for the rest of it.
 * A lone request is never held. Returns how many lines it holds; 0 at the end of input or
 * on a stop. */
static int next_batch(Server *s) {
    const char *line;
    size_t len;
    LineStatus st;
    if (atomic_load(signals_stop_flag())) return 0; /* stopped: not even the lines already buffered */
    while ((st = serve_input_take(&s->in, &line, &len)) == LINE_NONE) {
        if (atomic_load(signals_stop_flag())) return 0;
        serve_input_fill(&s->in, 100000); /* 0.1 s: a stop is seen that soon */
    }
    if (st == LINE_EOF) return 0;
    int n = 0;
    add_line(s, n++, st, line, len);
    double deadline = clock_seconds() + (double)s->c->serve.wait_us * 1e-6;
    while (n < s->c->serve.batch) {
        st = serve_input_take(&s->in, &line, &len);
        if (st == LINE_OK || st == LINE_OVERSIZE) {
            add_line(s, n++, st, line, len);
            continue;
        }
        if (st == LINE_EOF || n == 1) break; /* a lone request is answered at once, never held for others */
        long left = (long)((deadline - clock_seconds()) * 1e6);
        if (left <= 0 || serve_input_fill(&s->in, left) == 0) break;
    }
    return n;
}

/* Ranks the batch's parsable requests in one pass, then writes every answer in order and flushes. */
static void answer_batch(Server *s, int n) {
    int m = 0;
    int *slot = nn_malloc((size_t)n * sizeof *slot); /* the request of each line that parsed */
    for (int i = 0; i < n; i++) {
        const Pending *p = &s->pending[i];
        if (p->failed) continue;
        s->req[m] = (RecRequest){.items = p->items, .n_items = p->n_items, .exclude = p->exclude,
                                 .n_exclude = p->n_exclude, .exclude_seen = p->exclude_seen, .k = p->k};
        slot[i] = m++;
    }
    recommend(&s->rec, s->req, s->ans, m);
    for (int i = 0; i < n; i++) {
        const Pending *p = &s->pending[i];
        const RecAnswer *a = p->failed ? NULL : &s->ans[slot[i]];
        write_answer(stdout, p, a, s->vocab);
        s->answered++;
        s->errors += p->failed || a->from == REC_NO_FALLBACK || a->from == REC_NOT_FINITE;
        s->popular += a && a->from == REC_POPULAR;
        s->unknown += p->failed ? 0 : p->unknown;
    }
    fflush(stdout);
    free(slot);
}

/* The model's scores for its most popular item (or item 1) alone: NaN or infinite ones refuse the model. */
static int check_finite(Server *s) {
    int32_t item = s->rec.pop_order ? s->rec.pop_order[0] : 1;
    RecRequest q = {.items = &item, .n_items = 1, .k = 1};
    recommend(&s->rec, &q, s->ans, 1);
    return s->ans[0].from == REC_NOT_FINITE ? -1 : 0;
}

int app_serve(int argc, char **argv) {
    RunConfig c = config_defaults();
    int rc = app_parse("serve", USAGE, argc, argv, &c, config_serve_flags);
    if (rc != APP_CONTINUE) return rc;
    NnError err;
    if (!c.model_dir) {
        fprintf(stderr, "sasrec serve: --model DIR is required\n");
        return APP_EXIT_USAGE;
    }
    if (c.k > c.serve.max_k) {
        fprintf(stderr, "sasrec serve: --k %lld is larger than --max-k %lld\n", (long long)c.k,
                (long long)c.serve.max_k);
        return APP_EXIT_USAGE;
    }
    if (app_check_model_dir("serve", c.model_dir, &err)) {
        fprintf(stderr, "sasrec %s\n", err.msg);
        return APP_EXIT_USAGE;
    }
    LoadedModel lm;
    if (app_load_model(&c, &lm, &err)) return app_fail("serve", &err, APP_EXIT_DATA);
    app_note_legacy("serve", &c, &lm);
    if (!lm.popular)
        fprintf(stderr, "sasrec serve: note: %s has no %s (written by an earlier sasrec): a request with no known "
                        "item gets an error answer instead of the most popular items; retrain to get it\n",
                c.model_dir, POPULARITY_FILE);
    int nb = c.serve.batch;
    size_t kk = (size_t)c.serve.max_k;
    Server s = {.c = &c, .vocab = &lm.vocab};
    recommender_init(&s.rec, &lm.model, lm.popular, nb);
    serve_input_init(&s.in, STDIN_FILENO, (size_t)c.serve.max_line);
    s.pending = nn_calloc((size_t)nb, sizeof *s.pending);
    s.req = nn_malloc((size_t)nb * sizeof *s.req);
    s.ans = nn_malloc((size_t)nb * sizeof *s.ans);
    s.top = nn_malloc((size_t)nb * kk * sizeof *s.top);
    s.score = nn_malloc((size_t)nb * kk * sizeof *s.score);
    for (int i = 0; i < nb; i++) s.ans[i] = (RecAnswer){.item = s.top + i * kk, .score = s.score + i * kk};
    int code = 0;
    if (check_finite(&s)) {
        fprintf(stderr, "sasrec serve: the model in %s gives NaN or infinite scores; retrain it\n", c.model_dir);
        code = APP_EXIT_DATA;
    } else {
        fprintf(stderr, "sasrec serve: ready: %s, %lld items, k %lld (at most %lld), %d threads, passes of up to %d "
                        "requests, waiting up to %lld us\n",
                c.model_dir, (long long)lm.vocab.n_items, (long long)c.k, (long long)c.serve.max_k, c.threads, nb,
                (long long)c.serve.wait_us);
        int n;
        while ((n = next_batch(&s)) > 0) answer_batch(&s, n);
        if (atomic_load(signals_stop_flag())) code = signals_exit_code();
        fprintf(stderr, "sasrec serve: %s: %lld requests answered (%lld with an error, %lld by popularity), %lld "
                        "unknown items skipped\n",
                code ? signals_name() : "end of input", (long long)s.answered, (long long)s.errors,
                (long long)s.popular, (long long)s.unknown);
    }
    for (int i = 0; i < nb; i++) free(s.pending[i].id), free(s.pending[i].items), free(s.pending[i].exclude);
    free(s.pending), free(s.req), free(s.ans), free(s.top), free(s.score);
    serve_input_free(&s.in);
    recommender_free(&s.rec);
    app_free_model(&lm);
    return code;
}
