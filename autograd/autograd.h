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
 * graph tensors, not views returned by value.
 *
 * This header is what a user of the library calls. Writing an op (the Node,
 * ag_record and the gradient contract) is autograd/op.h. */
#ifndef NN_AUTOGRAD_AUTOGRAD_H
#define NN_AUTOGRAD_AUTOGRAD_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "tensor/tensor.h"

typedef struct Graph Graph;

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
/* Sees the output of each stage of a forward pass (for printing data flows: sasrec explain). */
typedef void (*GraphTraceFn)(void *ctx, const char *stage, const Tensor *t);
/* Makes layers report each stage's output on g to fn(ctx, ...) (graph_trace); NULL: no trace (the default). */
void graph_set_trace(Graph *g, GraphTraceFn fn, void *ctx);
/* Reports a stage's output to g's trace hook, if it has one. */
void graph_trace(const Graph *g, const char *stage, const Tensor *t);
/* Whether g has a trace hook. */
int graph_tracing(const Graph *g);

/* A contiguous tensor in g's arena, uninitialised. */
Tensor *ag_new(Graph *g, int ndim, const int64_t *shape);
/* A contiguous tensor in g's arena, zero-filled. */
Tensor *ag_zeros(Graph *g, int ndim, const int64_t *shape);
/* A contiguous tensor in g's arena holding a copy of buf. */
Tensor *ag_from_buffer(Graph *g, int ndim, const int64_t *shape, const real *buf);

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
/* ag_grad_rows, the rows handed over: t's list is emptied (as by
 * tensor_zero_grad, which then sweeps none of them) and the caller must zero
 * those rows of the gradient itself, as lazy Adam does while each row is in
 * cache (adam_step_zero_grad). Valid until the next backward pass. */
const int64_t *ag_take_grad_rows(Tensor *t, int64_t *n);

/* Backpropagates from a scalar loss (d loss = 1). */
void ag_backward(Graph *g, Tensor *loss);
/* Backpropagates from y with the given output gradient dy (y's shape). */
void ag_backward_with(Graph *g, Tensor *y, const Tensor *dy);

/* Writes the graph that produced y as Graphviz dot. */
void ag_write_dot(const Tensor *y, FILE *f);

#endif
