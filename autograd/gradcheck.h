/* Gradient checks: compare the gradients that backward computes with central
 * finite differences, for ops and whole models alike. Two kinds:
 *  - gradcheck: element by element, two evaluations of f per element; for
 *    small shapes (a few hundred elements);
 *  - gradcheck_directional: along a few random directions v through all the
 *    inputs at once, two evaluations of f per direction; for large shapes
 *    (SASRec's (256, 50, 64) activations cost a few forward passes).
 *
 * The scalar that is differentiated is L = sum(W * f(inputs)) with W fixed
 * random weights in [-1, 1] (a plain sum cannot see, for example, a softmax
 * backward that forgets the Jacobian's off-diagonal terms). Element x_i is
 * judged wrong when
 *     |analytic_i - numeric_i| > atol + rtol * |numeric_i|.
 * L is accumulated in double. Link against the double build (libnn64.a, see
 * README) to check with tolerances that catch a 0.01% error; in the float
 * build the defaults are looser (about 1%). */
#ifndef NN_AUTOGRAD_GRADCHECK_H
#define NN_AUTOGRAD_GRADCHECK_H

#include <stdint.h>

#include "autograd/autograd.h"

/* The function under test: builds f(inputs) from autograd ops in g. It must be
 * deterministic (fix dropout's generator inside it). */
typedef Tensor *(*GradcheckFn)(Graph *g, Tensor *const *inputs, void *ctx);

typedef struct {
    double eps;        /* finite-difference step */
    double atol, rtol; /* tolerance, see above */
    uint64_t seed;     /* seed of the weights W */
    int64_t max_elems; /* elements per input to check (0: all); others are skipped */
    int verbose;       /* print each mismatch to stderr */
    int expect_zero;   /* 1: the gradient is 0 everywhere by design (a constant of the inputs), so a check
                          that compared only zeros passes; 0 (default): such a check has shown nothing, fails */
} GradcheckOptions;

typedef struct {
    int passed;         /* every checked element within tolerance, at least one checked, and not every one 0
                           on both sides (a check that compared only zeros has shown nothing) */
    int64_t checked;    /* elements compared */
    int64_t nonzero;    /* comparisons where the analytic or the numeric side was not 0 */
    int64_t failures;   /* elements out of tolerance */
    double worst_ratio; /* max of |a - n| / (atol + rtol |n|): fails above 1 */
    int worst_input;    /* where the worst ratio was seen */
    int64_t worst_index;
    double worst_analytic, worst_numeric;
} GradcheckResult;

/* Defaults for this build's precision: eps 1e-6, atol 1e-7, rtol 1e-5 for
 * double; eps 1e-2, atol 1e-3, rtol 1e-2 for float. */
GradcheckOptions gradcheck_defaults(void);

/* Checks d sum(W f) / d inputs[k] for every input that requires grad. Inputs
 * must be owned contiguous tensors (tensor_zeros, ...). Their .grad is left
 * as it was found. opt may be NULL for the defaults. */
GradcheckResult gradcheck(GradcheckFn f, void *ctx, int n, Tensor *const *inputs, const GradcheckOptions *opt);

/* The directional check. For each of `directions` random v (random signs
 * +-1, over every input that requires grad at once) it compares
 *     numeric  = (L(x + eps v) - L(x - eps v)) / 2 eps
 *     analytic = <grad L, v> = sum_i g_i v_i
 * and fails when |analytic - numeric| > atol + rtol * S, where
 * S = sqrt(sum_i (g_i v_i)^2) is the size of the sum's terms: the typical
 * |analytic| for a random v, but never small by cancellation. In double the
 * numeric side is good to about 1e-9 S, so the default rtol of 1e-6 leaves a
 * wide margin (the suites' checks stay below 0.03 of it), and a 1% error in a
 * fraction p of the gradient moves the difference by about 0.01 sqrt(p) S:
 * wrong everywhere, 8000 times the tolerance; wrong in one row of 64 among
 * SASRec's 819200 activations (p = 8e-5), about 100 times
 * (tests/autograd/grad_gradcheck.c). The step's cubic term grows with the
 * number of inputs moved together and the depth of f: 1e-5 suits single ops,
 * a whole model needs about 1e-7. L, W and the inputs are as for gradcheck;
 * f must be smooth along v (no input within eps of a kink of relu or max). */
typedef struct {
    double eps;       /* step along v */
    double atol;      /* absolute floor of the tolerance */
    double rtol;      /* relative to S, see above */
    int directions;   /* random directions */
    uint64_t seed;    /* seed of W and of the directions */
    int verbose;      /* print each mismatch to stderr */
    int expect_zero;  /* as GradcheckOptions.expect_zero */
} DirectionalOptions;

/* Defaults: eps 1e-5, atol 1e-10, rtol 1e-6, 4 directions for double; eps
 * 1e-2, atol 1e-4, rtol 1e-2 for float. */
DirectionalOptions gradcheck_directional_defaults(void);

/* The directional check; the result counts directions (checked, failures,
 * worst_index is a direction, worst_input -1). opt may be NULL. */
GradcheckResult gradcheck_directional(GradcheckFn f, void *ctx, int n, Tensor *const *inputs,
                                      const DirectionalOptions *opt);

#endif
