#include "autograd/gradcheck.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

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

GradcheckResult gradcheck(GradcheckFn f, void *ctx, int n, Tensor *const *inputs, const GradcheckOptions *opt) {
    GradcheckOptions o = opt ? *opt : gradcheck_defaults();
    GradcheckResult res = {.passed = 1, .worst_input = -1, .worst_index = -1};
    for (int k = 0; k < n; k++)
        NN_CHECK(tensor_is_contiguous(inputs[k]) && inputs[k]->node == NULL, "gradcheck",
                 "input %d must be a contiguous leaf (make views inside the function under test)", k);

    /* Keep the inputs' gradients as found; work on fresh ones. */
    Tensor **saved = nn_calloc((size_t)n, sizeof *saved);
    for (int k = 0; k < n; k++) {
        saved[k] = inputs[k]->grad;
        inputs[k]->grad = NULL;
    }

    /* Analytic: backward from y with dy = W. */
    Graph *g = graph_new();
    Tensor *y = f(g, inputs, ctx);
    Rng rng = rng_new(o.seed, 0);
    real *w = nn_malloc((size_t)y->numel * sizeof *w);
    for (int64_t i = 0; i < y->numel; i++) w[i] = (real)(2 * rng_uniform(&rng) - 1);
    if (y->requires_grad) {
        Tensor dy = tensor_wrap(w, y->ndim, y->shape);
        ag_backward_with(g, y, &dy);
    }

    for (int k = 0; k < n; k++) {
        Tensor *x = inputs[k];
        if (!x->requires_grad) continue;
        const real *analytic = x->grad ? x->grad->data : NULL; /* NULL: no gradient reached x */
        int64_t count = x->numel, step = 1;
        if (o.max_elems > 0 && count > o.max_elems) step = (count + o.max_elems - 1) / o.max_elems;
        for (int64_t i = 0; i < count; i += step) {
            real orig = x->data[i];
            x->data[i] = (real)(orig + o.eps);
            double up = weighted_value(f, ctx, g, inputs, w);
            x->data[i] = (real)(orig - o.eps);
            double down = weighted_value(f, ctx, g, inputs, w);
            x->data[i] = orig;
            /* the step actually taken, after rounding to real */
            double h = (double)(real)(orig + o.eps) - (double)(real)(orig - o.eps);
            double numeric = (up - down) / h;
            double a = analytic ? analytic[i] : 0;
            double ratio = fabs(a - numeric) / (o.atol + o.rtol * fabs(numeric));
            res.checked++;
            if (!(ratio <= 1)) { /* also catches NaN */
                res.failures++;
                res.passed = 0;
                if (o.verbose && res.failures <= 5)
                    fprintf(stderr, "gradcheck: input %d element %lld: analytic %.9g, numeric %.9g\n", k, (long long)i,
                            a, numeric);
            }
            if (!(ratio <= res.worst_ratio)) {
                res.worst_ratio = ratio;
                res.worst_input = k;
                res.worst_index = i;
                res.worst_analytic = a;
                res.worst_numeric = numeric;
            }
        }
    }

    for (int k = 0; k < n; k++) {
        tensor_free(inputs[k]->grad);
        inputs[k]->grad = saved[k];
    }
    free(saved);
    free(w);
    graph_free(g);
    return res;
}
