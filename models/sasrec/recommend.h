/* Recommendations for any sequence of known items, at any time: the one
 * ranking behind sasrec serve and sasrec predict (docs/sasrec.md, section 5).
 *
 * A request holds internal item ids, oldest first (unknown raw ids are the
 * caller's to drop and count). A request with at least one item is encoded
 * as predict and eval encode a user (its last max_len items, left-padded, in
 * evaluation mode; several requests share one encoder pass, and a row's
 * output does not depend on the others), then ranked against the whole item
 * table with topk_items_transposed (models/sasrec/topk.h; the table's
 * transpose is made once, and the scores are topk_items'): highest score first, equal
 * scores by lower item id, never padding nor an excluded item. So serve,
 * predict and eval rank the same sequence identically, bit for bit.
 *
 * A request with no item gets the most popular items (by the counts of
 * models/sasrec/data/popularity.h, highest first, equal counts by lower id,
 * excluded items skipped), their counts as scores; without counts it gets
 * nothing (REC_NO_FALLBACK). */
#ifndef NN_MODELS_SASREC_RECOMMEND_H
#define NN_MODELS_SASREC_RECOMMEND_H

#include <stdint.h>

#include "models/sasrec/model.h"

typedef struct {
    const int32_t *items;   /* (n_items) internal ids 1..N, oldest first */
    int64_t n_items;        /* 0: the popular fallback */
    const int32_t *exclude; /* (n_exclude) items never to recommend, any order, repeats allowed */
    int64_t n_exclude;
    int exclude_seen; /* 1: the request's own items are never recommended either */
    int64_t k;        /* items wanted, >= 1 */
} RecRequest;

typedef enum {
    REC_MODEL,       /* ranked by the model */
    REC_POPULAR,     /* no item: the most popular items */
    REC_NO_FALLBACK, /* no item, and no popularity counts to fall back on: nothing recommended */
    REC_NOT_FINITE,  /* the model's scores for this sequence are NaN or infinite: nothing recommended */
} RecSource;

typedef struct {
    int32_t *item;  /* (k) the caller's buffer: the items, best first */
    real *score;    /* (k) the caller's buffer: their scores (model scores, or counts for REC_POPULAR) */
    int64_t count;  /* how many were written: k, or fewer when fewer items are left */
    RecSource from; /* how they were found */
} RecAnswer;

typedef struct {
    Sasrec *model;
    const int64_t *popular; /* (N + 1) counts, or NULL */
    real *ET;               /* (H, N + 1) the item table transposed (item_scores.h), read by the model's passes */
    int32_t *pop_order;     /* (N) items by count, or NULL */
    int cap;                /* requests per encoder pass */
    Graph *g;               /* reused by every pass */
    int64_t *input;         /* (cap, L) left-padded ids */
    int32_t *len;           /* (cap) */
    int64_t *row;           /* (cap) the request of each encoder row */
} Recommender;

/* A recommender over model (evaluation mode is set per call) and popularity counts popular (N + 1; may be
 * NULL; both the caller's, kept for r's lifetime, and the model's weights must not change meanwhile), encoding at most cap requests per pass. */
void recommender_init(Recommender *r, Sasrec *model, const int64_t *popular, int cap);
/* Frees what recommender_init allocated. */
void recommender_free(Recommender *r);
/* Answers req[0..n) into ans[0..n) (their item and score buffers set by the caller, k entries each). */
void recommend(Recommender *r, const RecRequest *req, RecAnswer *ans, int64_t n);

#endif
