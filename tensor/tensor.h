/* Tensor: an n-dimensional array of real (float, or double in the f64 build).
 *
 * A tensor is a shape, strides (in elements) and a pointer to its element
 * (0, ..., 0). It either owns its data (made by tensor_zeros and friends,
 * released by tensor_free) or is a view of another tensor's data (made by
 * tensor_reshape, tensor_permute, tensor_narrow, tensor_expand, returned by
 * value, never freed, and valid only while the viewed tensor lives).
 * Tensors made by autograd ops live in a Graph's arena instead.
 *
 * Shapes are passed as (ndim, int64_t shape[]); NN_SHAPE(2, 3) expands to
 * that pair. Misuse (a bad axis, mismatched shapes) aborts with the op name
 * and the shapes: see base/error.h. */
#ifndef NN_TENSOR_TENSOR_H
#define NN_TENSOR_TENSOR_H

#include <stdint.h>
#include <stdio.h>

#include "tensor/real.h"
#include "base/rng.h"

#define TENSOR_MAX_DIMS 6

/* NN_SHAPE(d0, d1, ...) -> ndim, (int64_t[]){d0, d1, ...} */
#define NN_SHAPE(...)                                                                                                  \
    (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]) { __VA_ARGS__ }

typedef struct Node Node;     /* autograd/autograd.h */
typedef struct RowSet RowSet; /* autograd/engine.c: the rows of a gradient that may be non-zero */

/* Room for TENSOR_MAX_DIMS sizes of up to 20 digits each, with separators. */
#define SHAPE_STR_MAX 144
/* A shape written out by shape_str. */
typedef struct ShapeStr {
    char s[SHAPE_STR_MAX]; /* NUL-terminated */
} ShapeStr;

typedef struct Tensor Tensor;
struct Tensor {
    real *data;                      /* element (0, ..., 0) */
    int ndim;                        /* 0 for a scalar */
    int64_t shape[TENSOR_MAX_DIMS];  /* sizes, shape[ndim..] unused */
    int64_t stride[TENSOR_MAX_DIMS]; /* in elements; 0 on broadcast dims */
    int64_t numel;                   /* product of shape */
    unsigned flags;                  /* TENSOR_OWNS_* */
    uint64_t gen;                    /* for a tensor in a graph's arena, and views of one: the arena
                                        generation it was made in (it is valid while that generation
                                        lives, see tensor_check_live); 0 for every other tensor */
    /* Autograd fields, written only by autograd/. */
    int requires_grad; /* gradients flow into this tensor */
    Tensor *grad;      /* accumulated gradient: contiguous, same shape */
    Node *node;        /* the op that made this tensor, NULL for a leaf */
    const char *name;  /* optional, shown in printed graphs */
    RowSet *grad_rows; /* a leaf with row-sparse gradients (tensor_set_sparse_grad): which rows of grad may be
                          non-zero, one allocation (tensor_free releases it); NULL: not tracked */
};

#define TENSOR_OWNS_DATA   1u /* tensor_free releases data */
#define TENSOR_OWNS_STRUCT 2u /* tensor_free releases the struct itself */

/* ---- creation (heap, owned; release with tensor_free) ---- */

/* A tensor of zeros. */
Tensor *tensor_zeros(int ndim, const int64_t *shape);
/* A tensor of ones. */
Tensor *tensor_ones(int ndim, const int64_t *shape);
/* A tensor filled with value. */
Tensor *tensor_full(int ndim, const int64_t *shape, real value);
/* A tensor holding a copy of numel(shape) values from buf, row-major. */
Tensor *tensor_from_buffer(int ndim, const int64_t *shape, const real *buf);
/* Uniform values in [lo, hi) drawn from rng. */
Tensor *tensor_uniform(int ndim, const int64_t *shape, real lo, real hi, Rng *rng);
/* Normal values with the given mean and std drawn from rng. */
Tensor *tensor_normal(int ndim, const int64_t *shape, real mean, real std, Rng *rng);
/* A contiguous copy of t (any strides). */
Tensor *tensor_clone(const Tensor *t);
/* Releases an owned tensor, its data and its gradient. NULL is allowed. */
void tensor_free(Tensor *t);

/* Fills a tensor header for data at buf (not owned), contiguous. */
Tensor tensor_wrap(real *buf, int ndim, const int64_t *shape);

/* ---- shape ---- */

/* Product of the sizes. */
int64_t shape_numel(int ndim, const int64_t *shape);
/* Row-major strides for a shape. */
void shape_contiguous_strides(int ndim, const int64_t *shape, int64_t *stride);
/* Whether two shapes are equal. */
int shape_equal(int na, const int64_t *a, int nb, const int64_t *b);
/* The numpy broadcast of two shapes into out (aborts if incompatible). */
int shape_broadcast(const char *op, int na, const int64_t *a, int nb, const int64_t *b, int64_t *out);
/* "(2, 3, 4)": a shape as text, held in the returned value so that every call has
 * its own storage. Use it inside the expression that prints it:
 *   nn_abort("matmul", "cannot multiply %s by %s", shape_str(a->ndim, a->shape).s, shape_str(...).s);
 * (C11 keeps a returned struct alive to the end of the full expression.) Past
 * SHAPE_STR_MAX - 1 characters the text ends in "...". */
ShapeStr shape_str(int ndim, const int64_t *shape);
/* Whether the elements are laid out row-major without gaps. */
int tensor_is_contiguous(const Tensor *t);
/* Whether a and b have the same shape. */
int tensor_same_shape(const Tensor *a, const Tensor *b);
/* Normalises a possibly negative dim for a tensor of ndim dims (aborts if out of range). */
int tensor_dim(const char *op, int ndim, int dim);

/* ---- views (no copy; the result shares t's data) ---- */

/* The same data with another shape; one size may be -1. t must be contiguous. */
Tensor tensor_reshape(const Tensor *t, int ndim, const int64_t *shape);
/* Dimensions reordered: result dim i is t's dim perm[i]. */
Tensor tensor_permute(const Tensor *t, const int *perm);
/* Dimensions d0 and d1 swapped. */
Tensor tensor_transpose(const Tensor *t, int d0, int d1);
/* The permutation (ndim entries into perm) that tensor_transpose(t, d0, d1) applies. */
void tensor_transpose_perm(int ndim, int d0, int d1, int *perm);
/* The slice [start, start + length) of dimension dim. */
Tensor tensor_narrow(const Tensor *t, int dim, int64_t start, int64_t length);
/* Broadcast to a larger shape (size-1 dims repeat with stride 0, new dims are prepended). */
Tensor tensor_expand(const Tensor *t, int ndim, const int64_t *shape);

/* Aborts, naming op, when t was made in a graph's arena that has since been reset or freed
 * (graph_reset): its memory then holds another step's values. Tensors with gen 0 always pass. */
void tensor_check_live(const char *op, const Tensor *t);

/* ---- copying and access ---- */

/* dst = src elementwise (same shape, any strides on both sides). */
void tensor_copy(Tensor *dst, const Tensor *src);
/* Copies t's elements into buf in row-major order. */
void tensor_to_buffer(const Tensor *t, real *buf);
/* Sets every element to value. */
void tensor_fill(Tensor *t, real value);
/* The element at a multi-index. */
real tensor_get(const Tensor *t, const int64_t *index);
/* Offset (in elements, from data) of the i-th element in row-major order. */
int64_t tensor_offset_of(const Tensor *t, int64_t i);
/* Prints shape and values (summarised past 6 per row) like PyTorch. */
void tensor_print(const Tensor *t, FILE *f);

#endif
