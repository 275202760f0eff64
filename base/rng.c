#include "base/rng.h"

#include <math.h>

/* Philox4x32 with 10 rounds (Salmon et al., SC'11; the Random123 constants). */
#define PHILOX_M0 0xD2511F53ull
#define PHILOX_M1 0xCD9E8D57ull
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void philox4x32(uint64_t key, uint64_t counter_hi, uint64_t counter_lo, uint32_t out[4]) {
    uint32_t c0 = (uint32_t)counter_lo, c1 = (uint32_t)(counter_lo >> 32);
    uint32_t c2 = (uint32_t)counter_hi, c3 = (uint32_t)(counter_hi >> 32);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* Batches of blocks in 64-bit vector lanes: _mm*_mul_epu32 multiplies the low
 * 32 bits of each lane into a full 64-bit product, which is Philox's round. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include "base/philox_avx512.h"

/* Blocks i < lanes, whose words l = 0..3 sit in lane i of wl, into out[4 i + l]. */
static inline void put_blocks(uint32_t *out, int lanes, const uint64_t *w0, const uint64_t *w1, const uint64_t *w2,
                              const uint64_t *w3) {
    for (int i = 0; i < lanes; i++) {
        out[4 * i] = (uint32_t)w0[i];
        out[4 * i + 1] = (uint32_t)w1[i];
        out[4 * i + 2] = (uint32_t)w2[i];
        out[4 * i + 3] = (uint32_t)w3[i];
    }
}

/* Words l = 0..3 of 8 blocks (x[l], lane i: block i; values below 2^32) into out[4 i + l]: each narrowed to 32
 * bits and the four interleaved by two permutes. */
__attribute__((target("avx512f"))) static inline void put8_avx512(uint32_t *out, const __m512i *x) {
    __m512i ab =
        _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(x[0])), _mm512_cvtepi64_epi32(x[1]), 1);
    __m512i cd =
        _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(x[2])), _mm512_cvtepi64_epi32(x[3]), 1);
    const __m512i lo = _mm512_setr_epi32(0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
    const __m512i hi = _mm512_setr_epi32(4, 12, 20, 28, 5, 13, 21, 29, 6, 14, 22, 30, 7, 15, 23, 31);
    _mm512_storeu_si512(out, _mm512_permutex2var_epi32(ab, lo, cd));
    _mm512_storeu_si512(out + 16, _mm512_permutex2var_epi32(ab, hi, cd));
}

/* Blocks lo + b0 .. lo + b0 + 8 g - 1 (g = 1 or 2 groups of 8) into out, each group's words as put8_avx512
 * lays them. */
__attribute__((target("avx512f"))) static inline void philox_groups_avx512(uint64_t key, uint64_t counter_hi,
                                                                          uint64_t first, const int groups,
                                                                          uint32_t *out) {
    __m512i x[2][4];
    philox_avx512(key, counter_hi, first, groups, x);
    for (int g = 0; g < groups; g++) put8_avx512(out + 32 * g, x[g]);
}

__attribute__((target("avx512f"))) static int64_t philox_blocks_avx512(uint64_t key, uint64_t counter_hi, uint64_t lo,
                                                                       int64_t n, uint32_t *out) {
    int64_t b0 = 0;
    for (; b0 + 16 <= n; b0 += 16) philox_groups_avx512(key, counter_hi, lo + (uint64_t)b0, 2, out + 4 * b0);
    for (; b0 + 8 <= n; b0 += 8) philox_groups_avx512(key, counter_hi, lo + (uint64_t)b0, 1, out + 4 * b0);
    return b0;
}

