/* Fused scaled dot-product attention over sequences of varying length.
 *
 * One work item is one (sequence, head): items write disjoint rows and
 * columns, so threads never share an output and the result is the same for
 * any thread count. Within an item the products run on gemm's own tiles
 * (gemm_panel: the same sums as gemm, bit for bit) over blocks of ATTN_BLOCK
 * query rows, each reaching only the keys its rows can see (with a causal
 * mask, about half of the square); each item's operands are transposed or
 * packed once (operand) for all its blocks, except that an item of one block
 * reads K^T (V^T backward) in place from one transpose of every row made per
 * op (transposed_rows), and the softmax takes a block's rows together. The
 * probabilities P (n x n per item, 0 where masked) and the dropout keep bits
 * are kept for the backward pass. When q, k, v are the
 * column thirds of one tensor with no gradient yet, the backward pass stores
 * their gradients into it instead of adding them to zeros.
 *
 * Shapes, for one item of n rows and head size d:
 *   S = Q K^T * scale (n, n); P = softmax(S + mask); P~ = P * keep / (1 - p)
 *   O = P~ V (n, d)
 * backward:
 *   dP~ = dO V^T; dV += P~^T dO; dP = dP~ * keep / (1 - p)
 *   dS = P * (dP - rowsum(P * dP)) * scale; dQ += dS K; dK += dS^T Q */
#include <stdlib.h>
#include <string.h>

#include "autograd/op.h"
#include "autograd/ops.h"
#include "autograd/profile.h"
#include "base/error.h"
#include "base/memory.h"
#include "tensor/gemm_kernel.h"
#include "tensor/kernels.h"
#include "tensor/rmath.h"
#include "base/parallel.h"
#include "base/simd.h"

#define ATTN_BLOCK 16 /* query rows per gemm block */

typedef struct {
    SeqLayout layout;   /* offsets and key_valid copied into the arena */
    AttentionSpec spec; /* without its generator */
    int64_t head_dim;
    int64_t *prob_start;     /* (n_seq + 1) start of sequence s's blocks in prob */
    real *prob;              /* per (seq, head): (n, n) softmax probabilities, 0 where masked */
    unsigned char *keep;     /* like prob: dropout keep bits, or NULL without dropout */
    int64_t *row_end;        /* (rows) keys [0, row_end) may have nonzero probability */
    unsigned char *row_sees; /* (rows) 1 if the query has a visible key, 0 if all are masked */
    real drop_scale;         /* 1 / (1 - p) */
    uint64_t seed, stream;   /* dropout bits */
    uint32_t threshold;      /* drop when the top 24 bits of the word fall below */
    int64_t max_n;           /* the longest sequence */
    int64_t min_n;           /* the shortest */
    const real *kt;          /* forward: K^T (H, ldt) of every row (transposed_rows) */
    int64_t ldt;
} AttnSaved;

static int allowed(const AttnSaved *s, int64_t r0, int64_t i, int64_t j) {
    if (s->spec.mask == MASK_NEG_INF && j == i) return 1; /* with -inf masking a query always sees itself */
    if (s->layout.causal && j > i) return 0;
    if (s->layout.key_valid && !s->layout.key_valid[r0 + j]) return 0;
    return 1;
}

/* Work units of one (sequence, head), for nn_parallel_for: the average item's
 * products (n x n x d, twice) at NN_MACS_PER_WORK multiply-adds a unit, over
 * the mean of n^2 (prob_start's total over the items), not the square of the
 * mean n: lengths vary, and Beauty's mean n^2 (77) is 3x its mean n squared
 * (5.7^2). Costed at the square of the mean, a Beauty step's 512 items fell
 * into 7 chunks whose work differed by a third, and the two threads ran the
 * op at 1.4x one thread's speed. */
static int64_t item_work(const AttnSaved *s) {
    int64_t items = s->layout.n_seq * s->spec.heads;
    int64_t n2 = items ? s->prob_start[s->layout.n_seq] / items : 0; /* mean n^2 */
    return 2 * n2 * s->head_dim / NN_MACS_PER_WORK + 1;
}

/* reals rounded up to whole 64-byte lines */
static int64_t round_to_lines(int64_t reals) {
    int64_t line = 64 / (int64_t)sizeof(real);
    return (reals + line - 1) / line * line;
}

/* Keys [0, end) that rows [i0, i1) of an item may need: the largest row_end among them. */
static int64_t block_end(const AttnSaved *s, int64_t r0, int64_t i0, int64_t i1) {
    int64_t end = 0;
    for (int64_t i = i0; i < i1; i++) end = s->row_end[r0 + i] > end ? s->row_end[r0 + i] : end;
    return end;
}

