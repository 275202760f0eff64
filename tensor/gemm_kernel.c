/* The gemm micro-kernels, one per instruction set, and the run-time choice.
 *
 * The library must run on any x86-64 (and under valgrind, which hides
 * AVX-512), so it is not compiled for the build machine: the one tile in
 * tensor/gemm_tile.h is compiled for AVX-512F, for AVX2+FMA and for the
 * baseline, and gemm_kernel_best asks the CPU which one to use.
 *
 * Tile shapes: each uses about 3/4 of the vector registers for accumulators
 * (AVX-512 has 32, AVX2 and SSE2 have 16) and leaves the rest for the row of
 * B and the broadcast of A. Blocking: kc x nc of packed B (256 KiB for
 * float) stays in the 1 MiB L2 while the mr x kc panel of A stays in L1. */
#include <stddef.h>
#include <string.h>

#include "tensor/gemm_kernel.h"

#if defined(__x86_64__) || defined(__i386__)
#define GEMM_X86 1
#else
#define GEMM_X86 0
#endif

#if GEMM_X86
#pragma GCC push_options
#pragma GCC target("avx512f,avx2,fma")
#define TILE_NAME(x) x##_avx512
#define TILE_BYTES 64
#define TILE_MR 12
#define TILE_NV 2
#include "tensor/gemm_tile.h"
#undef TILE_NAME
#undef TILE_BYTES
#undef TILE_MR
#undef TILE_NV
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
#define TILE_NAME(x) x##_avx2
#define TILE_BYTES 32
#define TILE_MR 6
#define TILE_NV 2
#include "tensor/gemm_tile.h"
#undef TILE_NAME
#undef TILE_BYTES
#undef TILE_MR
#undef TILE_NV
#pragma GCC pop_options
#endif

/* The baseline: SSE2 on x86-64, whatever the compiler targets elsewhere. */
#define TILE_NAME(x) x##_base
#define TILE_BYTES 16
#define TILE_MR 6
#define TILE_NV 2
#include "tensor/gemm_tile.h"
#undef TILE_NAME
#undef TILE_BYTES
#undef TILE_MR
#undef TILE_NV

#define LANES(bytes) ((bytes) / (int)sizeof(real))

static const GemmKernel kernels[] = {
#if GEMM_X86
    {"avx512", 12, 2 * LANES(64), 256, 1024, tile_cols_avx512, tile_rows_avx512},
    {"avx2", 6, 2 * LANES(32), 256, 1024, tile_cols_avx2, tile_rows_avx2},
    {"sse2", 6, 2 * LANES(16), 256, 1024, tile_cols_base, tile_rows_base},
#else
    {"generic", 6, 2 * LANES(16), 256, 1024, tile_cols_base, tile_rows_base},
#endif
};

enum { N_KERNELS = sizeof kernels / sizeof kernels[0] };

/* Whether this CPU (and its OS, which must save the wider registers) runs kernels[i]. */
static int supported(int i) {
#if GEMM_X86
    if (strcmp(kernels[i].name, "avx512") == 0) return __builtin_cpu_supports("avx512f");
    if (strcmp(kernels[i].name, "avx2") == 0) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    (void)i;
    return 1;
}

const GemmKernel *gemm_kernel_get(int i) {
    for (int k = 0; k < N_KERNELS; k++)
        if (supported(k) && i-- == 0) return &kernels[k];
    return NULL;
}

const GemmKernel *gemm_kernel_best(void) { return gemm_kernel_get(0); }
