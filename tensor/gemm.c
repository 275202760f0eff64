/* General matrix product. Each element of C is computed by one thread with
 * the K dimension summed in a fixed order, so the result does not depend on
 * the thread count. */
#include <string.h>

#include "tensor/kernels.h"

void gemm(int64_t M, int64_t N, int64_t K, const real *A, int64_t a_rs, int64_t a_cs, const real *B, int64_t b_rs,
          int64_t b_cs, real beta, real *C, int64_t ldc) {
#pragma omp parallel for schedule(static) if (M * N * K > 65536)
    for (int64_t i = 0; i < M; i++) {
        real *c = C + i * ldc;
        if (beta == 0) memset(c, 0, (size_t)N * sizeof(real));
        for (int64_t k = 0; k < K; k++) {
            real aik = A[i * a_rs + k * a_cs];
            const real *b = B + k * b_rs;
            if (b_cs == 1)
                for (int64_t j = 0; j < N; j++) c[j] += aik * b[j];
            else
                for (int64_t j = 0; j < N; j++) c[j] += aik * b[j * b_cs];
        }
    }
}