/* The first row whose keys reach past column j0 (rows before it have P = 0 from j0 on). */
static int64_t first_row_reaching(const AttnSaved *s, int64_t r0, int64_t n, int64_t j0) {
    for (int64_t i = 0; i < n; i++)
        if (s->row_end[r0 + i] > j0) return i;
    return n;
}

/* Row r < m of a block of queries: p + r n = softmax(x * scale) over its
 * keys [0, end[r]), 0 on [end[r], n), from the raw scores x + r ldx
 * (overwritten; readable up to end[r] rounded up to 16: finite scratch past
 * end[r], so the exponentials run in whole vectors). The maxima are exact in
 * any order; each sum is r_lane_sum's (16 lanes of whole vectors, the lanes
 * added in order, then the tail), computed with the rows side by side so that
 * the rows' chains of additions overlap instead of running one after another.
 * When no row reaches 16 keys (most rows of a short-sequence data set), every
 * lane is 0 and a row's sum is its tail's: each row is summed in order on its
 * own, without the lanes' fixed cost. */
NN_VECTORIZE static void softmax_rows(real *restrict x, int64_t ldx, const int64_t *end, int64_t m, real *restrict p,
                                      int64_t n, real scale) {
    real lane[16][ATTN_BLOCK], tail[16][ATTN_BLOCK], top[ATTN_BLOCK], sum[ATTN_BLOCK];
    int64_t longest = 0;
    for (int64_t r = 0; r < m; r++) longest = end[r] > longest ? end[r] : longest;
    if (longest <= 16) { /* no whole vector: every lane is 0, the sum is the tail's, added in order */
        for (int64_t r = 0; r < m; r++) {
            real *xr = x + r * ldx, *pr = p + r * n, t = r_lane_max(xr, end[r]), total = 0;
            for (int64_t j = 0; j < 16; j++) xr[j] = r_exp((xr[j] - t) * scale);
            for (int64_t j = 0; j < end[r]; j++) total += xr[j];
            real inv = 1 / total;
            for (int64_t j = 0; j < end[r]; j++) pr[j] = xr[j] * inv;
            for (int64_t j = end[r]; j < n; j++) pr[j] = 0;
        }
        return;
    }
    for (int64_t r = 0; r < m; r++) top[r] = r_lane_max(x + r * ldx, end[r]);
    for (int64_t r = 0; r < m; r++) {
        real *xr = x + r * ldx;
        int64_t wide = (end[r] + 15) / 16 * 16, full = end[r] / 16 * 16;
        for (int64_t j = 0; j < wide; j++) xr[j] = r_exp((xr[j] - top[r]) * scale); /* scale > 0 */
        real acc[16] = {0};
        for (int64_t j = 0; j < full; j += 16)
            for (int l = 0; l < 16; l++) acc[l] += xr[j + l];
        for (int l = 0; l < 16; l++) {
            lane[l][r] = acc[l];
            tail[l][r] = full + l < end[r] ? xr[full + l] : 0; /* + 0 leaves a sum of exponentials as it is */
        }
    }
    for (int64_t r = m; r < ATTN_BLOCK; r++)
        for (int l = 0; l < 16; l++) lane[l][r] = tail[l][r] = 0;
    for (int r = 0; r < ATTN_BLOCK; r++) sum[r] = 0;
    for (int l = 0; l < 16; l++)
        for (int r = 0; r < ATTN_BLOCK; r++) sum[r] += lane[l][r];
    for (int l = 0; l < 16; l++)
        for (int r = 0; r < ATTN_BLOCK; r++) sum[r] += tail[l][r];
    for (int64_t r = 0; r < m; r++) {
        const real *xr = x + r * ldx;
        real *pr = p + r * n, inv = 1 / sum[r];
        for (int64_t j = 0; j < end[r]; j++) pr[j] = xr[j] * inv;
        for (int64_t j = end[r]; j < n; j++) pr[j] = 0;
    }
}

/* The keys [0, end) of row i that can carry weight, with the raw scores x of
 * the masked ones among them set to -inf: keys past the row's end are
 * masked by end, the others where key_valid (or, with -inf, the query's own
 * key) says so; a fully masked row (-10000 everywhere) keeps the raw scores
 * of all keys. */
static int64_t mask_row(const AttnSaved *s, int64_t r0, int64_t i, real *x) {
    int64_t end = s->row_end[r0 + i];
    if (s->row_sees[r0 + i] && s->layout.key_valid)
        for (int64_t j = 0; j < end; j++)
            if (!allowed(s, r0, i, j)) x[j] = -INFINITY;
    return end;
}

/* Columns of a row of scores in scratch: n rounded up to the widest gemm
 * panel (64), so that whole panels of products and whole vectors of
 * exponentials fit. */
