#include <stdlib.h>
#include <string.h>

#include "autograd/op.h"
#include "autograd/profile.h"
#include "base/error.h"
#include "base/memory.h"
#include "tensor/kernels.h"

struct Graph {
    Arena *arena;
    size_t n_nodes;     /* since the last reset */
    uint64_t n_passes;  /* backward passes so far, for visit stamps */
    GraphTraceFn trace; /* NULL, or called by layers with each stage's output */
    void *trace_ctx;
    Profile *profile;   /* NULL, or the profile every op and backward node reports to */
};

static int grad_enabled = 1;  /* the documented global no-grad flag */
static uint64_t next_seq = 1; /* node creation counter, shared by all graphs */

int ag_grad_enabled(void) { return grad_enabled; }

int ag_set_grad_enabled(int on) {
    int prev = grad_enabled;
    grad_enabled = on != 0;
    return prev;
}

Graph *graph_new(void) {
    Graph *g = nn_calloc(1, sizeof *g);
    g->arena = arena_new(1 << 20);
    return g;
}

void graph_reset(Graph *g) {
    if (g->profile) profile_flush(g->profile);
    arena_reset(g->arena);
    g->n_nodes = 0;
}

GraphMark graph_mark(Graph *g) { return (GraphMark){arena_mark(g->arena)}; }

Tensor *graph_release(Graph *g, GraphMark m, const Tensor *keep) {
    NN_CHECK(!grad_enabled, "graph_release", "gradients are on: the nodes recorded since the mark would point at "
             "released memory; release only inside ag_set_grad_enabled(0) (inference), or keep the graph until "
             "backward and graph_reset");
    Tensor *copy = NULL; /* keep, out of the arena while the scope is released, then back in below the mark */
    if (keep) {
        ag_check_input(g, "graph_release", keep);
        copy = tensor_zeros(keep->ndim, keep->shape);
        tensor_copy(copy, keep);
    }
    arena_release_to(g->arena, m.arena);
    if (!keep) return NULL;
    Tensor *t = ag_from_buffer(g, copy->ndim, copy->shape, copy->data);
    tensor_free(copy);
    return t;
}

void graph_free(Graph *g) {
    if (!g) return;
    arena_free(g->arena);
    free(g);
}

Arena *graph_arena(Graph *g) { return g->arena; }
void graph_set_profile(Graph *g, Profile *p) { g->profile = p; }
Profile *graph_profile(const Graph *g) { return g->profile; }
size_t graph_high_water(const Graph *g) { return arena_high_water(g->arena); }
size_t graph_num_nodes(const Graph *g) { return g->n_nodes; }

void graph_set_trace(Graph *g, GraphTraceFn fn, void *ctx) {
    g->trace = fn;
    g->trace_ctx = ctx;
}

void graph_trace(const Graph *g, const char *stage, const Tensor *t) {
    if (g->trace) g->trace(g->trace_ctx, stage, t);
}

int graph_tracing(const Graph *g) { return g->trace != NULL; }

void ag_check_input(Graph *g, const char *op, const Tensor *t) {
    if (t && t->gen != 0 && !arena_generation_valid(g->arena, t->gen)) tensor_check_live(op, t);
}

Tensor *ag_new(Graph *g, int ndim, const int64_t *shape) {
    Tensor *t = arena_alloc(g->arena, sizeof *t);
    *t = tensor_wrap(NULL, ndim, shape);
    t->data = arena_alloc(g->arena, (size_t)t->numel * sizeof(real));
    t->flags = TENSOR_IN_ARENA;
    t->gen = arena_generation(g->arena);
    return t;
}

Tensor *ag_zeros(Graph *g, int ndim, const int64_t *shape) {
    Tensor *t = ag_new(g, ndim, shape);
    memset(t->data, 0, (size_t)t->numel * sizeof(real));
    return t;
}

