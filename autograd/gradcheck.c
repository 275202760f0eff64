#include "autograd/gradcheck.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/memory.h"

GradcheckOptions gradcheck_defaults(void) {
    GradcheckOptions o = {.seed = 1234, .max_elems = 0, .verbose = 1};
    if (sizeof(real) == sizeof(double)) {
        o.eps = 1e-6;
        o.atol = 1e-7;
        o.rtol = 1e-5;
    } else {
        o.eps = 1e-2;
        o.atol = 1e-3;
        o.rtol = 1e-2;
    }
    return o;
}

/* sum(W * f(inputs)) in double, with nothing recorded. */
static double weighted_value(GradcheckFn f, void *ctx, Graph *g, Tensor *const *inputs, const real *w) {
    graph_reset(g);
    int prev = ag_set_grad_enabled(0);
    Tensor *y = f(g, inputs, ctx);
    ag_set_grad_enabled(prev);
    double acc = 0;
    for (int64_t i = 0; i < y->numel; i++) acc += (double)w[i] * (double)y->data[tensor_offset_of(y, i)];
    return acc;
}

/* What both checks start from: the inputs' gradients set aside (restored by
 * analytic_end), the weights W of L = sum(W * f) and the analytic gradient of L. */
typedef struct {
    Graph *g;
    Tensor **saved; /* (n) the inputs' gradients as found */
    real *w;        /* (numel of f) */
} Analytic;

static Analytic analytic_begin(GradcheckFn f, void *ctx, int n, Tensor *const *inputs, uint64_t seed) {
    for (int k = 0; k < n; k++)
        NN_CHECK(tensor_is_contiguous(inputs[k]) && inputs[k]->node == NULL, "gradcheck",
                 "input %d must be a contiguous leaf (make views inside the function under test)", k);
    Analytic a = {graph_new(), nn_calloc((size_t)(n ? n : 1), sizeof(Tensor *)), NULL};
    for (int k = 0; k < n; k++) {
        a.saved[k] = inputs[k]->grad;
        inputs[k]->grad = NULL;
    }
    /* backward from y with dy = W */
    Tensor *y = f(a.g, inputs, ctx);
    Rng rng = rng_new(seed, 0);
    a.w = nn_malloc((size_t)(y->numel ? y->numel : 1) * sizeof *a.w);
    for (int64_t i = 0; i < y->numel; i++) a.w[i] = (real)(2 * rng_uniform(&rng) - 1);
    if (y->requires_grad) {
        Tensor dy = tensor_wrap(a.w, y->ndim, y->shape);
        ag_backward_with(a.g, y, &dy);
    }
    return a;
}

static void analytic_end(Analytic *a, int n, Tensor *const *inputs) {
    for (int k = 0; k < n; k++) {
        tensor_free(inputs[k]->grad);
        inputs[k]->grad = a->saved[k];
    }
    free(a->saved);
    free(a->w);
    graph_free(a->g);
}

/* Records one comparison; ratio > 1 (or NaN) is a failure. */
static void judge(GradcheckResult *res, double ratio, int input, int64_t index, double analytic, double numeric,
                  int verbose) {
    res->checked++;
    res->nonzero += analytic != 0 || numeric != 0;
    if (!(ratio <= 1)) { /* also catches NaN */
        res->failures++;
        res->passed = 0;
        if (verbose && res->failures <= 5 && input >= 0)
            fprintf(stderr, "gradcheck: input %d element %lld: analytic %.9g, numeric %.9g\n", input,
                    (long long)index, analytic, numeric);
        else if (verbose && res->failures <= 5)
            fprintf(stderr, "gradcheck: direction %lld: analytic %.12g, numeric %.12g (%.3g times the tolerance)\n",
                    (long long)index, analytic, numeric, ratio);
    }
    if (!(ratio <= res->worst_ratio)) {
        res->worst_ratio = ratio;
        res->worst_input = input;
        res->worst_index = index;
        res->worst_analytic = analytic;
        res->worst_numeric = numeric;
    }
}

/* A check that compared nothing, or only zeros on both sides, has shown nothing: it does not pass. */
static void refuse_empty(GradcheckResult *res, const char *what, int verbose, int expect_zero) {
    if (res->checked > 0 && (res->nonzero > 0 || expect_zero)) return;
    res->passed = 0;
    if (!verbose) return;
    if (res->checked == 0)
        fprintf(stderr, "%s: nothing was checked: no input requires grad (tensor_set_requires_grad) or none has "
                        "elements; not a pass\n", what);
    else
        fprintf(stderr, "%s: all %lld comparisons were 0 on both sides (the analytic and the numeric gradient): "
                        "nothing was shown; does f depend on its inputs, and is the program linked to the library "
                        "of its precision only (-lnn, or -lnn64 with -DNN_DOUBLE)? Not a pass\n", what,
                (long long)res->checked);
}