static int64_t padded(int64_t n) { return (n + 63) / 64 * 64; }

/* Reals of one packed operand of an item: (n, d) or (d, n) in gemm panels of
 * nr <= 64 columns, for any n <= max_n. */
static int64_t panel_reals(const AttnSaved *s) { return padded(s->max_n) * padded(s->head_dim); }

/* An operand B (kp, N) as the tiles read it: B(k, j) = data[(j / nr) panel +
 * k row + j % nr], readable for whole tiles of nr (or a last nr/2) columns. */
typedef struct {
    const real *data;
    int64_t panel, row;
} Panels;

/* B (kp, N) transposed or with N not whole tiles: packed into scratch by kn->pack_b (panels of nr columns,
 * zeros past N); row-major with whole tiles of columns: read in place, as gemm does. */
static Panels operand(const GemmKernel *kn, int64_t kp, int64_t N, const real *B, int64_t b_rs, int64_t b_cs,
                      real *scratch) {
    int64_t nr = kn->nr;
    if (b_cs == 1 && (N % nr == 0 || N % nr == nr / 2)) return (Panels){B, nr, b_rs};
    kn->pack_b(kp, N, 0, B, b_rs, b_cs, scratch);
    return (Panels){scratch, kp * nr, nr};
}

/* x (rows, H) transposed once for every item: (H, ldt), ldt = rows + 64 rounded up to 16, the columns past
 * rows zero. An item's rows r0 .. r0 + n of head columns c0 .. c0 + d are then the operand B (d, n) = x^T
 * read in place (transposed_operand), where a pack per item would transpose a whole 16 x 16 block of
 * registers for every 16 of its rows, most of it padding for a short sequence. */
static real *transposed_rows(const AttnSaved *s, const GemmKernel *kn, const Tensor *x, int64_t *ldt) {
    *ldt = 0;
    if (s->min_n > ATTN_BLOCK) return NULL; /* no item reads it (transposed_operand) */
    int64_t rows = x->shape[0], H = x->shape[1], ld = (rows + 64 + 15) / 16 * 16;
    real *t = nn_aligned_alloc((size_t)(H * ld) * sizeof(real));
    kn->transpose(rows, H, x->data, x->stride[0], t, ld);
    for (int64_t c = 0; c < H; c++) memset(t + c * ld + rows, 0, (size_t)(ld - rows) * sizeof(real));
    *ldt = ld;
    return t;
}

/* B (d, n) = x^T for the item's rows r0 .. r0 + n and head columns c0 .. c0 + d of x (row stride xs). An
 * item of one block of rows (n <= ATTN_BLOCK) reads it in place from x^T (transposed_rows): its tiles read
 * whole tiles of columns, up to 63 past its keys (other rows' values, or the zeros past the last row), and
 * write only its own. A longer item reads each column of B once per block of rows: it packs them (a
 * transposing pack of x) into scratch, contiguous for those reads. */
static Panels transposed_operand(const GemmKernel *kn, const real *xt, int64_t ldt, int64_t r0, int64_t c0, int64_t d,
                                 int64_t n, const real *x, int64_t xs, real *scratch) {
    if (n <= ATTN_BLOCK) return (Panels){xt + c0 * ldt + r0, kn->nr, ldt};
    return operand(kn, d, n, x + r0 * xs + c0, 1, xs, scratch);
}

/* C (M, N) = A (M, K) B[k0 .. k0 + K) + beta C (beta 0 or 1), B made ready
 * once (operand) for all the products of an item: the tiles and K steps of gemm's own
 * driver (tensor/gemm.c), hence its sums bit for bit, without packing B again
 * for every block of rows or a gemm call's setup, in the calling thread. */
static void gemm_panel(const GemmKernel *kn, int64_t M, int64_t N, int64_t K, const real *A, int64_t a_rs,
                       int64_t a_cs, Panels B, int64_t k0, real beta, real *C, int64_t ldc) {
    NN_CHECK(K > 0, "attention", "a product over %lld keys: every query block reaches at least one key", (long long)K);
    const int mr = kn->mr, nr = kn->nr;
    _Alignas(64) real apack[6 * 256];
    NN_CHECK(mr * kn->kc <= 6 * 256, "attention", "gemm kernel tile %d x %d too large", mr, kn->kc);
    for (int64_t pc = 0; pc < K; pc += kn->kc) {
        int64_t kc = K - pc < kn->kc ? K - pc : kn->kc;
        int add = pc > 0 || beta != 0;
        for (int64_t ir = 0; ir < M; ir += mr) {
            int m = M - ir < mr ? (int)(M - ir) : mr;
            int r = (3 * m - 1) / mr, rows = (r + 1) * mr / 3; /* the smallest tile with m rows */
            const real *a = A + ir * a_rs + pc * a_cs;
            int layout = 0;
            int64_t ars = 1, acs = mr;
            if (m == rows && a_cs == 1) {
                layout = 1;
                ars = a_rs;
                acs = 1;
            } else if (m == rows && a_rs == 1) {
                acs = a_cs;
            } else {
                kn->pack_a(kc, m, a, a_rs, a_cs, apack);
                a = apack;
            }
            GemmTileFn *const *tile = kn->tiles[layout][r];
            for (int64_t jr = 0; jr < N; jr += nr) {
                int n = N - jr < nr ? (int)(N - jr) : nr;
                const real *b = B.data + jr / nr * B.panel + (k0 + pc) * B.row;
                tile[n > nr / 2](kc, a, ars, acs, b, B.row, C + ir * ldc + jr, ldc, m, n, add);
            }
        }
    }
}

