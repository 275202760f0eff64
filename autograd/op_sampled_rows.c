/* Sampled softmax and gBCE over candidates drawn for each row or each group
 * of rows, fused with the product x w^T they score (ag_sampled_rows).
 *
 * Row r of x scores its target w[target[r]] and the K candidates of its group
 * (ids[group(r) K ..]): with every row its own group, K negatives per position
 * (eSASRec's sampler); with the rows of a sequence a group, one set of K per
 * sequence. The (rows, K) logits are never stored: the forward computes each
 * row's logits into a K-wide scratch and keeps only its log-sum-exp; the
 * backward recomputes them for a block of rows at a time (at most
 * SAMPLED_ROWS_TILE_REALS gradients of logits), adds x's gradient row by row,
 * then adds w's gradient rows in row order, split over columns.
 *
 * Each row is computed by one thread from its own inputs and w's gradient is
 * added in a fixed order per element, so results do not depend on the thread
 * count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/memory.h"
#include "autograd/op.h"
#include "autograd/ops.h"
#include "base/error.h"
#include "base/parallel.h"
#include "base/simd.h"
#include "tensor/kernels.h"
#include "tensor/rmath.h"

#define LANES 16 /* the dot products keep 16 running sums, so that they vectorize */
#define WEIGHT_COLUMNS 32 /* w's gradient is summed in registers this many columns at a time */
#define PREFETCH_AHEAD 32 /* w's gradient rows are fetched this many candidates ahead */

typedef struct {
    const real *x, *w;         /* (R, H), (C, H) row-major */
    const int64_t *target;     /* (R) */
    const int64_t *cand;       /* (R) the offset of each row's candidates in ids (group x K) */
    const int64_t *ids;        /* (G, K) */
    const int64_t *goff;       /* (G + 1) the groups' rows, when groups are sequences; NULL: one row each */
    const real *log_q;         /* (C) or NULL */
    int64_t R, H, C, K, G, ignore, count;
    int64_t max_rows;          /* the most rows of a group */
    /* Groups whose (rows, K) fit SAMPLED_ROWS_STORE_REALS: the forward keeps what the backward needs, so that
     * it neither gathers nor multiplies again (dlogit NULL otherwise: the backward recomputes the logits). */
    real *dlogit;              /* (R, K) d row loss / d logit (softmax probabilities or gBCE sigmoids) */
    real *dpos;                /* (R) d row loss / d positive logit */
    real *gxu;                 /* (R, H) G Wg: x's gradient before the upstream scale, or NULL */
    int gbce;
    real beta;
    real *lse;                 /* (R) sampled softmax: each row's log-sum-exp of corrected logits */
} Saved;

/* Asks for the cache lines of row[0..n) ahead of use (write: 1 when they will be written). */
static inline void prefetch_row(const real *row, int64_t n, int write) {
    for (int64_t h = 0; h < n; h += 64 / (int64_t)sizeof(real))
        if (write)
            __builtin_prefetch(row + h, 1);
        else
            __builtin_prefetch(row + h, 0);
}

NN_VECTORIZE static real dot(const real *a, const real *b, int64_t n) {
    real lane[LANES] = {0}, s = 0;
    int64_t k = 0;
    for (; k + LANES <= n; k += LANES)
        for (int l = 0; l < LANES; l++) lane[l] += a[k + l] * b[k + l];
    for (int l = 0; l < LANES; l++) s += lane[l];
    for (; k < n; k++) s += a[k] * b[k];
    return s;
}

/* Row r's positive logit, log-Q corrected for sampled softmax. */
static real positive_logit(const Saved *s, int64_t r) {
    int64_t t = s->target[r];
    return dot(s->x + r * s->H, s->w + t * s->H, s->H) - (s->log_q && !s->gbce ? s->log_q[t] : 0);
}

/* Row r's logits for its candidates into S (K), a hit (candidate == target) as -inf, log-Q corrected for
 * sampled softmax; returns the positive's (corrected) logit. */
static real row_logits(const Saved *s, int64_t r, real *S) {
    const real *xr = s->x + r * s->H;
    const int64_t *ids = s->ids + s->cand[r], t = s->target[r];
    int corr = s->log_q && !s->gbce;
    for (int64_t k = 0; k < s->K; k++)
        S[k] = ids[k] == t ? -INFINITY : dot(xr, s->w + ids[k] * s->H, s->H) - (corr ? s->log_q[ids[k]] : 0);
    return positive_logit(s, r);
}

