/* The gemm micro-kernels, one per instruction set, and the run-time choice.
 *
 * The library must run on any x86-64 (and under valgrind, which hides
 * AVX-512), so it is not compiled for the build machine: the one tile of
 * tensor/gemm_tile.h is compiled for AVX-512F, for AVX2+FMA and for the
 * baseline, and gemm_kernel_best asks the CPU which to use.
 *
 * Tile shapes: 6 rows by 4 zmm (64 floats) for AVX-512, 6 by 2 ymm or xmm
 * for AVX2 and SSE2: 24 of AVX-512's 32 registers and 12 of the others' 16
 * hold accumulators, the rest the row of B and the broadcast of A. On Zen 4,
 * which splits zmm work in two halves, 6 x 4 zmm beat 12 x 2 zmm and 12 x 2
 * ymm by 5-30% on the SASRec products (fewer loads per multiply-add).
 * Blocking: kc = 256 (the 6 x kc panel of A stays in L1, 128 and 384-512
 * were slower); the packed kc x nc block of B streams from L2. AVX-512's nc
 * is 1024: its 1 MiB block stays in a 1.25 MiB L2, where 2048's 2 MiB did not
 * (2048^3 on one core 112-120 -> 153 GFLOP/s). nc only splits columns, so it
 * changes no sum.
 */
#include <string.h>

#include "tensor/gemm_kernel.h"

#if defined(__x86_64__) || defined(__i386__)
#define GEMM_X86 1
#else
#define GEMM_X86 0
#endif

/* Everything between TARGET_BEGIN and TARGET_END, inline helpers included, is
 * compiled for the named instruction sets (GCC's and clang's spellings). */
#define TARGET_PRAGMA(x) _Pragma(#x)
#if defined(__clang__)
#define TARGET_BEGIN(isa) TARGET_PRAGMA(clang attribute push(__attribute__((target(isa))), apply_to = function))
#define TARGET_END        TARGET_PRAGMA(clang attribute pop)
#else
#define TARGET_BEGIN(isa) TARGET_PRAGMA(GCC push_options) TARGET_PRAGMA(GCC target(isa))
#define TARGET_END        TARGET_PRAGMA(GCC pop_options)
#endif

/* The tile `name` of `rows` rows and nv vectors: body (tensor/gemm_tile.h) with those constants, for A
 * with adjacent rows (_COLS: a_rs == 1, packed panels and transposed views) or adjacent columns (_ROWS:
 * a_cs == 1, row-major A read in place). */
#define GEMM_TILE_COLS(name, body, rows, nv)                                                                          \
    static void name(int64_t kc, const real *A, int64_t a_rs, int64_t a_cs, const real *B, int64_t b_rs, real *C,    \
                     int64_t ldc, int m, int n, int add) {                                                            \
        (void)a_rs;                                                                                                    \
        body(kc, A, 1, a_cs, B, b_rs, C, ldc, m, n, add, rows, nv);                                                    \
    }
#define GEMM_TILE_ROWS(name, body, rows, nv)                                                                          \
    static void name(int64_t kc, const real *A, int64_t a_rs, int64_t a_cs, const real *B, int64_t b_rs, real *C,    \
                     int64_t ldc, int m, int n, int add) {                                                            \
        (void)a_cs;                                                                                                    \
        body(kc, A, a_rs, 1, B, b_rs, C, ldc, m, n, add, rows, nv);                                                    \
    }

/* Each instruction set: its tile (6 rows by TILE_NV vectors), its 12 named tiles (2, 4 or 6 rows by half or
 * all of the vectors, in both layouts) and their table tiles[layout][rows / 2 - 1][half or all]. */
