/* ag_bce_with_logits skips the log that a target of 1 or 0 multiplies by 0 (autograd/op_loss.c): the loss
 * must keep the bits of the whole expression, -t log sigmoid(x) - (1 - t) log sigmoid(-x), at every logit
 * (tiny, huge, infinite, NaN) and for other targets. */
#include <math.h>
#include <string.h>

#include "tensor/rmath.h"
#include "tests/support.h"

static real whole(real x, real t) { return -t * r_log_sigmoid(x) - (1 - t) * r_log_sigmoid(-x); }

START_TEST(bce_loss_keeps_the_bits_of_both_terms) {
    const real xs[] = {0, -0.0f, (real)1e-8, (real)-1e-8, 0.5f, -0.5f, 3, -3, 17, -17, 20, -20, 90, -90, 105, -105,
                       200, -200, INFINITY, -INFINITY, NAN};
    const real ts[] = {1, 0, 0.25f};
    Graph *g = graph_new();
    for (size_t i = 0; i < sizeof xs / sizeof *xs; i++)
        for (size_t k = 0; k < sizeof ts / sizeof *ts; k++) {
            Tensor *x = ag_new(g, NN_SHAPE(1)), *t = ag_new(g, NN_SHAPE(1));
            x->data[0] = xs[i];
            t->data[0] = ts[k];
            real got = ag_bce_with_logits(g, x, t, NULL)->data[0];
            real want = (real)(double)whole(xs[i], ts[k]); /* one element of weight 1: the loss is its term */
            ck_assert_msg((isnan(got) && isnan(want)) || memcmp(&got, &want, sizeof got) == 0,
                          "x %g, t %g: %.9g, want %.9g", (double)xs[i], (double)ts[k], (double)got, (double)want);
        }
    graph_free(g);
}
END_TEST

static Suite *bce_exact_suite(void) {
    Suite *s = suite_create("bce_exact");
    TCase *tc = tcase_create("bce");
    tcase_add_test(tc, bce_loss_keeps_the_bits_of_both_terms);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(bce_exact_suite)
