/* Searching a sorted array: the one lower bound that the data sets (an item in a user's sorted items) and
 * the evaluation (how many scores reach the target's) share. */
#ifndef NN_MODELS_SASREC_DATA_SORTED_H
#define NN_MODELS_SASREC_DATA_SORTED_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/real.h"

/* The first index of sorted[0..n) (ascending by cmp, elements of size bytes) whose element is not below
 * *key (cmp as qsort's: negative for "below"); n when there is none. Inline, so that cmp is too. */
static inline int64_t sorted_lower_bound(const void *sorted, int64_t n, size_t size, const void *key,
                                         int (*cmp)(const void *, const void *)) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cmp((const char *)sorted + (size_t)mid * size, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* qsort's comparison of two int32_t. */
static inline int sorted_cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* qsort's comparison of two reals: below only when x < y (a NaN is below nothing, as with <). */
static inline int sorted_cmp_real(const void *a, const void *b) {
    real x = *(const real *)a, y = *(const real *)b;
    return (x > y) - (x < y);
}

#endif