#if GEMM_X86
TARGET_BEGIN("avx512f,avx2,fma")
#define TILE_BYTES     64
#define TILE_MR        6
#define TILE_NV        4
#define TILE_VEC       gemm_vec_avx512
#define TILE_BODY      gemm_tile_avx512
#define TILE_PACK_A    gemm_pack_a_avx512
#define TILE_PACK_B    gemm_pack_b_avx512
#define TILE_TRANSPOSE gemm_transpose_avx512
#define TILE_TRANSPOSE_COPY gemm_transpose_copy_avx512
#define TILE_KEEP_LANES gemm_keep_lanes_avx512
#include "tensor/gemm_tile.h"
GEMM_TILE_COLS(gemm_tile_r1_c1_cols_avx512, gemm_tile_avx512, 2, 2)
GEMM_TILE_COLS(gemm_tile_r1_c2_cols_avx512, gemm_tile_avx512, 2, 4)
GEMM_TILE_COLS(gemm_tile_r2_c1_cols_avx512, gemm_tile_avx512, 4, 2)
GEMM_TILE_COLS(gemm_tile_r2_c2_cols_avx512, gemm_tile_avx512, 4, 4)
GEMM_TILE_COLS(gemm_tile_r3_c1_cols_avx512, gemm_tile_avx512, 6, 2)
GEMM_TILE_COLS(gemm_tile_r3_c2_cols_avx512, gemm_tile_avx512, 6, 4)
GEMM_TILE_ROWS(gemm_tile_r1_c1_rows_avx512, gemm_tile_avx512, 2, 2)
GEMM_TILE_ROWS(gemm_tile_r1_c2_rows_avx512, gemm_tile_avx512, 2, 4)
GEMM_TILE_ROWS(gemm_tile_r2_c1_rows_avx512, gemm_tile_avx512, 4, 2)
GEMM_TILE_ROWS(gemm_tile_r2_c2_rows_avx512, gemm_tile_avx512, 4, 4)
GEMM_TILE_ROWS(gemm_tile_r3_c1_rows_avx512, gemm_tile_avx512, 6, 2)
GEMM_TILE_ROWS(gemm_tile_r3_c2_rows_avx512, gemm_tile_avx512, 6, 4)
static GemmTileFn *const gemm_tiles_avx512[2][3][2] = {
    {{gemm_tile_r1_c1_cols_avx512, gemm_tile_r1_c2_cols_avx512},
     {gemm_tile_r2_c1_cols_avx512, gemm_tile_r2_c2_cols_avx512},
     {gemm_tile_r3_c1_cols_avx512, gemm_tile_r3_c2_cols_avx512}},
    {{gemm_tile_r1_c1_rows_avx512, gemm_tile_r1_c2_rows_avx512},
     {gemm_tile_r2_c1_rows_avx512, gemm_tile_r2_c2_rows_avx512},
     {gemm_tile_r3_c1_rows_avx512, gemm_tile_r3_c2_rows_avx512}},
};
TARGET_END

TARGET_BEGIN("avx2,fma")
#define TILE_BYTES     32
#define TILE_MR        6
#define TILE_NV        2
#define TILE_VEC       gemm_vec_avx2
#define TILE_BODY      gemm_tile_avx2
#define TILE_PACK_A    gemm_pack_a_avx2
#define TILE_PACK_B    gemm_pack_b_avx2
#define TILE_TRANSPOSE gemm_transpose_avx2
#define TILE_TRANSPOSE_COPY gemm_transpose_copy_avx2
#define TILE_KEEP_LANES gemm_keep_lanes_avx2
#include "tensor/gemm_tile.h"
GEMM_TILE_COLS(gemm_tile_r1_c1_cols_avx2, gemm_tile_avx2, 2, 1)
GEMM_TILE_COLS(gemm_tile_r1_c2_cols_avx2, gemm_tile_avx2, 2, 2)
GEMM_TILE_COLS(gemm_tile_r2_c1_cols_avx2, gemm_tile_avx2, 4, 1)
GEMM_TILE_COLS(gemm_tile_r2_c2_cols_avx2, gemm_tile_avx2, 4, 2)
GEMM_TILE_COLS(gemm_tile_r3_c1_cols_avx2, gemm_tile_avx2, 6, 1)
GEMM_TILE_COLS(gemm_tile_r3_c2_cols_avx2, gemm_tile_avx2, 6, 2)
GEMM_TILE_ROWS(gemm_tile_r1_c1_rows_avx2, gemm_tile_avx2, 2, 1)
GEMM_TILE_ROWS(gemm_tile_r1_c2_rows_avx2, gemm_tile_avx2, 2, 2)
GEMM_TILE_ROWS(gemm_tile_r2_c1_rows_avx2, gemm_tile_avx2, 4, 1)
GEMM_TILE_ROWS(gemm_tile_r2_c2_rows_avx2, gemm_tile_avx2, 4, 2)
GEMM_TILE_ROWS(gemm_tile_r3_c1_rows_avx2, gemm_tile_avx2, 6, 1)
GEMM_TILE_ROWS(gemm_tile_r3_c2_rows_avx2, gemm_tile_avx2, 6, 2)
static GemmTileFn *const gemm_tiles_avx2[2][3][2] = {
    {{gemm_tile_r1_c1_cols_avx2, gemm_tile_r1_c2_cols_avx2},
     {gemm_tile_r2_c1_cols_avx2, gemm_tile_r2_c2_cols_avx2},
     {gemm_tile_r3_c1_cols_avx2, gemm_tile_r3_c2_cols_avx2}},
    {{gemm_tile_r1_c1_rows_avx2, gemm_tile_r1_c2_rows_avx2},
     {gemm_tile_r2_c1_rows_avx2, gemm_tile_r2_c2_rows_avx2},
     {gemm_tile_r3_c1_rows_avx2, gemm_tile_r3_c2_rows_avx2}},
};
TARGET_END
#endif