/* Keep bits of probabilities [index, index + count) of the whole op, each a
 * pure function of its index (word index % 4 of Philox block index / 4);
 * words is scratch of count + KEEP_SLACK. The blocks are drawn in whole
 * groups of 8, the vector Philox's width (base/rng.c): the words past count
 * are thrown away, and no block goes through the scalar Philox. */
#define KEEP_SLACK 40 /* words: 3 of alignment, 28 of rounding, and spare */
static void keep_bits(const AttnSaved *s, int64_t index, int64_t count, unsigned char *keep, uint32_t *words) {
    int64_t first = index / 4, blocks = ((index + count + 3) / 4 - first + 7) / 8 * 8;
    philox4x32_blocks(s->seed, s->stream, (uint64_t)first, blocks, words);
    const uint32_t *w = words + (index - 4 * first);
    for (int64_t j = 0; j < count; j++) keep[j] = (w[j] >> 8) >= s->threshold;
}

/* Dropout of one row of n probabilities p (0 from count on): t[j] = p[j] times
 * keep[j] ? scale : 0 for j < count, 0 after, and in the backward g[j] is
 * multiplied by the same; the factor is computed as scale * keep[j] so that not
 * even the scalar tail branches. */
NN_VECTORIZE static void drop_row(const real *restrict p, real *restrict t, real *restrict g,
                                  const unsigned char *restrict keep, int64_t count, int64_t n, real scale) {
    if (!g)
        for (int64_t j = 0; j < count; j++) t[j] = p[j] * (scale * (real)keep[j]);
    else
        for (int64_t j = 0; j < count; j++) {
            real drop = scale * (real)keep[j];
            t[j] = p[j] * drop;
            g[j] *= drop;
        }
    for (int64_t j = count; j < n; j++) t[j] = 0; /* as p */
}

/* Per-worker scratch of the forward pass, in reals: K^T and V packed in gemm
 * panels, one block of scores (padded(max_n) columns), P~ (max_n, max_n) when
 * there is dropout, and the dropout words (keep_bits: a short item's n^2 or
 * a row's max_n, + KEEP_SLACK). */
typedef struct {
    real *kt, *vp, *scores, *pt;
    uint32_t *words;
} ForwardScratch;

static int64_t forward_scratch_reals(const AttnSaved *s) {
    int64_t ld = padded(s->max_n), pt = s->keep ? s->max_n * s->max_n : 0;
    int64_t words = ATTN_BLOCK * ATTN_BLOCK + s->max_n + KEEP_SLACK;
    return round_to_lines(2 * panel_reals(s) + ATTN_BLOCK * ld + pt +
                          words * (int64_t)sizeof(uint32_t) / (int64_t)sizeof(real) + 1);
}

static ForwardScratch forward_scratch(const AttnSaved *s, real *base) {
    int64_t ld = padded(s->max_n);
    ForwardScratch f = {base, base + panel_reals(s), base + 2 * panel_reals(s), NULL, NULL};
    real *next = f.scores + ATTN_BLOCK * ld;
    if (s->keep) {
        f.pt = next;
        next += s->max_n * s->max_n;
    }
    f.words = (uint32_t *)next;
    return f;
}

