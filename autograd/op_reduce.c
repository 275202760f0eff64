/* Reductions: sum, mean, max over chosen axes. */
#include <string.h>

#include "autograd/op.h"
#include "autograd/ops.h"
#include "tensor/kernels.h"

/* Axis bit mask from a list (all axes when naxes is 0). */
static unsigned axis_mask(const char *op, const Tensor *x, int naxes, const int *axes) {
    if (naxes == 0) return x->ndim ? (1u << x->ndim) - 1 : 0;
    unsigned mask = 0;
    for (int k = 0; k < naxes; k++) mask |= 1u << tensor_dim(op, x->ndim, axes[k]);
    return mask;
}

/* The keepdim shape of x reduced over mask, and the shape without those dims. */
static int reduced_shapes(const Tensor *x, unsigned mask, int64_t *keep, int64_t *squeezed) {
    int n = 0;
    for (int d = 0; d < x->ndim; d++) {
        keep[d] = (mask >> d) & 1u ? 1 : x->shape[d];
        if (!((mask >> d) & 1u)) squeezed[n++] = x->shape[d];
    }
    return n;
}

static Tensor *reduce(Graph *g, Tensor *x, int naxes, const int *axes, int keepdim, ReduceOp op, const char *name,
                      BackwardFn backward) {
    unsigned mask = axis_mask(name, x, naxes, axes);
    int64_t keep[TENSOR_MAX_DIMS], squeezed[TENSOR_MAX_DIMS];
    int nsq = reduced_shapes(x, mask, keep, squeezed);
    Tensor *out = ag_new(g, x->ndim, keep);
    tensor_reduce(out, x, mask, op, 0);
    if (!keepdim) { /* same data, reduced dims dropped */
        uint64_t gen = out->gen;
        *out = tensor_wrap(out->data, nsq, squeezed);
        out->flags = TENSOR_IN_ARENA;
        out->gen = gen;
    }
    Node *n = ag_record(g, name, backward, out, 1, &x);
    if (n) n->i[0] = mask;
    return out;
}

/* dy viewed with x's ndim (size 1 on reduced dims), scaled by scale. */
static Tensor *grad_keepdim(Graph *g, Node *n, real scale) {
    Tensor *x = n->in[0], *dy = n->out->grad;
    int64_t keep[TENSOR_MAX_DIMS], squeezed[TENSOR_MAX_DIMS];
    reduced_shapes(x, (unsigned)n->i[0], keep, squeezed);
    Tensor *d = ag_new(g, x->ndim, keep);
    Tensor src = tensor_wrap(dy->data, x->ndim, keep);
    tensor_unary(d, &src, UNARY_MUL_SCALAR, scale);
    return d;
}

/* x's gradient += d broadcast to x's shape (stored when the gradient is new). */
static void spread(Graph *g, Tensor *x, const Tensor *d) {
    int fresh;
    Tensor *gx = ag_grad_whole(g, x, &fresh);
    if (fresh) {
        Tensor wide = tensor_expand(d, x->ndim, x->shape);
        tensor_copy(gx, &wide);
    } else {
        tensor_binary(gx, gx, d, BINARY_ADD);
    }
}

static void sum_backward(Graph *g, Node *n) { spread(g, n->in[0], grad_keepdim(g, n, 1)); }

static void mean_backward(Graph *g, Node *n) {
    Tensor *x = n->in[0];
    real count = (real)(x->numel / (n->out->numel ? n->out->numel : 1));
    spread(g, x, grad_keepdim(g, n, 1 / count));
}

/* Each output's gradient goes to the first element (in row-major order) equal to its max (the
 * first NaN when the max is NaN, as torch's). */
static void max_backward(Graph *g, Node *n) {
    Tensor *x = n->in[0], *y = n->out;
    int64_t keep[TENSOR_MAX_DIMS], squeezed[TENSOR_MAX_DIMS], ystride[TENSOR_MAX_DIMS];
    reduced_shapes(x, (unsigned)n->i[0], keep, squeezed);
    shape_contiguous_strides(x->ndim, keep, ystride);
    const real *xv = ag_row_major(g, x);
    real *gx = ag_grad(g, x)->data;
    unsigned char *taken = arena_calloc(graph_arena(g), (size_t)y->numel);
    for (int64_t i = 0; i < x->numel; i++) {
        int64_t o = 0, rest = i;
        for (int d = x->ndim - 1; d >= 0; d--) {
            if (keep[d] != 1) o += (rest % x->shape[d]) * ystride[d];
            rest /= x->shape[d];
        }
        real m = y->data[o];
        if (!taken[o] && (xv[i] == m || (m != m && xv[i] != xv[i]))) { /* a NaN max: the first NaN */
            taken[o] = 1;
            gx[i] += y->grad->data[o];
        }
    }
}

Tensor *ag_sum(Graph *g, Tensor *x, int naxes, const int *axes, int keepdim) {
    AG_CHECK_INPUTS(g, "sum", x);
    return reduce(g, x, naxes, axes, keepdim, REDUCE_SUM, "sum", sum_backward);
}

Tensor *ag_mean(Graph *g, Tensor *x, int naxes, const int *axes, int keepdim) {
    AG_CHECK_INPUTS(g, "mean", x);
    return reduce(g, x, naxes, axes, keepdim, REDUCE_MEAN, "mean", mean_backward);
}

Tensor *ag_max(Graph *g, Tensor *x, int naxes, const int *axes, int keepdim) {
    AG_CHECK_INPUTS(g, "max", x);
    return reduce(g, x, naxes, axes, keepdim, REDUCE_MAX, "max", max_backward);
}
