/* The K best-scored items, without sorting them all: a running top-K that
 * takes scores block by block, and on it the top-K of user vectors against
 * the whole item table (sasrec predict; a server would call the same).
 *
 * Order: a higher score first; between equal scores the lower item id. The
 * order is total, so the result does not depend on how the items were cut
 * into blocks. NaN scores never rank. */
#ifndef NN_MODELS_SASREC_TOPK_H
#define NN_MODELS_SASREC_TOPK_H

#include <stdint.h>

#include "tensor/tensor.h"

/* The k best (score, item) pairs offered so far, as a heap whose root is the
 * first to leave. The buffers are the caller's, k entries each. */
typedef struct {
    int64_t k, size;
    real *score;   /* (k) */
    int32_t *item; /* (k) item ids: int32, as the data's */
} TopK;

/* An empty top-k over the caller's buffers score (k) and item (k). */
TopK topk_new(int64_t k, real *score, int32_t *item);
/* Offers items first .. first + n - 1 with scores[0..n). */
void topk_offer(TopK *t, const real *scores, int64_t first, int64_t n);
/* Sorts the kept pairs best first (score[0], item[0] the best) and returns how many there are (at most k). */
int64_t topk_finish(TopK *t);

/* The top-k of several users at once against the item table.
 *
 * For each user vector U[b] (B rows of H), the k items with the highest
 * score <U[b], E[item]>, best first, never item 0 (padding) nor the items
 * exclude[b][0 .. n_exclude[b]) (any order, repeats allowed; exclude may be
 * NULL: nothing excluded). The table E (N + 1, H) is scored in blocks of
 * item_scores_block(B) items (models/sasrec/item_scores.h), each user keeping
 * a running top-k, so memory is O(B x (block + k)) whatever N is; the result
 * equals sorting every score of the user.
 *
 * Writes item (B, k) and score (B, k) (score may be NULL), row b holding
 * count[b] entries: k, or fewer when fewer than k items are left, or -1 when
 * one of the user's scores (padding aside) is NaN or infinite: such a row is
 * not ranked (models/sasrec/score_check.h). */
void topk_items(const Tensor *E, const real *U, int64_t B, int64_t k, const int32_t *const *exclude,
                const int64_t *n_exclude, int32_t *item, real *score, int64_t *count);
/* topk_items scoring through the table's transpose ET (item_scores_transpose): the same result, faster for
 * few users at a time (item_scores_blocks_transposed). */
void topk_items_transposed(const Tensor *E, const real *ET, const real *U, int64_t B, int64_t k,
                           const int32_t *const *exclude, const int64_t *n_exclude, int32_t *item, real *score,
                           int64_t *count);

#endif