Tensor *ag_from_buffer(Graph *g, int ndim, const int64_t *shape, const real *buf) {
    Tensor *t = ag_new(g, ndim, shape);
    memcpy(t->data, buf, (size_t)t->numel * sizeof(real));
    return t;
}

Tensor *ag_view_header(Graph *g, const Tensor *view) {
    Tensor *t = arena_alloc(g->arena, sizeof *t);
    ag_check_input(g, "view", view);
    *t = *view;
    t->flags = TENSOR_IN_ARENA;
    t->gen = arena_generation(g->arena);
    t->requires_grad = 0;
    t->grad = NULL;
    t->node = NULL;
    t->name = NULL;
    t->grad_rows = NULL;
    return t;
}

void tensor_set_requires_grad(Tensor *t, int on) {
    NN_CHECK(!on || t->node == NULL, "requires_grad", "only leaves can be marked (this tensor was made by %s)",
             t->node ? t->node->op : "");
    NN_CHECK(!on || (t->flags & (TENSOR_OWNS_STRUCT | TENSOR_IN_ARENA)), "requires_grad",
             "a view returned by value cannot hold a gradient; mark the tensor it views");
    t->requires_grad = on != 0;
}

/* ---- row-sparse gradients ---- */

/* Which rows of a leaf's gradient may be non-zero: one allocation holding the
 * header, then rows (cap), then the marks (cap), cap = the leaf's shape[0]. */
struct RowSet {
    int64_t n, cap;    /* rows listed; rows of the tensor */
    int all;           /* an op reached the gradient as a whole (ag_grad): any row may be non-zero */
    int sorted;        /* rows[0..n) is ascending */
    int64_t *rows;     /* (cap) the listed rows, first n used */
    unsigned char *in; /* (cap) 1 for a listed row */
};

void tensor_set_sparse_grad(Tensor *t, int on) {
    NN_CHECK(t->node == NULL && t->ndim >= 1, "sparse_grad", "only a leaf of at least one dim can have row-sparse "
             "gradients (this tensor has %d dims%s%s)", t->ndim, t->node ? ", made by " : "",
             t->node ? t->node->op : "");
    free(t->grad_rows);
    t->grad_rows = NULL;
    if (!on) return;
    int64_t cap = t->shape[0];
    RowSet *rs = nn_calloc(1, sizeof *rs + (size_t)cap * (sizeof(int64_t) + 1));
    rs->cap = cap;
    rs->rows = (int64_t *)(rs + 1);
    rs->in = (unsigned char *)(rs->rows + cap);
    rs->all = t->grad != NULL; /* a gradient from before: its rows are unknown */
    rs->sorted = 1;
    t->grad_rows = rs;
}

/* t's gradient, made zero-filled when first asked, without marking rows. */
static Tensor *grad_buffer(Graph *g, Tensor *t) {
    if (!t->grad) {
        if (t->flags & TENSOR_IN_ARENA) {
            NN_CHECK(g != NULL, "ag_grad", "a tensor of a graph's arena takes its gradient from that graph: g is NULL");
            t->grad = ag_zeros(g, t->ndim, t->shape);
        } else {
            NN_CHECK(t->flags & TENSOR_OWNS_STRUCT, "backward",
                     "a gradient reached a view returned by value; leaves must be owned tensors");
            t->grad = tensor_zeros(t->ndim, t->shape);
        }
    }
    return t->grad;
}

Tensor *ag_grad_add_rows(Graph *g, Tensor *t, const int64_t *rows, int64_t n, int64_t skip) {
    RowSet *rs = t->grad_rows;
    if (rs)
        for (int64_t k = 0; k < n; k++) {
            int64_t r = rows[k];
            if (r == skip || rs->in[r]) continue;
            rs->in[r] = 1;
            rs->sorted &= rs->n == 0 || rs->rows[rs->n - 1] < r;
            rs->rows[rs->n++] = r;
        }
    return grad_buffer(g, t);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* rs's rows in increasing order from its marks: one pass over cap bytes, eight at a time (a sort of n rows costs
 * more once n is past cap / 64). */
