/* Selection: masked_fill, where, index_select and the embedding gather. */
#include <string.h>

#include "autograd/op_util.h"
#include "autograd/ops.h"
#include "base/error.h"
#include "tensor/kernels.h"
#include "base/parallel.h"

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

/* ---- index_select ---- */

typedef struct {
    DimSplit s;           /* x as (outer, size, inner) */
    const int64_t *idx; /* (count) */
    int64_t count, pad;
    const real *src; /* gather: x; backward: dy (outer, count, inner) */
    real *dst;       /* gather: y (outer, count, inner); backward: x's gradient */
} SelectLoop;

#define SELECT_BLOCK 64 /* columns per item of the backward when outer == 1 */

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
        memcpy(l->dst + w * s.inner, l->src + (o * s.size + l->idx[k]) * s.inner, (size_t)s.inner * sizeof(real));
    }
}

static Tensor *gather(Graph *g, Tensor *x, int dim, const int64_t *idx, int64_t count, int64_t pad, const char *op) {
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
    return gather(g, x, tensor_dim("index_select", x->ndim, dim), idx, n, -1, "index_select");
}

Tensor *ag_embedding(Graph *g, Tensor *table, const int64_t *ids, int ndim, const int64_t *shape, int64_t padding_idx) {
    AG_CHECK_INPUTS(g, "embedding", table);
    NN_CHECK(table->ndim == 2 && ndim + 1 <= TENSOR_MAX_DIMS, "embedding", "table %s must be (rows, dim)",
             shape_str(table->ndim, table->shape).s);
    int64_t count = shape_numel(ndim, shape);
    Tensor *rows = gather(g, table, 0, ids, count, padding_idx, "embedding");
    int64_t out[TENSOR_MAX_DIMS];
    memcpy(out, shape, (size_t)ndim * sizeof *out);
    out[ndim] = table->shape[1];
    if (!rows->node) return ag_reshaped_header(g, rows, ndim + 1, out);
    return ag_reshape(g, rows, ndim + 1, out);
}
