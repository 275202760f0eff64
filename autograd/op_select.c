/* Selection by a condition: where and masked_fill. */
#include <string.h>

#include "autograd/op.h"
#include "autograd/ops.h"
#include "base/error.h"
#include "tensor/kernels.h"

/* ---- where and masked_fill ---- */

/* in[0] = a, in[1] = b; saved = a copy of cond (its own shape) in the arena, so that the caller's
 * tensor may go before backward. a's gradient is dy where cond holds, b's where it does not. */
static void where_backward(Graph *g, Node *n) {
    const Tensor *cond = n->saved, *dy = n->out->grad;
    real zero = 0;
    Tensor z = tensor_wrap(&zero, 0, NULL);
    for (int k = 0; k < 2; k++) {
        Tensor *t = n->in[k];
        if (!t || !t->requires_grad) continue;
        Tensor *d = ag_new(g, dy->ndim, dy->shape);
        if (k == 0)
            tensor_where(d, cond, dy, &z);
        else
            tensor_where(d, cond, &z, dy);
        ag_accumulate_move(g, t, d);
    }
}

Tensor *ag_where(Graph *g, const Tensor *cond, Tensor *a, Tensor *b) {
    AG_CHECK_INPUTS(g, "where", cond, a, b);
    int64_t ab[TENSOR_MAX_DIMS], shape[TENSOR_MAX_DIMS];
    int nab = shape_broadcast("where", a->ndim, a->shape, b->ndim, b->shape, ab);
    int nd = shape_broadcast("where", cond->ndim, cond->shape, nab, ab, shape);
    Tensor *y = ag_new(g, nd, shape);
    tensor_where(y, cond, a, b);
    Node *n = ag_record(g, "where", where_backward, y, 2, (Tensor *[]){a, b});
    if (n) {
        Tensor *kept = ag_new(g, cond->ndim, cond->shape);
        tensor_copy(kept, cond);
        n->saved = kept;
    }
    return y;
}

Tensor *ag_masked_fill(Graph *g, Tensor *x, const Tensor *mask, real value) {
    AG_CHECK_INPUTS(g, "masked_fill", x, mask);
    int64_t shape[TENSOR_MAX_DIMS];
    int nd = shape_broadcast("masked_fill", x->ndim, x->shape, mask->ndim, mask->shape, shape);
    NN_CHECK(shape_equal(nd, shape, x->ndim, x->shape), "masked_fill", "mask %s does not broadcast to input %s",
             shape_str(mask->ndim, mask->shape).s, shape_str(x->ndim, x->shape).s);
    Tensor *fill = ag_from_buffer(g, 0, NULL, &value);
    Tensor *y = ag_where(g, mask, fill, x);
    if (y->node) y->node->op = "masked_fill";
    return y;
}
