/* Layer normalisation over the last dim, fused: one pass forward, one back;
 * and LayerNorm(x + r), the residual sum in the same passes (the post-norm
 * transformer block's), with the same bits as ag_add then ag_layer_norm. */
#include <stdlib.h>
#include <string.h>

#include "autograd/op.h"
#include "autograd/ops.h"
#include "base/error.h"
#include "base/memory.h"
#include "tensor/rmath.h"
#include "base/simd.h"
#include "base/parallel.h"

/* Rows per chunk when summing the weight and bias gradients: fixed, so the
 * order of additions does not depend on the thread count. */
#define LN_ROW_CHUNK 256

/* Sum of x[0..n) * y[0..n) (y NULL: ones) in 16 lanes: a fixed order the compiler can vectorize. */
static inline real lane_dot(const real *x, const real *y, int64_t n) {
    real lane[16] = {0};
    int64_t j = 0;
    for (; j + 16 <= n; j += 16)
        for (int l = 0; l < 16; l++) lane[l] += x[j + l] * (y ? y[j + l] : 1);
    real acc = 0;
    for (int l = 0; l < 16; l++) acc += lane[l];
    for (; j < n; j++) acc += x[j] * (y ? y[j] : 1);
    return acc;
}

/* One row forward: y = (x - mean) rstd w + b; returns mean and rstd. w, b may be NULL (contiguous). */
NN_VECTORIZE static void norm_row(const real *x, real *y, const real *w, const real *b, int64_t H, real eps, real *mean,
                                  real *rstd) {
    real mu = lane_dot(x, NULL, H) / (real)H;
    for (int64_t j = 0; j < H; j++) y[j] = x[j] - mu; /* y holds x - mean for now */
    real var = lane_dot(y, y, H) / (real)H, rs = 1 / R_SQRT(var + eps);
    for (int64_t j = 0; j < H; j++) y[j] = y[j] * rs * (w ? w[j] : 1) + (b ? b[j] : 0);
    *mean = mu;
    *rstd = rs;
}

/* One row backward into gx (added, or stored with add = 0): rstd (d - mean(d)
 * - xhat mean(d xhat)), d = dy w; t is (H) scratch. */
#define LN_INLINE inline __attribute__((always_inline)) /* inlined into backward_rows' clones */

static LN_INLINE void norm_row_backward(const real *x, const real *dy, const real *w, int64_t H, real mu, real rs,
                                        real *gx, int add, real *t) {
    for (int64_t j = 0; j < H; j++) t[j] = (x[j] - mu) * rs; /* xhat */
    real sum_d = 0, sum_dx = 0, lane_d[16] = {0}, lane_dx[16] = {0};
    int64_t j = 0;
    if (w) /* two loops, not a test per element: each vectorizes (dy 1 is dy, so the sums are the same) */
        for (; j + 16 <= H; j += 16)
            for (int l = 0; l < 16; l++) {
                real d = dy[j + l] * w[j + l];
                lane_d[l] += d;
                lane_dx[l] += d * t[j + l];
            }
    else
        for (; j + 16 <= H; j += 16)
            for (int l = 0; l < 16; l++) {
                real d = dy[j + l];
                lane_d[l] += d;
                lane_dx[l] += d * t[j + l];
            }
    for (int l = 0; l < 16; l++) {
        sum_d += lane_d[l];
        sum_dx += lane_dx[l];
    }
    for (; j < H; j++) {
        real d = dy[j] * (w ? w[j] : 1);
        sum_d += d;
        sum_dx += d * t[j];
    }
    sum_d /= (real)H;
    sum_dx /= (real)H;
    if (add)
        for (int64_t k = 0; k < H; k++) gx[k] += rs * (dy[k] * (w ? w[k] : 1) - sum_d - t[k] * sum_dx);
    else
        for (int64_t k = 0; k < H; k++) gx[k] = rs * (dy[k] * (w ? w[k] : 1) - sum_d - t[k] * sum_dx);
}

/* dw += dy xhat, db += dy over rows [r0, r1). */
static LN_INLINE void norm_param_grads(const real *x, const real *dy, const real *mean, const real *rstd, int64_t r0,
                                int64_t r1, int64_t H, real *pw, real *pb) {
    for (int64_t r = r0; r < r1; r++) {
        const real *px = x + r * H, *pd = dy + r * H;
        real mu = mean[r], rs = rstd[r];
        for (int64_t j = 0; j < H; j++) {
            pw[j] += pd[j] * (px[j] - mu) * rs;
            pb[j] += pd[j];
        }
    }
}

typedef struct {
    const real *x; /* (rows, H) row-major input */
    real *mean;    /* (rows) */
    real *rstd;    /* (rows) 1 / sqrt(var + eps) */
    int64_t rows;
} LayerNormSaved;

/* Where the input gradient goes: (rows, H), added to or stored (add 0, when made unfilled); NULL: not needed. */
typedef struct {
    real *data;
    int add;
} GradOut;

