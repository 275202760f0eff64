/* Reverse-mode automatic differentiation, define-by-run.
 *
 * Every op (autograd/ops.h) computes its output into a Graph's arena and, when
 * gradients are enabled and an input requires them, records a Node: the op
 * name, its inputs, what its backward needs, and the backward function.
 * ag_backward(g, loss) orders the recorded nodes topologically (creation order
 * is one, since an op's inputs exist before it) without recursion, walks them
 * in reverse, and accumulates into the .grad of every tensor that requires it.
 *
 * Semantics follow PyTorch:
 *  - leaf gradients (parameters) accumulate across backward calls until
 *    tensor_zero_grad; a tensor used twice receives the sum;
 *  - inside a no-grad scope (ag_set_grad_enabled(0)) nothing is recorded;
 *  - backward releases the graph it walked: a second backward through it
 *    aborts with a message (build the graph again instead);
 *  - a gradient always has its tensor's shape: views map gradients back to
 *    their base, and ag_accumulate, the one place gradients are summed, undoes
 *    broadcasting.
 *
 * Memory: op outputs, nodes and non-leaf gradients live in the graph's arena
 * until graph_reset; a leaf's gradient is owned by the leaf (tensor_free).
 * Each tensor made there carries the arena's generation (Tensor.gen): an op,
 * ag_backward, or a tensor_* accessor given one after the reset aborts with
 * the op's name, in every build, instead of reading the next step's values.
 * Leaves that require grad must be owned tensors (tensor_zeros, ...) or
 * graph tensors, not views returned by value. */
#ifndef NN_AUTOGRAD_AUTOGRAD_H
#define NN_AUTOGRAD_AUTOGRAD_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "tensor/tensor.h"

typedef struct Graph Graph;

/* Pushes n->out->grad into the gradients of n's inputs (via ag_grad / ag_accumulate). */
typedef void (*BackwardFn)(Graph *g, Node *n);

struct Node {
    const char *op;      /* op name, for messages and printed graphs */
    BackwardFn backward; /* NULL for ops whose inputs need no gradient */
    Tensor *out;         /* the tensor this op made */
    int n_in;
    Tensor **in;    /* inputs, in the op's argument order */
    real f[4];      /* scalar arguments of the op */
    int64_t i[4];   /* integer arguments of the op */
    void *saved;    /* what the op keeps for its backward (arena memory) */
    uint64_t seq;   /* creation order, a topological order */
    uint64_t visit; /* stamp of the last backward pass that reached it */
    int released;   /* a backward pass already ran through it */
};

#define TENSOR_IN_ARENA 4u /* flag: the tensor lives in a graph's arena */

/* A new, empty graph with its own arena. */
Graph *graph_new(void);
/* Releases every tensor, node and gradient made in g since the last reset (make sanitize builds
 * poison them: a later use is reported by AddressSanitizer). */
void graph_reset(Graph *g);
/* A point in g's arena to release back to (graph_release): a scope for inference. */
typedef struct {
    ArenaMark arena;
} GraphMark;
/* Opens a scope in g: what ops make from now on can be released by graph_release. */
GraphMark graph_mark(Graph *g);
/* With gradients off only: releases every tensor made since m (using one afterwards aborts) and returns a copy of
 * keep (NULL allowed) made below the mark, so that inference holds one layer's intermediates at a time. */
Tensor *graph_release(Graph *g, GraphMark m, const Tensor *keep);
/* Frees the graph and its arena. NULL is allowed. */
void graph_free(Graph *g);
/* The graph's arena, for op-specific scratch memory that lives until reset. */
Arena *graph_arena(Graph *g);
/* The most bytes of the arena ever in use at once. */
size_t graph_high_water(const Graph *g);
/* Number of nodes recorded since the last reset. */
size_t graph_num_nodes(const Graph *g);

/* Aborts, naming op, when t (NULL allowed) was made in a graph's arena that has been reset or freed
 * since (graph_reset): its memory then holds another step's values. Every op calls it on each tensor
 * input before reading it (ag_record does too); an op written outside the library should as well. */
void ag_check_input(Graph *g, const char *op, const Tensor *t);

/* A contiguous tensor in g's arena, uninitialised. */
Tensor *ag_new(Graph *g, int ndim, const int64_t *shape);
/* A contiguous tensor in g's arena, zero-filled. */
Tensor *ag_zeros(Graph *g, int ndim, const int64_t *shape);
/* A contiguous tensor in g's arena holding a copy of buf. */
Tensor *ag_from_buffer(Graph *g, int ndim, const int64_t *shape, const real *buf);
/* An arena header for a view (from tensor_reshape etc.), not recorded. */
Tensor *ag_view_header(Graph *g, const Tensor *view);