/* Forward of one (sequence, head). */
static void attend(const AttnSaved *s, int64_t seq, int head, const Tensor *q, const Tensor *k, const Tensor *v,
                   real *out, int64_t H, const ForwardScratch *w) {
    int64_t r0 = s->layout.offsets[seq], n = s->layout.offsets[seq + 1] - r0, d = s->head_dim, c0 = head * d;
    int64_t qs = q->stride[0], vs = v->stride[0], ld = padded(n);
    const real *Q = q->data + r0 * qs + c0, *V = v->data + r0 * vs + c0;
    real scale = 1 / R_SQRT((real)d);
    int64_t base = s->prob_start[seq] + (int64_t)head * n * n;
    real *P = s->prob + base, *pt = s->keep ? w->pt : P; /* without dropout P~ is P */
    unsigned char *keep = s->keep ? s->keep + base : NULL;
    const GemmKernel *kn = gemm_kernel_best();
    /* K^T and V, once for all blocks of rows */
    Panels kt = transposed_operand(kn, s->kt, s->ldt, r0, c0, d, n, k->data, k->stride[0], w->kt);
    Panels vp = operand(kn, n, d, V, vs, 1, w->vp);
    if (keep && n <= ATTN_BLOCK) keep_bits(s, base, n * n, keep, w->words); /* in one draw: row i uses row_end */
    for (int64_t i0 = 0; i0 < n; i0 += ATTN_BLOCK) {
        int64_t i1 = i0 + ATTN_BLOCK < n ? i0 + ATTN_BLOCK : n, end = block_end(s, r0, i0, i1);
        /* S rows (i1 - i0, end) = Q rows K^T */
        gemm_panel(kn, i1 - i0, end, d, Q + i0 * qs, qs, 1, kt, 0, 0, w->scores, ld);
        int64_t ends[ATTN_BLOCK];
        for (int64_t i = i0; i < i1; i++) ends[i - i0] = mask_row(s, r0, i, w->scores + (i - i0) * ld);
        softmax_rows(w->scores, ld, ends, i1 - i0, P + i0 * n, n, scale);
        for (int64_t i = i0; i < i1 && keep; i++) {
            if (n > ATTN_BLOCK) keep_bits(s, base + i * n, s->row_end[r0 + i], keep + i * n, w->words);
            drop_row(P + i * n, pt + i * n, NULL, keep + i * n, s->row_end[r0 + i], n, s->drop_scale);
        }
        /* O rows = P~ rows V */
        gemm_panel(kn, i1 - i0, d, end, pt + i0 * n, n, 1, vp, 0, 0, out + (r0 + i0) * H + c0, H);
    }
}

/* dot[r] = sum over j < end of p[r][j] g[r][j] for rows r < m, each summed in
 * order j = 0, 1, ... as a plain loop would (a product, then an add: this
 * function is not one of the FMA clones), with the rows interleaved so that
 * their sums overlap instead of waiting on one another. */
static void row_dots(const real *p, int64_t lp, const real *g, int64_t lg, int64_t m, int64_t end, real *dot) {
    for (int64_t r = 0; r < m; r++) dot[r] = 0;
    for (int64_t j = 0; j < end; j++)
        for (int64_t r = 0; r < m; r++) dot[r] += p[r * lp + j] * g[r * lg + j];
}

/* g[0..end) = p (g - rowdot) scale (dS from dP), g[end..n) = 0. */
NN_VECTORIZE static void scores_grad(const real *restrict p, real *restrict g, int64_t end, int64_t n, real rowdot,
                                     real scale) {
    for (int64_t j = 0; j < end; j++) g[j] = p[j] * (g[j] - rowdot) * scale;
    for (int64_t j = end; j < n; j++) g[j] = 0;
}

/* Where a gradient of q, k or v goes: rows of ld reals, or NULL when not needed. */
typedef struct {
    real *data;
    int64_t ld;
} GradRows;

/* Per-worker scratch of the backward pass: V^T, K, dO and Q packed in gemm
 * panels (panel_reals each), dP~ and dS (max_n, padded(max_n)), P~ (max_n,
 * max_n) when there is dropout. */
typedef struct {
    real *vt, *kp, *dop, *qp, *dp, *pt;
} BackwardScratch;

static int64_t backward_scratch_reals(const AttnSaved *s) {
    return round_to_lines(4 * panel_reals(s) + s->max_n * padded(s->max_n) + (s->keep ? s->max_n * s->max_n : 0) + 1);
}

static BackwardScratch backward_scratch(const AttnSaved *s, real *base) {
    int64_t pr = panel_reals(s);
    real *dp = base + 4 * pr;
    return (BackwardScratch){base, base + pr, base + 2 * pr, base + 3 * pr, dp, dp + s->max_n * padded(s->max_n)};
}

/* Backward of one (sequence, head), its gradients added to dq, dk, dv
 * (beta 1) or stored (beta 0: each element is written once); vt (H, ldt) is
 * V^T of every row (transposed_rows). */
