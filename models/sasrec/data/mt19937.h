/* NumPy's legacy RandomState, as far as S3-Rec's generate_test.py uses it:
 * MT19937 seeded with an integer, and permutation(n) (Fisher-Yates from the
 * top, each index drawn by masked rejection). It exists so that generated
 * evaluation negatives are the very lists S3-Rec's script produces. */
#ifndef NN_MODELS_SASREC_DATA_MT19937_H
#define NN_MODELS_SASREC_DATA_MT19937_H

#include <stdint.h>

typedef struct {
    uint32_t mt[624];
    int index;
} Mt19937;

/* numpy.random.RandomState(seed) for an integer seed (init_genrand). */
void mt19937_seed(Mt19937 *m, uint32_t seed);
/* The next 32-bit output. */
uint32_t mt19937_next(Mt19937 *m);
/* A uniform integer in [0, max] by masked rejection, as numpy's random_interval. */
uint32_t mt19937_interval(Mt19937 *m, uint32_t max);
/* perm[0..n) = RandomState.permutation(n). */
void mt19937_permutation(Mt19937 *m, int64_t n, int64_t *perm);

#endif
