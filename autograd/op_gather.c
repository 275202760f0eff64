/* Picking elements by index: index_select and the embedding lookup, gather
 * (torch.gather), take_along_dim, top-k (values and indices) and argmax. The
 * indices are int64_t arrays; the values are differentiable, their gradient
 * scattered back onto the picked elements (repeated picks add up). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/op.h"
#include "autograd/ops.h"
#include "base/error.h"
#include "base/parallel.h"

/* ---- index_select ---- */

typedef struct {
    DimSplit s;           /* x as (outer, size, inner) */
    const int64_t *idx; /* (count) */
    int64_t count, pad;
    const real *src; /* gather: x; backward: dy (outer, count, inner) */
    real *dst;       /* gather: y (outer, count, inner); backward: x's gradient */
} SelectLoop;

#define SELECT_BLOCK 64 /* columns per item of the backward when outer == 1 */
#define SELECT_AHEAD 8  /* rows a gather or scatter asks the cache for ahead of the one it copies */

/* Asks for the cache lines of n reals at p (rows of a table are scattered: the hardware cannot guess them). */
static inline void prefetch_row(const real *p, int64_t n, int write) {
    for (int64_t j = 0; j < n; j += 64 / (int64_t)sizeof(real)) {
        if (write)
            __builtin_prefetch(p + j, 1);
        else
            __builtin_prefetch(p + j, 0);
    }
}

/* Backward, items = outer rows: each adds its indices' rows in index order. */
static void scatter_outer(void *ctx, NnChunk c) {
    const SelectLoop *l = ctx;
    DimSplit s = l->s;
    for (int64_t o = c.begin; o < c.end; o++)
        for (int64_t k = 0; k < l->count; k++) {
            if (l->idx[k] == l->pad) continue;
            real *dst = l->dst + (o * s.size + l->idx[k]) * s.inner;
            const real *src = l->src + (o * l->count + k) * s.inner;
            for (int64_t j = 0; j < s.inner; j++) dst[j] += src[j];
        }
}

/* Backward, items = blocks of SELECT_BLOCK columns: each adds every index's row in index order. */
static void scatter_columns(void *ctx, NnChunk c) {
    const SelectLoop *l = ctx;
    int64_t inner = l->s.inner;
    for (int64_t bl = c.begin; bl < c.end; bl++) {
        int64_t j0 = bl * SELECT_BLOCK, j1 = j0 + SELECT_BLOCK < inner ? j0 + SELECT_BLOCK : inner;
        for (int64_t k = 0; k < l->count; k++) {
            if (k + SELECT_AHEAD < l->count) prefetch_row(l->dst + l->idx[k + SELECT_AHEAD] * inner + j0, j1 - j0, 1);
            if (l->idx[k] == l->pad) continue;
            real *dst = l->dst + l->idx[k] * inner;
            const real *src = l->src + k * inner;
            for (int64_t j = j0; j < j1; j++) dst[j] += src[j];
        }
    }
}

/* in[0] = x; i[0] = dim, i[1] = n, i[2] = padding index (-1: none); saved = idx. */
static void index_select_backward(Graph *g, Node *n) {
    Tensor *x = n->in[0];
    const int64_t *idx = n->saved;
    /* a gather of whole rows (dim 0) adds into the gathered rows only */
    real *gx = (n->i[0] == 0 ? ag_grad_add_rows(g, x, idx, n->i[1], n->i[2]) : ag_grad(g, x))->data;
    SelectLoop l = {ag_dim_split(x, (int)n->i[0]), idx, n->i[1], n->i[2], n->out->grad->data, gx};
    /* Threads split the outer dim or the inner columns, never the indices, so
     * repeated indices add up in index order: race-free and deterministic. */
    if (l.s.outer > 1)
        nn_parallel_for(l.s.outer, l.count * l.s.inner, scatter_outer, &l);
    else
        nn_parallel_for((l.s.inner + SELECT_BLOCK - 1) / SELECT_BLOCK, l.count * SELECT_BLOCK, scatter_columns, &l);
}

/* Forward, items = (outer row, index) pairs: one row of inner elements each. */
static void gather_rows(void *ctx, NnChunk c) {
    const SelectLoop *l = ctx;
    DimSplit s = l->s;
    for (int64_t w = c.begin; w < c.end; w++) {
        int64_t o = w / l->count, k = w % l->count;
        if (k + SELECT_AHEAD < l->count)
            prefetch_row(l->src + (o * s.size + l->idx[k + SELECT_AHEAD]) * s.inner, s.inner, 0);
        memcpy(l->dst + w * s.inner, l->src + (o * s.size + l->idx[k]) * s.inner, (size_t)s.inner * sizeof(real));
    }
}

