/* gemm against a naive double-accumulated product: every shape class (tiny,
 * around the tile and block sizes, K = 0, long K), every kind of stride
 * (row-major, transposed, padded, general, negative, zero), beta 0 and 1, a
 * C with padding that must stay untouched; for each kernel this CPU can run.
 * And bit-identical results for any thread count and inside a parallel loop;
 * gemm_bias against filling C with the bias first; each kernel's transpose. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "base/memory.h"
#include "tensor/gemm_kernel.h"
#include "tensor/kernels.h"
#include "base/parallel.h"
#include "tests/support.h"

/* How a (rows, cols) operand is laid out in its buffer. */
typedef enum { ROW_MAJOR, COL_MAJOR, PADDED, GENERAL, FLIPPED, BROADCAST, N_LAYOUTS } Layout;

static const char *const LAYOUT_NAMES[] = {"row-major", "col-major", "padded", "general", "flipped", "broadcast"};

/* An operand view: X(i, j) = data[i*rs + j*cs], into an owned buffer. */
typedef struct {
    real *buf;  /* owned */
    real *data; /* element (0, 0) */
    int64_t rs, cs;
} Operand;

/* A (rows, cols) operand in the given layout holding uniform values in [-1, 1). */
static Operand operand_new(int64_t rows, int64_t cols, Layout layout, uint64_t seed) {
    Operand o = {0};
    int64_t size = 0;
    switch (layout) {
    case ROW_MAJOR: o.rs = cols, o.cs = 1, size = rows * cols; break;
    case COL_MAJOR: o.rs = 1, o.cs = rows, size = rows * cols; break;
    case PADDED: o.rs = cols + 3, o.cs = 1, size = rows * (cols + 3); break;          /* a narrowed view */
    case GENERAL: o.rs = 2, o.cs = 2 * rows + 1, size = cols * (2 * rows + 1); break; /* neither stride 1 */
    case FLIPPED: o.rs = -cols, o.cs = 1, size = rows * cols; break;                  /* rows reversed */
    case BROADCAST: o.rs = 0, o.cs = 1, size = cols; break;                           /* one row repeated */
    default: break;
    }
    o.buf = nn_malloc((size_t)(size > 0 ? size : 1) * sizeof(real));
    Rng r = rng_new(seed, 5);
    for (int64_t i = 0; i < size; i++) o.buf[i] = (real)(2 * rng_uniform(&r) - 1);
    o.data = layout == FLIPPED && rows > 0 ? o.buf + (rows - 1) * cols : o.buf;
    return o;
}

/* C (M, N) = A B + beta C0 summed in double, with the error bound of a float
 * or double sum of K products: bound[i] = (K + 2) eps (sum |a b| + |beta C0|). */
static void reference(int64_t M, int64_t N, int64_t K, Operand a, Operand b, real beta, const real *c0, int64_t ldc,
                      double *ref, double *bound) {
    double eps = sizeof(real) == sizeof(float) ? FLT_EPSILON : DBL_EPSILON;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = beta != 0 ? (double)c0[i * ldc + j] : 0, mag = fabs(s);
            for (int64_t k = 0; k < K; k++) {
                double p = (double)a.data[i * a.rs + k * a.cs] * (double)b.data[k * b.rs + j * b.cs];
                s += p;
                mag += fabs(p);
            }
            ref[i * N + j] = s;
            bound[i * N + j] = (double)(K + 2) * eps * mag + 1e-30;
        }
}

#define PAD      5           /* extra columns of C past N: must not be written */
#define SENTINEL ((real)777) /* value of C's padding */

