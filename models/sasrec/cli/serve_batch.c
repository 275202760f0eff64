#include "models/sasrec/cli/serve_batch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/memory.h"

void serve_batch_init(ServeBatch *b, const Dataset *vocab, int64_t n_items, const RunConfig *c, int cap) {
    NN_CHECK(cap >= 1 && n_items >= 1, "serve_batch_init", "cap %d and n_items %lld must be >= 1", cap,
             (long long)n_items);
    int64_t kmax = c->serve.max_k < n_items ? c->serve.max_k : n_items;
    *b = (ServeBatch){.vocab = vocab, .c = c, .n_items = n_items, .cap = cap, .kmax = kmax};
    b->req = nn_calloc((size_t)cap, sizeof *b->req);
    b->rec = nn_malloc((size_t)cap * sizeof *b->rec);
    b->ans = nn_malloc((size_t)cap * sizeof *b->ans);
    b->top = nn_malloc((size_t)cap * (size_t)kmax * sizeof *b->top);
    b->score = nn_malloc((size_t)cap * (size_t)kmax * sizeof *b->score);
}

void serve_batch_free(ServeBatch *b) {
    for (int i = 0; i < b->cap; i++) free(b->req[i].id);
    free(b->req), free(b->pool), free(b->rec), free(b->ans), free(b->top), free(b->score);
    memset(b, 0, sizeof *b);
}

void serve_batch_clear(ServeBatch *b) {
    for (int i = 0; i < b->n; i++) {
        free(b->req[i].id);
        b->req[i].id = NULL;
    }
    b->n = 0;
    b->bytes = 0;
    b->pool_n = 0;
}

static int fail(ServeRequest *p, ServeErrorKind kind, const char *fmt, const char *arg) {
    p->failed = kind;
    snprintf(p->err.msg, sizeof p->err.msg, fmt, arg);
    return -1;
}

/* The next free request, reset. */
static ServeRequest *take(ServeBatch *b) {
    NN_CHECK(b->n < b->cap, "serve_batch_add", "the batch holds %d requests already (its capacity)", b->n);
    ServeRequest *p = &b->req[b->n];
    *p = (ServeRequest){.k = b->c->k, .exclude_seen = 1};
    return p;
}

/* Appends the known ids of the raw ids in array v to the pool (their first at *at, *n of them); counts the
 * unknown ones in *unknown. */
static int read_ids(ServeBatch *b, ServeRequest *p, const Json *v, const char *key, int64_t *at, int64_t *n,
                    int64_t *unknown) {
    if (json_type(v) != JSON_ARRAY)
        return fail(p, SERVE_ERR_REQUEST, "\"%s\" must be an array of raw item ids (strings)", key);
    int64_t count = (int64_t)json_count(v);
    if (b->pool_n + count > b->pool_cap) {
        while (b->pool_n + count > b->pool_cap) b->pool_cap = b->pool_cap ? 2 * b->pool_cap : 4096;
        b->pool = nn_realloc(b->pool, (size_t)b->pool_cap * sizeof *b->pool);
    }
    *at = b->pool_n;
    *n = 0;
    for (int64_t i = 0; i < count; i++) {
        const Json *e = json_at(v, (size_t)i);
        size_t len;
        const char *raw = json_type(e) == JSON_STRING ? json_string(e, &len) : json_number_text(e);
        if (!raw)
            return fail(p, SERVE_ERR_REQUEST,
                        "every element of \"%s\" must be a raw item id (a string, or a number as written)", key);
        if (json_type(e) == JSON_NUMBER) len = strlen(raw);
        int32_t id = dataset_item_id(b->vocab, raw, len);
        if (id)
            b->pool[b->pool_n + (*n)++] = id;
        else
            (*unknown)++;
    }
    b->pool_n += *n;
    return 0;
}

/* k: a JSON number with a whole value from 1 to --max-k ("k": 2.0 and 1e2 are whole numbers too). */
static int read_k(ServeBatch *b, ServeRequest *p, const Json *v) {
    double d;
    if (json_type(v) == JSON_NUMBER && !json_double(v, &d) && d >= 1 && d <= (double)b->c->serve.max_k &&
        d == floor(d)) {
        p->k = (int64_t)d;
        return 0;
    }
    char bound[64];
    snprintf(bound, sizeof bound, "%lld", (long long)b->c->serve.max_k);
    return fail(p, SERVE_ERR_REQUEST, "\"k\" must be a whole number from 1 to %s (sasrec serve --max-k)", bound);
}

/* Parses the members of the object root into p. */
static void parse_object(ServeBatch *b, ServeRequest *p, const Json *root) {
    if (json_type(root) != JSON_OBJECT) {
        fail(p, SERVE_ERR_JSON, "a request is a JSON object, not a%s; expected {\"items\": [\"raw item id\", ...]}",
             json_type(root) == JSON_ARRAY ? "n array" : " single value");
        return;
    }
    const Json *id = json_get(root, "id"), *items = NULL; /* first, so that every later error can name the request */
    if (id && json_type(id) != JSON_NULL) {
        if (json_type(id) != JSON_STRING) {
            fail(p, SERVE_ERR_REQUEST, "%s", "\"id\" must be a string");
            return;
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
            if (read_ids(b, p, v, key, &p->items_at, &p->n_items, &p->unknown)) return;
        } else if (strcmp(key, "exclude") == 0) {
            if (read_ids(b, p, v, key, &p->exclude_at, &p->n_exclude, &ignored)) return;
        } else if (strcmp(key, "k") == 0) {
            if (read_k(b, p, v)) return;
        } else if (strcmp(key, "exclude_seen") == 0) {
            if (json_bool(v, &p->exclude_seen)) {
                fail(p, SERVE_ERR_REQUEST, "%s", "\"exclude_seen\" must be true or false");
                return;
            }
        } else {
            fail(p, SERVE_ERR_REQUEST, "unknown member \"%.64s\"; a request has id, items, k, exclude and exclude_seen",
                 key);
            return;
        }
    }
    if (!items)
        fail(p, SERVE_ERR_REQUEST, "%s",
             "no \"items\": a request needs the list of raw item ids, oldest first (it may be empty)");
}