/* The baseline: SSE2 on x86-64, plain 16-byte vectors elsewhere. */
#define TILE_BYTES     16
#define TILE_MR        6
#define TILE_NV        2
#define TILE_VEC       gemm_vec_base
#define TILE_BODY      gemm_tile_base
#define TILE_PACK_A    gemm_pack_a_base
#define TILE_PACK_B    gemm_pack_b_base
#define TILE_TRANSPOSE gemm_transpose_base
#define TILE_TRANSPOSE_COPY gemm_transpose_copy_base
#define TILE_KEEP_LANES gemm_keep_lanes_base
#include "tensor/gemm_tile.h"
GEMM_TILE_COLS(gemm_tile_r1_c1_cols_base, gemm_tile_base, 2, 1)
GEMM_TILE_COLS(gemm_tile_r1_c2_cols_base, gemm_tile_base, 2, 2)
GEMM_TILE_COLS(gemm_tile_r2_c1_cols_base, gemm_tile_base, 4, 1)
GEMM_TILE_COLS(gemm_tile_r2_c2_cols_base, gemm_tile_base, 4, 2)
GEMM_TILE_COLS(gemm_tile_r3_c1_cols_base, gemm_tile_base, 6, 1)
GEMM_TILE_COLS(gemm_tile_r3_c2_cols_base, gemm_tile_base, 6, 2)
GEMM_TILE_ROWS(gemm_tile_r1_c1_rows_base, gemm_tile_base, 2, 1)
GEMM_TILE_ROWS(gemm_tile_r1_c2_rows_base, gemm_tile_base, 2, 2)
GEMM_TILE_ROWS(gemm_tile_r2_c1_rows_base, gemm_tile_base, 4, 1)
GEMM_TILE_ROWS(gemm_tile_r2_c2_rows_base, gemm_tile_base, 4, 2)
GEMM_TILE_ROWS(gemm_tile_r3_c1_rows_base, gemm_tile_base, 6, 1)
GEMM_TILE_ROWS(gemm_tile_r3_c2_rows_base, gemm_tile_base, 6, 2)
static GemmTileFn *const gemm_tiles_base[2][3][2] = {
    {{gemm_tile_r1_c1_cols_base, gemm_tile_r1_c2_cols_base},
     {gemm_tile_r2_c1_cols_base, gemm_tile_r2_c2_cols_base},
     {gemm_tile_r3_c1_cols_base, gemm_tile_r3_c2_cols_base}},
    {{gemm_tile_r1_c1_rows_base, gemm_tile_r1_c2_rows_base},
     {gemm_tile_r2_c1_rows_base, gemm_tile_r2_c2_rows_base},
     {gemm_tile_r3_c1_rows_base, gemm_tile_r3_c2_rows_base}},
};

#define NR(nv, bytes) ((nv) * (bytes) / (int)sizeof(real)) /* nv vectors of `bytes` */

enum { AVX512, AVX2, BASE, N_KERNELS };

static const GemmKernel kernels[N_KERNELS] = {
#if GEMM_X86
    [AVX512] = {"avx512", 6, NR(4, 64), 256, 1024, gemm_tiles_avx512, gemm_pack_a_avx512, gemm_pack_b_avx512,
                gemm_transpose_copy_avx512},
    [AVX2] = {"avx2", 6, NR(2, 32), 256, 2048, gemm_tiles_avx2, gemm_pack_a_avx2, gemm_pack_b_avx2,
              gemm_transpose_copy_avx2},
    [BASE] = {"sse2", 6, NR(2, 16), 256, 2048, gemm_tiles_base, gemm_pack_a_base, gemm_pack_b_base,
              gemm_transpose_copy_base},
#else
    [BASE] = {"generic", 6, NR(2, 16), 256, 2048, gemm_tiles_base, gemm_pack_a_base, gemm_pack_b_base,
              gemm_transpose_copy_base},
#endif
};

/* Whether this CPU runs kernels[i]. __builtin_cpu_supports also checks that
 * the OS saves the wider registers (and valgrind reports no AVX-512). */
static int supported(int i) {
    switch (i) {
#if GEMM_X86
    case AVX512: return __builtin_cpu_supports("avx512f");
    case AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    case BASE: return 1;
    default: return 0;
    }
}

const GemmKernel *gemm_kernel_get(int i) {
    for (int k = 0; k < N_KERNELS; k++)
        if (supported(k) && i-- == 0) return &kernels[k];
    return NULL;
}

const GemmKernel *gemm_kernel_best(void) { return gemm_kernel_get(0); }