/* Runs gemm_with(kern) on one case and checks it against the reference. */
static void check_case(const GemmKernel *kern, int64_t M, int64_t N, int64_t K, Layout la, Layout lb, real beta,
                       uint64_t seed) {
    Operand a = operand_new(M, K, la, seed), b = operand_new(K, N, lb, seed + 1);
    int64_t ldc = N + PAD;
    real *c = nn_malloc((size_t)(M * ldc + 1) * sizeof(real));
    real *c0 = nn_malloc((size_t)(M * ldc + 1) * sizeof(real));
    double *ref = nn_malloc((size_t)(M * N + 1) * sizeof(double)),
           *bound = nn_malloc((size_t)(M * N + 1) * sizeof(double));
    Rng r = rng_new(seed, 6);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < ldc; j++)
            /* beta = 0 must overwrite C, not scale it: NaN in C must not leak into the result */
            c[i * ldc + j] = j >= N ? SENTINEL : beta == 0 ? (real)NAN : (real)(2 * rng_uniform(&r) - 1);
    memcpy(c0, c, (size_t)(M * ldc) * sizeof(real));
    reference(M, N, K, a, b, beta, c0, ldc, ref, bound);
    gemm_with(kern, M, N, K, a.data, a.rs, a.cs, b.data, b.rs, b.cs, beta, c, ldc);
    /* find the first wrong element, then assert once: Check records every passing assertion */
    int64_t bad_i = -1, bad_j = -1;
    for (int64_t i = 0; i < M && bad_i < 0; i++)
        for (int64_t j = 0; j < ldc; j++) {
            real got = c[i * ldc + j];
            if (j >= N ? got != SENTINEL : !(fabs((double)got - ref[i * N + j]) <= bound[i * N + j])) {
                bad_i = i, bad_j = j;
                break;
            }
        }
    if (bad_i >= 0)
        ck_abort_msg("%s: (%lld x %lld x %lld) A %s B %s beta %g: C[%lld, %lld] = %.9g, expected %.9g%s", kern->name,
                     (long long)M, (long long)K, (long long)N, LAYOUT_NAMES[la], LAYOUT_NAMES[lb], (double)beta,
                     (long long)bad_i, (long long)bad_j, (double)c[bad_i * ldc + bad_j],
                     bad_j >= N ? (double)SENTINEL : ref[bad_i * N + bad_j], bad_j >= N ? " (padding written)" : "");
    free(a.buf);
    free(b.buf);
    free(c);
    free(c0);
    free(ref);
    free(bound);
}

/* M, K, N: tiny; around the tile sizes (avx512 6 x 64 floats, avx2 6 x 16,
 * sse2 6 x 8, each with tiles of 2 and 4 rows and of half the columns for
 * short edges); past kc = 256 and nc = 2048; SASRec-like; big enough to run
 * on several threads. */
static const int64_t SHAPES[][3] = {
    {1, 1, 1},     {1, 7, 1},     {1, 5, 40},    {40, 5, 1},     {2, 3, 4},      {5, 4, 3},
    {6, 8, 8},     {7, 9, 17},    {9, 2, 16},    {11, 13, 31},   {12, 16, 32},   {13, 17, 33},
    {16, 6, 48},   {23, 31, 65},  {24, 64, 64},  {25, 1, 97},    {7, 33, 96},    {20, 70, 160},
    {50, 32, 50},  {50, 50, 32},  {52, 20, 70},  {3, 600, 5},    {17, 257, 9},   {13, 513, 70},
    {4, 20, 1100}, {5, 40, 2100}, {37, 70, 150}, {129, 80, 260}, {130, 70, 140}, {10, 300, 1500},
};

static void check_kernel_shapes(const GemmKernel *kern, int quick) {
    size_t n = sizeof SHAPES / sizeof SHAPES[0];
    for (size_t s = 0; s < n; s++) {
        int64_t M = SHAPES[s][0], K = SHAPES[s][1], N = SHAPES[s][2];
        int big = M * N * K > 200000;
        for (int la = 0; la < N_LAYOUTS; la++)
            for (int lb = 0; lb < N_LAYOUTS; lb++) {
                /* every layout pair on small shapes; a rotating few on big ones (and under valgrind) */
                if ((big || quick) && (la + lb + (int)s) % N_LAYOUTS != 0) continue;
                real beta = (real)((la + 2 * lb + (int)s) % 2);
                check_case(kern, M, N, K, (Layout)la, (Layout)lb, beta, 100 * s + 10 * la + lb);
            }
    }
}