/* Row r's loss from its logits S (overwritten) and positive a; *lse: sampled softmax's log-sum-exp. */
NN_VECTORIZE static double row_loss(const Saved *s, real *S, real a, real *lse, real *inv_sum) {
    int64_t K = s->K;
    if (s->gbce) {
        double sum = 0;
        for (int64_t k = 0; k < K; k++) sum += S[k] == -INFINITY ? 0 : (double)r_softplus(S[k]);
        return (double)s->beta * (double)r_softplus(-a) + sum;
    }
    real mx = r_lane_max(S, K);
    mx = a > mx ? a : mx;
    for (int64_t k = 0; k < K; k++) S[k] = r_exp(S[k] - mx);
    double sum = (double)r_lane_sum(S, K) + (double)r_exp(a - mx);
    *lse = (real)((double)mx + log(sum));
    *inv_sum = (real)(1 / sum); /* S[k] inv_sum is candidate k's probability */
    return (double)*lse - (double)a;
}

typedef struct {
    const Saved *s;
    real *scratch;     /* forward: (workers, K) */
    double *loss;      /* forward: (R) */
    int64_t r0, rn;    /* backward: the block's first row and its rows */
    int64_t j0, jn;    /* grouped backward: the block's first group and its groups */
    int64_t *used;     /* grouped backward: each group's counted rows (from its first row's place in the block) */
    int64_t *n_used;   /* grouped backward: how many rows of each group of the block count */
    real scale;        /* backward: d loss / d y over the count */
    real wscale;       /* grouped backward: the factor w's gradient applies to dS and dpos (1: already scaled) */
    real *dS, *dpos;   /* backward: (block rows, K), (block rows) gradients of the logits */
    real *gx, *gw;     /* backward: the gradients, or NULL */
} Loop;

static void forward_rows(void *ctx, NnChunk c) {
    const Loop *l = ctx;
    const Saved *s = l->s;
    real *S = l->scratch + (int64_t)c.worker * s->K, lse = 0, inv = 0;
    for (int64_t r = c.begin; r < c.end; r++) {
        l->loss[r] = 0;
        if (s->target[r] == s->ignore) continue;
        real a = row_logits(s, r, S);
        l->loss[r] = row_loss(s, S, a, &lse, &inv);
        if (!s->gbce) s->lse[r] = lse;
    }
}

/* Row r's logits' gradients from its logits in dS (K, overwritten) and its positive logit a, into dS and *dpos. */
NN_VECTORIZE static void row_grads(const Loop *l, int64_t r, real a, real *dS, real *dpos) {
    const Saved *s = l->s;
    int64_t K = s->K;
    if (s->gbce) {
        *dpos = l->scale * s->beta * (r_sigmoid(a) - 1);
        for (int64_t k = 0; k < K; k++) dS[k] = dS[k] == -INFINITY ? 0 : l->scale * r_sigmoid(dS[k]);
    } else {
        real lse = s->lse[r];
        *dpos = l->scale * (r_exp(a - lse) - 1);
        for (int64_t k = 0; k < K; k++) dS[k] = l->scale * r_exp(dS[k] - lse); /* exp(-inf) = 0: a hit */
    }
}

/* Row r of the block: the logits' gradients into dS (K) and *dpos, and x's gradient row. */
NN_VECTORIZE static void backward_row(const Loop *l, int64_t r, real *dS, real *dpos) {
    const Saved *s = l->s;
    int64_t K = s->K, H = s->H;
    if (s->target[r] == s->ignore) {
        memset(dS, 0, (size_t)K * sizeof *dS);
        *dpos = 0;
        return;
    }
    row_grads(l, r, row_logits(s, r, dS), dS, dpos);
    if (!l->gx) return;
    real *gx = l->gx + r * H;
    const int64_t *ids = s->ids + s->cand[r];
    const real *wt = s->w + s->target[r] * H;
    for (int64_t h = 0; h < H; h++) gx[h] += *dpos * wt[h];
    for (int64_t k = 0; k < K; k++) {
        const real *wk = s->w + ids[k] * H;
        real d = dS[k];
        for (int64_t h = 0; h < H; h++) gx[h] += d * wk[h];
    }
}