typedef struct {
    const LayerNormSaved *s;
    const real *dy, *w; /* (rows, H); (H) contiguous weights or NULL */
    int64_t H;
    GradOut gx;    /* the normalised input's gradient (x, or x + r's first term) */
    GradOut gr;    /* with a residual: r's; data NULL otherwise */
    int residual;  /* the input is x + r: the row gradient goes to gx and gr */
    real *scratch; /* per worker: (2 H) */
    real *part;    /* per chunk of LN_ROW_CHUNK rows: dw (H), db (H) */
} BackwardLoop;

/* out (+)= g over H reals: a plain store or add, as ag_accumulate makes (no FMA to fold into). */
static LN_INLINE void put_row(const real *restrict g, GradOut out, int64_t r, int64_t H) {
    if (!out.data) return;
    real *o = out.data + r * H;
    if (out.add)
        for (int64_t j = 0; j < H; j++) o[j] = o[j] + g[j];
    else
        for (int64_t j = 0; j < H; j++) o[j] = g[j];
}

/* Row r's input gradient: into gx, or with a residual into both terms. t, row: (H) scratch each. */
static LN_INLINE void input_grad_row(const BackwardLoop *l, int64_t r, real *t, real *row) {
    const LayerNormSaved *s = l->s;
    int64_t H = l->H;
    if (!l->residual) {
        norm_row_backward(s->x + r * H, l->dy + r * H, l->w, H, s->mean[r], s->rstd[r], l->gx.data + r * H, l->gx.add,
                          t);
        return;
    }
    /* the sum's gradient, stored (as the unfilled gradient of ag_add's output was), then to both terms */
    norm_row_backward(s->x + r * H, l->dy + r * H, l->w, H, s->mean[r], s->rstd[r], row, 0, t);
    put_row(row, l->gx, r, H);
    put_row(row, l->gr, r, H);
}

/* Chunks of LN_ROW_CHUNK rows in one pass over x and dy: each row's input
 * gradient (when wanted) and the chunk's weight and bias gradients (when
 * wanted: part, each summed over the chunk's rows in order, a row at a time
 * as norm_param_grads does over a range). */
/* Rows [r0, r1) of chunk k, every row's work inlined (a call per row and helper cost more than a row's 64
 * columns of arithmetic). */
NN_VECTORIZE static void backward_rows(const BackwardLoop *l, int64_t k, int64_t r0, int64_t r1, real *t, real *row) {
    const LayerNormSaved *s = l->s;
    int64_t H = l->H;
    int inputs = l->gx.data || l->gr.data;
    for (int64_t r = r0; r < r1; r++) {
        if (inputs) input_grad_row(l, r, t, row);
        if (l->part)
            norm_param_grads(s->x, l->dy, s->mean, s->rstd, r, r + 1, H, l->part + k * 2 * H, l->part + k * 2 * H + H);
    }
}

static void backward_chunks(void *ctx, NnChunk c) {
    const BackwardLoop *l = ctx;
    int64_t H = l->H, rows = l->s->rows;
    real *t = l->scratch + c.worker * 2 * H, *row = t + H;
    for (int64_t k = c.begin; k < c.end; k++)
        backward_rows(l, k, k * LN_ROW_CHUNK, (k + 1) * LN_ROW_CHUNK < rows ? (k + 1) * LN_ROW_CHUNK : rows, t, row);
}

/* The gradient buffer of t for rows of H reals, or NULL when t needs none. */
static GradOut grad_out(Graph *g, Tensor *t) {
    if (!t || !t->requires_grad) return (GradOut){NULL, 0};
    int fresh;
    real *d = ag_grad_whole(g, t, &fresh)->data;
    return (GradOut){d, !fresh};
}

/* in = {x, w, b}, or {x, r, w, b} for LayerNorm(x + r) */
static void norm_backward(Graph *g, Node *n, int residual) {
    const LayerNormSaved *s = n->saved;
    Tensor *x = n->in[0], *r = residual ? n->in[1] : NULL, *w = n->in[1 + residual], *b = n->in[2 + residual];
    int64_t H = x->shape[x->ndim - 1], rows = H ? x->numel / H : 0;
    const real *dy = n->out->grad->data, *wc = w ? ag_row_major(g, w) : NULL; /* contiguous weights */
    BackwardLoop l = {s, dy, wc, H, grad_out(g, x), grad_out(g, r), residual, NULL, NULL};
    int need_w = w && w->requires_grad, need_b = b && b->requires_grad;
    if (!l.gx.data && !l.gr.data && !need_w && !need_b) return;
    int64_t nchunks = (rows + LN_ROW_CHUNK - 1) / LN_ROW_CHUNK, cost = LN_ROW_CHUNK * H * (NN_ROW_WORK + 1);
    real *part = need_w || need_b ? calloc((size_t)(nchunks * 2 * H), sizeof *part) : NULL; /* per chunk: dw, db */
    if ((need_w || need_b) && !part) nn_abort("layer_norm", "out of memory");
    l.part = part;
    l.scratch = nn_malloc((size_t)(nn_parallel_width(nchunks, cost) * 2 * H + 1) * sizeof(real));
    nn_parallel_for(nchunks, cost, backward_chunks, &l);
    free(l.scratch);
    if (!part) return;
    real *gw = need_w ? ag_grad(g, w)->data : NULL, *gb = need_b ? ag_grad(g, b)->data : NULL;
    for (int64_t c = 0; c < nchunks; c++)
        for (int64_t j = 0; j < H; j++) {
            if (gw) gw[j] += part[c * 2 * H + j];
            if (gb) gb[j] += part[c * 2 * H + H + j];
        }
    free(part);
}