START_TEST(gemm_matches_reference_every_kernel) {
    int any = 0;
    for (int i = 0; gemm_kernel_get(i); i++, any = 1) check_kernel_shapes(gemm_kernel_get(i), test_quick());
    ck_assert(any);
}
END_TEST

START_TEST(gemm_public_entry_matches_reference) {
    /* gemm() itself, with the kernel it picks, on a few shapes and the transposed cases of the models */
    const GemmKernel *best = gemm_kernel_best();
    ck_assert(best != NULL && best == gemm_kernel_get(0));
    check_case(best, 33, 45, 29, ROW_MAJOR, COL_MAJOR, 0, 1); /* x w^T: Linear forward */
    check_case(best, 29, 45, 70, COL_MAJOR, ROW_MAJOR, 1, 2); /* dy^T x: Linear weight gradient */
    int64_t M = 3, N = 4, K = 5;
    real a[15], b[20], c[12], want[12];
    for (int i = 0; i < 15; i++) a[i] = (real)(i - 7);
    for (int i = 0; i < 20; i++) b[i] = (real)(i % 7 - 3);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            real s = 0;
            for (int64_t k = 0; k < K; k++) s += a[i * K + k] * b[k * N + j];
            want[i * N + j] = s;
        }
    gemm(M, N, K, a, K, 1, b, N, 1, 0, c, N);
    ck_assert(memcmp(c, want, sizeof c) == 0); /* small integers: exact */
}
END_TEST

START_TEST(gemm_k_zero_scales_c_by_beta) {
    real c[6] = {1, 2, 3, 4, 5, 6}, dummy = 0;
    gemm(2, 3, 0, &dummy, 0, 1, &dummy, 1, 0, 1, c, 3);
    for (int i = 0; i < 6; i++) ck_assert(c[i] == (real)(i + 1));
    gemm(2, 2, 0, &dummy, 0, 1, &dummy, 1, 0, 0, c, 3); /* beta 0: zeros, C's third column untouched */
    ck_assert(c[0] == 0 && c[1] == 0 && c[2] == 3 && c[3] == 0 && c[4] == 0 && c[5] == 6);
    gemm(0, 3, 4, &dummy, 0, 1, &dummy, 1, 0, 0, c, 3); /* empty: nothing written */
    gemm(2, 0, 4, &dummy, 0, 1, &dummy, 1, 0, 0, c, 3);
    ck_assert(c[2] == 3 && c[5] == 6);
}
END_TEST

/* c (M, N) = A B by gemm: with beta 1 onto zeros, with beta 0 over values that must not count. */
static void product_into(int64_t M, int64_t N, int64_t K, Operand a, Operand b, real beta, real *c) {
    for (int64_t i = 0; i < M * N; i++) c[i] = beta != 0 ? 0 : (real)3;
    gemm(M, N, K, a.data, a.rs, a.cs, b.data, b.rs, b.cs, beta, c, N);
}

/* gemm of one case with n threads into c (M, N); operands as operand_new. */
static void run_threads(int threads, int64_t M, int64_t N, int64_t K, Operand a, Operand b, real beta, real *c) {
    nn_set_threads(threads);
    product_into(M, N, K, a, b, beta, c);
}

typedef struct {
    int64_t M, N, K;
    Operand a, b;
    real beta;
    real *c; /* (4, M, N) */
} NestedGemm;

static void nested_gemm(void *ctx, NnChunk ch) {
    const NestedGemm *g = ctx;
    for (int64_t t = ch.begin; t < ch.end; t++)
        product_into(g->M, g->N, g->K, g->a, g->b, g->beta, g->c + t * g->M * g->N);
}

