/* Layer normalisation over the last dim, fused: one pass forward, one back;
 * and LayerNorm(x + r), the residual sum in the same passes (the post-norm
 * transformer block's), with the same bits as ag_add then ag_layer_norm; and
 * LayerNorm(x + dropout(r)), the dropout's mask drawn, applied and its
 * gradient taken in the same passes too, with the bits of ag_dropout then
 * ag_add_layer_norm (the same Philox words, the same products). */
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

#define LN_INLINE inline __attribute__((always_inline)) /* inlined into the row loops' clones */
#define LN_ROWS 4 /* rows normalised together forward: their in-order sums (one chain of additions each) overlap */

/* nr rows (a constant where inlined, <= LN_ROWS) forward, each exactly as alone: y = (x - mean) rstd w + b, its
 * sums in 16 lanes added in lane order; mean and rstd of each row. w, b may be NULL (contiguous). */
static LN_INLINE void norm_rows(const real *x, real *y, const real *w, const real *b, int64_t H, real eps, real *mean,
                                real *rstd, int nr) {
    real lane[LN_ROWS][16] = {{0}}, mu[LN_ROWS] = {0}, rs[LN_ROWS] = {0};
    int64_t j = 0;
    for (; j + 16 <= H; j += 16)
        for (int i = 0; i < nr; i++)
            for (int l = 0; l < 16; l++) lane[i][l] += x[i * H + j + l];
    for (int l = 0; l < 16; l++)
        for (int i = 0; i < nr; i++) mu[i] += lane[i][l];
    for (int i = 0; i < nr; i++) {
        for (int64_t k = j; k < H; k++) mu[i] += x[i * H + k];
        mu[i] /= (real)H;
        for (int64_t k = 0; k < H; k++) y[i * H + k] = x[i * H + k] - mu[i]; /* y holds x - mean for now */
        for (int l = 0; l < 16; l++) lane[i][l] = 0;
    }
    for (j = 0; j + 16 <= H; j += 16)
        for (int i = 0; i < nr; i++)
            for (int l = 0; l < 16; l++) lane[i][l] += y[i * H + j + l] * y[i * H + j + l];
    for (int l = 0; l < 16; l++)
        for (int i = 0; i < nr; i++) rs[i] += lane[i][l];
    for (int i = 0; i < nr; i++) {
        for (int64_t k = j; k < H; k++) rs[i] += y[i * H + k] * y[i * H + k];
        real var = rs[i] / (real)H, r = 1 / R_SQRT(var + eps);
        real *yi = y + i * H;
        for (int64_t k = 0; k < H; k++) yi[k] = yi[k] * r * (w ? w[k] : 1) + (b ? b[k] : 0);
        mean[i] = mu[i];
        rstd[i] = r;
    }
}

/* Rows [r0, r1) of x forward into y, LN_ROWS at a time. */
NN_VECTORIZE static void norm_row_range(const real *x, real *y, const real *w, const real *b, int64_t H, real eps,
                                        real *mean, real *rstd, int64_t r0, int64_t r1) {
    int64_t r = r0;
    for (; r + LN_ROWS <= r1; r += LN_ROWS) norm_rows(x + r * H, y + r * H, w, b, H, eps, mean + r, rstd + r, LN_ROWS);
    for (; r < r1; r++) norm_rows(x + r * H, y + r * H, w, b, H, eps, mean + r, rstd + r, 1);
}

/* nr rows (a constant where inlined, <= LN_ROWS) backward, each exactly as alone, into gx (row i at gx + i H;
 * added, or stored with add = 0): rstd (d - mean(d) - xhat mean(d xhat)), d = dy w, the two sums in 16 lanes
 * added in lane order (the rows' chains of additions overlap); t is (nr H) scratch. */