static void rows_from_marks(RowSet *rs) {
    int64_t n = 0, r = 0;
    for (; r + 8 <= rs->cap; r += 8) {
        uint64_t word;
        memcpy(&word, rs->in + r, sizeof word);
        if (!word) continue;
        for (int64_t k = r; k < r + 8; k++) { /* no branch on a mark: at 1M rows a tenth marked, it mispredicts */
            rs->rows[n] = k;
            n += rs->in[k];
        }
    }
    for (; r < rs->cap; r++) {
        rs->rows[n] = r;
        n += rs->in[r];
    }
}

const int64_t *ag_grad_rows(Tensor *t, int64_t *n) {
    RowSet *rs = t->grad_rows;
    *n = 0;
    if (!rs || rs->all) return NULL;
    if (!rs->sorted && rs->n > rs->cap / 64)
        rows_from_marks(rs);
    else if (!rs->sorted)
        qsort(rs->rows, (size_t)rs->n, sizeof *rs->rows, cmp_i64);
    rs->sorted = 1;
    *n = rs->n;
    return rs->rows;
}

const int64_t *ag_take_grad_rows(Tensor *t, int64_t *n) {
    const int64_t *rows = ag_grad_rows(t, n);
    if (!rows) return NULL;
    RowSet *rs = t->grad_rows;
    for (int64_t k = 0; k < rs->n; k++) rs->in[rs->rows[k]] = 0;
    rs->n = 0; /* rows[0..*n) stay as they are until a gather lists a row again */
    return rows;
}

void tensor_zero_grad(Tensor *t) {
    RowSet *rs = t->grad_rows;
    if (t->grad && rs && !rs->all) {
        int64_t width = t->grad->numel / rs->cap;
        for (int64_t k = 0; k < rs->n; k++) memset(t->grad->data + rs->rows[k] * width, 0, (size_t)width * sizeof(real));
    } else if (t->grad) {
        memset(t->grad->data, 0, (size_t)t->grad->numel * sizeof(real));
    }
    if (rs) { /* the gradient is all zeros again: nothing listed */
        for (int64_t k = 0; k < rs->n; k++) rs->in[rs->rows[k]] = 0;
        rs->n = 0;
        rs->all = 0;
        rs->sorted = 1;
    }
}

static Node *record(Graph *g, const char *op, BackwardFn backward, Tensor *out, int n_in, Tensor *const *in) {
    for (int k = 0; k < n_in; k++) ag_check_input(g, op, in[k]);
    ag_check_input(g, op, out);
    if (out->flags & TENSOR_IN_ARENA) out->gen = arena_generation(g->arena); /* a header an op rewrote */
    if (!grad_enabled) return NULL;
    int needed = 0;
    for (int k = 0; k < n_in; k++)
        if (in[k] && in[k]->requires_grad) needed = 1;
    if (!needed) return NULL;
    Node *n = arena_calloc(g->arena, sizeof *n);
    n->op = op;
    n->backward = backward;
    n->out = out;
    n->n_in = n_in;
    n->in = arena_alloc(g->arena, (size_t)n_in * sizeof *n->in);
    memcpy(n->in, in, (size_t)n_in * sizeof *n->in);
    n->seq = next_seq++;
    out->node = n;
    out->requires_grad = 1;
    g->n_nodes++;
    return n;
}

Node *ag_record(Graph *g, const char *op, BackwardFn backward, Tensor *out, int n_in, Tensor *const *in) {
    Node *n = record(g, op, backward, out, n_in, in);
    if (g->profile) profile_forward(g->profile, op, out, n_in, in, n); /* the op's work ends here */
    return n;
}

Tensor *ag_grad(Graph *g, Tensor *t) {
    if (t->grad_rows) t->grad_rows->all = 1; /* the caller may write any row */
    return grad_buffer(g, t);
}

