/* Selecting the K best-scored items without sorting them all. */
#ifndef NN_MODELS_SASREC_TOPK_H
#define NN_MODELS_SASREC_TOPK_H

#include <stdint.h>

#include "tensor/real.h"

/* The indices of the k largest scores[1..n) (index 0, padding, never), skipping
 * those with skip[i] != 0 (skip may be NULL), best first; ties go to the lower
 * index. Writes at most k indices into out and returns how many. O(n log k). */
int64_t topk_select(const real *scores, const unsigned char *skip, int64_t n, int64_t k, int64_t *out);

#endif