static void attend_backward(const AttnSaved *s, int64_t seq, int head, const Tensor *q, const Tensor *k,
                            const Tensor *v, const real *vt_rows, int64_t ldt, const real *dout, GradRows dq,
                            GradRows dk, GradRows dv, int64_t H, real beta, const BackwardScratch *w) {
    int64_t r0 = s->layout.offsets[seq], n = s->layout.offsets[seq + 1] - r0, d = s->head_dim, c0 = head * d;
    int64_t qs = q->stride[0], ks = k->stride[0], ld = padded(n);
    const real *Q = q->data + r0 * qs + c0, *K = k->data + r0 * ks + c0;
    const real *dO = dout + r0 * H + c0;
    real scale = 1 / R_SQRT((real)d);
    int64_t base = s->prob_start[seq] + (int64_t)head * n * n;
    real *dp = w->dp, *pt = w->pt;
    const real *P = s->prob + base, *Pt = s->keep ? pt : P; /* without dropout P~ is P */
    const unsigned char *keep = s->keep ? s->keep + base : NULL;
    const GemmKernel *kn = gemm_kernel_best();
    /* V^T, K, dO and Q, once for all blocks of rows */
    Panels vt = transposed_operand(kn, vt_rows, ldt, r0, c0, d, n, v->data, v->stride[0], w->vt);
    Panels kp = operand(kn, n, d, K, ks, 1, w->kp);
    Panels dop = operand(kn, n, d, dO, H, 1, w->dop), qp = operand(kn, n, d, Q, qs, 1, w->qp);
    /* P~ and dS = P (dP - rowsum(P dP)) scale, row block by row block */
    for (int64_t i0 = 0; i0 < n; i0 += ATTN_BLOCK) {
        int64_t i1 = i0 + ATTN_BLOCK < n ? i0 + ATTN_BLOCK : n, end = block_end(s, r0, i0, i1);
        /* dP~ rows = dO rows V^T */
        gemm_panel(kn, i1 - i0, end, d, dO + i0 * H, H, 1, vt, 0, 0, dp + i0 * ld, ld);
        for (int64_t i = i0; i < i1 && keep; i++) { /* bits exist up to the row's own end; P is 0 past it */
            drop_row(P + i * n, pt + i * n, dp + i * ld, keep + i * n, s->row_end[r0 + i], n, s->drop_scale);
        }
        real rowdot[ATTN_BLOCK];
        row_dots(P + i0 * n, n, dp + i0 * ld, ld, i1 - i0, end, rowdot);
        for (int64_t i = i0; i < i1; i++) scores_grad(P + i * n, dp + i * ld, end, n, rowdot[i - i0], scale);
        /* dQ rows += dS rows K */
        if (dq.data) gemm_panel(kn, i1 - i0, d, end, dp + i0 * ld, ld, 1, kp, 0, beta, dq.data + (r0 + i0) * dq.ld + c0, dq.ld);
    }
    /* dV and dK, by blocks of key rows j: only query rows that reach them contribute */
    for (int64_t j0 = 0; j0 < n; j0 += ATTN_BLOCK) {
        /* query j0 reaches key j0 (row_end > its index, or n), so from <= j0 < n: every key block is reached */
        int64_t j1 = j0 + ATTN_BLOCK < n ? j0 + ATTN_BLOCK : n, from = first_row_reaching(s, r0, n, j0);
        /* dV rows j += P~^T (j, i) dO rows i */
        if (dv.data)
            gemm_panel(kn, j1 - j0, d, n - from, Pt + from * n + j0, 1, n, dop, from, beta,
                 dv.data + (r0 + j0) * dv.ld + c0, dv.ld);
        /* dK rows j += dS^T (j, i) Q rows i */
        if (dk.data)
            gemm_panel(kn, j1 - j0, d, n - from, dp + from * ld + j0, 1, ld, qp, from, beta,
                 dk.data + (r0 + j0) * dk.ld + c0, dk.ld);
    }
}

typedef struct {
    const AttnSaved *s;
    const Tensor *q, *k, *v;
    const real *vt; /* V^T (H, ldt) of every row */
    int64_t ldt;
    const real *dout; /* (rows, H) */
    GradRows dq, dk, dv;
    int64_t H;
    real beta;     /* 0: the gradients are unfilled and stored into, 1: added to */
    real *scratch; /* per worker: backward_scratch_reals */
    int64_t stride;
} BackwardLoop;

static void backward_items(void *ctx, NnChunk c) {
    const BackwardLoop *l = ctx;
    const AttnSaved *s = l->s;
    BackwardScratch b = backward_scratch(s, l->scratch + c.worker * l->stride);
    for (int64_t w = c.begin; w < c.end; w++)
        attend_backward(s, w / s->spec.heads, (int)(w % s->spec.heads), l->q, l->k, l->v, l->vt, l->ldt, l->dout, l->dq,
                        l->dk, l->dv, l->H, l->beta, &b);
}

/* The base of t when t is the narrow view of columns [start, start + H) of a 2-D tensor, else NULL. */
static Tensor *narrow_base(const Tensor *t, int64_t start, int64_t H) {
    const Node *n = t->node;
    if (!n || n->view != AG_VIEW_NARROW || n->n_in != 1 || n->i[0] != 1 || n->i[1] != start || n->i[2] != H)
        return NULL;
    return n->in[0]->ndim == 2 ? n->in[0] : NULL;
}

