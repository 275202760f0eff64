#include "models/sasrec/item_scores.h"

#include <stdlib.h>

#include "base/error.h"
#include "base/memory.h"
#include "base/parallel.h"
#include "tensor/kernels.h"

int64_t item_scores_block(int64_t B) {
    int64_t n = ITEM_SCORES_TILE / (B > 0 ? B : 1);
    return n > ITEM_SCORES_MIN_BLOCK ? n : ITEM_SCORES_MIN_BLOCK;
}

typedef struct {
    ItemRowFn row;
    void *ctx;
    int64_t first, n; /* the block: items first .. first + n - 1 */
    real *S;          /* (B, n) its scores */
} BlockLoop;

/* Items are user rows of one block. */
static void block_rows(void *ctx, NnChunk c) {
    const BlockLoop *l = ctx;
    for (int64_t b = c.begin; b < c.end; b++) l->row(l->ctx, b, l->first, l->S + b * l->n, l->n);
}

real *item_scores_transpose(const Tensor *E) {
    NN_CHECK(E->ndim == 2 && tensor_is_contiguous(E), "item_scores_transpose", "the item table %s must be a contiguous (N + 1, H)",
             shape_str(E->ndim, E->shape).s);
    int64_t N1 = E->shape[0], H = E->shape[1];
    real *ET = nn_malloc((size_t)(N1 * H) * sizeof *ET);
    for (int64_t j = 0; j < N1; j++)
        for (int64_t h = 0; h < H; h++) ET[h * N1 + j] = E->data[j * H + h];
    return ET;
}

void item_scores_blocks(const Tensor *E, const real *U, int64_t B, ItemRowFn row, void *ctx) {
    item_scores_blocks_transposed(E, NULL, U, B, row, ctx);
}

void item_scores_blocks_transposed(const Tensor *E, const real *ET, const real *U, int64_t B, ItemRowFn row,
                                   void *ctx) {
    NN_CHECK(E->ndim == 2 && tensor_is_contiguous(E), "item_scores_blocks", "the item table %s must be a contiguous (N + 1, H)",
             shape_str(E->ndim, E->shape).s);
    int64_t N1 = E->shape[0], H = E->shape[1], block = item_scores_block(B);
    if (B <= 0) return;
    if (block > N1) block = N1;
    real *S = nn_aligned_alloc((size_t)(B * block) * sizeof *S); /* (B, block) */
    for (int64_t c0 = 0; c0 < N1; c0 += block) {
        int64_t cn = N1 - c0 < block ? N1 - c0 : block;
        if (ET) /* B (H, cn) = columns c0.. of ET, rows N1 apart */
            gemm(B, cn, H, U, H, 1, ET + c0, N1, 1, 0, S, cn);
        else /* B (H, cn) = rows c0.. of E, transposed */
            gemm(B, cn, H, U, H, 1, E->data + c0 * H, 1, H, 0, S, cn);
        BlockLoop l = {row, ctx, c0, cn, S};
        nn_parallel_for(B, cn, block_rows, &l);
    }
    free(S);
}

real item_scores_one(const Tensor *E, const real *u, int64_t item) {
    int64_t H = E->shape[1];
    real s;
    gemm(1, 1, H, u, H, 1, E->data + item * H, 1, H, 0, &s, 1);
    return s;
}