static void backward_rows(void *ctx, NnChunk c) {
    const Loop *l = ctx;
    for (int64_t i = c.begin; i < c.end; i++) backward_row(l, l->r0 + i, l->dS + i * l->s->K, l->dpos + i);
}

/* The columns of w's gradient that chunk c of bands covers: bands of WEIGHT_COLUMNS, so that w's gradient (H
 * wide) is split among threads at all (nn_parallel_elements' blocks are wider than a table row). */
static NnChunk band_columns(NnChunk c, int64_t H) {
    c.begin *= WEIGHT_COLUMNS;
    c.end = c.end * WEIGHT_COLUMNS < H ? c.end * WEIGHT_COLUMNS : H;
    return c;
}

/* nn_parallel_for over the bands of w's gradient's H columns; cost: per column. */
static void for_column_bands(int64_t H, int64_t cost, NnLoopFn *fn, Loop *l) {
    nn_parallel_for((H + WEIGHT_COLUMNS - 1) / WEIGHT_COLUMNS, cost * WEIGHT_COLUMNS, fn, l);
}

/* w's gradient from the block's rows, in row order, for the columns of bands [c.begin, c.end). */
NN_VECTORIZE static void weight_columns(void *ctx, NnChunk c) {
    const Loop *l = ctx;
    const Saved *s = l->s;
    c = band_columns(c, s->H);
    int64_t K = s->K, H = s->H, n = c.end - c.begin;
    for (int64_t i = 0; i < l->rn; i++) {
        int64_t r = l->r0 + i;
        if (s->target[r] == s->ignore) continue;
        const real *xr = s->x + r * H + c.begin;
        const int64_t *ids = s->ids + s->cand[r];
        real *gt = l->gw + s->target[r] * H + c.begin, dp = l->dpos[i];
        for (int64_t h = 0; h < n; h++) gt[h] += dp * xr[h];
        for (int64_t k = 0; k < K; k++) {
            real d = l->dS[i * K + k], *gk = l->gw + ids[k] * H + c.begin;
            for (int64_t h = 0; h < n; h++) gk[h] += d * xr[h];
        }
    }
}

/* ---- Groups of rows (sequences): group j's rows [goff[j], goff[j + 1]) share its K candidates, gathered
 * once into a (K, H) panel and scored with one product per group (gemm), not K dot products per row. */

/* Group j's candidates' rows of w into Wg (K, H), fetching rows ahead (in a large catalogue they are in memory,
 * not in cache). */
NN_VECTORIZE static void group_gather(const Saved *s, int64_t j, real *restrict Wg) {
    const int64_t *ids = s->ids + j * s->K, H = s->H;
    for (int64_t k = 0; k < s->K; k++) {
        if (k + PREFETCH_AHEAD < s->K) prefetch_row(s->w + ids[k + PREFETCH_AHEAD] * H, H, 0);
        const real *restrict src = s->w + ids[k] * H;
        for (int64_t h = 0; h < H; h++) Wg[k * H + h] = src[h];
    }
}

/* Group j's logits (rows, K) into S from its panel Wg: a hit as -inf, log-Q corrected for sampled softmax (the
 * candidates' corrections looked up once into lq (K), not once per row). */
NN_VECTORIZE static void group_logits(const Saved *s, int64_t j, const real *Wg, real *restrict lq, real *S) {
    int64_t r0 = s->goff[j], n = s->goff[j + 1] - r0, K = s->K;
    const int64_t *ids = s->ids + j * K;
    gemm(n, K, s->H, s->x + r0 * s->H, s->H, 1, Wg, 1, s->H, 0, S, K);
    int corr = s->log_q && !s->gbce;
    for (int64_t k = 0; k < K; k++) lq[k] = corr ? s->log_q[ids[k]] : 0;
    for (int64_t i = 0; i < n; i++) {
        real *restrict Si = S + i * K;
        int64_t t = s->target[r0 + i];
        for (int64_t k = 0; k < K; k++) Si[k] = ids[k] == t ? -INFINITY : Si[k] - lq[k];
    }
}

/* Row r's gradient factors into s->dlogit and s->dpos from its row_loss output S (exp(logit - max) for softmax,
 * the logits for gBCE), its positive logit a, its log-sum-exp and 1 / its sum of exponentials. */
