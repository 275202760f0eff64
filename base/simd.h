/* Wider vectors where the CPU has them, chosen at run time.
 *
 * NN_VECTORIZE compiles a hot loop function three times (AVX-512, AVX2 with
 * FMA, baseline x86-64) and picks one when the program starts, so the default
 * build runs on any x86-64 and under valgrind (which hides AVX-512) while
 * using the widest vectors the machine offers. Results may differ in the last
 * bits between machines (FMA), never between thread counts. */
#ifndef NN_BASE_SIMD_H
#define NN_BASE_SIMD_H

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(NN_NO_CLONES)
#define NN_VECTORIZE __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NN_VECTORIZE
#endif

#endif