GradcheckResult gradcheck(GradcheckFn f, void *ctx, int n, Tensor *const *inputs, const GradcheckOptions *opt) {
    GradcheckOptions o = opt ? *opt : gradcheck_defaults();
    GradcheckResult res = {.passed = 1, .worst_input = -1, .worst_index = -1};
    Analytic an = analytic_begin(f, ctx, n, inputs, o.seed);
    for (int k = 0; k < n; k++) {
        Tensor *x = inputs[k];
        if (!x->requires_grad) continue;
        const real *analytic = x->grad ? x->grad->data : NULL; /* NULL: no gradient reached x */
        int64_t count = x->numel, step = 1;
        if (o.max_elems > 0 && count > o.max_elems) step = (count + o.max_elems - 1) / o.max_elems;
        for (int64_t i = 0; i < count; i += step) {
            real orig = x->data[i];
            x->data[i] = (real)(orig + o.eps);
            double up = weighted_value(f, ctx, an.g, inputs, an.w);
            x->data[i] = (real)(orig - o.eps);
            double down = weighted_value(f, ctx, an.g, inputs, an.w);
            x->data[i] = orig;
            /* the step actually taken, after rounding to real */
            double h = (double)(real)(orig + o.eps) - (double)(real)(orig - o.eps);
            double numeric = (up - down) / h;
            double a = analytic ? analytic[i] : 0;
            judge(&res, fabs(a - numeric) / (o.atol + o.rtol * fabs(numeric)), k, i, a, numeric, o.verbose);
        }
    }
    analytic_end(&an, n, inputs);
    refuse_empty(&res, "gradcheck", o.verbose, o.expect_zero);
    return res;
}

DirectionalOptions gradcheck_directional_defaults(void) {
    DirectionalOptions o = {.directions = 4, .seed = 1234, .verbose = 1};
    if (sizeof(real) == sizeof(double)) {
        o.eps = 1e-5;
        o.atol = 1e-10;
        o.rtol = 1e-6;
    } else {
        o.eps = 1e-2;
        o.atol = 1e-4;
        o.rtol = 1e-2;
    }
    return o;
}

GradcheckResult gradcheck_directional(GradcheckFn f, void *ctx, int n, Tensor *const *inputs,
                                      const DirectionalOptions *opt) {
    DirectionalOptions o = opt ? *opt : gradcheck_directional_defaults();
    GradcheckResult res = {.passed = 1, .worst_input = -1, .worst_index = -1};
    Analytic an = analytic_begin(f, ctx, n, inputs, o.seed);
    /* per input that requires grad: its values, and the inputs of the two evaluations */
    real **orig = nn_calloc((size_t)(3 * n + 1), sizeof *orig), **up = orig + n, **down = orig + 2 * n;
    for (int k = 0; k < n; k++)
        if (inputs[k]->requires_grad) {
            size_t bytes = (size_t)(inputs[k]->numel ? inputs[k]->numel : 1) * sizeof(real);
            orig[k] = nn_malloc(bytes);
            up[k] = nn_malloc(bytes);
            down[k] = nn_malloc(bytes);
            memcpy(orig[k], inputs[k]->data, (size_t)inputs[k]->numel * sizeof(real));
        }
    for (int d = 0; d < o.directions; d++) {
        /* x +- eps v for every input at once: up[k] and down[k] hold the perturbed inputs, and the
         * analytic side uses the steps actually taken after rounding to real */
        double analytic = 0, terms = 0;
        for (int k = 0; k < n; k++) {
            Tensor *x = inputs[k];
            if (!orig[k]) continue;
            Rng rng = rng_new(o.seed, 1000 + (uint64_t)d * 4096 + (uint64_t)k);
            const real *gk = x->grad ? x->grad->data : NULL;
            uint32_t bits = 0;
            for (int64_t i = 0; i < x->numel; i++) {
                if (i % 32 == 0) bits = rng_u32(&rng);
                double step = (bits >> (i % 32)) & 1 ? o.eps : -o.eps; /* v_i = +-1 */
                up[k][i] = (real)(orig[k][i] + step);
                down[k][i] = (real)(orig[k][i] - step);
                double t = (gk ? (double)gk[i] : 0) * ((double)up[k][i] - (double)down[k][i]) / (2 * o.eps);
                analytic += t;
                terms += t * t;
            }
        }
        double value[2];
        for (int side = 0; side < 2; side++) {
            for (int k = 0; k < n; k++)
                if (orig[k]) memcpy(inputs[k]->data, side ? down[k] : up[k], (size_t)inputs[k]->numel * sizeof(real));
            value[side] = weighted_value(f, ctx, an.g, inputs, an.w);
        }
        for (int k = 0; k < n; k++)
            if (orig[k]) memcpy(inputs[k]->data, orig[k], (size_t)inputs[k]->numel * sizeof(real));
        double numeric = (value[0] - value[1]) / (2 * o.eps);
        judge(&res, fabs(analytic - numeric) / (o.atol + o.rtol * sqrt(terms)), -1, d, analytic, numeric, o.verbose);
    }
    for (int k = 0; k < 3 * n; k++) free(orig[k]);
    free(orig);
    analytic_end(&an, n, inputs);
    refuse_empty(&res, "gradcheck_directional", o.verbose, o.expect_zero);
    return res;
}