NN_VECTORIZE static void row_store(const Saved *s, int64_t r, const real *S, real a, real lse, real inv) {
    real *G = s->dlogit + r * s->K;
    if (s->gbce) {
        for (int64_t k = 0; k < s->K; k++) G[k] = S[k] == -INFINITY ? 0 : r_sigmoid(S[k]);
        s->dpos[r] = s->beta * (r_sigmoid(a) - 1);
        return;
    }
    for (int64_t k = 0; k < s->K; k++) G[k] = S[k] * inv;
    s->dpos[r] = r_exp(a - lse) - 1;
}

static void forward_groups(void *ctx, NnChunk c) {
    const Loop *l = ctx;
    const Saved *s = l->s;
    int64_t K = s->K, H = s->H;
    real *Wg = l->scratch + (int64_t)c.worker * K * (H + 1 + s->max_rows), *lq = Wg + K * H, lse = 0, inv = 0;
    for (int64_t j = c.begin; j < c.end; j++) {
        int64_t r0 = s->goff[j], n = s->goff[j + 1] - r0, counted = 0;
        for (int64_t i = 0; i < n; i++) counted += (l->loss[r0 + i] = 0, s->target[r0 + i] != s->ignore);
        if (!counted) {
            if (s->dlogit) memset(s->dlogit + r0 * K, 0, (size_t)(n * K) * sizeof(real));
            if (s->dlogit) memset(s->dpos + r0, 0, (size_t)n * sizeof(real));
            if (s->gxu) memset(s->gxu + r0 * H, 0, (size_t)(n * H) * sizeof(real));
            continue;
        }
        real *S = s->dlogit ? s->dlogit + r0 * K : lq + K; /* stored: the logits are computed in place */
        group_gather(s, j, Wg);
        group_logits(s, j, Wg, lq, S);
        for (int64_t i = 0; i < n; i++) {
            int64_t r = r0 + i;
            if (s->target[r] == s->ignore) {
                if (s->dlogit) memset(S + i * K, 0, (size_t)K * sizeof(real)), s->dpos[r] = 0;
                continue;
            }
            real a = positive_logit(s, r);
            l->loss[r] = row_loss(s, S + i * K, a, &lse, &inv);
            if (!s->gbce) s->lse[r] = lse;
            if (s->dlogit) row_store(s, r, S + i * K, a, lse, inv);
        }
        if (s->gxu) gemm(n, H, K, S, K, 1, Wg, H, 1, 0, s->gxu + r0 * H, H);
    }
}

/* The block's groups: logits' gradients into dS (rows from r0, K) and dpos, and x's gradient rows
 * (gx += dpos w_target + dS Wg, one product per group). */
static void backward_groups(void *ctx, NnChunk c) {
    const Loop *l = ctx;
    const Saved *s = l->s;
    int64_t K = s->K, H = s->H;
    real *Wg = l->scratch + (int64_t)c.worker * K * (H + 1), *lq = Wg + K * H;
    for (int64_t j = l->j0 + c.begin; j < l->j0 + c.end; j++) {
        int64_t r0 = s->goff[j], n = s->goff[j + 1] - r0;
        real *dS = l->dS + (r0 - l->r0) * K, *dpos = l->dpos + (r0 - l->r0);
        group_gather(s, j, Wg);
        group_logits(s, j, Wg, lq, dS);
        int64_t *used = l->used + (r0 - l->r0), *nu = l->n_used + (j - l->j0);
        *nu = 0;
        for (int64_t i = 0; i < n; i++) {
            int64_t r = r0 + i;
            if (s->target[r] != s->ignore) {
                row_grads(l, r, positive_logit(s, r), dS + i * K, dpos + i);
                used[(*nu)++] = i;
                continue;
            }
            memset(dS + i * K, 0, (size_t)K * sizeof *dS);
            dpos[i] = 0;
        }
        if (!l->gx) continue;
        for (int64_t i = 0; i < n; i++) {
            const real *wt = s->w + s->target[r0 + i] * H;
            real *gx = l->gx + (r0 + i) * H;
            for (int64_t h = 0; h < H; h++) gx[h] += dpos[i] * wt[h];
        }
        gemm(n, H, K, dS, K, 1, Wg, H, 1, 1, l->gx + r0 * H, H);
    }
}