Tensor *ag_grad_whole(Graph *g, Tensor *t, int *fresh) {
    *fresh = !t->grad && (t->flags & TENSOR_IN_ARENA) != 0;
    if (*fresh) t->grad = ag_new(g, t->ndim, t->shape);
    return ag_grad(g, t);
}

/* A narrow view covers part of its base's gradient only, which must then be filled with zeros. */
Tensor ag_grad_view(Graph *g, Tensor *t, int *fresh) {
    Node *n = t->node;
    Tensor *base = n && n->n_in == 1 ? n->in[0] : NULL;
    if (fresh) *fresh = 0;
    if (base && base->requires_grad) {
        if (n->view == AG_VIEW_NARROW) {
            Tensor b = ag_grad_view(g, base, NULL);
            return tensor_narrow(&b, (int)n->i[0], n->i[1], n->i[2]);
        }
        if (n->view == AG_VIEW_PERMUTE) {
            int perm[TENSOR_MAX_DIMS];
            ag_view_perm(n, perm);
            Tensor b = ag_grad_view(g, base, fresh);
            return tensor_permute(&b, perm);
        }
        if (n->view == AG_VIEW_RESHAPE && base->numel == t->numel && tensor_is_contiguous(base) &&
            tensor_is_contiguous(t)) {
            int whole;
            Tensor b = ag_grad_view(g, base, &whole);
            if (tensor_is_contiguous(&b)) {
                if (fresh) *fresh = whole;
                return tensor_reshape(&b, t->ndim, t->shape);
            }
            if (whole) tensor_fill(&b, 0); /* not used as a view after all: the base's gradient must hold zeros */
        }
    }
    return fresh ? *ag_grad_whole(g, t, fresh) : *ag_grad(g, t);
}

void ag_accumulate(Graph *g, Tensor *t, const Tensor *d) {
    if (!t->requires_grad) return;
    int fresh;
    Tensor *grad = ag_grad_whole(g, t, &fresh);
    if (!tensor_same_shape(grad, d))
        tensor_sum_to(grad, d, !fresh);
    else if (fresh)
        tensor_copy(grad, d);
    else
        tensor_binary(grad, grad, d, BINARY_ADD);
}

void ag_accumulate_move(Graph *g, Tensor *t, Tensor *d) {
    if (t->requires_grad && !t->grad && (t->flags & TENSOR_IN_ARENA) && (d->flags & TENSOR_IN_ARENA) &&
        d->numel == t->numel && tensor_is_contiguous(d)) {
        Tensor v = tensor_reshape(d, t->ndim, t->shape);
        t->grad = ag_view_header(g, &v);
        return;
    }
    ag_accumulate(g, t, d);
}

