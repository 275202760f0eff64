/* Cumulative sum along a dim, as torch.cumsum: y[..., j, ...] is the sum of
 * x[..., 0..j, ...]. Its backward is the same sum taken from the other end:
 * dx[..., j, ...] = sum of dy[..., j.., ...]. Each line along dim is summed
 * in order by one thread, so the result does not depend on the thread count. */
#include "autograd/op.h"
#include "autograd/ops.h"
#include "base/error.h"
#include "base/parallel.h"

typedef struct {
    DimSplit s;
    const real *in; /* (outer, size, inner) row-major */
    real *out;      /* the same shape: written (forward) or added to (backward) */
    int reverse;    /* sum from the end of each line (the backward) */
} CumsumLoop;

/* Items are lines (outer * inner of them). */
static void cumsum_lines(void *ctx, NnChunk c) {
    const CumsumLoop *l = ctx;
    int64_t n = l->s.size, step = l->s.inner;
    for (int64_t k = c.begin; k < c.end; k++) {
        int64_t o = ag_dim_line_start(l->s, k);
        real acc = 0;
        for (int64_t j = 0; j < n; j++) {
            int64_t at = o + (l->reverse ? n - 1 - j : j) * step;
            acc += l->in[at];
            if (l->reverse)
                l->out[at] += acc;
            else
                l->out[at] = acc;
        }
    }
}

static void cumsum_run(DimSplit s, const real *in, real *out, int reverse) {
    CumsumLoop l = {s, in, out, reverse};
    nn_parallel_for(s.outer * s.inner, s.size, cumsum_lines, &l);
}

static void cumsum_backward(Graph *g, Node *n) {
    DimSplit s = ag_dim_split(n->out, (int)n->i[0]);
    cumsum_run(s, n->out->grad->data, ag_grad(g, n->in[0])->data, 1);
}

Tensor *ag_cumsum(Graph *g, Tensor *x, int dim) {
    int d = dim < 0 ? dim + x->ndim : dim;
    NN_CHECK(x->ndim > 0 && d >= 0 && d < x->ndim, "cumsum", "dim %d out of range for shape %s", dim,
             shape_str(x->ndim, x->shape).s);
    const real *xv = ag_row_major(g, x);
    Tensor *y = ag_new(g, x->ndim, x->shape);
    cumsum_run(ag_dim_split(x, d), xv, y->data, 0);
    Node *n = ag_record(g, "cumsum", cumsum_backward, y, 1, &x);
    if (n) n->i[0] = d;
    return y;
}