/* Half a band of w's gradient: 16 reals the compiler keeps in one vector register (two on AVX2, as
 * tensor/gemm_tile.h's types). */
typedef real HalfBand __attribute__((vector_size(WEIGHT_COLUMNS / 2 * sizeof(real))));

#define BAND_CANDIDATES 4 /* candidates summed together, so that each row of x is loaded once for all four */
_Static_assert(BAND_CANDIDATES == 4, "group_columns' test of distinct rows is written for 4 candidates");

/* The WEIGHT_COLUMNS-wide bands at gk[c] (c < BAND_CANDIDATES, distinct rows) each += the sum over the counted
 * rows u of scale d[used[u] ld + c] x[used[u] H ..], in registers: 2 BAND_CANDIDATES independent sums, so that
 * the additions' latency overlaps (inlined into group_columns' clones, which give the vector type its
 * instruction set). Each element's terms are added in row order, as one candidate at a time would. */
static inline __attribute__((always_inline)) void candidate_columns(real *const gk[BAND_CANDIDATES], const real *d,
                                                                   int64_t ld, real scale, const real *x, int64_t H,
                                                                   const int64_t *used, int64_t nu) {
    HalfBand acc[BAND_CANDIDATES][2], x0, x1;
    for (int c = 0; c < BAND_CANDIDATES; c++) memcpy(acc[c], gk[c], sizeof acc[c]);
    for (int64_t u = 0; u < nu; u++) {
        memcpy(&x0, x + used[u] * H, sizeof x0);
        memcpy(&x1, x + used[u] * H + WEIGHT_COLUMNS / 2, sizeof x1);
        const real *du = d + used[u] * ld;
        for (int c = 0; c < BAND_CANDIDATES; c++) {
            acc[c][0] += scale * du[c] * x0;
            acc[c][1] += scale * du[c] * x1;
        }
    }
    for (int c = 0; c < BAND_CANDIDATES; c++) memcpy(gk[c], acc[c], sizeof acc[c]);
}

/* Group j's share of w's gradient in columns [c0, c0 + n): its counted rows' targets, then its candidates
 * (rows of w in no order: the next ones are fetched ahead, since they are rarely in cache), BAND_CANDIDATES at a
 * time unless two of them are the same row (uniform draws repeat), then one at a time in order. */
NN_VECTORIZE static void group_columns(const Loop *l, int64_t j, int64_t c0, int64_t n) {
    const Saved *s = l->s;
    int64_t K = s->K, H = s->H, r0 = s->goff[j], nu = l->n_used[j - l->j0];
    const real *dS = l->dS + (r0 - l->r0) * K, *dpos = l->dpos + (r0 - l->r0), *x = s->x + r0 * H + c0;
    const int64_t *ids = s->ids + j * K, *used = l->used + (r0 - l->r0);
    real ws = l->wscale;
    for (int64_t u = 0; u < nu; u++) {
        real *gt = l->gw + s->target[r0 + used[u]] * H + c0;
        for (int64_t h = 0; h < n; h++) gt[h] += ws * dpos[used[u]] * x[used[u] * H + h];
    }
    int64_t bands = n / WEIGHT_COLUMNS * WEIGHT_COLUMNS;
    for (int64_t k = 0; k < K;) {
        for (int64_t p = k; p < k + BAND_CANDIDATES && p + PREFETCH_AHEAD < K; p++)
            prefetch_row(l->gw + ids[p + PREFETCH_AHEAD] * H + c0, n, 1);
        const int64_t *q = ids + k;
        int distinct = k + BAND_CANDIDATES <= K && q[0] != q[1] && q[0] != q[2] && q[0] != q[3] && q[1] != q[2] &&
                       q[1] != q[3] && q[2] != q[3];
        int64_t m = distinct ? BAND_CANDIDATES : 1;
        for (int64_t h = 0; h < bands; h += WEIGHT_COLUMNS) {
            if (distinct) {
                real *gk[BAND_CANDIDATES] = {l->gw + q[0] * H + c0 + h, l->gw + q[1] * H + c0 + h,
                                             l->gw + q[2] * H + c0 + h, l->gw + q[3] * H + c0 + h};
                candidate_columns(gk, dS + k, K, ws, x + h, H, used, nu);
                continue;
            }
            real *gk = l->gw + q[0] * H + c0 + h;
            for (int64_t u = 0; u < nu; u++)
                for (int64_t c = 0; c < WEIGHT_COLUMNS; c++) gk[c] += ws * dS[used[u] * K + k] * x[used[u] * H + h + c];
        }
        for (int64_t i = 0; i < m; i++) {
            real *gk = l->gw + ids[k + i] * H + c0;
            for (int64_t u = 0; u < nu; u++)
                for (int64_t c = bands; c < n; c++) gk[c] += ws * dS[used[u] * K + k + i] * x[used[u] * H + c];
        }
        k += m;
    }
}

