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
        ag_accumulate(g, t, d);
    }
}

Tensor *ag_where(Graph *g, const Tensor *cond, Tensor *a, Tensor *b) {
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

/* in[0] = x; i[0] = dim, i[1] = n, i[2] = padding index (-1: none); saved = idx. */
static void index_select_backward(Graph *g, Node *n) {
    Tensor *x = n->in[0];
    const int64_t *idx = n->saved;
    int64_t count = n->i[1], pad = n->i[2];
    DimSplit s = ag_dim_split(x, (int)n->i[0]);
    /* a gather of whole rows (dim 0) adds into the gathered rows only */
    real *gx = (n->i[0] == 0 ? ag_grad_add_rows(g, x, idx, count, pad) : ag_grad(g, x))->data;
    const real *dy = n->out->grad->data;
    /* Threads split the outer dim or the inner columns, never the indices, so
     * repeated indices add up in index order: race-free and deterministic. */
    if (s.outer > 1) {
#pragma omp parallel for schedule(static) if (s.outer * count * s.inner > NN_PARALLEL_MIN_WORK)
        for (int64_t o = 0; o < s.outer; o++)
            for (int64_t k = 0; k < count; k++) {
                if (idx[k] == pad) continue;
                real *dst = gx + (o * s.size + idx[k]) * s.inner;
                const real *src = dy + (o * count + k) * s.inner;
                for (int64_t j = 0; j < s.inner; j++) dst[j] += src[j];
            }
    } else {
        const int64_t block = 64;
        int64_t nblocks = (s.inner + block - 1) / block;
#pragma omp parallel for schedule(static) if (count * s.inner > NN_PARALLEL_MIN_WORK && nblocks > 1)
        for (int64_t bl = 0; bl < nblocks; bl++) {
            int64_t j0 = bl * block, j1 = j0 + block < s.inner ? j0 + block : s.inner;
            for (int64_t k = 0; k < count; k++) {
                if (idx[k] == pad) continue;
                real *dst = gx + idx[k] * s.inner;
                const real *src = dy + k * s.inner;
                for (int64_t j = j0; j < j1; j++) dst[j] += src[j];
            }
        }
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
    const real *xv = ag_row_major(g, x);
#pragma omp parallel for schedule(static) if (sp.outer * count * sp.inner > NN_PARALLEL_MIN_WORK)
    for (int64_t w = 0; w < sp.outer * count; w++) {
        int64_t o = w / count, k = w % count;
        memcpy(y->data + w * sp.inner, xv + (o * sp.size + idx[k]) * sp.inner, (size_t)sp.inner * sizeof(real));
    }
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
    return gather(g, x, tensor_dim("index_select", x->ndim, dim), idx, n, -1, "index_select");
}

Tensor *ag_embedding(Graph *g, Tensor *table, const int64_t *ids, int ndim, const int64_t *shape, int64_t padding_idx) {
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
