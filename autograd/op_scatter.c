/* Adding slices or elements of src into a copy of x at given indices, as
 * torch.index_add and torch.scatter_add. Repeated indices add up. Both take
 * the number of indices, and check it against src's shape, so that a short
 * index array is refused instead of read past its end. The forward adds in
 * index order in one thread per outer slice, so the sums do not depend on
 * the thread count; the backward gives x the output's gradient as it is and
 * src the output's gradient picked at the indices. */
#include "autograd/op.h"
#include "autograd/ops.h"
#include "base/error.h"
#include "base/parallel.h"

/* ---- index_add: whole slices along dim ---- */

typedef struct {
    DimSplit s;          /* x (and y) around dim */
    int64_t n;           /* indices */
    const int64_t *idx;  /* (n) */
    const real *src;     /* (outer, n, inner) */
    real *y;             /* (outer, size, inner): added to (forward) */
    const real *dy;      /* backward: (outer, size, inner) */
    real *dsrc;          /* backward: (outer, n, inner), added to */
} IndexAddLoop;

/* Items are outer slices. */
static void index_add_forward_chunk(void *ctx, NnChunk c) {
    const IndexAddLoop *l = ctx;
    int64_t in = l->s.inner;
    for (int64_t o = c.begin; o < c.end; o++)
        for (int64_t j = 0; j < l->n; j++) {
            real *to = l->y + (o * l->s.size + l->idx[j]) * in;
            const real *from = l->src + (o * l->n + j) * in;
            for (int64_t i = 0; i < in; i++) to[i] += from[i];
        }
}

static void index_add_backward_chunk(void *ctx, NnChunk c) {
    const IndexAddLoop *l = ctx;
    int64_t in = l->s.inner;
    for (int64_t o = c.begin; o < c.end; o++)
        for (int64_t j = 0; j < l->n; j++) {
            const real *from = l->dy + (o * l->s.size + l->idx[j]) * in;
            real *to = l->dsrc + (o * l->n + j) * in;
            for (int64_t i = 0; i < in; i++) to[i] += from[i];
        }
}

static void index_add_backward(Graph *g, Node *n) {
    Tensor *dy = n->out->grad;
    ag_accumulate(g, n->in[0], dy);
    if (!n->in[1]->requires_grad) return;
    IndexAddLoop l = {ag_dim_split(n->out, (int)n->i[0]), n->i[1], n->saved, NULL, NULL, dy->data,
                      ag_grad(g, n->in[1])->data};
    nn_parallel_for(l.s.outer, l.n * l.s.inner, index_add_backward_chunk, &l);
}

/* Aborts unless idx[0..n) are positions along a dim of size `size`. */
static void check_indices(const char *op, const int64_t *idx, int64_t n, int64_t size, const Tensor *x) {
    NN_CHECK(n == 0 || idx, op, "%lld indices given as NULL", (long long)n);
    for (int64_t j = 0; j < n; j++)
        NN_CHECK(idx[j] >= 0 && idx[j] < size, op, "index %lld (at %lld of %lld) out of range [0, %lld) for x %s",
                 (long long)idx[j], (long long)j, (long long)n, (long long)size, shape_str(x->ndim, x->shape).s);
}

Tensor *ag_index_add(Graph *g, Tensor *x, int dim, const int64_t *idx, int64_t n, Tensor *src) {
    int d = tensor_dim("index_add", x->ndim, dim);
    int same = src->ndim == x->ndim && src->shape[d] == n;
    for (int k = 0; same && k < x->ndim; k++) same = k == d || src->shape[k] == x->shape[k];
    NN_CHECK(same, "index_add", "src %s must be x %s with %lld (the number of indices) along dim %d",
             shape_str(src->ndim, src->shape).s, shape_str(x->ndim, x->shape).s, (long long)n, dim);
    check_indices("index_add", idx, n, x->shape[d], x);
    Tensor *y = ag_new(g, x->ndim, x->shape);
    tensor_copy(y, x);
    int64_t *kept = arena_alloc(graph_arena(g), (size_t)(n ? n : 1) * sizeof *kept);
    for (int64_t j = 0; j < n; j++) kept[j] = idx[j];
    IndexAddLoop l = {ag_dim_split(x, d), n, kept, ag_row_major(g, src), y->data, NULL, NULL};
    nn_parallel_for(l.s.outer, n * l.s.inner, index_add_forward_chunk, &l);
    Tensor *in[2] = {x, src};
    Node *node = ag_record(g, "index_add", index_add_backward, y, 2, in);
    if (node) {
        node->i[0] = d;
        node->i[1] = n;
        node->saved = kept;
    }
    return y;
}

/* ---- scatter_add: single elements, one index per element of src ---- */

typedef struct {
    int d;             /* the dim */
    const int64_t *idx; /* (src's shape) */
} ScatterSaved;

/* The offset in a row-major tensor of shape `shape` of src's element p (row-major in src_shape),
 * its coordinate along d replaced by to. */
static int64_t scatter_offset(int ndim, const int64_t *shape, const int64_t *src_shape, int d, int64_t p, int64_t to) {
    int64_t off = 0, stride = 1;
    for (int k = ndim - 1; k >= 0; k--) {
        int64_t c = p % src_shape[k];
        p /= src_shape[k];
        off += (k == d ? to : c) * stride;
        stride *= shape[k];
    }
    return off;
}

static void scatter_add_backward(Graph *g, Node *n) {
    const ScatterSaved *s = n->saved;
    Tensor *dy = n->out->grad, *src = n->in[1];
    ag_accumulate(g, n->in[0], dy);
    if (!src->requires_grad) return;
    real *dsrc = ag_grad(g, src)->data;
    for (int64_t p = 0; p < src->numel; p++)
        dsrc[p] += dy->data[scatter_offset(dy->ndim, dy->shape, src->shape, s->d, p, s->idx[p])];
}

Tensor *ag_scatter_add(Graph *g, Tensor *x, int dim, const int64_t *idx, int64_t n, Tensor *src) {
    int d = tensor_dim("scatter_add", x->ndim, dim);
    int fits = src->ndim == x->ndim;
    for (int k = 0; fits && k < x->ndim; k++) fits = k == d || src->shape[k] <= x->shape[k];
    NN_CHECK(fits, "scatter_add", "src %s must have x's %s number of dims and no size above x's outside dim %d",
             shape_str(src->ndim, src->shape).s, shape_str(x->ndim, x->shape).s, dim);
    NN_CHECK(n == src->numel, "scatter_add", "%lld indices given for src %s (%lld elements): one index per element",
             (long long)n, shape_str(src->ndim, src->shape).s, (long long)src->numel);
    check_indices("scatter_add", idx, n, x->shape[d], x);
    Tensor *y = ag_new(g, x->ndim, x->shape);
    tensor_copy(y, x);
    const real *sv = ag_row_major(g, src);
    ScatterSaved *s = arena_alloc(graph_arena(g), sizeof *s);
    int64_t *kept = arena_alloc(graph_arena(g), (size_t)(n ? n : 1) * sizeof *kept);
    for (int64_t p = 0; p < n; p++) kept[p] = idx[p];
    *s = (ScatterSaved){d, kept};
    for (int64_t p = 0; p < n; p++) y->data[scatter_offset(x->ndim, x->shape, src->shape, d, p, kept[p])] += sv[p];
    Tensor *in[2] = {x, src};
    Node *node = ag_record(g, "scatter_add", scatter_add_backward, y, 2, in);
    if (node) node->saved = s;
    return y;
}
