/* The request/answer core of sasrec serve, shared by its two transports
 * (JSON lines on stdin, HTTP): a batch of parsed requests, ranked in one
 * encoder pass, each answer written as one JSON object.
 *
 * A request is the JSON object {"id", "items", "k", "exclude",
 * "exclude_seen"} (docs/sasrec.md, section 7.1). Its raw item ids are mapped
 * through the model's items.txt as it is parsed; unknown ones are dropped and
 * counted. A request that cannot be answered keeps its place in the batch
 * with an error message and the kind of that error (for the metrics).
 *
 * What a batch can cost is bounded by its settings, never by its requests:
 * the ids of all its requests live in one pool, which holds at most one id
 * per two bytes of the JSON they came from, and the caller adds no request
 * that would take the batch's bytes past its budget (serve_plan.h counts
 * both); k is at most --max-k and never more than the model's item count. */
#ifndef NN_MODELS_SASREC_CLI_SERVE_BATCH_H
#define NN_MODELS_SASREC_CLI_SERVE_BATCH_H

#include <stdio.h>

#include "io/json.h"
#include "models/sasrec/cli/config.h"
#include "models/sasrec/data/dataset.h"
#include "models/sasrec/recommend.h"

#define SERVE_MAX_DEPTH 4 /* an object of arrays of strings needs 2 levels; deeper JSON is refused early */

/* The kinds of error answers, for the metrics (http_metrics.h) and the last line's totals. */
typedef enum {
    SERVE_OK,
    SERVE_ERR_JSON,       /* not JSON, or not an object */
    SERVE_ERR_REQUEST,    /* a member missing, unknown or of the wrong type or range */
    SERVE_ERR_OVERSIZE,   /* longer than the line or body limit */
    SERVE_ERR_NO_ANSWER,  /* no known item and no popular.txt to fall back on */
    SERVE_ERR_NOT_FINITE, /* the model's scores for the sequence are NaN or infinite */
    SERVE_ERR_KINDS
} ServeErrorKind;

/* One request of a batch. */
typedef struct {
    char *id; /* the request's "id" (owned, valid UTF-8; id_len bytes), or NULL: none */
    size_t id_len;
    ServeErrorKind failed; /* SERVE_OK, or the kind of err.msg */
    NnError err;
    int64_t items_at, n_items;     /* the known internal ids of "items": pool[items_at ..] */
    int64_t exclude_at, n_exclude; /* those of "exclude" */
    int64_t unknown;               /* items of "items" the model does not know */
    int64_t k;
    int exclude_seen;
    int slot; /* its answer in ans (serve_batch_run) */
} ServeRequest;

typedef struct {
    const Dataset *vocab;    /* the model's items */
    const RunConfig *c;      /* --k, --max-k */
    int64_t n_items;         /* the model's item count: no answer holds more */
    int cap;                 /* requests per batch (--batch) */
    int n;                   /* requests held */
    size_t bytes;            /* JSON bytes of the requests held */
    ServeRequest *req;       /* (cap) */
    int32_t *pool;           /* (pool_cap) the ids of every request held */
    int64_t pool_n, pool_cap;
    RecRequest *rec;         /* (cap) */
    RecAnswer *ans;          /* (cap) */
    int32_t *top;            /* (cap, kmax) */
    real *score;             /* (cap, kmax) */
    int64_t kmax;            /* min(--max-k, n_items) */
} ServeBatch;

/* An empty batch of at most cap requests for the model of vocab (n_items items) with c's --k and --max-k. */
void serve_batch_init(ServeBatch *b, const Dataset *vocab, int64_t n_items, const RunConfig *c, int cap);
/* Frees what serve_batch_init and the requests allocated. */
void serve_batch_free(ServeBatch *b);
/* Empties the batch (its buffers are kept). */
void serve_batch_clear(ServeBatch *b);
/* Adds the request of the JSON text line[0..len) (at most max_bytes bytes parsed) and returns its index. */
int serve_batch_add_text(ServeBatch *b, const char *line, size_t len, size_t max_bytes);
/* Adds the request of the parsed JSON value v (an object, or an error answer) and returns its index; bytes is
 * its share of the JSON text, added to b->bytes. */
int serve_batch_add_value(ServeBatch *b, const Json *v, size_t bytes);
/* Adds an error answer of kind with message msg and returns its index. */
int serve_batch_add_error(ServeBatch *b, ServeErrorKind kind, const char *msg);
/* Ranks every request that parsed, in one pass of r (the model of the batch's vocab). */
void serve_batch_run(ServeBatch *b, Recommender *r);
/* Writes the answer of request i (after serve_batch_run) as one JSON object, without a newline; returns its
 * kind (SERVE_OK, or the kind of its error answer). */
ServeErrorKind serve_batch_write(const ServeBatch *b, int i, FILE *f);
/* The name of an error kind, as in the metrics ("json", "request", ...). */
const char *serve_batch_error_name(ServeErrorKind kind);

#endif
