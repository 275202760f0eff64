/* Whether a model's scores can be ranked. A model whose weights are NaN, or
 * overflow to infinity on the way, gives NaN or infinite scores, and a
 * comparison of such scores counts hits and misses arbitrarily (every NaN
 * comparison is false): eval, predict and serve refuse such a model instead
 * of reporting its ranks. */
#ifndef NN_MODELS_SASREC_SCORE_CHECK_H
#define NN_MODELS_SASREC_SCORE_CHECK_H

#include <stdint.h>

#include "tensor/tensor.h"

/* 1 if the n scores are all finite numbers, else 0. */
int score_check_finite(const real *scores, int64_t n);
/* 1 if row[answer] and row[items[k]] (k < n) are all finite, else 0: the scores a sampled ranking reads. */
int score_check_finite_at(const real *row, int64_t answer, const int32_t *items, int64_t n);

#endif
