/* Inverted dropout with a counter-based mask: element i of the mask is a pure
 * function of (seed, stream, i), whatever the thread count. */
#include "autograd/op_util.h"
#include "autograd/ops.h"
#include "tensor/error.h"

/* saved = keep mask (one byte per element); f[0] = 1 / (1 - p) */
static void dropout_backward(Graph *g, Node *n) {
    const unsigned char *keep = n->saved;
    const real *dy = n->out->grad->data;
    real *gx = ag_grad(g, n->in[0])->data, scale = n->f[0];
    int64_t count = n->out->numel;
#pragma omp parallel for schedule(static) if (count > 32768)
    for (int64_t i = 0; i < count; i++) gx[i] += keep[i] ? dy[i] * scale : 0;
}

Tensor *ag_dropout(Graph *g, Tensor *x, real p, int training, Rng *rng) {
    NN_CHECK(p >= 0 && p < 1, "dropout", "probability %g outside [0, 1)", (double)p);
    if (!training || p == 0) return x;
    uint64_t seed = rng->seed, stream = rng_u64(rng);
    uint32_t threshold = (uint32_t)((double)p * 16777216.0); /* drop when the top 24 bits fall below */
    int64_t count = x->numel, blocks = (count + 3) / 4;
    unsigned char *keep = arena_alloc(graph_arena(g), (size_t)blocks * 4);
    const real *xv = row_major(g, x);
    Tensor *y = ag_new(g, x->ndim, x->shape);
    real scale = 1 / (1 - p);
#pragma omp parallel for schedule(static) if (count > 32768)
    for (int64_t b = 0; b < blocks; b++) {
        uint32_t w[4];
        philox4x32(seed, stream, (uint64_t)b, w);
        for (int l = 0; l < 4; l++) {
            int64_t i = b * 4 + l;
            if (i >= count) break;
            keep[i] = (w[l] >> 8) >= threshold;
            y->data[i] = keep[i] ? xv[i] * scale : 0;
        }
    }
    Node *n = ag_record(g, "dropout", dropout_backward, y, 1, &x);
    if (n) {
        n->saved = keep;
        n->f[0] = scale;
    }
    return y;
}
