/* Philox4x32-10 in AVX-512 registers, for base/rng.c's block generator and ag_dropout's mask: one definition
 * of the rounds both run. x86-64 with GCC or clang only; the caller checks the CPU (avx512f). */
#ifndef NN_BASE_PHILOX_AVX512_H
#define NN_BASE_PHILOX_AVX512_H

#include <immintrin.h>
#include <stdint.h>

/* Blocks first + 0 .. first + 8 groups - 1 (groups 1 or 2, a constant where inlined: two independent chains
 * overlap each other's multiplies) in 64-bit lanes, as philox4x32 computes each (Random123's constants):
 * x[g][l], lane i holds word l of block first + 8 g + i, a value below 2^32. */
__attribute__((target("avx512f"))) static inline void philox_avx512(uint64_t key, uint64_t counter_hi, uint64_t first,
                                                                    const int groups, __m512i x[2][4]) {
    const __m512i m0 = _mm512_set1_epi64(0xD2511F53ll), m1 = _mm512_set1_epi64(0xCD9E8D57ll);
    const __m512i low = _mm512_set1_epi64(0xffffffff), step = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    for (int g = 0; g < groups; g++) {
        __m512i c = _mm512_add_epi64(_mm512_set1_epi64((long long)(first + 8 * (uint64_t)g)), step);
        x[g][0] = _mm512_and_si512(c, low);
        x[g][1] = _mm512_srli_epi64(c, 32);
        x[g][2] = _mm512_set1_epi64((uint32_t)counter_hi);
        x[g][3] = _mm512_set1_epi64((long long)(counter_hi >> 32));
    }
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int round = 0; round < 10; round++) {
        const __m512i kk0 = _mm512_set1_epi64(k0), kk1 = _mm512_set1_epi64(k1);
        for (int g = 0; g < groups; g++) {
            __m512i p0 = _mm512_mul_epu32(x[g][0], m0), p1 = _mm512_mul_epu32(x[g][2], m1);
            x[g][0] = _mm512_xor_si512(_mm512_xor_si512(_mm512_srli_epi64(p1, 32), x[g][1]), kk0);
            x[g][2] = _mm512_xor_si512(_mm512_xor_si512(_mm512_srli_epi64(p0, 32), x[g][3]), kk1);
            x[g][1] = _mm512_and_si512(p1, low);
            x[g][3] = _mm512_and_si512(p0, low);
        }
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
}

#endif
