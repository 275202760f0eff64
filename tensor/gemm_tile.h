/* The gemm micro-kernel, written once and compiled once per instruction set.
 *
 * Not a normal header: tensor/gemm_kernel.c includes it several times, each
 * time under a different `#pragma GCC target` and with these macros set:
 *   TILE_NAME(x)  appends the instruction set to a name (x##_avx512, ...)
 *   TILE_BYTES    bytes in one vector register (64, 32, 16)
 *   TILE_MR       rows of C in a tile: scalars of A broadcast per k
 *   TILE_NV       vectors per tile row: the tile is TILE_MR x TILE_NV*lanes
 *
 * A tile keeps TILE_MR x TILE_NV accumulators in registers. For each k it
 * loads one row of B (TILE_NV vectors), broadcasts TILE_MR values of A and
 * does TILE_MR x TILE_NV multiply-adds, which the compiler contracts to FMA
 * (-ffp-contract=fast) when the target has it. Every element of C is summed
 * over k in increasing order from zero and then stored or added to C, so its
 * value does not depend on which tile, thread or edge case computed it. */

#define TILE_LANES (TILE_BYTES / (int)sizeof(real))
#define TILE_NR (TILE_NV * TILE_LANES)

typedef real TILE_NAME(vec) __attribute__((vector_size(TILE_BYTES)));

/* C (m, n) (+)= A (TILE_MR, kc) B (kc, TILE_NR) for m <= TILE_MR, n <= TILE_NR.
 * A(r, k) = A[r*a_rs + k*a_cs] for all TILE_MR rows, B(k, j) = B[k*b_rs + j]
 * for all TILE_NR columns: edge tiles come from zero-padded packed panels, so
 * the tile never reads past the operands. Inlined into the variants below so
 * that constant strides become constants. */
static inline __attribute__((always_inline)) void TILE_NAME(tile_body)(int64_t kc, const real *A, int64_t a_rs,
                                                                       int64_t a_cs, const real *B, int64_t b_rs,
                                                                       real *C, int64_t ldc, int m, int n, int add) {
    typedef TILE_NAME(vec) vec;
    vec acc[TILE_MR][TILE_NV];
#pragma GCC unroll 32
    for (int r = 0; r < TILE_MR; r++)
#pragma GCC unroll 8
        for (int v = 0; v < TILE_NV; v++) acc[r][v] = (vec){0};
    for (int64_t k = 0; k < kc; k++) {
        vec b[TILE_NV];
#pragma GCC unroll 8
        for (int v = 0; v < TILE_NV; v++) memcpy(&b[v], B + k * b_rs + v * TILE_LANES, sizeof(vec));
#pragma GCC unroll 32
        for (int r = 0; r < TILE_MR; r++) {
            real a = A[r * a_rs + k * a_cs];
#pragma GCC unroll 8
            for (int v = 0; v < TILE_NV; v++) acc[r][v] += a * b[v];
        }
    }
    if (m == TILE_MR && n == TILE_NR) {
#pragma GCC unroll 32
        for (int r = 0; r < TILE_MR; r++)
#pragma GCC unroll 8
            for (int v = 0; v < TILE_NV; v++) {
                real *c = C + r * ldc + v * TILE_LANES;
                vec out = acc[r][v];
                if (add) {
                    vec old;
                    memcpy(&old, c, sizeof old);
                    out = old + out;
                }
                memcpy(c, &out, sizeof out);
            }
        return;
    }
    /* Edge tile: the same sums, written through a buffer to the m x n valid part. */
    real buf[TILE_MR][TILE_NR];
    memcpy(buf, acc, sizeof buf);
    for (int r = 0; r < m; r++)
        for (int j = 0; j < n; j++) C[r * ldc + j] = add ? C[r * ldc + j] + buf[r][j] : buf[r][j];
}

/* A with adjacent rows (a_rs == 1): packed panels and transposed views. */
static void TILE_NAME(tile_cols)(int64_t kc, const real *A, int64_t a_rs, int64_t a_cs, const real *B, int64_t b_rs,
                                 real *C, int64_t ldc, int m, int n, int add) {
    (void)a_rs;
    TILE_NAME(tile_body)(kc, A, 1, a_cs, B, b_rs, C, ldc, m, n, add);
}

/* A with adjacent columns (a_cs == 1): row-major A read in place. */
static void TILE_NAME(tile_rows)(int64_t kc, const real *A, int64_t a_rs, int64_t a_cs, const real *B, int64_t b_rs,
                                 real *C, int64_t ldc, int m, int n, int add) {
    (void)a_cs;
    TILE_NAME(tile_body)(kc, A, a_rs, 1, B, b_rs, C, ldc, m, n, add);
}

#undef TILE_LANES
#undef TILE_NR