static int cmp_seq_desc(const void *a, const void *b) {
    uint64_t x = (*(Node *const *)a)->seq, y = (*(Node *const *)b)->seq;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Every node that y depends on through tensors requiring grad, found with an
 * explicit stack, returned in reverse creation order. */
static Node **collect(Graph *g, Tensor *y, size_t *count) {
    uint64_t stamp = ++g->n_passes;
    size_t cap = 64, n = 0, top = 0;
    Node **order = nn_malloc(cap * sizeof *order);
    Node **stack = nn_malloc(cap * sizeof *stack);
    if (y->node) {
        y->node->visit = stamp;
        stack[top++] = y->node;
    }
    while (top > 0) {
        Node *node = stack[--top];
        NN_CHECK(!node->released, "backward",
                 "the graph was already released: backward() ran through this '%s' node before; "
                 "run the forward pass again to build a new graph",
                 node->op);
        if (n == cap || top + (size_t)node->n_in >= cap) {
            cap = cap * 2 + (size_t)node->n_in;
            order = nn_realloc(order, cap * sizeof *order);
            stack = nn_realloc(stack, cap * sizeof *stack);
        }
        order[n++] = node;
        ag_check_input(g, "backward", node->out);
        for (int k = 0; k < node->n_in; k++) {
            ag_check_input(g, "backward", node->in[k]);
            Node *p = node->in[k] ? node->in[k]->node : NULL;
            if (p && p->visit != stamp && node->in[k]->requires_grad) {
                p->visit = stamp;
                stack[top++] = p;
            }
        }
    }
    free(stack);
    qsort(order, n, sizeof *order, cmp_seq_desc);
    *count = n;
    return order;
}

void ag_backward_with(Graph *g, Tensor *y, const Tensor *dy) {
    ag_check_input(g, "backward", y);
    ag_check_input(g, "backward", dy);
    NN_CHECK(y->requires_grad, "backward",
             "the tensor does not require grad (no input of its graph does, "
             "or it was computed with gradients disabled)");
    NN_CHECK(tensor_same_shape(y, dy), "backward", "output gradient of shape %s for a tensor of shape %s",
             shape_str(dy->ndim, dy->shape).s, shape_str(y->ndim, y->shape).s);
    size_t n;
    Node **order = collect(g, y, &n);
    ag_accumulate(g, y, dy);
    int prev = ag_set_grad_enabled(0); /* backward passes record nothing */
    if (g->profile) profile_backward_pass(g->profile, 1);
    for (size_t k = 0; k < n; k++) {
        Node *node = order[k];
        if (node->out->grad && node->backward) {
            node->backward(g, node);
            if (g->profile) profile_backward(g->profile, node);
        }
        node->released = 1;
        node->saved = NULL;
    }
    if (g->profile) profile_backward_pass(g->profile, 0);
    ag_set_grad_enabled(prev);
    free(order);
}

void ag_backward(Graph *g, Tensor *loss) {
    ag_check_input(g, "backward", loss);
    NN_CHECK(loss->numel == 1, "backward", "the loss must have one element, got shape %s (use ag_backward_with)",
             shape_str(loss->ndim, loss->shape).s);
    real one = 1;
    Tensor d = tensor_wrap(&one, loss->ndim, loss->shape);
    ag_backward_with(g, loss, &d);
}

void ag_write_dot(const Tensor *y, FILE *f) {
    fprintf(f, "digraph autograd {\n  rankdir=BT;\n  node [fontname=\"Helvetica\", fontsize=10];\n");
    /* Walk like collect(), without stamps: a small visited list is enough for printing. */
    size_t cap = 64, n = 0, top = 0;
    const Node **seen = nn_malloc(cap * sizeof *seen);
    const Node **stack = nn_malloc(cap * sizeof *stack);
    if (y->node) stack[top++] = y->node, seen[n++] = y->node;
    while (top > 0) {
        const Node *node = stack[--top];
        fprintf(f, "  n%llu [shape=box, label=\"%s\\n%s\"];\n", (unsigned long long)node->seq, node->op,
                shape_str(node->out->ndim, node->out->shape).s);
        for (int k = 0; k < node->n_in; k++) {
            const Tensor *in = node->in[k];
            if (!in) continue;
            if (in->node) {
                fprintf(f, "  n%llu -> n%llu;\n", (unsigned long long)in->node->seq, (unsigned long long)node->seq);
                int known = 0;
                for (size_t j = 0; j < n && !known; j++) known = seen[j] == in->node;
                if (!known) {
                    if (n == cap || top == cap) {
                        cap *= 2;
                        seen = nn_realloc(seen, cap * sizeof *seen);
                        stack = nn_realloc(stack, cap * sizeof *stack);
                    }
                    seen[n++] = in->node;
                    stack[top++] = in->node;
                }
            } else if (in->requires_grad) {
                fprintf(f, "  l%p [shape=ellipse, style=filled, fillcolor=lightblue, label=\"%s\\n%s\"];\n",
                        (const void *)in, in->name ? in->name : "leaf", shape_str(in->ndim, in->shape).s);
                fprintf(f, "  l%p -> n%llu;\n", (const void *)in, (unsigned long long)node->seq);
            }
        }
    }
    fprintf(f, "}\n");
    free(seen);
    free(stack);
}
