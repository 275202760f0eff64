/* Leave-one-out splits, left padding, training negatives and the epoch shuffle
 * (docs/sasrec.md, sections 2 and 4).
 *
 * For a user with sequence s (at least 3 items; 1 for SPLIT_SUBMIT):
 *   split   model input   target
 *   train   s[:-3]        s[1:-2], every position
 *   valid   s[:-2]        s[-2]
 *   test    s[:-1]        s[-1]
 *   submit  s             none
 * Inputs are left-padded with 0 to L and keep their last L items, so the most
 * recent one is at position L-1. A user with exactly 3 items has an empty
 * training input (all padding, len 0).
 *
 * Training negatives: one per non-pad target, uniform over 1..n_items, drawn
 * again while it is anywhere in the user's whole sequence. The draw for
 * (seed, epoch, user, position in s, attempt) is a pure function of those
 * through Philox, so negatives do not depend on batch composition, max_len or
 * the thread count, and change every epoch.
 *
 * Shared negatives (sampled softmax, gBCE): K items per batch, scored against
 * every real target of the batch, drawn with replacement, uniformly over
 * 1..n_items or in proportion to popularity (1 + the item's count in the
 * training part of every sequence, s[:-2]). The draws for (seed, epoch,
 * batch index) are a pure function of those through Philox. An item of a
 * user's own sequence may be drawn; the loss leaves out only a row's own
 * target (docs/sasrec.md, section 4).
 *
 * Drawn negatives (--neg-scope position or sequence): K items for every
 * target position, or for every sequence (shared by its positions), drawn
 * with replacement uniformly, from the batch's targets (in-batch: each real
 * target of the batch equally likely, so an item in proportion to its count
 * there), mixed (the first K/2, rounded down, uniformly, the rest in-batch)
 * or by popularity. The draws for (seed, epoch, user, target position in s)
 * or (seed, epoch, user) are a pure function of those (and, in-batch, of the
 * batch's targets), so they do not depend on how a step is sharded. */
#ifndef NN_MODELS_SASREC_BATCH_H
#define NN_MODELS_SASREC_BATCH_H

#include <stdint.h>

#include "base/error.h"
#include "models/sasrec/data/dataset.h"
#include "tensor/real.h"

typedef enum { SPLIT_TRAIN, SPLIT_VALID, SPLIT_TEST, SPLIT_SUBMIT } Split;

typedef struct {
    int B, L;        /* users filled by the last batch_fill (at most cap), positions */
    int cap;         /* rows allocated */
    int64_t *input;  /* (B, L) left-padded item ids, 0 = pad */
    int64_t *pos;    /* (B, L) train targets, 0 where input is pad (0 for other splits) */
    int64_t *neg;    /* (B, L) train negatives, 0 where pos is 0 (0 for other splits) */
    int32_t *len;    /* (B) non-pad positions of input */
    int64_t *answer; /* (B) valid/test answer item (0 for train and submit) */
    int64_t *user;   /* (B) user index */
    int64_t n_shared;   /* shared negatives drawn by batch_draw_shared (0: none) */
    int64_t *shared;    /* (n_shared) items scored against every target of the batch */
    const real *log_q;  /* (n_items + 1) non-uniform draws: log of each item's probability; NULL: uniform */
    int64_t n_drawn;    /* K drawn per position or per sequence by batch_draw_shared (0: none) */
    int32_t *drawn;     /* (cap, L, K) per position, (cap, K) per sequence; 0 at padding positions */
    int per_position;   /* drawn holds K per position (1) or per sequence (0) */
    real *batch_log_q;  /* (n_items + 1) in-batch and mixed draws: this batch's log q (log_q points here) */
    int64_t *pool;      /* (cap L) the batch's real targets, in row order: the in-batch draws' urn */
    int64_t log_q_set;  /* pool[0..log_q_set) have their own value in batch_log_q (the last in-batch draws) */
    int32_t *pool_count; /* (n_items + 1) scratch of the draws, all 0 between batches */
    int64_t log_q_items; /* batch_log_q holds log q for this catalogue size (0: not made) */
    double log_q_u;      /* and this uniform share */
    real log_q_rest;     /* its value at every item that is no target of the batch */
} SeqBatch;