static LN_INLINE void norm_rows_backward(const real *x, const real *dy, const real *w, int64_t H, const real *mu,
                                         const real *rs, real *gx, int add, real *t, int nr) {
    real sum_d[LN_ROWS] = {0}, sum_dx[LN_ROWS] = {0}, lane_d[LN_ROWS][16] = {{0}}, lane_dx[LN_ROWS][16] = {{0}};
    for (int i = 0; i < nr; i++)
        for (int64_t j = 0; j < H; j++) t[i * H + j] = (x[i * H + j] - mu[i]) * rs[i]; /* xhat */
    int64_t j = 0;
    if (w) /* two loops, not a test per element: each vectorizes (dy 1 is dy, so the sums are the same) */
        for (; j + 16 <= H; j += 16)
            for (int i = 0; i < nr; i++)
                for (int l = 0; l < 16; l++) {
                    real d = dy[i * H + j + l] * w[j + l];
                    lane_d[i][l] += d;
                    lane_dx[i][l] += d * t[i * H + j + l];
                }
    else
        for (; j + 16 <= H; j += 16)
            for (int i = 0; i < nr; i++)
                for (int l = 0; l < 16; l++) {
                    real d = dy[i * H + j + l];
                    lane_d[i][l] += d;
                    lane_dx[i][l] += d * t[i * H + j + l];
                }
    for (int l = 0; l < 16; l++)
        for (int i = 0; i < nr; i++) {
            sum_d[i] += lane_d[i][l];
            sum_dx[i] += lane_dx[i][l];
        }
    for (int i = 0; i < nr; i++) {
        const real *dyi = dy + i * H, *ti = t + i * H;
        real *gi = gx + i * H;
        for (int64_t k = j; k < H; k++) {
            real d = dyi[k] * (w ? w[k] : 1);
            sum_d[i] += d;
            sum_dx[i] += d * ti[k];
        }
        real md = sum_d[i] / (real)H, mdx = sum_dx[i] / (real)H, r = rs[i];
        if (add)
            for (int64_t k = 0; k < H; k++) gi[k] += r * (dyi[k] * (w ? w[k] : 1) - md - ti[k] * mdx);
        else
            for (int64_t k = 0; k < H; k++) gi[k] = r * (dyi[k] * (w ? w[k] : 1) - md - ti[k] * mdx);
    }
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
    unsigned char *keep; /* with a dropout of r: (rows, H) ag_dropout's mask, else NULL */
    real scale;          /* 1 / (1 - p) */
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
    real *scratch; /* per worker: (2 LN_ROWS H) */
    real *part;    /* per chunk of LN_ROW_CHUNK rows: dw (H), db (H) */
} BackwardLoop;

/* out (+)= g over H reals (out.data not NULL): a plain store or add, as ag_accumulate makes (no FMA to fold into). */
static LN_INLINE void put_row(const real *restrict g, GradOut out, int64_t r, int64_t H) {
    real *o = out.data + r * H;
    if (out.add)
        for (int64_t j = 0; j < H; j++) o[j] = o[j] + g[j];
    else
        for (int64_t j = 0; j < H; j++) o[j] = g[j];
}

/* out (+)= keep ? g scale : 0 over H reals, as ag_dropout's backward makes it; g is overwritten. */
static LN_INLINE void put_dropped_row(real *restrict g, const unsigned char *restrict keep, real scale, GradOut out,
                                      int64_t r, int64_t H) {
    for (int64_t j = 0; j < H; j++) g[j] = keep[j] ? g[j] * scale : 0;
    put_row(g, out, r, H); /* the product rounded, then stored or added */
}

/* Rows [r, r + nr) of the input gradient: into gx, or with a residual into both terms. t, rows: (LN_ROWS H)
 * scratch each. */
static LN_INLINE void input_grad_rows(const BackwardLoop *l, int64_t r, real *t, real *rows, int nr) {
    const LayerNormSaved *s = l->s;
    int64_t H = l->H;
    if (!l->residual) {
        norm_rows_backward(s->x + r * H, l->dy + r * H, l->w, H, s->mean + r, s->rstd + r, l->gx.data + r * H,
                           l->gx.add, t, nr);
        return;
    }
    /* the sum's gradient, stored (as the unfilled gradient of ag_add's output was), then to both terms */
    norm_rows_backward(s->x + r * H, l->dy + r * H, l->w, H, s->mean + r, s->rstd + r, rows, 0, t, nr);
    for (int i = 0; i < nr; i++) { /* a term without a gradient (a constant) gets none */
        if (l->gx.data) put_row(rows + i * H, l->gx, r + i, H);
        if (l->gr.data && s->keep) /* last: it overwrites the row */
            put_dropped_row(rows + i * H, s->keep + (r + i) * H, s->scale, l->gr, r + i, H);
        if (l->gr.data && !s->keep) put_row(rows + i * H, l->gr, r + i, H);
    }
}