/* When q, k and v are the column thirds of one (rows, 3H) tensor (the stacked
 * projection) that has no gradient yet, its gradient is made unfilled and the
 * op writes all of it (store, not add: 0 + x is x for every sum gemm makes,
 * which never ends at -0 from +0 accumulators): returns 1 with dq, dk, dv set. */
static int stacked_fresh(Graph *g, Node *n, int64_t H, GradRows *dq, GradRows *dk, GradRows *dv) {
    Tensor *base = narrow_base(n->in[0], 0, H);
    if (!base || narrow_base(n->in[1], H, H) != base || narrow_base(n->in[2], 2 * H, H) != base ||
        base->shape[1] != 3 * H || !base->requires_grad || base->grad)
        return 0;
    int fresh;
    Tensor b = ag_grad_view(g, base, &fresh);
    /* q's last dim is contiguous (checked by the forward), so base's and its gradient view's are too */
    NN_CHECK(b.ndim == 2 && b.stride[1] == 1, "attention", "the stacked projection's gradient view is %d-D with "
             "column stride %lld, not row-major", b.ndim, (long long)(b.ndim == 2 ? b.stride[1] : 0));
    *dq = (GradRows){b.data, b.stride[0]};
    *dk = (GradRows){b.data + H, b.stride[0]};
    *dv = (GradRows){b.data + 2 * H, b.stride[0]};
    return fresh;
}

static void attention_backward(Graph *g, Node *n) {
    const AttnSaved *s = n->saved;
    Tensor *q = n->in[0], *k = n->in[1], *v = n->in[2], *y = n->out;
    int64_t H = y->shape[1], items = s->layout.n_seq * s->spec.heads;
    /* gradients land straight in the base when q, k, v are column slices of one projection */
    GradRows dq = {NULL, 0}, dk = {NULL, 0}, dv = {NULL, 0};
    GradRows *dst[3] = {&dq, &dk, &dv};
    int store = stacked_fresh(g, n, H, &dq, &dk, &dv);
    for (int i = 0; i < 3 && !store; i++) {
        if (!n->in[i]->requires_grad) continue;
        Tensor view = ag_grad_view(g, n->in[i], NULL);
        if (view.stride[1] != 1) view = *ag_grad(g, n->in[i]);
        *dst[i] = (GradRows){view.data, view.stride[0]};
    }
    int64_t stride = backward_scratch_reals(s);
    int width = nn_parallel_width(items, item_work(s));
    real *scratch = nn_aligned_alloc((size_t)(width * stride) * sizeof(real));
    int64_t ldt;
    real *vt = transposed_rows(s, gemm_kernel_best(), v, &ldt);
    BackwardLoop l = {s, q, k, v, vt, ldt, y->grad->data, dq, dk, dv, H, store ? 0 : 1, scratch, stride};
    nn_parallel_for(items, item_work(s), backward_items, &l);
    free(vt);
    free(scratch);
}

typedef struct {
    const AttnSaved *s;
    const Tensor *q, *k, *v;
    real *out; /* (rows, H) */
    int64_t H;
    real *scratch; /* per worker: forward_scratch_reals */
    int64_t stride;
} ForwardLoop;

static void forward_items(void *ctx, NnChunk c) {
    const ForwardLoop *l = ctx;
    const AttnSaved *s = l->s;
    ForwardScratch f = forward_scratch(s, l->scratch + c.worker * l->stride);
    for (int64_t w = c.begin; w < c.end; w++)
        attend(s, w / s->spec.heads, (int)(w % s->spec.heads), l->q, l->k, l->v, l->out, l->H, &f);
}

SeqLayout seq_layout_dense(Graph *g, int64_t n_seq, int64_t L, const unsigned char *key_valid, int causal) {
    int64_t *off = arena_alloc(graph_arena(g), (size_t)(n_seq + 1) * sizeof *off);
    for (int64_t b = 0; b <= n_seq; b++) off[b] = b * L;
    return (SeqLayout){.n_seq = n_seq, .offsets = off, .key_valid = key_valid, .causal = causal};
}