/* w's gradient from the block's groups, in group order, for the columns of bands [c.begin, c.end). */
static void weight_group_columns(void *ctx, NnChunk c) {
    const Loop *l = ctx;
    c = band_columns(c, l->s->H);
    for (int64_t j = l->j0; j < l->j0 + l->jn; j++)
        if (l->n_used[j - l->j0]) group_columns(l, j, c.begin, c.end - c.begin);
}

/* x's gradient rows from what the forward stored: gx += scale (dpos w_target + G Wg). */
NN_VECTORIZE static void stored_x_rows(void *ctx, NnChunk c) {
    const Loop *l = ctx;
    const Saved *s = l->s;
    int64_t H = s->H;
    for (int64_t r = c.begin; r < c.end; r++) {
        if (s->target[r] == s->ignore) continue;
        const real *wt = s->w + s->target[r] * H, *u = s->gxu + r * H;
        real *gx = l->gx + r * H, dp = l->scale * s->dpos[r];
        for (int64_t h = 0; h < H; h++) gx[h] += dp * wt[h] + l->scale * u[h];
    }
}

/* The grouped backward from what the forward stored: no gather, no product but w's gradient's sums. */
static void backward_stored(Loop *l) {
    const Saved *s = l->s;
    if (l->gx) nn_parallel_for(s->R, s->H * 2, stored_x_rows, l);
    if (!l->gw) return;
    l->dS = s->dlogit, l->dpos = s->dpos, l->wscale = l->scale, l->r0 = 0, l->j0 = 0, l->jn = s->G;
    l->used = nn_malloc((size_t)(s->R ? s->R : 1) * sizeof *l->used);
    l->n_used = nn_malloc((size_t)(s->G ? s->G : 1) * sizeof *l->n_used);
    for (int64_t j = 0; j < s->G; j++) {
        l->n_used[j] = 0;
        for (int64_t r = s->goff[j]; r < s->goff[j + 1]; r++)
            if (s->target[r] != s->ignore) l->used[s->goff[j] + l->n_used[j]++] = r - s->goff[j];
    }
    for_column_bands(s->H, s->R * (s->K + 1), weight_group_columns, l);
    free(l->n_used);
    free(l->used);
}

/* The grouped backward in blocks of whole groups of at most SAMPLED_ROWS_TILE_REALS logits (or one group). */
static void backward_blocks(Loop *l) {
    const Saved *s = l->s;
    int64_t K = s->K, H = s->H, cap = SAMPLED_ROWS_TILE_REALS / K > s->max_rows ? SAMPLED_ROWS_TILE_REALS / K : s->max_rows;
    l->dS = nn_aligned_alloc((size_t)(cap * K) * sizeof *l->dS);
    l->dpos = nn_malloc((size_t)cap * sizeof *l->dpos);
    l->used = nn_malloc((size_t)cap * sizeof *l->used);
    l->n_used = nn_malloc((size_t)(s->G ? s->G : 1) * sizeof *l->n_used);
    l->scratch = nn_aligned_alloc((size_t)(nn_parallel_width(s->G, (K + 1) * H * 4) * K * (H + 1)) * sizeof *l->scratch);
    for (l->j0 = 0; l->j0 < s->G; l->j0 += l->jn) {
        l->r0 = s->goff[l->j0];
        for (l->jn = 1; l->j0 + l->jn < s->G && s->goff[l->j0 + l->jn + 1] - l->r0 <= cap; l->jn++) {}
        l->rn = s->goff[l->j0 + l->jn] - l->r0;
        nn_parallel_for(l->jn, (l->rn / l->jn + 1) * (K + 1) * H * 4, backward_groups, l);
        if (l->gw) for_column_bands(H, l->rn * (K + 1), weight_group_columns, l);
    }
    free(l->scratch);
    free(l->n_used);
    free(l->used);
    free(l->dpos);
    free(l->dS);
}

