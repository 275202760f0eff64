/* Helpers shared by the Check suites. */
#ifndef NN_TEST_SUPPORT_H
#define NN_TEST_SUPPORT_H

#include <check.h>
#include <stdlib.h>

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "nn/module.h"

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
/* Runs fn in a forked child and fails the test (naming what) unless the child aborts (SIGABRT) with a
 * message holding each of the NULL-terminated strings that follow (the op, the shapes, what to do). */
void test_assert_aborts(const char *what, void (*fn)(void), ...);
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
/* test_gradcheck for a function whose gradient is 0 everywhere by design (GradcheckOptions.expect_zero). */
void test_gradcheck_zero(const char *what, GradcheckFn f, void *ctx, int n, Tensor *const *inputs);
/* The same with another finite-difference step (for functions with a higher noise floor). */
void test_gradcheck_eps(const char *what, GradcheckFn f, void *ctx, int n, Tensor *const *inputs, double eps);
/* Runs gradcheck_directional with the build's defaults (four directions; one under NN_TEST_QUICK, whose runs
 * check memory and lines) and step eps unless 0, and fails the test (naming what) if it does not pass;
 * GRADCHECK_REPORT=1 prints how close each check came to its tolerance. */
void test_directional(const char *what, GradcheckFn f, void *ctx, int n, Tensor *const *inputs, double eps);
/* test_directional at 1 and at 2 threads (nn_set_threads), restoring the thread count. */
void test_directional_threads(const char *what, GradcheckFn f, void *ctx, int n, Tensor *const *inputs, double eps);
/* Inputs for a check of a layer: x (if not NULL) then every parameter of m; returns how many. */
int test_module_inputs(Tensor **inputs, Tensor *x, const Module *m);
/* Every parameter of m drawn from N(0, std), so that no gradient is trivially zero or one. */
void test_randomise(Module *m, uint64_t seed, real std);

/* A left-padded batch of B sequences of L with SASRec-like lengths (every fourth full, the others
 * uniform in 1..L), item ids in [1, n_items] at real positions and 0 at padding. */
typedef struct {
    int64_t B, L, rows_packed;
    int64_t *dense_off;       /* (B + 1) b * L */
    int64_t *packed_off;      /* (B + 1) rows of the real positions of each sequence */
    unsigned char *key_valid; /* (B * L) 1 at real positions */
    real *istarget;           /* (B * L) the same as 0/1 */
    int64_t *ids;             /* (B * L) */
    int64_t *packed_ids;      /* (rows_packed) the ids of the real positions */
} TestBatch;

/* A batch drawn from seed; free it with test_batch_free. */
TestBatch test_batch(int64_t B, int64_t L, int64_t n_items, uint64_t seed);
/* Frees what test_batch allocated. */
void test_batch_free(TestBatch *b);
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
