/* Inverted dropout with a counter-based mask: element i of the mask is a pure
 * function of (seed, stream, i), whatever the thread count. */
#include <stdlib.h>

#include "autograd/op_util.h"
#include "autograd/ops.h"
#include "base/error.h"
#include "base/simd.h"
#include "base/parallel.h"

#define DROP_CHUNK 4096 /* elements per chunk: a multiple of 4, the words of one Philox block */

/* gx += keep ? dy / (1 - p) : 0 */
NN_VECTORIZE static void dropout_grad(const unsigned char *keep, const real *dy, real *gx, real scale, int64_t n) {
    for (int64_t i = 0; i < n; i++) gx[i] += keep[i] ? dy[i] * scale : 0;
}

/* keep[i] = word i >= threshold, y = keep ? x / (1 - p) : 0 */
NN_VECTORIZE static void dropout_apply(const uint32_t *words, uint32_t threshold, const real *x, real *y,
                                       unsigned char *keep, real scale, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        keep[i] = (words[i] >> 8) >= threshold;
        y[i] = keep[i] ? x[i] * scale : 0;
    }
}

/* saved = keep mask (one byte per element); f[0] = 1 / (1 - p) */
static void dropout_backward(Graph *g, Node *n) {
    const unsigned char *keep = n->saved;
    const real *dy = n->out->grad->data;
    real *gx = ag_grad(g, n->in[0])->data, scale = n->f[0];
    int64_t count = n->out->numel, nchunks = (count + DROP_CHUNK - 1) / DROP_CHUNK;
#pragma omp parallel for schedule(static) if (count > NN_PARALLEL_MIN_WORK)
    for (int64_t c = 0; c < nchunks; c++) {
        int64_t i0 = c * DROP_CHUNK, m = count - i0 < DROP_CHUNK ? count - i0 : DROP_CHUNK;
        dropout_grad(keep + i0, dy + i0, gx + i0, scale, m);
    }
}

Tensor *ag_dropout(Graph *g, Tensor *x, real p, int training, Rng *rng) {
    NN_CHECK(p >= 0 && p < 1, "dropout", "probability %g outside [0, 1)", (double)p);
    if (!training || p == 0) return x;
    uint64_t seed = rng->seed, stream = rng_u64(rng);
    uint32_t threshold = (uint32_t)((double)p * 16777216.0); /* drop when the top 24 bits fall below */
    int64_t count = x->numel, nchunks = (count + DROP_CHUNK - 1) / DROP_CHUNK;
    unsigned char *keep = arena_alloc(graph_arena(g), (size_t)(count ? count : 1));
    const real *xv = ag_row_major(g, x);
    Tensor *y = ag_new(g, x->ndim, x->shape);
    real scale = 1 / (1 - p);
#pragma omp parallel if (count > NN_PARALLEL_MIN_WORK)
    {
        uint32_t *words = nn_malloc(DROP_CHUNK * sizeof *words);
#pragma omp for schedule(static)
        for (int64_t c = 0; c < nchunks; c++) {
            /* element i uses word i % 4 of block i / 4 of the stream: chunk c starts at block c * DROP_CHUNK / 4 */
            int64_t i0 = c * DROP_CHUNK, m = count - i0 < DROP_CHUNK ? count - i0 : DROP_CHUNK;
            philox4x32_blocks(seed, stream, (uint64_t)(i0 / 4), (m + 3) / 4, words);
            dropout_apply(words, threshold, xv + i0, y->data + i0, keep + i0, scale, m);
        }
        free(words);
    }
    Node *n = ag_record(g, "dropout", dropout_backward, y, 1, &x);
    if (n) {
        n->saved = keep;
        n->f[0] = scale;
    }
    return y;
}