/* Chunks of LN_ROW_CHUNK rows in one pass over x and dy: each row's input
 * gradient (when wanted) and the chunk's weight and bias gradients (when
 * wanted: part, each summed over the chunk's rows in order, a row at a time
 * as norm_param_grads does over a range). */
/* Rows [r0, r1) of chunk k, LN_ROWS at a time, every row's work inlined (a call per row and helper cost more
 * than a row's 64 columns of arithmetic). */
NN_VECTORIZE static void backward_rows(const BackwardLoop *l, int64_t k, int64_t r0, int64_t r1, real *t, real *rows) {
    const LayerNormSaved *s = l->s;
    int64_t H = l->H;
    int inputs = l->gx.data || l->gr.data, nr;
    for (int64_t r = r0; r < r1; r += nr) {
        nr = r + LN_ROWS <= r1 ? LN_ROWS : 1;
        if (inputs && nr == LN_ROWS) input_grad_rows(l, r, t, rows, LN_ROWS);
        if (inputs && nr == 1) input_grad_rows(l, r, t, rows, 1);
        if (l->part)
            norm_param_grads(s->x, l->dy, s->mean, s->rstd, r, r + nr, H, l->part + k * 2 * H, l->part + k * 2 * H + H);
    }
}

static void backward_chunks(void *ctx, NnChunk c) {
    const BackwardLoop *l = ctx;
    int64_t H = l->H, rows = l->s->rows;
    real *t = l->scratch + c.worker * 2 * LN_ROWS * H, *row = t + LN_ROWS * H;
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
    l.scratch = nn_malloc((size_t)(nn_parallel_width(nchunks, cost) * 2 * LN_ROWS * H + 1) * sizeof(real));
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
    uint64_t seed, stream; /* with a dropout of r: its Philox words (element i: word i % 4 of block i / 4) */
    uint32_t threshold;    /* drop when a word's top 24 bits fall below */
} ForwardLoop;

/* s = x + r over H reals. */
NN_VECTORIZE static void add_row(const real *restrict x, const real *restrict r, real *restrict s, int64_t H) {
    for (int64_t j = 0; j < H; j++) s[j] = x[j] + r[j];
}

/* keep[j] = word j >= threshold, s = x + (keep ? r scale : 0) over H reals: ag_dropout's output, rounded,
 * then added (two loops: a product and the add in one would be contracted to one rounding in the FMA clones). */
NN_VECTORIZE static void add_dropped_row(const real *restrict x, const real *restrict r, const uint32_t *restrict words,
                                         uint32_t threshold, real scale, unsigned char *restrict keep, real *restrict s,
                                         int64_t H) {
    for (int64_t j = 0; j < H; j++) {
        keep[j] = (words[j] >> 8) >= threshold;
        s[j] = keep[j] ? r[j] * scale : 0;
    }
    for (int64_t j = 0; j < H; j++) s[j] = x[j] + s[j];
}

#define LN_DROP_WORDS 256 /* Philox words drawn at a time: a multiple of 32 (whole groups of 8 blocks) */

/* Elements [e0, e1) of x + dropout(r) into s->x, their keep bits into s->keep. */
static void add_dropped_range(const ForwardLoop *l, int64_t e0, int64_t e1) {
    LayerNormSaved *s = l->s;
    uint32_t words[LN_DROP_WORDS + 4];
    for (int64_t i = e0; i < e1;) {
        int64_t first = i / 4, skip = i - 4 * first, n = e1 - i < LN_DROP_WORDS - skip ? e1 - i : LN_DROP_WORDS - skip;
        philox4x32_blocks(l->seed, l->stream, (uint64_t)first, (skip + n + 3) / 4, words);
        add_dropped_row(l->x + i, l->r + i, words + skip, l->threshold, s->scale, s->keep + i, (real *)s->x + i, n);
        i += n;
    }
}

