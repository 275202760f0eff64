/* Constants and draws that carry no gradient: arange and multinomial sampling. */
#include <math.h>

#include "autograd/op.h"
#include "autograd/ops.h"
#include "base/error.h"

Tensor *ag_arange(Graph *g, double start, double end, double step) {
    NN_CHECK(step != 0 && isfinite(start) && isfinite(end) && isfinite(step), "arange",
             "needs finite bounds and a nonzero step, got start %g, end %g, step %g", start, end, step);
    double span = ceil((end - start) / step);
    NN_CHECK(span < 9.2e18, "arange", "start %g, end %g, step %g make %g elements: more than an int64_t counts", start,
             end, step, span);
    int64_t n = span > 0 ? (int64_t)span : 0;
    Tensor *y = ag_new(g, NN_SHAPE(n));
    for (int64_t i = 0; i < n; i++) y->data[i] = (real)(start + (double)i * step); /* as torch: in double, then cast */
    return y;
}

/* Index of the first cumulative weight above u (cum ascending, cum[n - 1] > u). */
static int64_t search(const double *cum, int64_t n, double u) {
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cum[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Cumulative sums of w[0..n) into cum; returns the total. */
static double cumulate(const double *w, int64_t n, double *cum) {
    double total = 0;
    for (int64_t c = 0; c < n; c++) cum[c] = total += w[c];
    return total;
}

const int64_t *ag_multinomial(Graph *g, const Tensor *weights, int64_t n_samples, int replacement, Rng *rng) {
    AG_CHECK_INPUTS(g, "multinomial", weights);
    NN_CHECK(weights->ndim == 1 || weights->ndim == 2, "multinomial",
             "weights %s must be (categories) or (rows, categories)", shape_str(weights->ndim, weights->shape).s);
    int64_t C = weights->shape[weights->ndim - 1], R = weights->ndim == 2 ? weights->shape[0] : 1;
    NN_CHECK(C > 0 && n_samples >= 0, "multinomial", "needs categories and n_samples >= 0 (got %lld)",
             (long long)n_samples);
    const real *w = ag_row_major(g, weights);
    double *wd = arena_alloc(graph_arena(g), (size_t)C * sizeof *wd);
    double *cum = arena_alloc(graph_arena(g), (size_t)C * sizeof *cum);
    int64_t count = R * n_samples;
    int64_t *out = arena_alloc(graph_arena(g), (size_t)(count > 0 ? count : 1) * sizeof *out);
    for (int64_t r = 0; r < R; r++) {
        int64_t positive = 0;
        for (int64_t c = 0; c < C; c++) {
            real v = w[r * C + c];
            NN_CHECK(v >= 0 && isfinite(v), "multinomial", "row %lld: weight %lld is %g (must be finite and >= 0)",
                     (long long)r, (long long)c, (double)v);
            positive += v > 0;
            wd[c] = v;
        }
        NN_CHECK(positive > 0, "multinomial", "row %lld: every weight is zero", (long long)r);
        NN_CHECK(replacement || n_samples <= positive, "multinomial",
                 "row %lld: %lld samples without replacement, but only %lld categories have weight", (long long)r,
                 (long long)n_samples, (long long)positive);
        double total = cumulate(wd, C, cum);
        for (int64_t s = 0; s < n_samples; s++) {
            /* the first category whose cumulative weight exceeds u: zero weights are never it */
            int64_t c = search(cum, C, rng_uniform(rng) * total);
            while (wd[c] == 0) c--; /* u rounded up to the total: the last category with weight */
            out[r * n_samples + s] = c;
            if (!replacement) { /* category c leaves the draw */
                wd[c] = 0;
                total = cumulate(wd, C, cum);
            }
        }
    }
    return out;
}