/* Whether ops record nodes (the global no-grad flag; on by default). */
int ag_grad_enabled(void);
/* Turns recording on or off; returns the previous setting, to restore it. */
int ag_set_grad_enabled(int on);

/* Marks a leaf as requiring gradients (or not). */
void tensor_set_requires_grad(Tensor *t, int on);
/* Zeroes t's accumulated gradient, if it has one (only the rows that may be
 * non-zero, for a leaf with row-sparse gradients). */
void tensor_zero_grad(Tensor *t);
/* Marks a leaf (rows, ...), typically an embedding table, as having row-sparse
 * gradients (on = 1) or not: its gradient stays a dense tensor of its shape,
 * but the rows that gathers add into are recorded (ag_grad_rows), so that
 * zeroing, clipping and a lazy optimizer visit only those, as with PyTorch's
 * Embedding(sparse=True). An op that takes the whole gradient (ag_grad, e.g.
 * a product with the table) makes every row count until the next zeroing. */
void tensor_set_sparse_grad(Tensor *t, int on);
/* The rows of t's gradient that may be non-zero, ascending, and their count
 * in *n; NULL (and *n = 0) when t's rows are not tracked or any row may be
 * non-zero. Valid until the next backward pass or zeroing. */
const int64_t *ag_grad_rows(Tensor *t, int64_t *n);

/* Records that op made out from in[0..n_in): returns the node, or NULL when
 * recording is off or no input requires grad (then out is a constant). For
 * ops defined outside the library too: see docs/writing-an-op.md. */
Node *ag_record(Graph *g, const char *op, BackwardFn backward, Tensor *out, int n_in, Tensor *const *in);

/* t's gradient buffer (contiguous, t's shape), zero-filled when first asked. g may be NULL for an owned
 * leaf (a parameter), whose gradient is never in an arena: for code that writes gradients outside a
 * backward pass (nn/grad_sum.h). */
Tensor *ag_grad(Graph *g, Tensor *t);
/* t's gradient buffer, as ag_grad, for a backward pass that adds into rows
 * rows[0..n) of it only (rows equal to skip excepted; -1: none): a leaf with
 * row-sparse gradients records them instead of counting every row. g may be
 * NULL for an owned leaf, as for ag_grad. */
Tensor *ag_grad_add_rows(Graph *g, Tensor *t, const int64_t *rows, int64_t n, int64_t skip);
/* Where t's gradient can be added to: the matching view of the gradient of
 * the tensor t views, when t is a reshape, permute or narrow view made by an
 * op (so that view's backward has nothing left to do), else t's own gradient.
 * Add into it, never assign: other contributions may be there already. */
Tensor ag_grad_view(Graph *g, Tensor *t);
/* For a backward pass that writes every element of t's gradient once: the
 * buffer, with *fresh = 1 when it was made just now and left unfilled (store
 * into it: no zeros written only to be added to), else *fresh = 0 (add into
 * it, as into ag_grad's). A leaf's gradient is never left unfilled. */
Tensor *ag_grad_whole(Graph *g, Tensor *t, int *fresh);
/* ag_grad_view for a backward pass that writes the whole view once: *fresh as
 * for ag_grad_whole, 1 only when the view covers all of a gradient made now. */
Tensor ag_grad_view_whole(Graph *g, Tensor *t, int *fresh);
/* Adds d into t's gradient. d has t's shape, or a shape t broadcasts to, in
 * which case it is summed over the broadcast dims. The one place gradients
 * are summed. Does nothing if t does not require grad. */
void ag_accumulate(Graph *g, Tensor *t, const Tensor *d);
/* ag_accumulate for a d that nothing reads or writes after the call (the
 * output gradient of the node whose backward is running, or a temporary it
 * made in g's arena): when t has no gradient yet and d is contiguous with t's
 * element count, t's gradient becomes d's buffer, and nothing is copied. */
void ag_accumulate_move(Graph *g, Tensor *t, Tensor *d);

/* Backpropagates from a scalar loss (d loss = 1). */
void ag_backward(Graph *g, Tensor *loss);
/* Backpropagates from y with the given output gradient dy (y's shape). */
void ag_backward_with(Graph *g, Tensor *y, const Tensor *dy);

/* Writes the graph that produced y as Graphviz dot. */
void ag_write_dot(const Tensor *y, FILE *f);

#endif