static void forward_rows(void *ctx, NnChunk c) {
    const ForwardLoop *l = ctx;
    LayerNormSaved *s = l->s;
    int64_t H = l->H;
    if (l->r && s->keep) /* the residual sum with r's dropout, both kept for the backward pass */
        add_dropped_range(l, c.begin * H, c.end * H);
    else if (l->r) /* the residual sum, kept for the backward pass */
        for (int64_t r = c.begin; r < c.end; r++) add_row(l->x + r * H, l->r + r * H, (real *)s->x + r * H, H);
    norm_row_range(s->x, l->y, l->w, l->b, H, l->eps, s->mean, s->rstd, c.begin, c.end);
}

/* LayerNorm of x (+ r, when r is not NULL: same shape; + dropout(r) with probability p > 0 when rng is not
 * NULL) recorded as op with its backward. */
static Tensor *norm_forward(Graph *g, const char *op, Tensor *x, Tensor *r, Tensor *w, Tensor *b, real eps, real p,
                            Rng *rng) {
    NN_CHECK(x->ndim >= 1, op, "input must have at least one dim");
    int64_t H = x->shape[x->ndim - 1], rows = H ? x->numel / H : 0;
    NN_CHECK((!w || (w->ndim == 1 && w->shape[0] == H)) && (!b || (b->ndim == 1 && b->shape[0] == H)), op,
             "weight/bias %s for input %s", w ? shape_str(w->ndim, w->shape).s : "none",
             shape_str(x->ndim, x->shape).s);
    Arena *a = graph_arena(g);
    LayerNormSaved *s = arena_alloc(a, sizeof *s);
    ForwardLoop l = {
        .s = s, .w = w ? ag_row_major(g, w) : NULL, .b = b ? ag_row_major(g, b) : NULL, .H = H, .eps = eps};
    s->keep = NULL;
    s->scale = 1;
    if (rng) { /* ag_dropout's draw: the same stream, hence the same mask */
        l.seed = rng->seed;
        l.stream = rng_u64(rng);
        l.threshold = (uint32_t)((double)p * 16777216.0);
        s->keep = arena_alloc(a, (size_t)(rows * H > 0 ? rows * H : 1));
        s->scale = 1 / (1 - p);
    }
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
    return norm_forward(g, "layer_norm", x, NULL, w, b, eps, 0, NULL);
}

/* Declared in nn/layer_norm.h for now (autograd/ops.h, where it belongs, is not this change's file). */
Tensor *ag_add_layer_norm(Graph *g, Tensor *x, Tensor *r, Tensor *w, Tensor *b, real eps) {
    AG_CHECK_INPUTS(g, "add_layer_norm", x, r, w, b);
    if (!tensor_same_shape(x, r)) return ag_layer_norm(g, ag_add(g, x, r), w, b, eps); /* broadcasting: unfused */
    return norm_forward(g, "add_layer_norm", x, r, w, b, eps, 0, NULL);
}

Tensor *ag_dropout_add_layer_norm(Graph *g, Tensor *x, Tensor *r, real p, int training, Rng *rng, Tensor *w, Tensor *b,
                                  real eps) {
    AG_CHECK_INPUTS(g, "dropout_add_layer_norm", x, r, w, b);
    NN_CHECK(p >= 0 && p < 1, "dropout_add_layer_norm", "probability %g outside [0, 1)", (double)p);
    if (!training || p == 0) return ag_add_layer_norm(g, x, r, w, b, eps); /* ag_dropout is then r itself */
    NN_CHECK(rng != NULL, "dropout_add_layer_norm", "training with probability %g and no generator (rng NULL): pass "
             "the one whose streams the masks come from, e.g. the module's &m->dropout_rng", (double)p);
    if (!tensor_same_shape(x, r)) return ag_add_layer_norm(g, x, ag_dropout(g, r, p, training, rng), w, b, eps);
    return norm_forward(g, "dropout_add_layer_norm", x, r, w, b, eps, p, rng);
}
