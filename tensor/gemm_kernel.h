/* Internal to gemm: the micro-kernels for each instruction set, the choice
 * among them at run time, and the driver that takes a kernel explicitly so
 * that tests can run every kernel the machine supports. */
#ifndef NN_GEMM_KERNEL_H
#define NN_GEMM_KERNEL_H

#include <stdint.h>

#include "tensor/real.h"

/* C (m, n) (+)= A (mr, kc) B (kc, nr), m <= mr, n <= nr, with A(r, k) =
 * A[r*a_rs + k*a_cs] readable for all mr rows and B(k, j) = B[k*b_rs + j]
 * readable for all nr columns. add = 0 stores the product, 1 adds it to C. */
typedef void GemmTileFn(int64_t kc, const real *A, int64_t a_rs, int64_t a_cs, const real *B, int64_t b_rs, real *C,
                        int64_t ldc, int m, int n, int add);

typedef struct GemmKernel {
    const char *name;     /* instruction set: "avx512", "avx2", "sse2" or "generic" */
    int mr, nr;           /* tile: mr rows of C by nr columns */
    int kc, nc;           /* blocking: K in steps of kc (fixed, so sums do not depend on threads), N in nc */
    GemmTileFn *tile_cols; /* for a_rs == 1: packed A panels (a_cs = mr) and transposed A */
    GemmTileFn *tile_rows; /* for a_cs == 1: row-major A read in place */
} GemmKernel;

/* The fastest kernel this CPU runs (checked on every call: it is cheap). */
const GemmKernel *gemm_kernel_best(void);
/* The i-th kernel this CPU runs, fastest first, or NULL past the last. */
const GemmKernel *gemm_kernel_get(int i);

/* gemm() (tensor/kernels.h) with a given kernel. */
void gemm_with(const GemmKernel *kern, int64_t M, int64_t N, int64_t K, const real *A, int64_t a_rs, int64_t a_cs,
               const real *B, int64_t b_rs, int64_t b_cs, real beta, real *C, int64_t ldc);

#endif