static void sampled_rows_backward(Graph *g, Node *n) {
    const Saved *s = n->saved;
    if (s->count == 0) return;
    Tensor *x = n->in[0], *w = n->in[1];
    int64_t K = s->K, block = SAMPLED_ROWS_TILE_REALS / (K + 1) > 1 ? SAMPLED_ROWS_TILE_REALS / (K + 1) : 1;
    Loop l = {.s = s, .scale = n->out->grad->data[0] / (real)s->count};
    l.gx = x->requires_grad ? ag_grad(g, x)->data : NULL;
    if (w->requires_grad) { /* the rows of the targets and of the candidates of groups with a counted row */
        l.gw = ag_grad_add_rows(g, w, s->target, s->R, s->ignore)->data;
        for (int64_t r = 0, last = -1; r < s->R; r++)
            if (s->target[r] != s->ignore && s->cand[r] != last) ag_grad_add_rows(g, w, s->ids + (last = s->cand[r]), K, -1);
    }
    if (s->dlogit) {
        backward_stored(&l);
        return;
    }
    if (s->goff) {
        l.wscale = 1;
        backward_blocks(&l);
        return;
    }
    if (block > s->R) block = s->R;
    l.dS = nn_aligned_alloc((size_t)(block * K) * sizeof *l.dS);
    l.dpos = nn_malloc((size_t)block * sizeof *l.dpos);
    for (l.r0 = 0; l.r0 < s->R; l.r0 += block) {
        l.rn = s->R - l.r0 < block ? s->R - l.r0 : block;
        nn_parallel_for(l.rn, (K + 1) * s->H * 2, backward_rows, &l);
        if (l.gw) for_column_bands(s->H, l.rn * (K + 1), weight_columns, &l);
    }
    free(l.dpos);
    free(l.dS);
}

/* Checks o against x (R, H) and w (C, H): the counts, every id in range, the groups' offsets. */
static void check_options(const char *op, const Tensor *x, const Tensor *w, const SampledRowsOptions *o) {
    NN_CHECK(x->ndim == 2 && w->ndim == 2 && x->shape[1] == w->shape[1], op,
             "x %s must be (rows, H) and w %s (items, H)", shape_str(x->ndim, x->shape).s,
             shape_str(w->ndim, w->shape).s);
    int64_t R = x->shape[0], C = w->shape[0], G = o->n_groups, K = o->k;
    NN_CHECK(o->n_target == R && K >= 1 && G >= 0 && (o->offsets || G == R), op,
             "%lld targets, %lld groups of %lld candidates%s for x %s: pass one target per row, K >= 1, and "
             "one group per row when there are no offsets", (long long)o->n_target, (long long)G, (long long)K,
             o->offsets ? "" : " without offsets", shape_str(x->ndim, x->shape).s);
    NN_CHECK(!(o->gbce && o->log_q), op, "gBCE takes no log-Q correction (its calibration assumes uniform draws)");
    for (int64_t r = 0; r < R; r++)
        NN_CHECK(o->target[r] == o->ignore || (o->target[r] >= 0 && o->target[r] < C), op,
                 "target %lld of row %lld outside [0, %lld)", (long long)o->target[r], (long long)r, (long long)C);
    for (int64_t i = 0; i < G * K; i++)
        NN_CHECK(o->ids[i] >= 0 && o->ids[i] < C, op, "candidate %lld of group %lld is %lld, outside [0, %lld)",
                 (long long)(i % K), (long long)(i / K), (long long)o->ids[i], (long long)C);
    if (!o->offsets) return;
    NN_CHECK(o->offsets[0] == 0 && o->offsets[G] == R, op,
             "the groups' offsets run from %lld to %lld; expected 0 to the %lld rows", (long long)o->offsets[0],
             (long long)o->offsets[G], (long long)R);
    for (int64_t j = 0; j < G; j++)
        NN_CHECK(o->offsets[j] <= o->offsets[j + 1], op, "offsets of group %lld decrease (%lld, then %lld)",
                 (long long)j, (long long)o->offsets[j], (long long)o->offsets[j + 1]);
}