static void layer_norm_backward(Graph *g, Node *n) { norm_backward(g, n, 0); }
static void add_layer_norm_backward(Graph *g, Node *n) { norm_backward(g, n, 1); }

typedef struct {
    LayerNormSaved *s;
    const real *x, *r;  /* with a residual: the terms whose sum s->x receives, (rows, H) row-major; else NULL */
    real *y;            /* (rows, H) */
    const real *w, *b;  /* (H) contiguous, or NULL */
    int64_t H;
    real eps;
} ForwardLoop;

/* s = x + r over H reals. */
NN_VECTORIZE static void add_row(const real *restrict x, const real *restrict r, real *restrict s, int64_t H) {
    for (int64_t j = 0; j < H; j++) s[j] = x[j] + r[j];
}

static void forward_rows(void *ctx, NnChunk c) {
    const ForwardLoop *l = ctx;
    LayerNormSaved *s = l->s;
    int64_t H = l->H;
    for (int64_t r = c.begin; r < c.end; r++) {
        if (l->r) /* the residual sum, kept for the backward pass */
            add_row(l->x + r * H, l->r + r * H, (real *)s->x + r * H, H);
        norm_row(s->x + r * H, l->y + r * H, l->w, l->b, H, l->eps, &s->mean[r], &s->rstd[r]);
    }
}

/* LayerNorm of x (+ r, when r is not NULL: same shape) recorded as op with its backward. */
static Tensor *norm_forward(Graph *g, const char *op, Tensor *x, Tensor *r, Tensor *w, Tensor *b, real eps) {
    NN_CHECK(x->ndim >= 1, op, "input must have at least one dim");
    int64_t H = x->shape[x->ndim - 1], rows = H ? x->numel / H : 0;
    NN_CHECK((!w || (w->ndim == 1 && w->shape[0] == H)) && (!b || (b->ndim == 1 && b->shape[0] == H)), op,
             "weight/bias %s for input %s", w ? shape_str(w->ndim, w->shape).s : "none",
             shape_str(x->ndim, x->shape).s);
    Arena *a = graph_arena(g);
    LayerNormSaved *s = arena_alloc(a, sizeof *s);
    ForwardLoop l = {s, NULL, NULL, NULL, w ? ag_row_major(g, w) : NULL, b ? ag_row_major(g, b) : NULL, H, eps};
    if (r) {
        l.x = ag_row_major(g, x);
        l.r = ag_row_major(g, r);
        s->x = arena_alloc(a, (size_t)(rows ? rows * H : 1) * sizeof(real));
    } else {
        s->x = ag_row_major(g, x);
    }
    s->mean = arena_alloc(a, (size_t)rows * sizeof(real));
    s->rstd = arena_alloc(a, (size_t)rows * sizeof(real));
    s->rows = rows;
    Tensor *y = ag_new(g, x->ndim, x->shape);
    l.y = y->data;
    nn_parallel_for(rows, H * NN_ROW_WORK, forward_rows, &l);
    Node *n = r ? ag_record(g, op, add_layer_norm_backward, y, 4, (Tensor *[]){x, r, w, b})
                : ag_record(g, op, layer_norm_backward, y, 3, (Tensor *[]){x, w, b});
    if (n) n->saved = s;
    return y;
}

Tensor *ag_layer_norm(Graph *g, Tensor *x, Tensor *w, Tensor *b, real eps) {
    AG_CHECK_INPUTS(g, "layer_norm", x, w, b);
    return norm_forward(g, "layer_norm", x, NULL, w, b, eps);
}

/* Declared in nn/layer_norm.h for now (autograd/ops.h, where it belongs, is not this change's file). */
Tensor *ag_add_layer_norm(Graph *g, Tensor *x, Tensor *r, Tensor *w, Tensor *b, real eps) {
    AG_CHECK_INPUTS(g, "add_layer_norm", x, r, w, b);
    if (!tensor_same_shape(x, r)) return ag_layer_norm(g, ag_add(g, x, r), w, b, eps); /* broadcasting: unfused */
    return norm_forward(g, "add_layer_norm", x, r, w, b, eps);
}