START_TEST(gemm_bit_identical_for_any_thread_count) {
    int saved = nn_threads();
    /* Big enough to be split by rows (M large) or by columns (N large), past kc so that K is blocked.
     * With fewer rows or columns per thread, operands that one thread reads in place are read in place
     * by several: B in the second case (rows of 256 reals), A in the fourth (nc <= 4 nr) on AVX-512.
     * In the third, chunks of rows share a row-major B packed once (its rows of 300 reals are too far
     * apart to read in place for 40 rows, as one thread would judge too); in the fifth, a transposed B
     * packed once, in blocks past kc and nc; in the sixth (AVX-512 only: with narrower tiles it splits
     * columns, and under valgrind it would take minutes) that B is past 2 MiB, and each thread's one
     * chunk of rows packs it itself, a block at a time, the last block of K and of columns partial. */
    const int64_t shapes[][3] = {{150, 300, 60},   {40, 300, 256},   {40, 300, 300},
                                 {24, 300, 450},   {200, 300, 1500}, {200, 520, 2050}};
    const Layout layouts[][2] = {{ROW_MAJOR, ROW_MAJOR}, {ROW_MAJOR, ROW_MAJOR}, {ROW_MAJOR, ROW_MAJOR},
                                 {PADDED, COL_MAJOR},    {ROW_MAJOR, COL_MAJOR}, {ROW_MAJOR, COL_MAJOR}};
    /* beta 0 for the first, fourth and sixth: there, blocks past the first K step must add */
    const real betas[] = {0, 1, 1, 0, 1, 0};
    int n_shapes = gemm_kernel_best()->nr >= 64 ? 6 : 5;
    for (int s = 0; s < n_shapes; s++) {
        int64_t M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
        Operand a = operand_new(M, K, layouts[s][0], 11 + s), b = operand_new(K, N, layouts[s][1], 21 + s);
        real *c1 = nn_malloc((size_t)(M * N) * sizeof(real)), *cn = nn_malloc((size_t)(M * N) * sizeof(real));
        real beta = betas[s];
        run_threads(1, M, N, K, a, b, beta, c1);
        for (int t = 2; t <= 3; t++) {
            run_threads(t, M, N, K, a, b, beta, cn);
            ck_assert_msg(memcmp(c1, cn, (size_t)(M * N) * sizeof(real)) == 0,
                          "(%lld x %lld x %lld): %d threads differ from 1", (long long)M, (long long)K, (long long)N,
                          t);
        }
        /* called from inside a parallel loop, gemm runs serially in each thread with its own scratch */
        nn_set_threads(2);
        real *cp = nn_malloc((size_t)(4 * M * N) * sizeof(real));
        NestedGemm ng = {M, N, K, a, b, beta, cp};
        nn_parallel_for(4, NN_PARALLEL_MIN_WORK, nested_gemm, &ng);
        for (int t = 0; t < 4; t++)
            ck_assert_msg(memcmp(c1, cp + t * M * N, (size_t)(M * N) * sizeof(real)) == 0,
                          "(%lld x %lld x %lld): nested call %d differs", (long long)M, (long long)K, (long long)N, t);
        free(cp);
        free(a.buf);
        free(b.buf);
        free(c1);
        free(cn);
    }
    nn_set_threads(saved);
}
END_TEST

/* gemm_bias gives the bits of filling C's rows with the bias and adding A B
 * with beta 1: a single K step and several (K > kc), columns past nc, a
 * transposed B (packed), a C with padding that stays untouched, 1 to 3 threads. */