int serve_batch_add_value(ServeBatch *b, const Json *v, size_t bytes) {
    ServeRequest *p = take(b);
    int64_t pool_n = b->pool_n;
    parse_object(b, p, v);
    if (p->failed) b->pool_n = pool_n; /* a refused request holds no ids */
    b->bytes += bytes;
    return b->n++;
}

int serve_batch_add_text(ServeBatch *b, const char *line, size_t len, size_t max_bytes) {
    if (len == 0)
        return serve_batch_add_error(
            b, SERVE_ERR_JSON, "an empty line; expected a JSON object such as {\"items\": [\"raw item id\", ...]}");
    JsonLimits lim = {.max_bytes = max_bytes, .max_depth = SERVE_MAX_DEPTH};
    NnError e;
    JsonDoc *doc = json_parse(line, len, &lim, &e);
    if (!doc) {
        ServeRequest *p = take(b);
        fail(p, SERVE_ERR_JSON, "not a JSON object: %.900s", e.msg);
        b->bytes += len;
        return b->n++;
    }
    int i = serve_batch_add_value(b, json_root(doc), len);
    json_free(doc);
    return i;
}

int serve_batch_add_error(ServeBatch *b, ServeErrorKind kind, const char *msg) {
    ServeRequest *p = take(b);
    fail(p, kind, "%s", msg);
    return b->n++;
}

void serve_batch_run(ServeBatch *b, Recommender *r) {
    int m = 0;
    for (int i = 0; i < b->n; i++) {
        ServeRequest *p = &b->req[i];
        if (p->failed) continue;
        p->slot = m;
        b->rec[m] = (RecRequest){.items = b->pool + p->items_at, .n_items = p->n_items,
                                 .exclude = b->pool + p->exclude_at, .n_exclude = p->n_exclude,
                                 .exclude_seen = p->exclude_seen, .k = p->k < b->kmax ? p->k : b->kmax};
        b->ans[m] = (RecAnswer){.item = b->top + (int64_t)m * b->kmax, .score = b->score + (int64_t)m * b->kmax};
        m++;
    }
    recommend(r, b->rec, b->ans, m);
}

ServeErrorKind serve_batch_write(const ServeBatch *b, int i, FILE *f) {
    const ServeRequest *p = &b->req[i];
    const RecAnswer *ans = p->failed ? NULL : &b->ans[p->slot];
    fputs("{\"id\": ", f);
    if (p->id)
        json_write_string(f, p->id, p->id_len, NULL);
    else
        fputs("null", f);
    ServeErrorKind kind = p->failed                              ? p->failed
                          : ans->from == REC_NO_FALLBACK ? SERVE_ERR_NO_ANSWER
                          : ans->from == REC_NOT_FINITE  ? SERVE_ERR_NOT_FINITE
                                                         : SERVE_OK;
    const char *error = p->failed ? p->err.msg
                        : kind == SERVE_ERR_NO_ANSWER
                            ? "no item of the request is known to the model, and its folder has no popular.txt to fall "
                              "back on (written by an earlier sasrec: retrain to get it)"
                        : kind == SERVE_ERR_NOT_FINITE ? "the model gives NaN or infinite scores for this sequence"
                                                       : NULL;
    if (error) {
        fputs(", \"error\": ", f);
        if (json_write_string(f, error, strlen(error), NULL)) fputs("\"(a message that is not UTF-8)\"", f);
        if (!p->failed) fprintf(f, ", \"unknown\": %lld", (long long)p->unknown);
        fputs("}", f);
        return kind;
    }
    fputs(", \"items\": [", f);
    for (int64_t j = 0; j < ans->count; j++) {
        const char *raw = b->vocab->item_ids[ans->item[j]];
        if (j) fputs(", ", f);
        json_write_string(f, raw, strlen(raw), NULL); /* items.txt is checked UTF-8 (io/textfile.h) */
    }
    fputs("], \"scores\": [", f);
    for (int64_t j = 0; j < ans->count; j++) fprintf(f, j ? ", %.9g" : "%.9g", (double)ans->score[j]);
    fprintf(f, "], \"unknown\": %lld%s}", (long long)p->unknown, ans->from == REC_POPULAR ? ", \"fallback\": \"popular\"" : "");
    return SERVE_OK;
}

const char *serve_batch_error_name(ServeErrorKind kind) {
    static const char *names[SERVE_ERR_KINDS] = {"none", "json", "request", "oversize", "no_answer", "not_finite"};
    return kind >= 0 && kind < SERVE_ERR_KINDS ? names[kind] : "?";
}
