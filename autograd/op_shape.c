/* Shape ops. Views share their input's data; their backward maps the
 * gradient (contiguous, the view's shape) back onto the input's layout. The
 * reshape, permute and narrow nodes say what view they are (Node.view), so
 * that ag_grad_view (engine.c) can write a gradient straight into the base. */
#include <string.h>

#include "autograd/op.h"
#include "autograd/ops.h"
#include "base/error.h"
#include "tensor/kernels.h"

/* ---- contiguous and reshape ---- */

/* Same elements, both gradients contiguous: the input's gradient takes dy's buffer, or dy is added into it. */
static void copy_backward(Graph *g, Node *n) {
    Tensor *x = n->in[0];
    Tensor dy = tensor_reshape(n->out->grad, x->ndim, x->shape);
    ag_accumulate_move(g, x, ag_view_header(g, &dy));
}

Tensor *ag_contiguous(Graph *g, Tensor *x) {
    AG_CHECK_INPUTS(g, "contiguous", x);
    if (tensor_is_contiguous(x)) return x;
    Tensor *y = ag_new(g, x->ndim, x->shape);
    tensor_copy(y, x);
    ag_record(g, "contiguous", copy_backward, y, 1, &x);
    return y;
}

Tensor *ag_reshape(Graph *g, Tensor *x, int ndim, const int64_t *shape) {
    AG_CHECK_INPUTS(g, "reshape", x);
    Tensor *c = ag_contiguous(g, x);
    Tensor *y = ag_reshaped_header(g, c, ndim, shape);
    Node *n = ag_record(g, "reshape", copy_backward, y, 1, &c);
    if (n) n->view = AG_VIEW_RESHAPE;
    return y;
}

/* ---- permute and transpose ---- */

static void permute_backward(Graph *g, Node *n) {
    /* View x's gradient through the same permutation and add dy into that view. */
    int perm[TENSOR_MAX_DIMS];
    ag_view_perm(n, perm);
    Tensor gv = tensor_permute(ag_grad(g, n->in[0]), perm);
    tensor_binary(&gv, &gv, n->out->grad, BINARY_ADD);
}

Tensor *ag_permute(Graph *g, Tensor *x, const int *perm) {
    AG_CHECK_INPUTS(g, "permute", x);
    Tensor v = tensor_permute(x, perm);
    Tensor *y = ag_view_header(g, &v);
    Node *n = ag_record(g, "permute", permute_backward, y, 1, &x);
    if (n) {
        n->view = AG_VIEW_PERMUTE;
        for (int d = 0; d < x->ndim; d++) n->i[0] |= (int64_t)perm[d] << (4 * d);
    }
    return y;
}

Tensor *ag_transpose(Graph *g, Tensor *x, int d0, int d1) {
    AG_CHECK_INPUTS(g, "transpose", x);
    int perm[TENSOR_MAX_DIMS];
    tensor_transpose_perm(x->ndim, d0, d1, perm);
    return ag_permute(g, x, perm);
}

/* ---- narrow ---- */

static void narrow_backward(Graph *g, Node *n) {
    Tensor gv = tensor_narrow(ag_grad(g, n->in[0]), (int)n->i[0], n->i[1], n->i[2]);
    tensor_binary(&gv, &gv, n->out->grad, BINARY_ADD);
}

Tensor *ag_narrow(Graph *g, Tensor *x, int dim, int64_t start, int64_t length) {
    AG_CHECK_INPUTS(g, "narrow", x);
    dim = tensor_dim("narrow", x->ndim, dim);
    Tensor v = tensor_narrow(x, dim, start, length);
    Tensor *y = ag_view_header(g, &v);
    Node *n = ag_record(g, "narrow", narrow_backward, y, 1, &x);
    if (n) {
        n->view = AG_VIEW_NARROW;
        n->i[0] = dim;
        n->i[1] = start;
        n->i[2] = length;
    }
    return y;
}

/* ---- expand ---- */

static void expand_backward(Graph *g, Node *n) { ag_accumulate(g, n->in[0], n->out->grad); }

Tensor *ag_expand(Graph *g, Tensor *x, int ndim, const int64_t *shape) {
    AG_CHECK_INPUTS(g, "expand", x);
    Tensor v = tensor_expand(x, ndim, shape);
    Tensor *y = ag_view_header(g, &v);
    ag_record(g, "expand", expand_backward, y, 1, &x);
    return y;
}

/* ---- concat ---- */

static void concat_backward(Graph *g, Node *n) {
    int dim = (int)n->i[0];
    int64_t start = 0;
    for (int k = 0; k < n->n_in; k++) {
        Tensor *x = n->in[k];
        Tensor part = tensor_narrow(n->out->grad, dim, start, x->shape[dim]);
        start += x->shape[dim];
        if (x->requires_grad) {
            Tensor *gx = ag_grad(g, x);
            tensor_binary(gx, gx, &part, BINARY_ADD);
        }
    }
}

Tensor *ag_concat(Graph *g, int n, Tensor *const *xs, int dim) {
    for (int k_ = 0; k_ < n; k_++) ag_check_input(g, "concat", xs[k_]);
    NN_CHECK(n >= 1, "concat", "no tensors to join");
    dim = tensor_dim("concat", xs[0]->ndim, dim);
    int64_t shape[TENSOR_MAX_DIMS];
    memcpy(shape, xs[0]->shape, sizeof shape);
    shape[dim] = 0;
    for (int k = 0; k < n; k++) {
        int same = xs[k]->ndim == xs[0]->ndim;
        for (int d = 0; same && d < xs[0]->ndim; d++) same = d == dim || xs[k]->shape[d] == xs[0]->shape[d];
        NN_CHECK(same, "concat", "shapes %s and %s differ outside dim %d", shape_str(xs[0]->ndim, xs[0]->shape).s,
                 shape_str(xs[k]->ndim, xs[k]->shape).s, dim);
        NN_CHECK(!__builtin_add_overflow(shape[dim], xs[k]->shape[dim], &shape[dim]), "concat",
                 "the sizes along dim %d add up to more than an int64_t counts (input %d is %s)", dim, k,
                 shape_str(xs[k]->ndim, xs[k]->shape).s);
    }
    Tensor *y = ag_new(g, xs[0]->ndim, shape);
    int64_t start = 0;
    for (int k = 0; k < n; k++) {
        Tensor part = tensor_narrow(y, dim, start, xs[k]->shape[dim]);
        tensor_copy(&part, xs[k]);
        start += xs[k]->shape[dim];
    }
    Node *node = ag_record(g, "concat", concat_backward, y, n, xs);
    if (node) node->i[0] = dim;
    return y;
}
