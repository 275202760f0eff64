/* Layer normalisation over the last dim, fused: one pass forward, one back. */
#include <stdlib.h>
#include <string.h>

#include "autograd/op_util.h"
#include "autograd/ops.h"
#include "tensor/error.h"
#include "tensor/rmath.h"

/* Rows per chunk when summing the weight and bias gradients: fixed, so the
 * order of additions does not depend on the thread count. */
#define LN_ROW_CHUNK 256

typedef struct {
    const real *x; /* (rows, H) row-major input */
    real *mean;    /* (rows) */
    real *rstd;    /* (rows) 1 / sqrt(var + eps) */
} LayerNormSaved;

/* in = {x, w, b} */
static void layer_norm_backward(Graph *g, Node *n) {
    const LayerNormSaved *s = n->saved;
    Tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    int64_t H = x->shape[x->ndim - 1], rows = H ? x->numel / H : 0;
    const real *dy = n->out->grad->data, *wv = w ? w->data : NULL;
    if (x->requires_grad) {
        real *gx = ag_grad(g, x)->data;
#pragma omp parallel for schedule(static) if (x->numel > 16384)
        for (int64_t r = 0; r < rows; r++) {
            const real *px = s->x + r * H, *pd = dy + r * H;
            real mu = s->mean[r], rs = s->rstd[r], sum_d = 0, sum_dx = 0;
            for (int64_t j = 0; j < H; j++) {
                real d = pd[j] * (wv ? wv[j * w->stride[0]] : 1), xh = (px[j] - mu) * rs;
                sum_d += d;
                sum_dx += d * xh;
            }
            sum_d /= (real)H;
            sum_dx /= (real)H;
            for (int64_t j = 0; j < H; j++) {
                real d = pd[j] * (wv ? wv[j * w->stride[0]] : 1), xh = (px[j] - mu) * rs;
                gx[r * H + j] += rs * (d - sum_d - xh * sum_dx);
            }
        }
    }
    int need_w = w && w->requires_grad, need_b = b && b->requires_grad;
    if (!need_w && !need_b) return;
    int64_t nchunks = (rows + LN_ROW_CHUNK - 1) / LN_ROW_CHUNK;
    real *part = calloc((size_t)(nchunks * 2 * H), sizeof *part); /* per chunk: dw (H), db (H) */
    if (!part) nn_abort("layer_norm", "out of memory");
#pragma omp parallel for schedule(static) if (nchunks > 1)
    for (int64_t c = 0; c < nchunks; c++) {
        real *pw = part + c * 2 * H, *pb = pw + H;
        int64_t r1 = (c + 1) * LN_ROW_CHUNK < rows ? (c + 1) * LN_ROW_CHUNK : rows;
        for (int64_t r = c * LN_ROW_CHUNK; r < r1; r++) {
            const real *px = s->x + r * H, *pd = dy + r * H;
            real mu = s->mean[r], rs = s->rstd[r];
            for (int64_t j = 0; j < H; j++) {
                pw[j] += pd[j] * (px[j] - mu) * rs;
                pb[j] += pd[j];
            }
        }
    }
    real *gw = need_w ? ag_grad(g, w)->data : NULL, *gb = need_b ? ag_grad(g, b)->data : NULL;
    for (int64_t c = 0; c < nchunks; c++)
        for (int64_t j = 0; j < H; j++) {
            if (gw) gw[j] += part[c * 2 * H + j];
            if (gb) gb[j] += part[c * 2 * H + H + j];
        }
    free(part);
}

Tensor *ag_layer_norm(Graph *g, Tensor *x, Tensor *w, Tensor *b, real eps) {
    char s1[128], s2[128];
    NN_CHECK(x->ndim >= 1, "layer_norm", "input must have at least one dim");
    int64_t H = x->shape[x->ndim - 1], rows = H ? x->numel / H : 0;
    NN_CHECK((!w || (w->ndim == 1 && w->shape[0] == H)) && (!b || (b->ndim == 1 && b->shape[0] == H)), "layer_norm",
             "weight/bias %s for input %s", w ? shape_str(w->ndim, w->shape, s1, sizeof s1) : "none",
             shape_str(x->ndim, x->shape, s2, sizeof s2));
    Arena *a = graph_arena(g);
    LayerNormSaved *s = arena_alloc(a, sizeof *s);
    s->x = row_major(g, x);
    s->mean = arena_alloc(a, (size_t)rows * sizeof(real));
    s->rstd = arena_alloc(a, (size_t)rows * sizeof(real));
    Tensor *y = ag_new(g, x->ndim, x->shape);
    const real *wv = w ? w->data : NULL, *bv = b ? b->data : NULL;
    int64_t ws = w ? w->stride[0] : 0, bs = b ? b->stride[0] : 0;
#pragma omp parallel for schedule(static) if (x->numel > 16384)
    for (int64_t r = 0; r < rows; r++) {
        const real *px = s->x + r * H;
        real *py = y->data + r * H;
        real mu = 0, var = 0;
        for (int64_t j = 0; j < H; j++) mu += px[j];
        mu /= (real)H;
        for (int64_t j = 0; j < H; j++) var += (px[j] - mu) * (px[j] - mu);
        var /= (real)H;
        real rs = 1 / R_SQRT(var + eps);
        s->mean[r] = mu;
        s->rstd[r] = rs;
        for (int64_t j = 0; j < H; j++) py[j] = (px[j] - mu) * rs * (wv ? wv[j * ws] : 1) + (bv ? bv[j * bs] : 0);
    }
    Node *n = ag_record(g, "layer_norm", layer_norm_backward, y, 3, (Tensor *[]){x, w, b});
    if (n) n->saved = s;
    return y;
}