/* The inputs the backward pass needs, in g's arena. */
static Saved *save_inputs(Graph *g, Tensor *x, Tensor *w, const SampledRowsOptions *o) {
    Arena *a = graph_arena(g);
    Saved *s = arena_alloc(a, sizeof *s);
    int64_t R = x->shape[0], G = o->n_groups, K = o->k, C = w->shape[0];
    *s = (Saved){.x = ag_row_major(g, x), .w = ag_row_major(g, w), .R = R, .H = x->shape[1], .C = C, .K = K,
                 .G = G, .ignore = o->ignore, .gbce = o->gbce, .beta = o->beta};
    int64_t *t = arena_alloc(a, (size_t)(R ? R : 1) * sizeof *t), *cand = arena_alloc(a, (size_t)(R ? R : 1) * sizeof *cand);
    int64_t *ids = arena_alloc(a, (size_t)(G * K > 0 ? G * K : 1) * sizeof *ids);
    memcpy(t, o->target, (size_t)R * sizeof *t);
    memcpy(ids, o->ids, (size_t)(G * K) * sizeof *ids);
    for (int64_t j = 0; j < G; j++)
        for (int64_t r = o->offsets ? o->offsets[j] : j; r < (o->offsets ? o->offsets[j + 1] : j + 1); r++)
            cand[r] = j * K;
    if (o->offsets) {
        s->goff = memcpy(arena_alloc(a, (size_t)(G + 1) * sizeof *s->goff), o->offsets, (size_t)(G + 1) * sizeof *s->goff);
        for (int64_t j = 0; j < G; j++)
            if (o->offsets[j + 1] - o->offsets[j] > s->max_rows) s->max_rows = o->offsets[j + 1] - o->offsets[j];
        if ((x->requires_grad || w->requires_grad) && !o->recompute && R * K <= SAMPLED_ROWS_STORE_REALS && R > 0) {
            s->dlogit = arena_alloc(a, (size_t)(R * K) * sizeof(real));
            s->dpos = arena_alloc(a, (size_t)R * sizeof(real));
            if (x->requires_grad) s->gxu = arena_alloc(a, (size_t)(R * s->H) * sizeof(real));
        }
    }
    if (o->log_q) s->log_q = memcpy(arena_alloc(a, (size_t)C * sizeof(real)), o->log_q, (size_t)C * sizeof(real));
    for (int64_t r = 0; r < R; r++) s->count += t[r] != o->ignore;
    s->target = t, s->cand = cand, s->ids = ids;
    s->lse = arena_alloc(a, (size_t)(R ? R : 1) * sizeof *s->lse);
    return s;
}

Tensor *ag_sampled_rows(Graph *g, Tensor *x, Tensor *w, const SampledRowsOptions *o) {
    AG_CHECK_INPUTS(g, "sampled_rows", x, w);
    check_options("sampled_rows", x, w, o);
    Saved *s = save_inputs(g, x, w, o);
    int64_t R = s->R;
    double *loss = nn_malloc((size_t)(R ? R : 1) * sizeof *loss);
    int64_t cost = (s->K + 1) * s->H, items = s->goff ? s->G : R, per = s->goff ? s->K * (s->H + 1 + s->max_rows) : s->K;
    if (s->goff) cost = (R / (items ? items : 1) + 2) * cost;
    real *scratch = nn_aligned_alloc((size_t)(nn_parallel_width(items, cost) * per) * sizeof *scratch);
    Loop l = {.s = s, .scratch = scratch, .loss = loss};
    nn_parallel_for(items, cost, s->goff ? forward_groups : forward_rows, &l);
    double total = 0;
    for (int64_t r = 0; r < R; r++) total += loss[r];
    free(scratch);
    free(loss);
    Tensor *y = ag_new(g, 0, NULL);
    y->data[0] = s->count ? (real)(total / (double)s->count) : 0;
    Node *n = ag_record(g, "sampled_rows", sampled_rows_backward, y, 2, (Tensor *[]){x, w});
    if (n) { /* for the profile (autograd/profile.c): the candidates, counted rows, groups, whether kept */
        n->saved = s;
        n->i[0] = s->K, n->i[1] = s->count, n->i[2] = s->G, n->i[3] = s->dlogit != NULL;
    }
    return y;
}
