/* Row-wise dot products y[r] = sum_j a[r, j] b[r, j] of two (rows, cols) tensors: the bits of
 * ag_sum(ag_mul(a, b), over the last axis), without the (rows, cols) products stored, read back and their
 * gradient spread out again. SASRec's BCE scores every position against its positive and its negative item
 * this way.
 *
 * The forward rounds each product to a real, then sums a row as tensor_reduce does (chunks of
 * NN_REDUCE_CHUNK, each in 8 double lanes added in order, then the tail, the chunks added in order). The
 * backward stores (a fresh gradient) or adds (one that exists) dy[r] b[r, j] and dy[r] a[r, j], each product
 * rounded before the add, as mul's backward then the gradient's sum make them: it is compiled without the
 * FMA clones, so that no product and add are contracted into one rounding. */
#include "autograd/op.h"
#include "autograd/ops.h"
#include "base/error.h"
#include "base/parallel.h"

/* The sum of p[j] = a[j] b[j] (each rounded to a real) over j < n, in tensor_reduce's order for a contiguous
 * row: 8 double lanes over whole groups of 8, the lanes added in order, then the tail. */
static double chunk_dot(const real *a, const real *b, int64_t n) {
    double lane[8] = {0};
    int64_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int l = 0; l < 8; l++) {
            real p = a[j + l] * b[j + l];
            lane[l] += p;
        }
    double acc = 0;
    for (int l = 0; l < 8; l++) acc += lane[l];
    for (; j < n; j++) {
        real p = a[j] * b[j];
        acc += p;
    }
    return acc;
}

typedef struct {
    const real *a, *b; /* (rows, cols) row-major */
    real *y;           /* forward: (rows) */
    const real *dy;    /* backward: (rows) */
    real *ga, *gb;     /* backward: gradients of a and b, or NULL */
    int fresh_a, fresh_b;
    int64_t cols;
} RowDotLoop;

static void forward_rows(void *ctx, NnChunk c) {
    const RowDotLoop *l = ctx;
    for (int64_t r = c.begin; r < c.end; r++) {
        const real *a = l->a + r * l->cols, *b = l->b + r * l->cols;
        double acc = 0;
        for (int64_t j0 = 0; j0 < l->cols; j0 += NN_REDUCE_CHUNK) { /* 0 + the first chunk is that chunk */
            int64_t n = l->cols - j0 < NN_REDUCE_CHUNK ? l->cols - j0 : NN_REDUCE_CHUNK;
            double part = chunk_dot(a + j0, b + j0, n);
            acc = j0 == 0 ? part : acc + part;
        }
        l->y[r] = (real)acc;
    }
}

/* g (+)= dy v over one row: store when fresh, else add the rounded product. */
static void grad_row(real *g, int fresh, real dy, const real *v, int64_t n) {
    if (fresh)
        for (int64_t j = 0; j < n; j++) g[j] = dy * v[j];
    else
        for (int64_t j = 0; j < n; j++) {
            real p = dy * v[j];
            g[j] = g[j] + p;
        }
}

static void backward_rows(void *ctx, NnChunk c) {
    const RowDotLoop *l = ctx;
    for (int64_t r = c.begin; r < c.end; r++) {
        int64_t o = r * l->cols;
        if (l->ga) grad_row(l->ga + o, l->fresh_a, l->dy[r], l->b + o, l->cols);
        if (l->gb) grad_row(l->gb + o, l->fresh_b, l->dy[r], l->a + o, l->cols);
    }
}

/* d/da = dy[r] b, d/db = dy[r] a; a's gradient first, as mul's backward. */
static void row_dot_backward(Graph *g, Node *n) {
    Tensor *a = n->in[0], *b = n->in[1];
    RowDotLoop l = {ag_row_major(g, a), ag_row_major(g, b), NULL, n->out->grad->data, NULL, NULL, 0, 0, a->shape[1]};
    if (a->requires_grad) l.ga = ag_grad_whole(g, a, &l.fresh_a)->data;
    if (b->requires_grad) l.gb = ag_grad_whole(g, b, &l.fresh_b)->data;
    nn_parallel_for(a->shape[0], 2 * a->shape[1], backward_rows, &l);
}

Tensor *ag_row_dot(Graph *g, Tensor *a, Tensor *b) {
    AG_CHECK_INPUTS(g, "row_dot", a, b);
    NN_CHECK(a->ndim == 2 && tensor_same_shape(a, b), "row_dot",
             "a %s and b %s must be two (rows, cols) tensors of one shape", shape_str(a->ndim, a->shape).s,
             shape_str(b->ndim, b->shape).s);
    int64_t rows = a->shape[0], cols = a->shape[1];
    RowDotLoop l = {ag_row_major(g, a), ag_row_major(g, b), NULL, NULL, NULL, NULL, 0, 0, cols};
    Tensor *y = ag_new(g, 1, (int64_t[]){rows});
    l.y = y->data;
    nn_parallel_for(rows, 2 * cols, forward_rows, &l);
    ag_record(g, "row_dot", row_dot_backward, y, 2, (Tensor *[]){a, b});
    return y;
}
