/* Scores of user vectors against the whole item table, in blocks of items:
 * the one loop behind full ranking (eval.c) and the top-K of predict
 * (topk.h), so that memory is O(users x block), never O(users x items).
 *
 * The score of item j for user vector u is <u, item_emb[j]>, computed by
 * gemm. gemm sums every element over k in the same order whatever the block,
 * tile or thread that computes it (tensor/gemm_tile.h), so a score is
 * bit-identical however the table is cut, and item_scores_one gives the same value
 * for one item alone. */
#ifndef NN_MODELS_SASREC_ITEM_SCORES_H
#define NN_MODELS_SASREC_ITEM_SCORES_H

#include "tensor/tensor.h"

/* Scores per block of users x items: blocks hold ITEM_SCORES_TILE / users
 * items (at least ITEM_SCORES_MIN_BLOCK), 2 MiB of float at most for up to
 * 512 users. */
#define ITEM_SCORES_TILE      (1 << 19)
#define ITEM_SCORES_MIN_BLOCK 256

/* Receives the scores of items first .. first + n - 1 for user row b, which
 * it may overwrite (they are scratch). Called for different b at once from
 * several threads: it must touch only what belongs to row b. */
typedef void (*ItemRowFn)(void *ctx, int64_t b, int64_t first, real *scores, int64_t n);

/* Items per block for B users. */
int64_t item_scores_block(int64_t B);
/* Scores U (B, H) against every row of the item table E (N + 1, H), row 0
 * (padding) included, block after block in item order; each block's scores
 * go to row(ctx, b, ...) for every b. */
void item_scores_blocks(const Tensor *E, const real *U, int64_t B, ItemRowFn row, void *ctx);
/* The transpose E^T (H, N + 1) of the item table, contiguous (owned: free()). */
real *item_scores_transpose(const Tensor *E);
/* item_scores_blocks reading the table from its transpose ET (item_scores_transpose(E)): for few users gemm
 * reads ET in place instead of packing the table's rows on every call (what the single requests of a server
 * need), and the scores are the same, bit for bit. */
void item_scores_blocks_transposed(const Tensor *E, const real *ET, const real *U, int64_t B, ItemRowFn row,
                                   void *ctx);
/* <u, E[item]> exactly as item_scores_blocks computes it. */
real item_scores_one(const Tensor *E, const real *u, int64_t item);

#endif
