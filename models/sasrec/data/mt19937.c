#include "models/sasrec/data/mt19937.h"

/* Matsumoto & Nishimura's reference constants. */
#define MT_N 624
#define MT_M 397

void mt19937_seed(Mt19937 *m, uint32_t seed) {
    m->mt[0] = seed;
    for (int i = 1; i < MT_N; i++) m->mt[i] = 1812433253u * (m->mt[i - 1] ^ (m->mt[i - 1] >> 30)) + (uint32_t)i;
    m->index = MT_N;
}

static void generate(Mt19937 *m) {
    for (int i = 0; i < MT_N; i++) {
        uint32_t y = (m->mt[i] & 0x80000000u) | (m->mt[(i + 1) % MT_N] & 0x7fffffffu);
        m->mt[i] = m->mt[(i + MT_M) % MT_N] ^ (y >> 1) ^ (y & 1 ? 0x9908b0dfu : 0);
    }
    m->index = 0;
}

uint32_t mt19937_next(Mt19937 *m) {
    if (m->index >= MT_N) generate(m);
    uint32_t y = m->mt[m->index++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

uint32_t mt19937_interval(Mt19937 *m, uint32_t max) {
    if (max == 0) return 0;
    uint32_t mask = max, value;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    while ((value = mt19937_next(m) & mask) > max) {
    }
    return value;
}

void mt19937_permutation(Mt19937 *m, int64_t n, int64_t *perm) {
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i >= 1; i--) {
        int64_t j = mt19937_interval(m, (uint32_t)i);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
