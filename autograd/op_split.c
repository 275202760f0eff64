/* Cutting and joining along a dim: split, chunk (narrow views), select (a
 * view without the dim) and stack (a copy along a new dim). */
#include <string.h>

#include "autograd/op.h"
#include "autograd/ops.h"
#include "base/error.h"
#include "tensor/kernels.h"

/* ---- split and chunk: pieces are narrow views ---- */

void ag_split_sizes(Graph *g, Tensor *x, int dim, int n, const int64_t *sizes, Tensor **out) {
    AG_CHECK_INPUTS(g, "split_sizes", x);
    NN_CHECK(x->ndim >= 1, "split", "needs at least one dim, got a scalar");
    dim = tensor_dim("split", x->ndim, dim);
    int64_t total = 0;
    for (int k = 0; k < n; k++) {
        NN_CHECK(sizes[k] >= 0, "split", "piece %d has negative size %lld", k, (long long)sizes[k]);
        NN_CHECK(!__builtin_add_overflow(total, sizes[k], &total), "split",
                 "the sizes add up to more than an int64_t counts (at piece %d of %lld)", k, (long long)sizes[k]);
    }
    NN_CHECK(total == x->shape[dim], "split", "the %d sizes add up to %lld, dim %d has %lld", n, (long long)total, dim,
             (long long)x->shape[dim]);
    int64_t start = 0;
    for (int k = 0; k < n; start += sizes[k], k++) out[k] = ag_narrow(g, x, dim, start, sizes[k]);
}

int ag_split(Graph *g, Tensor *x, int dim, int64_t size, Tensor **out) {
    NN_CHECK(x->ndim >= 1 && size > 0, "split", "needs a positive piece size and an input with a dim");
    dim = tensor_dim("split", x->ndim, dim);
    int64_t len = x->shape[dim];
    int n = 0;
    for (int64_t start = 0; start < len; start += size, n++)
        out[n] = ag_narrow(g, x, dim, start, start + size <= len ? size : len - start);
    return n;
}

int ag_chunk(Graph *g, Tensor *x, int dim, int chunks, Tensor **out) {
    NN_CHECK(chunks > 0 && x->ndim >= 1, "chunk", "needs chunks > 0 (got %d) and an input with a dim", chunks);
    dim = tensor_dim("chunk", x->ndim, dim);
    int64_t len = x->shape[dim], size = (len + chunks - 1) / chunks;
    if (size == 0) { /* an empty dim: one empty piece, as torch */
        out[0] = ag_narrow(g, x, dim, 0, 0);
        return 1;
    }
    return ag_split(g, x, dim, size, out);
}

/* ---- select: index i of dim, the dim removed ---- */

/* t's view without dim, which must have size 1. */
static Tensor drop_dim(Tensor t, int dim) {
    for (int d = dim; d + 1 < t.ndim; d++) {
        t.shape[d] = t.shape[d + 1];
        t.stride[d] = t.stride[d + 1];
    }
    t.ndim--;
    return t;
}

static void select_backward(Graph *g, Node *n) {
    Tensor gv = drop_dim(tensor_narrow(ag_grad(g, n->in[0]), (int)n->i[0], n->i[1], 1), (int)n->i[0]);
    tensor_binary(&gv, &gv, n->out->grad, BINARY_ADD);
}

Tensor *ag_select(Graph *g, Tensor *x, int dim, int64_t index) {
    AG_CHECK_INPUTS(g, "select", x);
    NN_CHECK(x->ndim >= 1, "select", "needs at least one dim, got a scalar");
    dim = tensor_dim("select", x->ndim, dim);
    NN_CHECK(index >= 0 && index < x->shape[dim], "select", "index %lld outside [0, %lld) along dim %d",
             (long long)index, (long long)x->shape[dim], dim);
    Tensor v = drop_dim(tensor_narrow(x, dim, index, 1), dim);
    Tensor *y = ag_view_header(g, &v);
    Node *n = ag_record(g, "select", select_backward, y, 1, &x);
    if (n) {
        n->i[0] = dim;
        n->i[1] = index;
    }
    return y;
}

/* ---- stack ---- */

static void stack_backward(Graph *g, Node *n) {
    int dim = (int)n->i[0];
    for (int k = 0; k < n->n_in; k++) {
        Tensor *x = n->in[k];
        if (!x->requires_grad) continue;
        Tensor part = drop_dim(tensor_narrow(n->out->grad, dim, k, 1), dim), *gx = ag_grad(g, x);
        tensor_binary(gx, gx, &part, BINARY_ADD);
    }
}

Tensor *ag_stack(Graph *g, int n, Tensor *const *xs, int dim) {
    for (int k_ = 0; k_ < n; k_++) ag_check_input(g, "stack", xs[k_]);
    NN_CHECK(n >= 1, "stack", "no tensors to stack");
    int nd = xs[0]->ndim;
    NN_CHECK(nd < TENSOR_MAX_DIMS, "stack", "inputs of %d dims: the result would have more than %d", nd,
             TENSOR_MAX_DIMS);
    dim = tensor_dim("stack", nd + 1, dim);
    for (int k = 1; k < n; k++)
        NN_CHECK(tensor_same_shape(xs[k], xs[0]), "stack", "input %d has shape %s, input 0 %s", k,
                 shape_str(xs[k]->ndim, xs[k]->shape).s, shape_str(nd, xs[0]->shape).s);
    int64_t shape[TENSOR_MAX_DIMS];
    for (int d = 0, s = 0; d <= nd; d++) shape[d] = d == dim ? n : xs[0]->shape[s++];
    Tensor *y = ag_new(g, nd + 1, shape);
    for (int k = 0; k < n; k++) {
        Tensor part = drop_dim(tensor_narrow(y, dim, k, 1), dim);
        tensor_copy(&part, xs[k]);
    }
    Node *node = ag_record(g, "stack", stack_backward, y, n, xs);
    if (node) node->i[0] = dim;
    return y;
}
