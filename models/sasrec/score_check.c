#include "models/sasrec/score_check.h"

#include <math.h>

int score_check_finite(const real *scores, int64_t n) {
    int ok = 1;
    for (int64_t i = 0; i < n; i++) ok &= isfinite(scores[i]) != 0; /* no early exit: the loop vectorizes */
    return ok;
}

int score_check_finite_at(const real *row, int64_t answer, const int32_t *items, int64_t n) {
    int ok = isfinite(row[answer]) != 0;
    for (int64_t k = 0; k < n; k++) ok &= isfinite(row[items[k]]) != 0;
    return ok;
}
