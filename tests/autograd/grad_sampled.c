/* Gradient checks of the losses over shared candidates (autograd/op_sampled.c)
 * on the double build: sampled softmax with and without the log-Q correction,
 * and gBCE, with ignored rows, accidental hits, repeated candidates, and a
 * candidate count past the 16-lane loops (a vector body and a tail). */
#include <math.h>

#include "tests/support.h"

enum { R = 6, K = 37 };

/* Row 2 is ignored (target 0); candidates 3 and 20 are row 0's and row 4's targets (accidental hits);
 * candidates 5 and 6 repeat one item. */
static const int64_t TARGET[R] = {7, 12, 0, 3, 9, 40};

static void candidate_ids(int64_t *ids) {
    for (int k = 0; k < K; k++) ids[k] = 13 + (k * 5) % 29;
    ids[3] = 7, ids[20] = 9, ids[6] = ids[5];
}

typedef struct {
    int64_t ids[K];
    real pos_logq[R], neg_logq[K];
    int corrected; /* sampled softmax: with the log-Q corrections */
    real beta;     /* gBCE */
} Case;

static Case make_case(int corrected, real beta) {
    Case c = {.corrected = corrected, .beta = beta};
    candidate_ids(c.ids);
    Rng r = rng_new(5, 0);
    for (int i = 0; i < R; i++) c.pos_logq[i] = (real)(-3 - 2 * rng_uniform(&r));
    for (int k = 0; k < K; k++) c.neg_logq[k] = (real)(-3 - 2 * rng_uniform(&r));
    return c;
}

static Tensor *f_sampled(Graph *g, Tensor *const *in, void *ctx) {
    const Case *c = ctx;
    return ag_sampled_softmax(g, in[0], in[1], TARGET, R, c->ids, K, 0, c->corrected ? c->pos_logq : NULL,
                              c->corrected ? c->neg_logq : NULL);
}

static Tensor *f_gbce(Graph *g, Tensor *const *in, void *ctx) {
    const Case *c = ctx;
    return ag_gbce(g, in[0], in[1], TARGET, R, c->ids, K, 0, c->beta);
}

/* Logits over a wide range (|x| up to 6), so that both branches of every stable form run. */
static void check(const char *what, GradcheckFn f, Case *c) {
    Tensor *in[2] = {test_param(test_uniform(1, NN_SHAPE(R), -6, 6)), test_param(test_uniform(2, NN_SHAPE(R, K), -6, 6))};
    test_gradcheck(what, f, c, 2, in);
    test_free_all(2, in);
}

START_TEST(grad_sampled_softmax_uniform) {
    Case c = make_case(0, 0);
    check("sampled softmax", f_sampled, &c);
}
END_TEST

START_TEST(grad_sampled_softmax_log_q) {
    Case c = make_case(1, 0);
    check("sampled softmax, log-Q corrected", f_sampled, &c);
}
END_TEST

START_TEST(grad_gbce) {
    Case c = make_case(0, (real)0.3);
    check("gBCE", f_gbce, &c);
}
END_TEST

static Suite *grad_sampled_suite(void) {
    Suite *s = suite_create("grad_sampled");
    TCase *tc = tcase_create("ops");
    tcase_add_test(tc, grad_sampled_softmax_uniform);
    tcase_add_test(tc, grad_sampled_softmax_log_q);
    tcase_add_test(tc, grad_gbce);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(grad_sampled_suite)
