/* Helpers shared by the Check suites. */
#ifndef NN_TEST_SUPPORT_H
#define NN_TEST_SUPPORT_H

#include <check.h>
#include <stdlib.h>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"

/* main() for a suite file: runs suite_fn's suite and exits non-zero on failure. */
#define TEST_MAIN(suite_fn)                                                                                            \
    int main(void) {                                                                                                   \
        SRunner *sr = srunner_create(suite_fn());                                                                      \
        srunner_run_all(sr, CK_NORMAL);                                                                                \
        int failed = srunner_ntests_failed(sr);                                                                        \
        srunner_free(sr);                                                                                              \
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;                                                                   \
    }

/* Whether tests run in forked children (not with CK_FORK=no, as under valgrind):
 * tests that expect an abort are only added when they do. */
int test_forking(void);
/* Runs fn in a forked child with its stderr captured into msg (NUL-terminated, cut to cap);
 * returns whether the child was killed by SIGABRT, as NN_CHECK does on misuse. */
int test_abort_message(void (*fn)(void), char *msg, size_t cap);
/* Whether to shrink the work (NN_TEST_QUICK=1, set by make valgrind). */
int test_quick(void);
/* An owned tensor of normal values (mean 0, std 1) from a generator seeded with seed. */
Tensor *test_randn(uint64_t seed, int ndim, const int64_t *shape);
/* An owned tensor of uniform values in [lo, hi). */
Tensor *test_uniform(uint64_t seed, int ndim, const int64_t *shape, real lo, real hi);
/* Owned leaf that requires grad. */
Tensor *test_param(Tensor *t);
/* Runs gradcheck with the build's defaults and fails the test (naming what) if it does not pass. */
void test_gradcheck(const char *what, GradcheckFn f, void *ctx, int n, Tensor *const *inputs);
/* The same with another finite-difference step (for functions with a higher noise floor). */
void test_gradcheck_eps(const char *what, GradcheckFn f, void *ctx, int n, Tensor *const *inputs, double eps);
/* The same, checking only about max_elems elements of each input (for inputs past the parallel
 * thresholds), with step eps (0: the default; large outputs need a larger step to stay above the
 * rounding noise of sum(W * f)). */
void test_gradcheck_sampled(const char *what, GradcheckFn f, void *ctx, int n, Tensor *const *inputs, int64_t max_elems,
                            double eps);
/* Frees n owned tensors. */
void test_free_all(int n, Tensor *const *ts);
/* Runs fn(ctx) in a forked child whose stderr is captured into out (at most size - 1 bytes, NUL
 * terminated); returns the child's wait status (fn returning means exit 0). For tests that a misuse
 * aborts, or that a sanitizer reports, with the right message. */
int test_run_forked(void (*fn)(void *ctx), void *ctx, char *out, size_t size);
/* Asserts |a - b| <= atol + rtol |b| element by element over n values. */
void test_assert_close(const char *what, const real *a, const real *b, int64_t n, double atol, double rtol);

#endif