/* How shared negatives are drawn. */
typedef enum {
    NEG_UNIFORM, /* uniformly over 1..n_items */
    NEG_POP,     /* in proportion to 1 + the item's count in the training part */
    NEG_IN_BATCH, /* one of the batch's real targets, each equally likely */
    NEG_MIXED,    /* the first K/2 (rounded down) uniformly, the rest in-batch */
} NegDist;

/* Which targets share a set of negatives. */
typedef enum {
    NEG_SCOPE_BATCH,    /* K for the whole batch (the default) */
    NEG_SCOPE_SEQUENCE, /* K for each sequence, shared by its positions */
    NEG_SCOPE_POSITION, /* K for each target position */
} NegScope;

typedef struct {
    const Dataset *ds;
    uint64_t seed;       /* the run's seed */
    int64_t *uniq_start; /* (n_users + 1) offsets into uniq */
    int32_t *uniq;       /* each user's distinct items, sorted: the membership test */
    int64_t n_shared;    /* 0: one negative per target (batch_fill); K: K shared per batch (batch_draw_shared) */
    NegDist dist;        /* of the shared negatives */
    NegScope scope;      /* who shares a set of K */
    int64_t *cum;        /* (n_items + 1) NEG_POP: cum[j] = the weights of items 1..j, cum[0] = 0 */
    real *log_q;         /* (n_items + 1) NEG_POP: log of each item's probability (0 for padding) */
} NegSampler;

/* A batch of cap rows of L positions (cap, L >= 1). */
void batch_alloc(SeqBatch *b, int cap, int L);
/* Releases the batch's arrays and zeroes it. */
void batch_free(SeqBatch *b);
/* "train", "valid", "test", "submit". */
const char *batch_split_name(Split s);
/* Fills b with users[0..n) (n <= cap) for split; ns and epoch are used for SPLIT_TRAIN only (ns non-NULL):
 * one negative per target, unless ns shares its negatives (then b->neg stays 0). */
void batch_fill(SeqBatch *b, const Dataset *ds, Split split, const int64_t *users, int n, const NegSampler *ns,
                int epoch);

/* Prepares the per-user sorted item sets; -1 naming the first user whose sequence holds every item
 * (no negative exists for them). */
int batch_neg_prepare(NegSampler *ns, const Dataset *ds, uint64_t seed, NnError *err);
/* Makes ns draw k negatives per batch from dist (batch_draw_shared) instead of one per target. */
void batch_neg_share(NegSampler *ns, int64_t k, NegDist dist);
/* Makes ns draw its k negatives per sequence or per position (batch_draw_shared) instead of per batch. */
void batch_neg_scope(NegSampler *ns, NegScope scope);
/* Draws the negatives of batch `index` of epoch (filled by batch_fill) into b: per batch (b->shared,
 * b->n_shared), else per sequence or position (b->drawn, b->n_drawn); b->log_q for non-uniform draws. */
void batch_draw_shared(SeqBatch *b, const NegSampler *ns, int epoch, int64_t index);
/* Releases the sets and tables. */
void batch_neg_free(NegSampler *ns);
/* The negative for target s[position] of user u in epoch: not in u's sequence. */
int32_t batch_neg_draw(const NegSampler *ns, int epoch, int64_t u, int64_t position);
/* Whether item is in user u's sequence (binary search). */
int batch_neg_in_seq(const NegSampler *ns, int64_t u, int32_t item);

/* perm[0..n) = a permutation of 0..n-1 from (seed, epoch) alone (Fisher-Yates over Philox draws). */
void batch_shuffle(uint64_t seed, int epoch, int64_t n, int64_t *perm);

#endif