__attribute__((target("avx2"))) static int64_t philox_blocks_avx2(uint64_t key, uint64_t counter_hi, uint64_t lo,
                                                                  int64_t n, uint32_t *out) {
    const __m256i m0 = _mm256_set1_epi64x(PHILOX_M0), m1 = _mm256_set1_epi64x(PHILOX_M1);
    const __m256i mask = _mm256_set1_epi64x(0xffffffff), step = _mm256_set_epi64x(3, 2, 1, 0);
    const __m256i c2 = _mm256_set1_epi64x((uint32_t)counter_hi), c3 = _mm256_set1_epi64x((long long)(counter_hi >> 32));
    int64_t b0 = 0;
    for (; b0 + 4 <= n; b0 += 4) {
        __m256i c = _mm256_add_epi64(_mm256_set1_epi64x((long long)(lo + (uint64_t)b0)), step);
        __m256i x0 = _mm256_and_si256(c, mask), x1 = _mm256_srli_epi64(c, 32), x2 = c2, x3 = c3;
        uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
        for (int round = 0; round < 10; round++) {
            __m256i p0 = _mm256_mul_epu32(x0, m0), p1 = _mm256_mul_epu32(x2, m1);
            __m256i y0 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), x1), _mm256_set1_epi64x(k0));
            __m256i y2 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), x3), _mm256_set1_epi64x(k1));
            x1 = _mm256_and_si256(p1, mask);
            x3 = _mm256_and_si256(p0, mask);
            x0 = y0;
            x2 = y2;
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        uint64_t w0[4], w1[4], w2[4], w3[4];
        _mm256_storeu_si256((__m256i *)w0, x0);
        _mm256_storeu_si256((__m256i *)w1, x1);
        _mm256_storeu_si256((__m256i *)w2, x2);
        _mm256_storeu_si256((__m256i *)w3, x3);
        put_blocks(out + 4 * b0, 4, w0, w1, w2, w3);
    }
    return b0;
}
#endif

void philox4x32_blocks(uint64_t key, uint64_t counter_hi, uint64_t lo, int64_t n, uint32_t *out) {
    int64_t done = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f"))
        done = philox_blocks_avx512(key, counter_hi, lo, n, out);
    else if (__builtin_cpu_supports("avx2"))
        done = philox_blocks_avx2(key, counter_hi, lo, n, out);
#endif
    for (int64_t b = done; b < n; b++) philox4x32(key, counter_hi, lo + (uint64_t)b, out + 4 * b);
}

Rng rng_new(uint64_t seed, uint64_t stream) {
    Rng r = {.seed = seed, .stream = stream, .index = 0, .avail = 0};
    return r;
}

uint32_t rng_u32(Rng *r) {
    if (r->avail == 0) {
        philox4x32(r->seed, r->stream, r->index++, r->buf);
        r->avail = 4;
    }
    return r->buf[--r->avail];
}

uint64_t rng_u64(Rng *r) {
    uint64_t hi = rng_u32(r);
    return hi << 32 | rng_u32(r);
}

void rng_fill_u32(Rng *r, uint32_t *out, int64_t n) {
    int64_t i = 0;
    while (i < n && r->avail) out[i++] = r->buf[--r->avail];
    int64_t blocks = (n - i) / 4;
    if (blocks > 0) {
        philox4x32_blocks(r->seed, r->stream, r->index, blocks, out + i);
        for (int64_t b = 0; b < blocks; b++) { /* rng_u32 hands a block's words out last first */
            uint32_t *w = out + i + 4 * b, w0 = w[0], w1 = w[1];
            w[0] = w[3], w[1] = w[2], w[2] = w1, w[3] = w0;
        }
        r->index += (uint64_t)blocks;
        i += 4 * blocks;
    }
    while (i < n) out[i++] = rng_u32(r);
}

double rng_uniform(Rng *r) { return (double)(rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); }

uint64_t rng_below(Rng *r, uint64_t n) {
    /* Rejection on the top of the 64-bit range keeps every value equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
        x = rng_u64(r);
    } while (x >= limit);
    return x % n;
}

double rng_normal(Rng *r) {
    double u1 = rng_uniform(r), u2 = rng_uniform(r);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}
