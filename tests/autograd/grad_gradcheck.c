/* The gradient checkers themselves (autograd/gradcheck.h), on the double
 * build: each accepts an exact backward and rejects one that is 1% off, the
 * directional check at SASRec's activation size (256, 50, 64) even when only
 * one row of 64 values is wrong. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "autograd/op.h"
#include "tests/support.h"

/* exp with a backward that multiplies the gradient of elements [from, to) by
 * factor: 1 is exact, 1.01 a planted 1% error. */
typedef struct {
    real factor;
    int64_t from, to;
} Planted;

static void planted_exp_backward(Graph *g, Node *n) {
    const Planted *p = n->saved;
    real *gx = ag_grad(g, n->in[0])->data;
    for (int64_t i = 0; i < n->out->numel; i++) {
        real d = n->out->grad->data[i] * n->out->data[i];
        gx[i] += i >= p->from && i < p->to ? d * p->factor : d;
    }
}

static Tensor *f_planted(Graph *g, Tensor *const *in, void *ctx) {
    Tensor *x = in[0], *y = ag_new(g, x->ndim, x->shape);
    for (int64_t i = 0; i < x->numel; i++) y->data[i] = exp(x->data[i]);
    Node *n = ag_record(g, "planted_exp", planted_exp_backward, y, 1, &x);
    if (n) n->saved = ctx;
    return y;
}

START_TEST(gradcheck_rejects_a_one_percent_error) {
    Planted p = {1.01, 0, 12};
    Tensor *x = test_param(test_randn(180, NN_SHAPE(3, 4)));
    GradcheckOptions o = gradcheck_defaults();
    o.verbose = 0;
    GradcheckResult r = gradcheck(f_planted, &p, 1, &x, &o);
    ck_assert_msg(!r.passed, "a backward that is 1%% off passed the check (worst ratio %g)", r.worst_ratio);
    ck_assert_int_eq(r.failures, 12);
    ck_assert(r.worst_ratio > 10); /* not a near miss: the tolerance is far tighter than 1% */
    tensor_free(x);
}
END_TEST

/* A function that ignores its input: every comparison is 0 against 0, which shows nothing. */
static Tensor *f_constant(Graph *g, Tensor *const *in, void *ctx) {
    (void)in, (void)ctx;
    return ag_zeros(g, NN_SHAPE(3));
}

START_TEST(a_check_that_compared_nothing_does_not_pass) {
    Tensor *x = test_param(test_randn(181, NN_SHAPE(3, 4)));
    GradcheckOptions o = gradcheck_defaults();
    o.verbose = 0;
    DirectionalOptions d = gradcheck_directional_defaults();
    d.verbose = 0;
    GradcheckResult r = gradcheck(f_constant, NULL, 1, &x, &o);
    ck_assert_msg(!r.passed && r.checked == 12 && r.nonzero == 0, "only zeros compared, yet passed");
    r = gradcheck_directional(f_constant, NULL, 1, &x, &d);
    ck_assert_msg(!r.passed && r.nonzero == 0, "only zeros compared (directional), yet passed");
    tensor_set_requires_grad(x, 0); /* no input requires grad: nothing compared at all */
    Planted p = {1, 0, 0};
    r = gradcheck(f_planted, &p, 1, &x, &o);
    ck_assert_msg(!r.passed && r.checked == 0, "nothing compared, yet passed");
    tensor_set_requires_grad(x, 1); /* and the same input with a real gradient passes */
    r = gradcheck(f_planted, &p, 1, &x, &o);
    ck_assert(r.passed && r.nonzero == 12);
    tensor_free(x);
}
END_TEST

/* SASRec's activations: B 256, L 50, H 64 (a quarter of the rows under valgrind). */
static Tensor *sasrec_sized(uint64_t seed) {
    return test_param(test_uniform(seed, NN_SHAPE(test_quick() ? 64 : 256, 50, 64), -1, 1));
}

static GradcheckResult directional(const char *what, Planted *p, Tensor *x) {
    DirectionalOptions o = gradcheck_directional_defaults();
    o.verbose = 0;
    GradcheckResult r = gradcheck_directional(f_planted, p, 1, &x, &o);
    const char *report = getenv("GRADCHECK_REPORT");
    if (report && strcmp(report, "1") == 0)
        printf("directional %-48s worst %.3g of the tolerance, %lld of %lld directions failed\n", what, r.worst_ratio,
               (long long)r.failures, (long long)r.checked);
    return r;
}

START_TEST(directional_check_accepts_an_exact_gradient_with_margin) {
    Tensor *x = sasrec_sized(181);
    Planted p = {1, 0, 0};
    GradcheckResult r = directional("exact exp (256, 50, 64)", &p, x);
    ck_assert_int_eq(r.checked, gradcheck_directional_defaults().directions);
    /* finite differences in double are far more accurate than the tolerance needs */
    ck_assert_msg(r.passed && r.worst_ratio < 0.01, "an exact gradient: worst %g of the tolerance", r.worst_ratio);
    tensor_free(x);
}
END_TEST

START_TEST(directional_check_rejects_a_one_percent_error) {
    Tensor *x = sasrec_sized(182);
    Planted p = {1.01, 0, x->numel};
    GradcheckResult r = directional("exp 1% off everywhere", &p, x);
    ck_assert_msg(r.failures == r.checked && r.worst_ratio > 100, "%lld of %lld directions failed, worst ratio %g",
                  (long long)r.failures, (long long)r.checked, r.worst_ratio);
    tensor_free(x);
}
END_TEST

START_TEST(directional_check_rejects_a_one_percent_error_in_one_row) {
    Tensor *x = sasrec_sized(183);
    int64_t row = x->numel / 64 / 2 + 1; /* one row of 64 among 12800 (3200 under valgrind) */
    Planted p = {1.01, row * 64, row * 64 + 64};
    GradcheckResult r = directional("exp 1% off in one row of 64", &p, x);
    ck_assert_msg(!r.passed && r.worst_ratio > 10, "a 1%% error in one row: worst ratio %g", r.worst_ratio);
    tensor_free(x);
}
END_TEST

static Suite *grad_gradcheck_suite(void) {
    Suite *s = suite_create("grad_gradcheck");
    TCase *tc = tcase_create("checkers");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, gradcheck_rejects_a_one_percent_error);
    tcase_add_test(tc, a_check_that_compared_nothing_does_not_pass);
    tcase_add_test(tc, directional_check_accepts_an_exact_gradient_with_margin);
    tcase_add_test(tc, directional_check_rejects_a_one_percent_error);
    tcase_add_test(tc, directional_check_rejects_a_one_percent_error_in_one_row);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(grad_gradcheck_suite)
