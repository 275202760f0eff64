/* General matrix product: cache blocking, packing and threads around the
 * micro-kernels of tensor/gemm_kernel.c.
 *
 * Loops, for one block of C (rows m0..m1, columns n0..n1):
 *   for jc in steps of nc:             columns of C and B
 *     for pc in steps of kc:           K, in fixed steps
 *       B (kc, nc): packed into panels of nr columns (L2), or read in place
 *       for ir in steps of mr:         rows of C and A
 *         A (mr, kc): read in place, or packed (L1)
 *         for jr in steps of nr:       one tile: C (mr, nr) (+)= A B
 *
 * Determinism: every element of C is summed over k in increasing order within
 * each kc step (tensor/gemm_tile.h), and the kc steps are added to C in order.
 * kc depends on the kernel only, threads split C into blocks of whole tiles,
 * so the result is bit-identical for any thread count. */
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "base/error.h"
#include "tensor/gemm_kernel.h"
#include "tensor/kernels.h"
#include "base/parallel.h"


/* Scratch up to this size lives on the stack, so that small products
 * (attention heads, 64 x 64 weights) do not go through malloc. */
#define GEMM_STACK_REALS (32768 / (int)sizeof(real))

/* A (M, K) B (K, N) + beta C with its strides; see gemm() in tensor/kernels.h. */
typedef struct {
    const GemmKernel *kern;
    int64_t K;
    const real *A;
    int64_t a_rs, a_cs;
    const real *B;
    int64_t b_rs, b_cs;
    real beta;
    real *C;
    int64_t ldc;
} Product;

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

/* Reals of scratch one block needs: packed B (kc, nc rounded to nr) and a packed A panel (mr, kc). */
static int64_t scratch_reals(const Product *p, int64_t ncols) {
    const GemmKernel *kn = p->kern;
    int64_t kc = min64(kn->kc, p->K);
    return kc * round_up(min64(kn->nc, ncols), kn->nr) + kn->mr * kc;
}

/* Whether to read an operand panel in place rather than pack it: always when
 * it serves few tiles (packing would cost more than it saves), otherwise only
 * if its rows (or columns) are close in memory: A's mr rows read for every k
 * should not fight over L1 sets as rows 8 KiB apart do; B's kc rows should
 * fit in L2 without a long stride through pages. */
static int a_in_place(const GemmKernel *kn, int64_t nc, int64_t lead) {
    int64_t bytes = (lead < 0 ? -lead : lead) * (int64_t)sizeof(real);
    return nc <= 4 * kn->nr || bytes <= 1024;
}
static int b_in_place(const GemmKernel *kn, int64_t rows, int64_t kc, int64_t lead) {
    int64_t bytes = (lead < 0 ? -lead : lead) * (int64_t)sizeof(real);
    return rows <= 4 * kn->mr || bytes * kc <= (256 << 10);
}

/* C (m0..m1, n0..n1) of the product, in the calling thread, with scratch of scratch_reals(p, n1 - n0). */
static void gemm_block(const Product *p, int64_t m0, int64_t m1, int64_t n0, int64_t n1, real *scratch) {
    const GemmKernel *kn = p->kern;
    const int mr = kn->mr, nr = kn->nr;
    int64_t kc_max = min64(kn->kc, p->K);
    real *bpack = scratch, *apack = scratch + kc_max * round_up(min64(kn->nc, n1 - n0), nr);
    for (int64_t jc = n0; jc < n1; jc += kn->nc) {
        int64_t nc = min64(kn->nc, n1 - jc);
        int rows_in_place = p->a_cs == 1 && a_in_place(kn, nc, p->a_rs);
        int cols_in_place = p->a_rs == 1 && a_in_place(kn, nc, p->a_cs);
        for (int64_t pc = 0; pc < p->K; pc += kn->kc) {
            int64_t kc = min64(kn->kc, p->K - pc);
            int add = pc > 0 || p->beta != 0;
            /* B (kc, nc): panels of nr columns in place, or packed; a last panel of other
             * than nr/2 columns (which the half-width tiles read in place) always packed */
            const real *b = p->B + pc * p->b_rs + jc * p->b_cs;
            int64_t in_place = nc % nr == 0 || nc % nr == nr / 2 ? nc : nc / nr * nr;
            if (!(p->b_cs == 1 && b_in_place(kn, m1 - m0, kc, p->b_rs))) in_place = 0;
            if (in_place < nc) kn->pack_b(kc, nc, in_place, b, p->b_rs, p->b_cs, bpack);
            for (int64_t ir = m0; ir < m1; ir += mr) {
                int m = (int)min64(mr, m1 - ir);
                int r = (3 * m - 1) / mr, rows = (r + 1) * mr / 3; /* the smallest tile with m rows */
                const real *a = p->A + ir * p->a_rs + pc * p->a_cs;
                int layout = 0;
                int64_t a_rs = 1, a_cs = mr;
                if (m == rows && rows_in_place) {
                    layout = 1;
                    a_rs = p->a_rs;
                    a_cs = 1;
                } else if (m == rows && cols_in_place) {
                    a_cs = p->a_cs;
                } else {
                    kn->pack_a(kc, m, a, p->a_rs, p->a_cs, apack);
                    a = apack;
                }
                GemmTileFn *const *tile = kn->tiles[layout][r];
                real *c = p->C + ir * p->ldc + jc;
                for (int64_t jr = 0; jr < nc; jr += nr) {
                    int n = (int)min64(nr, nc - jr);
                    if (jr < in_place)
                        tile[n > nr / 2](kc, a, a_rs, a_cs, b + jr, p->b_rs, c + jr, p->ldc, m, n, add);
                    else
                        tile[n > nr / 2](kc, a, a_rs, a_cs, bpack + jr * kc, nr, c + jr, p->ldc, m, n, add);
                }
            }
        }
    }
}

