/* The op author's API: the gradient contract, in one place.
 *
 * An op (autograd/op_*.c, or one written outside the library: see
 * docs/writing-an-op.md) checks its inputs (ag_check_input), computes its
 * output in the graph's arena (ag_new), and records a Node (ag_record) with
 * the backward function that pushes the output's gradient (n->out->grad,
 * contiguous, the output's shape) into its inputs' gradients. A backward
 * reaches an input's gradient through exactly one of these:
 *
 *   ag_accumulate(g, t, d)       add d (t's shape, or one t broadcasts to)
 *   ag_accumulate_move(g, t, d)  the same, taking d's buffer when it can
 *   ag_grad(g, t)                the buffer, to add into
 *   ag_grad_add_rows(g, t, ...)  the buffer, adding into some rows only
 *   ag_grad_whole(g, t, &fresh)  the buffer, to write every element once
 *   ag_grad_view(g, t, fresh)    through a view, into the gradient of its base
 *
 * The rule every one keeps: a gradient is stored into only when it was made
 * just now (fresh), otherwise added into, because another consumer of t may
 * have contributed already; broadcasting is undone in ag_accumulate only. All
 * of them are defined in autograd/engine.c; users of the library need none
 * of this (autograd/autograd.h). */
#ifndef NN_AUTOGRAD_OP_H
#define NN_AUTOGRAD_OP_H

#include "autograd/autograd.h"

/* Pushes n->out->grad into the gradients of n's inputs (via ag_grad / ag_accumulate). */
typedef void (*BackwardFn)(Graph *g, Node *n);

/* A view op whose output's gradient ag_grad_view maps back onto its input's (op_shape.c sets it). */
typedef enum {
    AG_VIEW_NONE,    /* not such a view */
    AG_VIEW_RESHAPE, /* in[0]'s elements, contiguous, in another shape */
    AG_VIEW_PERMUTE, /* in[0] with its dims permuted: i[0] holds perm, 4 bits per dim (ag_view_perm) */
    AG_VIEW_NARROW,  /* a slice of in[0]: i[0] = dim, i[1] = start, i[2] = length */
} AgView;

struct Node {
    const char *op;      /* op name, for messages and printed graphs */
    BackwardFn backward; /* NULL for ops whose inputs need no gradient */
    Tensor *out;         /* the tensor this op made */
    int n_in;
    Tensor **in;    /* inputs, in the op's argument order */
    real f[4];      /* scalar arguments of the op */
    int64_t i[4];   /* integer arguments of the op */
    void *saved;    /* what the op keeps for its backward (arena memory) */
    AgView view;    /* out is a view of in[0] whose gradient can be written into in[0]'s */
    uint64_t seq;   /* creation order, a topological order */
    uint64_t visit; /* stamp of the last backward pass that reached it */
    int released;   /* a backward pass already ran through it */
};

#define TENSOR_IN_ARENA 4u /* flag: the tensor lives in a graph's arena */

/* ---- recording ---- */

/* Aborts, naming op, when t (NULL allowed) was made in a graph's arena that has been reset or freed
 * since (graph_reset): its memory then holds another step's values. Every op calls it on each tensor
 * input before reading it (ag_record does too); an op written outside the library should as well. */
void ag_check_input(Graph *g, const char *op, const Tensor *t);
/* An arena header for a view (from tensor_reshape etc.), not recorded. */
Tensor *ag_view_header(Graph *g, const Tensor *view);
/* Records that op made out from in[0..n_in): returns the node, or NULL when
 * recording is off or no input requires grad (then out is a constant). For
 * ops defined outside the library too: see docs/writing-an-op.md. */
Node *ag_record(Graph *g, const char *op, BackwardFn backward, Tensor *out, int n_in, Tensor *const *in);

/* ---- the gradient contract (used inside a BackwardFn) ---- */

/* Adds d into t's gradient. d has t's shape, or a shape t broadcasts to, in
 * which case it is summed over the broadcast dims. The one place gradients
 * are summed. Does nothing if t does not require grad. */
void ag_accumulate(Graph *g, Tensor *t, const Tensor *d);
/* ag_accumulate for a d that nothing reads or writes after the call (the
 * output gradient of the node whose backward is running, or a temporary it
 * made in g's arena): when t has no gradient yet and d is contiguous with t's
 * element count, t's gradient becomes d's buffer, and nothing is copied. */
void ag_accumulate_move(Graph *g, Tensor *t, Tensor *d);
/* t's gradient buffer (contiguous, t's shape), zero-filled when first asked: add into it. g may be NULL
 * for an owned leaf (a parameter), whose gradient is never in an arena: for code that writes gradients
 * outside a backward pass (nn/grad_sum.h). */
Tensor *ag_grad(Graph *g, Tensor *t);
/* t's gradient buffer, as ag_grad, for a backward pass that adds into rows
 * rows[0..n) of it only (rows equal to skip excepted; -1: none): a leaf with
 * row-sparse gradients records them instead of counting every row. g may be
 * NULL for an owned leaf, as for ag_grad. */
Tensor *ag_grad_add_rows(Graph *g, Tensor *t, const int64_t *rows, int64_t n, int64_t skip);
/* For a backward pass that writes every element of t's gradient once: the
 * buffer, with *fresh = 1 when it was made just now and left unfilled (store
 * into it: no zeros written only to be added to), else *fresh = 0 (add into
 * it, as into ag_grad's). A leaf's gradient is never left unfilled. */
Tensor *ag_grad_whole(Graph *g, Tensor *t, int *fresh);
/* Where t's gradient can be written: the matching view of the gradient of the
 * tensor t views, when t is a reshape, permute or narrow view made by an op
 * (Node.view; that view's backward then has nothing left to do), else t's own
 * gradient. fresh NULL: add into it, as into ag_grad's. Otherwise for a pass
 * that writes the whole view once, *fresh as for ag_grad_whole: 1 only when
 * the view covers all of a gradient made now. */
Tensor ag_grad_view(Graph *g, Tensor *t, int *fresh);

/* ---- helpers for an op's forward and backward ---- */

/* The permutation an AG_VIEW_PERMUTE node keeps in i[0]. */
static inline void ag_view_perm(const Node *n, int *perm) {
    for (int d = 0; d < n->out->ndim; d++) perm[d] = (int)((n->i[0] >> (4 * d)) & 15);
}

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