static Tensor *select_rows(Graph *g, Tensor *x, int dim, const int64_t *idx, int64_t count, int64_t pad, const char *op) {
    DimSplit sp = ag_dim_split(x, dim);
    for (int64_t k = 0; k < count; k++)
        NN_CHECK(idx[k] >= 0 && idx[k] < sp.size, op, "index %lld out of range for dim %d of shape %s",
                 (long long)idx[k], dim, shape_str(x->ndim, x->shape).s);
    int64_t shape[TENSOR_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[dim] = count;
    Tensor *y = ag_new(g, x->ndim, shape);
    SelectLoop l = {sp, idx, count, pad, ag_row_major(g, x), y->data};
    nn_parallel_for(sp.outer * count, sp.inner, gather_rows, &l);
    Node *n = ag_record(g, op, index_select_backward, y, 1, &x);
    if (n) {
        int64_t *copy = arena_alloc(graph_arena(g), (size_t)count * sizeof *copy);
        memcpy(copy, idx, (size_t)count * sizeof *copy);
        n->saved = copy;
        n->i[0] = dim;
        n->i[1] = count;
        n->i[2] = pad;
    }
    return y;
}

Tensor *ag_index_select(Graph *g, Tensor *x, int dim, const int64_t *idx, int64_t n) {
    AG_CHECK_INPUTS(g, "index_select", x);
    return select_rows(g, x, tensor_dim("index_select", x->ndim, dim), idx, n, -1, "index_select");
}

Tensor *ag_embedding(Graph *g, Tensor *table, const int64_t *ids, int ndim, const int64_t *shape, int64_t padding_idx) {
    AG_CHECK_INPUTS(g, "embedding", table);
    NN_CHECK(table->ndim == 2 && ndim + 1 <= TENSOR_MAX_DIMS, "embedding", "table %s must be (rows, dim)",
             shape_str(table->ndim, table->shape).s);
    int64_t count = shape_numel(ndim, shape);
    Tensor *rows = select_rows(g, table, 0, ids, count, padding_idx, "embedding");
    int64_t out[TENSOR_MAX_DIMS];
    memcpy(out, shape, (size_t)ndim * sizeof *out);
    out[ndim] = table->shape[1];
    if (!rows->node) return ag_reshaped_header(g, rows, ndim + 1, out);
    return ag_reshape(g, rows, ndim + 1, out);
}

/* ---- gather ---- */

/* Offset in a tensor of shape (ndim, shape) with strides st of output element i (row-major in
 * out_shape), with the coordinate along dim replaced by at. */
static int64_t picked_offset(int ndim, const int64_t *out_shape, const int64_t *st, int dim, int64_t i, int64_t at) {
    int64_t off = 0;
    for (int d = ndim - 1; d >= 0; d--) {
        int64_t c = i % out_shape[d];
        i /= out_shape[d];
        off += (d == dim ? at : c) * st[d];
    }
    return off;
}

typedef struct {
    const int64_t *idx; /* (out's shape) copied into the arena */
    int dim;
} GatherSaved;

/* Serial: repeated indices add into the same gradient element, in a fixed order. */
static void gather_backward(Graph *g, Node *n) {
    const GatherSaved *s = n->saved;
    Tensor *x = n->in[0], *dy = n->out->grad;
    Tensor *gx = ag_grad(g, x); /* contiguous, x's shape */
    for (int64_t i = 0; i < dy->numel; i++)
        gx->data[picked_offset(x->ndim, dy->shape, gx->stride, s->dim, i, s->idx[i])] += dy->data[i];
}

typedef struct {
    const Tensor *x, *y;
    const int64_t *idx; /* (y's shape) */
    int dim;
} GatherLoop;

static void gather_items(void *ctx, NnChunk c) {
    const GatherLoop *l = ctx;
    const Tensor *x = l->x, *y = l->y;
    for (int64_t i = c.begin; i < c.end; i++)
        y->data[i] = x->data[picked_offset(y->ndim, y->shape, x->stride, l->dim, i, l->idx[i])];
}

Tensor *ag_gather(Graph *g, Tensor *x, int dim, const int64_t *idx, int ndim, const int64_t *shape) {
    AG_CHECK_INPUTS(g, "gather", x);
    NN_CHECK(x->ndim >= 1, "gather", "needs at least one dim, got a scalar");
    dim = tensor_dim("gather", x->ndim, dim);
    int fits = ndim == x->ndim;
    for (int d = 0; fits && d < ndim; d++) fits = shape[d] >= 0 && (d == dim || shape[d] <= x->shape[d]);
    NN_CHECK(fits, "gather", "index %s must have the dims of input %s, none larger except along dim %d",
             shape_str(ndim, shape).s, shape_str(x->ndim, x->shape).s, dim);
    Tensor *y = ag_new(g, ndim, shape);
    for (int64_t i = 0; i < y->numel; i++)
        NN_CHECK(idx[i] >= 0 && idx[i] < x->shape[dim], "gather", "index %lld at %lld outside [0, %lld) along dim %d",
                 (long long)idx[i], (long long)i, (long long)x->shape[dim], dim);
    GatherLoop gl = {x, y, idx, dim};
    nn_parallel_for(y->numel, 1, gather_items, &gl);
    Node *n = ag_record(g, "gather", gather_backward, y, 1, &x);
    if (n) {
        GatherSaved *s = arena_alloc(graph_arena(g), sizeof *s);
        int64_t *copy = arena_alloc(graph_arena(g), (size_t)y->numel * sizeof *copy);
        memcpy(copy, idx, (size_t)y->numel * sizeof *copy);
        s->idx = copy;
        s->dim = dim;
        n->saved = s;
    }
    return y;
}

Tensor *ag_take_along_dim(Graph *g, Tensor *x, int dim, const int64_t *idx, int ndim, const int64_t *shape) {
    AG_CHECK_INPUTS(g, "take_along_dim", x);
    NN_CHECK(ndim == x->ndim && ndim >= 1, "take_along_dim", "index %s and input %s must have the same number of dims",
             shape_str(ndim, shape).s, shape_str(x->ndim, x->shape).s);
    dim = tensor_dim("take_along_dim", x->ndim, dim);
    /* both broadcast to one shape, except along dim where each keeps its size */
    int64_t xs[TENSOR_MAX_DIMS], is[TENSOR_MAX_DIMS];
    for (int d = 0; d < ndim; d++) {
        int64_t a = x->shape[d], b = shape[d];
        NN_CHECK(d == dim || a == b || a == 1 || b == 1, "take_along_dim",
                 "index %s and input %s do not broadcast outside dim %d", shape_str(ndim, shape).s,
                 shape_str(x->ndim, x->shape).s, dim);
        xs[d] = d == dim ? a : (a == 1 ? b : a);
        is[d] = d == dim ? b : xs[d];
    }
    Tensor *xe = ag_expand(g, x, ndim, xs);
    int64_t count = shape_numel(ndim, is), in_stride[TENSOR_MAX_DIMS];
    shape_contiguous_strides(ndim, shape, in_stride);
    int64_t *ib = arena_alloc(graph_arena(g), (size_t)(count ? count : 1) * sizeof *ib);
    for (int64_t i = 0; i < count; i++) { /* the index broadcast: size-1 dims repeat */
        int64_t off = 0, r = i;
        for (int d = ndim - 1; d >= 0; d--) {
            off += (shape[d] == 1 ? 0 : r % is[d]) * in_stride[d];
            r /= is[d];
        }
        ib[i] = idx[off];
    }
    return ag_gather(g, xe, dim, ib, ndim, is);
}

/* ---- top-k and argmax ---- */

/* Whether value a at index ia comes before b at ib: larger first (smaller first when !largest),
 * NaN larger than everything, ties by lower index. */
static int ranks_before(real a, int64_t ia, real b, int64_t ib, int largest) {
    int na = a != a, nb = b != b;
    if (na || nb) {
        if (na != nb) return largest ? na : nb;
        return ia < ib;
    }
    if (a != b) return largest ? a > b : a < b;
    return ia < ib;
}

typedef struct {
    real v;
    int64_t i;
} Ranked;

/* Restores the heap below slot at: the root is the entry that ranks last. */
static void sift_down(Ranked *h, int64_t n, int64_t at, int largest) {
    for (;;) {
        int64_t l = 2 * at + 1, r = l + 1, last = at;
        if (l < n && ranks_before(h[last].v, h[last].i, h[l].v, h[l].i, largest)) last = l;
        if (r < n && ranks_before(h[last].v, h[last].i, h[r].v, h[r].i, largest)) last = r;
        if (last == at) return;
        Ranked t = h[at];
        h[at] = h[last];
        h[last] = t;
        at = last;
    }
}

/* The k best of one line (len elements s apart) into idx, best first: a heap of the k best so far. */
static void top_k_line(const real *x, int64_t len, int64_t s, int64_t k, int largest, Ranked *heap, int64_t *idx,
                       int64_t idx_stride) {
    for (int64_t j = 0; j < k; j++) heap[j] = (Ranked){x[j * s], j};
    for (int64_t j = k / 2 - 1; j >= 0; j--) sift_down(heap, k, j, largest);
    for (int64_t j = k; j < len; j++)
        if (ranks_before(x[j * s], j, heap[0].v, heap[0].i, largest)) {
            heap[0] = (Ranked){x[j * s], j};
            sift_down(heap, k, 0, largest);
        }
    for (int64_t n = k; n > 0; n--) { /* pop the worst to the back */
        idx[(n - 1) * idx_stride] = heap[0].i;
        heap[0] = heap[n - 1];
        sift_down(heap, n - 1, 0, largest);
    }
}

/* Lines of x along dim (top-k, argmax): item = line, each writes its own k indices. */
typedef struct {
    DimSplit l;
    const real *x; /* row-major */
    int64_t k;
    int largest;
    Ranked *heaps; /* (lines, k) */
    int64_t *idx;  /* top-k: x's shape with k along dim; argmax: (lines) */
} LineLoop;

static void topk_lines(void *ctx, NnChunk c) {
    const LineLoop *t = ctx;
    DimSplit l = t->l;
    for (int64_t line = c.begin; line < c.end; line++)
        top_k_line(t->x + ag_dim_line_start(l, line), l.size, l.inner, t->k, t->largest, t->heaps + line * t->k,
                   t->idx + ag_dim_line_start((DimSplit){l.outer, t->k, l.inner}, line), l.inner);
}

static void argmax_lines(void *ctx, NnChunk c) {
    const LineLoop *t = ctx;
    DimSplit l = t->l;
    for (int64_t line = c.begin; line < c.end; line++) {
        const real *p = t->x + ag_dim_line_start(l, line);
        int64_t best = 0;
        for (int64_t j = 1; j < l.size; j++)
            if (ranks_before(p[j * l.inner], j, p[best * l.inner], best, 1)) best = j;
        t->idx[line] = best;
    }
}

Tensor *ag_topk(Graph *g, Tensor *x, int dim, int64_t k, int largest, const int64_t **indices) {
    AG_CHECK_INPUTS(g, "topk", x);
    NN_CHECK(x->ndim >= 1, "topk", "needs at least one dim, got a scalar");
    dim = tensor_dim("topk", x->ndim, dim);
    DimSplit l = ag_dim_split(x, dim);
    int64_t len = l.size, outer = l.outer, inner = l.inner;
    NN_CHECK(k >= 0 && k <= len, "topk", "k = %lld outside [0, %lld] for input %s along dim %d", (long long)k,
             (long long)len, shape_str(x->ndim, x->shape).s, dim);
    int64_t shape[TENSOR_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[dim] = k;
    const real *xv = ag_row_major(g, x);
    int64_t count = outer * k * inner;
    int64_t *idx = arena_alloc(graph_arena(g), (size_t)(count ? count : 1) * sizeof *idx);
    Ranked *heaps = arena_alloc(graph_arena(g), (size_t)(k ? k : 1) * (size_t)(outer * inner) * sizeof *heaps);
    LineLoop ll = {l, xv, k, largest, heaps, idx};
    if (k > 0) nn_parallel_for(outer * inner, len, topk_lines, &ll);
    if (indices) *indices = idx;
    Tensor *y = ag_gather(g, x, dim, idx, x->ndim, shape);
    if (y->node) y->node->op = "topk";
    return y;
}

const int64_t *ag_argmax(Graph *g, const Tensor *x, int dim) {
    AG_CHECK_INPUTS(g, "argmax", x);
    NN_CHECK(x->ndim >= 1 && x->numel > 0, "argmax", "needs a non-empty input with at least one dim");
    dim = tensor_dim("argmax", x->ndim, dim);
    DimSplit l = ag_dim_split(x, dim);
    int64_t len = l.size, inner = l.inner;
    const real *xv = ag_row_major(g, x);
    int64_t *idx = arena_alloc(graph_arena(g), (size_t)(l.outer * inner) * sizeof *idx);
    LineLoop ll = {l, xv, 1, 1, NULL, idx};
    nn_parallel_for(l.outer * l.inner, len, argmax_lines, &ll);
    return idx;
}