/* Threads to use: 1 for small products and inside a parallel region (where gemm must stay serial). */
static int gemm_threads(int64_t M, int64_t N, int64_t K) {
#ifdef _OPENMP
    if (omp_in_parallel() || M * N * K < NN_PARALLEL_MIN_MACS) return 1;
    return nn_threads();
#else
    (void)M, (void)N, (void)K;
    return 1;
#endif
}

void gemm_with(const GemmKernel *kern, int64_t M, int64_t N, int64_t K, const real *A, int64_t a_rs, int64_t a_cs,
               const real *B, int64_t b_rs, int64_t b_cs, real beta, real *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        if (beta == 0)
            for (int64_t i = 0; i < M; i++) memset(C + i * ldc, 0, (size_t)N * sizeof(real));
        return;
    }
    Product p = {kern, K, A, a_rs, a_cs, B, b_rs, b_cs, beta, C, ldc};
    /* Threads split C along the dimension with more tiles, one block of whole tiles each. */
    int64_t mt = (M + kern->mr - 1) / kern->mr, nt = (N + kern->nr - 1) / kern->nr;
    int split_rows = mt >= nt;
    int64_t tiles = split_rows ? mt : nt, step = split_rows ? kern->mr : kern->nr;
    int threads = gemm_threads(M, N, K);
    if (threads > tiles) threads = (int)tiles;
    if (threads == 1) {
        _Alignas(64) real stack[GEMM_STACK_REALS];
        int64_t need = scratch_reals(&p, N);
        real *scratch = need <= GEMM_STACK_REALS ? stack : nn_aligned_alloc((size_t)need * sizeof(real));
        gemm_block(&p, 0, M, 0, N, scratch);
        if (scratch != stack) free(scratch);
        return;
    }
    int64_t per = (tiles + threads - 1) / threads * step; /* rows or columns per block */
    int64_t stride = round_up(scratch_reals(&p, split_rows ? N : per), 64 / (int64_t)sizeof(real));
    real *scratch = nn_aligned_alloc((size_t)(stride * threads) * sizeof(real));
#ifdef _OPENMP
#pragma omp parallel for schedule(static, 1) num_threads(threads)
#endif
    for (int t = 0; t < threads; t++) {
        int64_t lo = t * per, hi = min64((t + 1) * per, split_rows ? M : N);
        if (lo >= hi) continue;
        if (split_rows)
            gemm_block(&p, lo, hi, 0, N, scratch + t * stride);
        else
            gemm_block(&p, 0, M, lo, hi, scratch + t * stride);
    }
    free(scratch);
}

void gemm(int64_t M, int64_t N, int64_t K, const real *A, int64_t a_rs, int64_t a_cs, const real *B, int64_t b_rs,
          int64_t b_cs, real beta, real *C, int64_t ldc) {
    gemm_with(gemm_kernel_best(), M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, beta, C, ldc);
}