Tensor *ag_attention(Graph *g, Tensor *q, Tensor *k, Tensor *v, const SeqLayout *layout, const AttentionSpec *spec) {
    AG_CHECK_INPUTS(g, "attention", q, k, v);
    NN_CHECK(q->ndim == 2 && tensor_same_shape(q, k) && tensor_same_shape(q, v) && q->stride[1] == 1 &&
                 k->stride[1] == 1 && v->stride[1] == 1,
             "attention", "q %s, k %s, v %s must be (rows, H) with a contiguous last dim",
             shape_str(q->ndim, q->shape).s, shape_str(k->ndim, k->shape).s, shape_str(v->ndim, v->shape).s);
    int64_t rows = q->shape[0], H = q->shape[1], n_seq = layout->n_seq;
    NN_CHECK(spec->heads >= 1 && H % spec->heads == 0, "attention", "H = %lld is not a multiple of %d heads",
             (long long)H, spec->heads);
    NN_CHECK(n_seq >= 0 && layout->offsets[0] == 0 && layout->offsets[n_seq] == rows, "attention",
             "offsets must run from 0 to the %lld rows", (long long)rows);
    NN_CHECK(spec->dropout >= 0 && spec->dropout < 1, "attention", "dropout %g outside [0, 1)", (double)spec->dropout);
    Arena *a = graph_arena(g);
    AttnSaved *s = arena_calloc(a, sizeof *s);
    s->layout = *layout;
    s->spec = *spec;
    int64_t *off = arena_alloc(a, (size_t)(n_seq + 1) * sizeof *off);
    memcpy(off, layout->offsets, (size_t)(n_seq + 1) * sizeof *off);
    s->layout.offsets = off;
    if (layout->key_valid) {
        unsigned char *kv = arena_alloc(a, (size_t)(rows ? rows : 1));
        memcpy(kv, layout->key_valid, (size_t)rows);
        s->layout.key_valid = kv;
    }
    s->spec.rng = NULL;
    s->head_dim = H / spec->heads;
    s->prob_start = arena_alloc(a, (size_t)(n_seq + 1) * sizeof(int64_t));
    s->prob_start[0] = 0;
    for (int64_t b = 0; b < n_seq; b++) {
        int64_t len = off[b + 1] - off[b];
        NN_CHECK(len >= 0, "attention", "offsets decrease at sequence %lld", (long long)b);
        s->prob_start[b + 1] = s->prob_start[b] + len * len * spec->heads;
        if (len > s->max_n) s->max_n = len;
        if (b == 0 || len < s->min_n) s->min_n = len;
    }
    s->prob = arena_alloc(a, (size_t)(s->prob_start[n_seq] ? s->prob_start[n_seq] : 1) * sizeof(real));
    int drop = spec->training && spec->dropout > 0;
    s->keep = drop ? arena_alloc(a, (size_t)(s->prob_start[n_seq] ? s->prob_start[n_seq] : 1)) : NULL;
    s->drop_scale = 1 / (1 - spec->dropout);
    s->seed = drop ? spec->rng->seed : 0;
    s->stream = drop ? rng_u64(spec->rng) : 0;
    s->threshold = (uint32_t)((double)spec->dropout * 16777216.0);
    /* keys [0, row_end) of each query can carry weight */
    s->row_end = arena_alloc(a, (size_t)(rows ? rows : 1) * sizeof(int64_t));
    s->row_sees = arena_alloc(a, (size_t)(rows ? rows : 1));
    for (int64_t b = 0; b < n_seq; b++) {
        int64_t r0 = off[b], n = off[b + 1] - r0;
        for (int64_t i = 0; i < n; i++) {
            int any = 0;
            for (int64_t j = 0; j <= (layout->causal ? i : n - 1) && !any; j++) any = allowed(s, r0, i, j);
            s->row_sees[r0 + i] = (unsigned char)any;
            s->row_end[r0 + i] = any && layout->causal ? i + 1 : n;
        }
    }
    Tensor *y = ag_new(g, 2, (int64_t[]){rows, H});
    int64_t items = n_seq * spec->heads, stride = forward_scratch_reals(s);
    int width = nn_parallel_width(items, item_work(s));
    real *scratch = nn_aligned_alloc((size_t)(width * stride) * sizeof(real));
    memset(scratch, 0, (size_t)(width * stride) * sizeof(real)); /* softmax_rows reads scores past the keys */
    real *kt = transposed_rows(s, gemm_kernel_best(), k, &s->ldt);
    s->kt = kt;
    ForwardLoop l = {s, q, k, v, y->data, H, scratch, stride};
    nn_parallel_for(items, item_work(s), forward_items, &l);
    free(kt);
    s->kt = NULL; /* the backward pass reads V^T, not K^T */
    free(scratch);
    Node *n = ag_record(g, "attention", attention_backward, y, 3, (Tensor *[]){q, k, v});
    if (n) n->saved = s;
    if (n && graph_profile(g)) { /* the visible (query, key) pairs of one head, and the heads: its cost */
        for (int64_t r = 0; r < rows; r++) n->i[0] += s->row_end[r];
        n->i[1] = spec->heads;
    }
    return y;
}
