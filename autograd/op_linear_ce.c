/* Cross-entropy over the classes of x w^T without the (rows, classes) logits.
 *
 * The product and the softmax are fused and run in tiles of rows x classes
 * (at most LCE_TILE_REALS logits), so memory is O(tile + rows), whatever the
 * number of classes.
 *
 * Forward, for each chunk of rows and each block of classes in order: the
 * tile of logits S = x w^T (one gemm), then per row an online log-sum-exp: a
 * running max m and a running sum s of exp(l - m), rescaled when m grows. The
 * target's logit is read from the tile that holds it. The loss is the mean
 * over counted rows of lse - logit[target]; backward keeps lse (rows) only.
 *
 * Backward, per tile: S again, P = scale (exp(S - lse) - onehot(target)),
 * then dx += P w_block and dw_block += P^T x (two gemms into the gradients).
 * That is four products of the logits' size against three when they are
 * stored, but each tile stays in cache instead of streaming (rows, classes)
 * through memory three times.
 *
 * Rows whose target is ignore_index are dropped before any product. Every
 * row is summed over blocks in block order and each gemm is deterministic,
 * so results do not depend on the thread count; they depend on the tile only
 * in the last bits (the order of the sums). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/op.h"
#include "autograd/ops.h"
#include "base/error.h"
#include "base/memory.h"
#include "base/parallel.h"
#include "base/simd.h"
#include "tensor/kernels.h"
#include "tensor/rmath.h"

typedef struct {
    int64_t M, H, C;       /* counted rows, features, classes */
    const real *x;         /* (M, H) the counted rows of x */
    const int64_t *row;    /* (M) their rows in x; NULL when every row counts (then x is x's own data) */
    const int64_t *target; /* (M) class of each counted row */
    const real *w;         /* (C, H) */
    const real *lse;       /* (M) log-sum-exp of each counted row's logits */
    int64_t rows, classes; /* the tile */
} LceSaved;

/* Folds one row of logits l[0..n) (overwritten with exp(l - max)) into the
 * running max *m and the running sum *s of exp(l - *m). */
NN_VECTORIZE static void lse_fold(real *l, int64_t n, real *m, double *s) {
    real bm = r_lane_max(l, n);
    if (bm > *m) {
        *s *= (double)r_exp(*m - bm);
        *m = bm;
    }
    real mm = *m;
    for (int64_t j = 0; j < n; j++) l[j] = r_exp(l[j] - mm);
    *s += (double)r_lane_sum(l, n);
}

/* One row of the backward tile: p[j] = scale exp(p[j] - lse), minus scale at the target t (if in [0, n)). */
NN_VECTORIZE static void softmax_grad_row(real *p, int64_t n, real lse, real scale, int64_t t) {
    for (int64_t j = 0; j < n; j++) p[j] = scale * r_exp(p[j] - lse);
    if (t >= 0 && t < n) p[t] -= scale;
}

/* The tile's logits S (rn, cn) = x[r0..r0+rn) w[c0..c0+cn)^T. */
static void tile_logits(const LceSaved *s, int64_t r0, int64_t rn, int64_t c0, int64_t cn, real *S) {
    gemm(rn, cn, s->H, s->x + r0 * s->H, s->H, 1, s->w + c0 * s->H, 1, s->H, 0, S, cn);
}

/* A row loop over one tile of logits S (rows r0.., classes c0..c0 + cn). */
typedef struct {
    const LceSaved *s;
    real *S;
    int64_t r0, c0, cn;
    real scale;            /* backward */
    const int64_t *tgt;    /* forward: (M) */
    real *picked, *m;      /* forward: (M) the target's logit; (rows) running max */
    double *sum;           /* forward: (rows) running sum of exp */
} TileLoop;

static void tile_grad_rows(void *ctx, NnChunk c) {
    const TileLoop *l = ctx;
    for (int64_t i = c.begin; i < c.end; i++)
        softmax_grad_row(l->S + i * l->cn, l->cn, l->s->lse[l->r0 + i], l->scale, l->s->target[l->r0 + i] - l->c0);
}

