/* Helpers shared by the op files of autograd/ (not part of the public API). */
#ifndef NN_AUTOGRAD_OP_UTIL_H
#define NN_AUTOGRAD_OP_UTIL_H

#include "autograd/autograd.h"

/* x's elements in row-major order: x's own data if contiguous, else a copy in g's arena. */
static inline const real *ag_row_major(Graph *g, const Tensor *x) {
    if (tensor_is_contiguous(x)) return x->data;
    Tensor *c = ag_new(g, x->ndim, x->shape);
    tensor_copy(c, x);
    return c->data;
}

/* An arena header for x with another shape over the same (contiguous) data. */
static inline Tensor *ag_reshaped_header(Graph *g, const Tensor *x, int ndim, const int64_t *shape) {
    Tensor v = tensor_reshape(x, ndim, shape);
    return ag_view_header(g, &v);
}

#endif
