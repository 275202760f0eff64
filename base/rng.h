/* Random numbers from a counter-based generator (Philox4x32-10).
 *
 * Every draw is a pure function of (seed, stream, index), so a dropout mask or
 * a negative sample does not depend on the number of threads or on which
 * elements a kernel happens to compute. An Rng is a cursor over one stream:
 * sequential draws advance its index. Nothing here has global state. */
#ifndef NN_BASE_RNG_H
#define NN_BASE_RNG_H

#include <stdint.h>

typedef struct Rng {
    uint64_t seed;   /* Philox key */
    uint64_t stream; /* high half of the counter */
    uint64_t index;  /* next block of four 32-bit words to draw */
    uint32_t buf[4]; /* words of the current block not handed out yet */
    int avail;       /* how many of buf are left (taken from the end) */
} Rng;

/* The Philox4x32-10 block for (key, counter): four independent 32-bit words. */
void philox4x32(uint64_t key, uint64_t counter_hi, uint64_t counter_lo, uint32_t out[4]);

/* Philox blocks for counters (counter_hi, lo + i), i in [0, n): out[4 i + l] is
 * word l of block i, as philox4x32 gives it. Vectorized: use it for masks. */
void philox4x32_blocks(uint64_t key, uint64_t counter_hi, uint64_t lo, int64_t n, uint32_t *out);

/* A generator positioned at the start of (seed, stream). */
Rng rng_new(uint64_t seed, uint64_t stream);
/* The next 32 random bits. */
uint32_t rng_u32(Rng *r);
/* The next 64 random bits. */
uint64_t rng_u64(Rng *r);
/* The next n 32-bit words into out, exactly as n calls of rng_u32 give them (whole blocks vectorized). */
void rng_fill_u32(Rng *r, uint32_t *out, int64_t n);
/* Uniform in [0, 1), 53 random bits. */
double rng_uniform(Rng *r);
/* Uniform integer in [0, n), unbiased; n > 0. */
uint64_t rng_below(Rng *r, uint64_t n);
/* Standard normal (Box-Muller). */
double rng_normal(Rng *r);

/* Uniform float in [0, 1) with 24 random bits, taken from a 32-bit word. */
static inline float rng_word_to_unit(uint32_t w) { return (float)(w >> 8) * (1.0f / 16777216.0f); }

#endif