static void tile_lse_rows(void *ctx, NnChunk c) {
    const TileLoop *l = ctx;
    for (int64_t i = c.begin; i < c.end; i++) {
        int64_t t = l->tgt[l->r0 + i] - l->c0;
        if (t >= 0 && t < l->cn) l->picked[l->r0 + i] = l->S[i * l->cn + t];
        lse_fold(l->S + i * l->cn, l->cn, &l->m[i], &l->sum[i]);
    }
}

static void lce_backward(Graph *g, Node *n) {
    const LceSaved *s = n->saved;
    Tensor *x = n->in[0], *w = n->in[1];
    int64_t M = s->M, H = s->H, C = s->C;
    if (M == 0) return;
    real scale = n->out->grad->data[0] / (real)M;
    real *gx = x->requires_grad ? ag_grad(g, x)->data : NULL;              /* (N, H) */
    real *gw = w->requires_grad ? ag_grad(g, w)->data : NULL;              /* (C, H) */
    real *S = nn_aligned_alloc((size_t)(s->rows * s->classes) * sizeof *S); /* (rows, classes) */
    /* dx of the counted rows: straight into x's gradient when every row counts, else here, then scattered */
    real *dx = gx && s->row ? nn_aligned_alloc((size_t)(s->rows * H) * sizeof *dx) : NULL; /* (rows, H) */
    for (int64_t r0 = 0; r0 < M; r0 += s->rows) {
        int64_t rn = M - r0 < s->rows ? M - r0 : s->rows;
        real *dxr = !gx ? NULL : dx ? dx : gx + r0 * H;
        if (dx) memset(dx, 0, (size_t)(rn * H) * sizeof *dx);
        for (int64_t c0 = 0; c0 < C; c0 += s->classes) {
            int64_t cn = C - c0 < s->classes ? C - c0 : s->classes;
            tile_logits(s, r0, rn, c0, cn, S);
            TileLoop l = {.s = s, .S = S, .r0 = r0, .c0 = c0, .cn = cn, .scale = scale};
            nn_parallel_for(rn, cn * NN_ROW_WORK, tile_grad_rows, &l);
            if (dxr) gemm(rn, H, cn, S, cn, 1, s->w + c0 * H, H, 1, 1, dxr, H);               /* P w_block */
            if (gw) gemm(cn, H, rn, S, 1, cn, s->x + r0 * H, H, 1, 1, gw + c0 * H, H); /* P^T x */
        }
        if (dx)
            for (int64_t i = 0; i < rn; i++) {
                real *d = gx + s->row[r0 + i] * H;
                for (int64_t h = 0; h < H; h++) d[h] += dx[i * H + h];
            }
    }
    free(dx);
    free(S);
}

