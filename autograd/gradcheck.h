/* Gradient check: compares the gradients that backward computes with central
 * finite differences, for ops and whole models alike.
 *
 * The scalar that is differentiated is L = sum(W * f(inputs)) with W fixed
 * random weights in [-1, 1] (a plain sum cannot see, for example, a softmax
 * backward that forgets the Jacobian's off-diagonal terms). Element x_i is
 * judged wrong when
 *     |analytic_i - numeric_i| > atol + rtol * |numeric_i|.
 * L is accumulated in double. Link against the double build (libnn64.a, see
 * README) to check with tolerances that catch a 0.01% error; in the float
 * build the defaults are looser (about 1%). */
#ifndef NN_GRADCHECK_H
#define NN_GRADCHECK_H

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
} GradcheckOptions;

typedef struct {
    int passed;         /* every checked element within tolerance */
    int64_t checked;    /* elements compared */
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

#endif