START_TEST(gemm_bias_equals_filling_then_adding) {
    int saved = nn_threads();
    /* the last (AVX-512 only, as in gemm_bit_identical_for_any_thread_count): a transposed B past 2 MiB that
     * each thread's chunk of rows packs a block at a time, the bias written before the first K step only */
    const int64_t shapes[][3] = {{7, 5, 3},     {100, 192, 64}, {300, 70, 600},
                                 {13, 2100, 40}, {4, 3, 0},      {200, 2050, 520}};
    int n_shapes = gemm_kernel_best()->nr >= 64 ? 6 : 5;
    for (int s = 0; s < n_shapes; s++) {
        int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], ldc = N + PAD;
        Operand a = operand_new(M, K, ROW_MAJOR, 31 + s), b = operand_new(K, N, s % 2 ? COL_MAJOR : ROW_MAJOR, 41 + s);
        Operand bias = operand_new(1, N, ROW_MAJOR, 51 + s);
        real *want = nn_malloc((size_t)(M * ldc) * sizeof(real)), *got = nn_malloc((size_t)(M * ldc) * sizeof(real));
        nn_set_threads(1);
        for (int64_t i = 0; i < M * ldc; i++) want[i] = SENTINEL;
        for (int64_t i = 0; i < M; i++) memcpy(want + i * ldc, bias.data, (size_t)N * sizeof(real));
        gemm(M, N, K, a.data, a.rs, a.cs, b.data, b.rs, b.cs, 1, want, ldc);
        for (int t = 1; t <= 3; t++) {
            nn_set_threads(t);
            for (int64_t i = 0; i < M * ldc; i++) got[i] = SENTINEL;
            gemm_bias(M, N, K, a.data, a.rs, a.cs, b.data, b.rs, b.cs, bias.data, got, ldc);
            ck_assert_msg(memcmp(want, got, (size_t)(M * ldc) * sizeof(real)) == 0,
                          "(%lld x %lld x %lld), %d threads: gemm_bias differs", (long long)M, (long long)K,
                          (long long)N, t);
        }
        free(a.buf);
        free(b.buf);
        free(bias.buf);
        free(want);
        free(got);
    }
    nn_set_threads(saved);
}
END_TEST

START_TEST(transpose_moves_every_element_every_kernel) {
    /* whole register blocks, edges of rows and of columns, a single element, and strides past the sizes; the
     * destination's padding (columns past rows) stays as it was */
    const int64_t shapes[][2] = {{1, 1}, {16, 16}, {8, 8}, {17, 33}, {37, 64}, {5, 70}, {64, 3}, {50, 32}};
    int any = 0;
    for (int i = 0; gemm_kernel_get(i); i++, any = 1) {
        const GemmKernel *kn = gemm_kernel_get(i);
        for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
            int64_t rows = shapes[c][0], cols = shapes[c][1], lds = cols + 3, ldd = rows + 5;
            real *src = nn_malloc((size_t)(rows * lds) * sizeof(real)),
                 *dst = nn_malloc((size_t)(cols * ldd) * sizeof(real));
            for (int64_t k = 0; k < rows * lds; k++) src[k] = (real)k;
            for (int64_t k = 0; k < cols * ldd; k++) dst[k] = -1;
            kn->transpose(rows, cols, src, lds, dst, ldd);
            for (int64_t r = 0; r < ldd; r++)
                for (int64_t j = 0; j < cols; j++)
                    ck_assert_msg(dst[j * ldd + r] == (r < rows ? src[r * lds + j] : -1),
                                  "%s: (%lld, %lld) element (%lld, %lld)", kn->name, (long long)rows, (long long)cols,
                                  (long long)r, (long long)j);
            free(src);
            free(dst);
        }
    }
    ck_assert(any);
}
END_TEST

static Suite *gemm_suite(void) {
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("gemm");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, gemm_matches_reference_every_kernel);
    tcase_add_test(tc, gemm_public_entry_matches_reference);
    tcase_add_test(tc, gemm_k_zero_scales_c_by_beta);
    tcase_add_test(tc, gemm_bit_identical_for_any_thread_count);
    tcase_add_test(tc, gemm_bias_equals_filling_then_adding);
    tcase_add_test(tc, transpose_moves_every_element_every_kernel);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(gemm_suite)
