/* Helpers shared by the op files of autograd/ (not part of the public API). */
#ifndef NN_AUTOGRAD_OP_UTIL_H
#define NN_AUTOGRAD_OP_UTIL_H

#include "autograd/autograd.h"

/* ag_check_input on each of the tensor arguments (NULL allowed). */
#define AG_CHECK_INPUTS(g, op, ...)                                                                                    \
    do {                                                                                                               \
        const Tensor *const ag_in_[] = {__VA_ARGS__};                                                                  \
        for (size_t ag_k_ = 0; ag_k_ < sizeof ag_in_ / sizeof *ag_in_; ag_k_++) ag_check_input(g, op, ag_in_[ag_k_]); \
    } while (0)

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

/* x viewed around dim as (outer, size, inner): in row-major order, element (o, j, i) is at
 * (o * size + j) * inner + i; the size elements of one (o, i) line are inner apart. */
typedef struct {
    int64_t outer, size, inner;
} DimSplit;

static inline DimSplit ag_dim_split(const Tensor *x, int dim) {
    DimSplit s = {1, x->shape[dim], 1};
    for (int d = 0; d < dim; d++) s.outer *= x->shape[d];
    for (int d = dim + 1; d < x->ndim; d++) s.inner *= x->shape[d];
    return s;
}

/* The first element of line k (of outer * inner) of a row-major x split as s. */
static inline int64_t ag_dim_line_start(DimSplit s, int64_t k) {
    return (k / s.inner) * s.size * s.inner + k % s.inner;
}

#endif
