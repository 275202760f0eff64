/* Inverted dropout with a counter-based mask: element i of the mask is a pure
 * function of (seed, stream, i), whatever the thread count. */
#include <stdlib.h>

#include "autograd/op.h"
#include "autograd/ops.h"
#include "base/error.h"
#include "base/memory.h"
#include "base/simd.h"
#include "base/parallel.h"

#define DROP_CHUNK 4096 /* elements per chunk: a multiple of 4, the words of one Philox block */

/* gx += keep ? dy / (1 - p) : 0 (or gx = with add = 0) */
NN_VECTORIZE static void dropout_grad(const unsigned char *keep, const real *dy, real *gx, real scale, int add,
                                      int64_t n) {
    if (add)
        for (int64_t i = 0; i < n; i++) gx[i] += keep[i] ? dy[i] * scale : 0;
    else
        for (int64_t i = 0; i < n; i++) gx[i] = keep[i] ? dy[i] * scale : 0;
}

/* keep[i] = word i >= threshold, y = keep ? x / (1 - p) : 0 */
NN_VECTORIZE static void dropout_apply(const uint32_t *words, uint32_t threshold, const real *x, real *y,
                                       unsigned char *keep, real scale, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        keep[i] = (words[i] >> 8) >= threshold;
        y[i] = keep[i] ? x[i] * scale : 0;
    }
}

typedef struct {
    int64_t count;               /* elements */
    const real *x;               /* (count) forward input */
    uint64_t seed, stream;       /* of the mask's Philox words */
    uint32_t threshold;          /* drop when the top 24 bits of a word fall below */
    const real *dy;              /* (count) backward: output gradient */
    real *y;                     /* (count) forward output, or backward input gradient */
    unsigned char *keep;         /* (count) */
    real scale;                  /* 1 / (1 - p) */
    uint32_t *words;             /* forward, per worker: (DROP_CHUNK) */
    int add;                     /* backward: 0 when the input gradient was made unfilled */
} DropLoop;

/* Elements [begin, end) of the forward pass, in whole chunks of DROP_CHUNK (a
 * chunk's words come in one call); element i uses word i % 4 of block i / 4
 * of the stream. */
static void forward_range(void *ctx, NnChunk c) {
    const DropLoop *l = ctx;
    uint32_t *words = l->words + c.worker * DROP_CHUNK;
    for (int64_t i0 = c.begin * DROP_CHUNK; i0 < c.end * DROP_CHUNK && i0 < l->count; i0 += DROP_CHUNK) {
        int64_t m = l->count - i0 < DROP_CHUNK ? l->count - i0 : DROP_CHUNK;
        philox4x32_blocks(l->seed, l->stream, (uint64_t)(i0 / 4), (m + 3) / 4, words);
        dropout_apply(words, l->threshold, l->x + i0, l->y + i0, l->keep + i0, l->scale, m);
    }
}

static void backward_range(void *ctx, NnChunk c) {
    const DropLoop *l = ctx;
    dropout_grad(l->keep + c.begin, l->dy + c.begin, l->y + c.begin, l->scale, l->add, c.end - c.begin);
}

/* saved = keep mask (one byte per element); f[0] = 1 / (1 - p) */
static void dropout_backward(Graph *g, Node *n) {
    int fresh;
    real *gx = ag_grad_whole(g, n->in[0], &fresh)->data;
    DropLoop l = {n->out->numel, NULL, 0, 0, 0, n->out->grad->data, gx, n->saved, n->f[0], NULL, !fresh};
    nn_parallel_elements(l.count, 1, backward_range, &l);
}

Tensor *ag_dropout(Graph *g, Tensor *x, real p, int training, Rng *rng) {
    AG_CHECK_INPUTS(g, "dropout", x);
    NN_CHECK(p >= 0 && p < 1, "dropout", "probability %g outside [0, 1)", (double)p);
    if (!training || p == 0) return x;
    uint64_t seed = rng->seed, stream = rng_u64(rng);
    uint32_t threshold = (uint32_t)((double)p * 16777216.0); /* drop when the top 24 bits fall below */
    int64_t count = x->numel, nchunks = (count + DROP_CHUNK - 1) / DROP_CHUNK;
    unsigned char *keep = arena_alloc(graph_arena(g), (size_t)(count ? count : 1));
    const real *xv = ag_row_major(g, x);
    Tensor *y = ag_new(g, x->ndim, x->shape);
    real scale = 1 / (1 - p);
    DropLoop l = {count, xv, seed, stream, threshold, NULL, y->data, keep, scale, NULL, 0};
    l.words = nn_malloc((size_t)nn_parallel_width(nchunks, DROP_CHUNK) * DROP_CHUNK * sizeof *l.words);
    nn_parallel_for(nchunks, DROP_CHUNK, forward_range, &l);
    free(l.words);
    Node *n = ag_record(g, "dropout", dropout_backward, y, 1, &x);
    if (n) {
        n->saved = keep;
        n->f[0] = scale;
    }
    return y;
}