Tensor *ag_linear_cross_entropy_tiled(Graph *g, Tensor *x, Tensor *w, const int64_t *target, int64_t n_target,
                                      int64_t ignore_index, int64_t rows, int64_t classes) {
    AG_CHECK_INPUTS(g, "linear_cross_entropy_tiled", x, w);
    NN_CHECK(x->ndim == 2 && w->ndim == 2 && x->shape[1] == w->shape[1], "linear_cross_entropy",
             "x %s must be (rows, H) and w %s (classes, H)", shape_str(x->ndim, x->shape).s,
             shape_str(w->ndim, w->shape).s);
    NN_CHECK(rows >= 1 && classes >= 1, "linear_cross_entropy", "tile %lld x %lld must be at least 1 x 1",
             (long long)rows, (long long)classes);
    Arena *a = graph_arena(g);
    int64_t N = x->shape[0], H = x->shape[1], C = w->shape[0], M = 0;
    NN_CHECK(n_target == N, "linear_cross_entropy", "%lld targets for x %s: pass one target per row (%lld)",
             (long long)n_target, shape_str(x->ndim, x->shape).s, (long long)N);
    for (int64_t r = 0; r < N; r++) {
        NN_CHECK(target[r] == ignore_index || (target[r] >= 0 && target[r] < C), "linear_cross_entropy",
                 "target %lld of row %lld outside [0, %lld)", (long long)target[r], (long long)r, (long long)C);
        M += target[r] != ignore_index;
    }
    LceSaved *s = arena_alloc(a, sizeof *s);
    *s = (LceSaved){.M = M, .H = H, .C = C, .w = ag_row_major(g, w), .rows = rows < M ? rows : (M ? M : 1),
                    .classes = classes < C ? classes : C};
    const real *xv = ag_row_major(g, x);
    int64_t *tgt = arena_alloc(a, (size_t)(M ? M : 1) * sizeof *tgt);
    if (M == N) { /* every row counts: x as it is */
        s->x = xv;
        memcpy(tgt, target, (size_t)N * sizeof *tgt);
    } else { /* the counted rows, gathered */
        int64_t *row = arena_alloc(a, (size_t)(M ? M : 1) * sizeof *row);
        real *xc = arena_alloc(a, (size_t)(M ? M * H : 1) * sizeof *xc);
        for (int64_t r = 0, k = 0; r < N; r++) {
            if (target[r] == ignore_index) continue;
            row[k] = r;
            tgt[k] = target[r];
            memcpy(xc + k * H, xv + r * H, (size_t)H * sizeof *xc);
            k++;
        }
        s->x = xc;
        s->row = row;
    }
    s->target = tgt;
    real *lse = arena_alloc(a, (size_t)(M ? M : 1) * sizeof *lse), *picked = nn_malloc((size_t)(M ? M : 1) * sizeof *picked);
    real *m = nn_malloc((size_t)s->rows * sizeof *m);
    double *sum = nn_malloc((size_t)s->rows * sizeof *sum);
    real *S = nn_aligned_alloc((size_t)(s->rows * s->classes) * sizeof *S); /* (rows, classes) */
    for (int64_t r0 = 0; r0 < M; r0 += s->rows) {
        int64_t rn = M - r0 < s->rows ? M - r0 : s->rows;
        for (int64_t i = 0; i < rn; i++) {
            m[i] = -INFINITY;
            sum[i] = 0;
        }
        for (int64_t c0 = 0; c0 < C; c0 += s->classes) {
            int64_t cn = C - c0 < s->classes ? C - c0 : s->classes;
            tile_logits(s, r0, rn, c0, cn, S);
            TileLoop l = {.s = s, .S = S, .r0 = r0, .c0 = c0, .cn = cn, .tgt = tgt, .picked = picked, .m = m, .sum = sum};
            nn_parallel_for(rn, cn * NN_ROW_WORK, tile_lse_rows, &l);
        }
        for (int64_t i = 0; i < rn; i++) lse[r0 + i] = m[i] + (real)log(sum[i]);
    }
    double loss = 0;
    for (int64_t k = 0; k < M; k++) loss += (double)(lse[k] - picked[k]);
    free(S);
    free(sum);
    free(m);
    free(picked);
    s->lse = lse;
    Tensor *y = ag_new(g, 0, NULL);
    y->data[0] = M ? (real)(loss / (double)M) : 0;
    Node *n = ag_record(g, "linear_cross_entropy", lce_backward, y, 2, (Tensor *[]){x, w});
    if (n) n->saved = s;
    return y;
}

Tensor *ag_linear_cross_entropy(Graph *g, Tensor *x, Tensor *w, const int64_t *target, int64_t n_target,
                                int64_t ignore_index) {
    AG_CHECK_INPUTS(g, "linear_cross_entropy", x, w);
    return ag_linear_cross_entropy_tiled(g, x, w, target, n_target, ignore_index, LCE_TILE_REALS / LCE_BLOCK_CLASSES,
                                         LCE_BLOCK_CLASSES);
}
