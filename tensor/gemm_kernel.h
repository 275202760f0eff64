/* Internal to gemm: the micro-kernels for each instruction set, the choice
 * among them at run time, and the driver taking a kernel explicitly so that
 * tests can run every kernel the machine supports. */
#ifndef NN_TENSOR_GEMM_KERNEL_H
#define NN_TENSOR_GEMM_KERNEL_H

#include <stdint.h>

#include "tensor/real.h"

/* One tile: C (m, n) (+)= A (rows, kc) B (kc, nr), m <= rows, n <= nr, where
 * A(r, k) = A[r*a_rs + k*a_cs] must be readable for all `rows` rows of the
 * tile and B(k, j) = B[k*b_rs + j] for all nr columns. add = 0 stores the
 * product into C, add = 1 adds it. */
typedef void GemmTileFn(int64_t kc, const real *A, int64_t a_rs, int64_t a_cs, const real *B, int64_t b_rs, real *C,
                        int64_t ldc, int m, int n, int add);

/* Packs A (m, kc), m <= mr, into out (kc, mr), zero-padded: a tile reads it with a_rs = 1, a_cs = mr. */
typedef void GemmPackAFn(int64_t kc, int m, const real *A, int64_t a_rs, int64_t a_cs, real *out);
/* Packs the panels from column `from` on of B (kc, nc) into out: panel p, columns p*nr.., is (kc, nr)
 * row-major at out + p*kc*nr, zero-padded past nc to the columns its tile reads (a last panel of at most
 * nr/2 columns: nr/2, its other columns left unwritten); a tile reads it with b_rs = nr. */
typedef void GemmPackBFn(int64_t kc, int64_t nc, int64_t from, const real *B, int64_t b_rs, int64_t b_cs, real *out);

/* dst (cols, rows) = src (rows, cols) transposed: dst[c*ldd + r] = src[r*lds + c]. */
typedef void GemmTransposeFn(int64_t rows, int64_t cols, const real *src, int64_t lds, real *dst, int64_t ldd);

typedef struct GemmKernel {
    const char *name; /* instruction set: "avx512", "avx2", "sse2" or "generic" */
    int mr, nr;       /* the largest tile: mr rows of C (a multiple of 3) by nr columns (even vectors) */
    int kc;           /* K is summed in steps of kc: fixed, so sums do not depend on the threads */
    int nc;           /* columns of B packed at a time */
    /* tiles[layout][r][c]: layout 0 for a_rs == 1 (packed A panels with a_cs = mr, transposed A),
     * 1 for a_cs == 1 (row-major A read in place); (r + 1) mr/3 rows; nr/2 columns for c = 0, nr for 1. */
    GemmTileFn *const (*tiles)[3][2];
    GemmPackAFn *pack_a;
    GemmPackBFn *pack_b;
    GemmTransposeFn *transpose; /* pack_b's register transpose over a whole matrix */
} GemmKernel;

/* The fastest kernel this CPU runs (asked of the CPU on every call: it is cheap). */
const GemmKernel *gemm_kernel_best(void);
/* The i-th kernel this CPU runs, fastest first, or NULL past the last. */
const GemmKernel *gemm_kernel_get(int i);

/* gemm() (tensor/kernels.h) with a given kernel. */
void gemm_with(const GemmKernel *kern, int64_t M, int64_t N, int64_t K, const real *A, int64_t a_rs, int64_t a_cs,
               const real *B, int64_t b_rs, int64_t b_cs, real beta, real *C, int64_t ldc);

#endif
