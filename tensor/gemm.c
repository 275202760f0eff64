/* General matrix product: cache blocking, packing and threads around the
 * micro-kernels of tensor/gemm_kernel.c.
 *
 * Loops, for one block of C (rows m0..m1, columns n0..n1):
 *   for jc in steps of nc:             columns of C and B
 *     for pc in steps of kc:           K, in fixed steps
 *       pack B (kc, nc) into panels of nr columns (L2)
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

#include "tensor/error.h"
#include "tensor/gemm_kernel.h"
#include "tensor/kernels.h"
#include "tensor/parallel.h"

/* Below this many multiply-adds a product runs in the calling thread: waking
 * threads costs more than it saves. */
#define GEMM_PARALLEL_MIN (1 << 20)

/* Scratch up to this many reals lives on the stack, so that small products
 * (attention heads) do not go through malloc. */
#define GEMM_STACK_REALS 4096

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

/* Packs B (kc, nc) into panels of nr columns, each (kc, nr) row-major and
 * zero-padded past nc: panel p starts at out + p*kc*nr. */
static void pack_b(int64_t kc, int64_t nc, const real *B, int64_t b_rs, int64_t b_cs, int nr, real *out) {
    for (int64_t j0 = 0; j0 < nc; j0 += nr, out += kc * nr) {
        int n = (int)min64(nr, nc - j0);
        const real *b = B + j0 * b_cs;
        if (b_cs == 1) {
            for (int64_t k = 0; k < kc; k++) {
                memcpy(out + k * nr, b + k * b_rs, (size_t)n * sizeof(real));
                memset(out + k * nr + n, 0, (size_t)(nr - n) * sizeof(real));
            }
        } else {
            /* columns of B are read along k: contiguous for a transposed B */
            for (int j = 0; j < n; j++)
                for (int64_t k = 0; k < kc; k++) out[k * nr + j] = b[j * b_cs + k * b_rs];
            for (int64_t k = 0; k < kc; k++) memset(out + k * nr + n, 0, (size_t)(nr - n) * sizeof(real));
        }
    }
}

/* Packs A (m, kc), m <= mr, into out (kc, mr): out[k*mr + r] = A(r, k), zero
 * for r >= m. */
static void pack_a(int64_t kc, int m, const real *A, int64_t a_rs, int64_t a_cs, int mr, real *out) {
    if (a_rs == 1) {
        for (int64_t k = 0; k < kc; k++) {
            memcpy(out + k * mr, A + k * a_cs, (size_t)m * sizeof(real));
            memset(out + k * mr + m, 0, (size_t)(mr - m) * sizeof(real));
        }
        return;
    }
    for (int r = 0; r < m; r++)
        for (int64_t k = 0; k < kc; k++) out[k * mr + r] = A[r * a_rs + k * a_cs];
    for (int64_t k = 0; k < kc; k++) memset(out + k * mr + m, 0, (size_t)(mr - m) * sizeof(real));
}

/* Reals of scratch one block needs: packed B (kc, nc rounded to nr) and a packed A panel (mr, kc). */
static int64_t scratch_reals(const Product *p, int64_t ncols) {
    const GemmKernel *kn = p->kern;
    int64_t kc = min64(kn->kc, p->K);
    return kc * round_up(min64(kn->nc, ncols), kn->nr) + kn->mr * kc;
}

/* C (m0..m1, n0..n1) of the product, in the calling thread, with scratch of scratch_reals(p, n1 - n0). */
static void gemm_block(const Product *p, int64_t m0, int64_t m1, int64_t n0, int64_t n1, real *scratch) {
    const GemmKernel *kn = p->kern;
    const int mr = kn->mr, nr = kn->nr;
    int64_t kc_max = min64(kn->kc, p->K);
    real *bpack = scratch, *apack = scratch + kc_max * round_up(min64(kn->nc, n1 - n0), nr);
    for (int64_t jc = n0; jc < n1; jc += kn->nc) {
        int64_t nc = min64(kn->nc, n1 - jc);
        /* A panel is used for nc/nr tiles: when few, packing it costs more than it saves. */
        int a_in_place = nc <= 4 * nr;
        for (int64_t pc = 0; pc < p->K; pc += kn->kc) {
            int64_t kc = min64(kn->kc, p->K - pc);
            int add = pc > 0 || p->beta != 0;
            pack_b(kc, nc, p->B + pc * p->b_rs + jc * p->b_cs, p->b_rs, p->b_cs, nr, bpack);
            for (int64_t ir = m0; ir < m1; ir += mr) {
                int m = (int)min64(mr, m1 - ir);
                const real *a = p->A + ir * p->a_rs + pc * p->a_cs;
                GemmTileFn *tile = kn->tile_cols;
                int64_t a_rs = 1, a_cs = mr;
                if (a_in_place && m == mr && p->a_cs == 1) {
                    tile = kn->tile_rows;
                    a_rs = p->a_rs;
                    a_cs = 1;
                } else if (a_in_place && m == mr && p->a_rs == 1) {
                    a_cs = p->a_cs;
                } else {
                    pack_a(kc, m, a, p->a_rs, p->a_cs, mr, apack);
                    a = apack;
                }
                real *c = p->C + ir * p->ldc + jc;
                for (int64_t jr = 0; jr < nc; jr += nr)
                    tile(kc, a, a_rs, a_cs, bpack + jr * kc, nr, c + jr, p->ldc, m, (int)min64(nr, nc - jr), add);
            }
        }
    }
}

/* Threads to use: 1 for small products and inside a parallel region (where gemm must stay serial). */
static int gemm_threads(int64_t M, int64_t N, int64_t K) {
#ifdef _OPENMP
    if (omp_in_parallel() || M * N * K < GEMM_PARALLEL_MIN) return 1;
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
    int threads = gemm_threads(M, N, K);
    int64_t mt = (M + kern->mr - 1) / kern->mr, nt = (N + kern->nr - 1) / kern->nr; /* tiles */
    if (threads > 1 && mt < 2 && nt < 2) threads = 1;
    if (threads == 1) {
        _Alignas(64) real stack[GEMM_STACK_REALS];
        int64_t need = scratch_reals(&p, N);
        real *scratch = need <= GEMM_STACK_REALS ? stack : nn_aligned_alloc((size_t)need * sizeof(real));
        gemm_block(&p, 0, M, 0, N, scratch);
        if (scratch != stack) free(scratch);
        return;
    }
    /* Split C along the dimension with more tiles into one block of whole tiles per thread. */
    int split_rows = mt >= nt;
    int64_t tiles = split_rows ? mt : nt, step = split_rows ? kern->mr : kern->nr;
    if (threads > tiles) threads = (int)tiles;
    int64_t per = (tiles + threads - 1) / threads * step; /* rows or columns per block */
    int64_t stride = round_up(scratch_reals(&p, split_rows ? N : per), 64 / (int64_t)sizeof(real));
    real *scratch = nn_aligned_alloc((size_t)(stride * threads) * sizeof(real));
#pragma omp parallel for schedule(static, 1) num_threads(threads)
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
