/* nn/loss.h: the shapes each loss accepts, and the misuse it refuses with a message. */
#include <math.h>

#include "nn/loss.h"
#include "tests/support.h"

/* (4, 1) predictions against (4) targets would broadcast to (4, 4): the mean over every pair. */
static void mse_column_against_vector(void) {
    Graph *g = graph_new();
    loss_mse(g, ag_zeros(g, NN_SHAPE(4, 1)), ag_zeros(g, NN_SHAPE(4)));
}

START_TEST(mse_refuses_a_target_that_enlarges_the_prediction) {
    test_assert_aborts("loss_mse (4, 1) against (4)", mse_column_against_vector, "nn: loss_mse:",
                       "prediction (4, 1) and target (4) broadcast to (4, 4)", "give the target the prediction's shape",
                       NULL);
}
END_TEST

/* Equal shapes, and a target that broadcasts to the prediction (torch's mse_loss with a (4) target on (3, 4)). */
START_TEST(mse_accepts_equal_shapes_and_a_broadcast_target) {
    Graph *g = graph_new();
    Tensor *p = ag_zeros(g, NN_SHAPE(3, 4)), *t = ag_zeros(g, NN_SHAPE(4)), *same = ag_zeros(g, NN_SHAPE(3, 4));
    tensor_fill(t, 2);
    tensor_fill(same, 1);
    ck_assert(fabs((double)loss_mse(g, p, t)->data[0] - 4) < 1e-6);
    ck_assert(fabs((double)loss_mse(g, p, same)->data[0] - 1) < 1e-6);
    graph_free(g);
}
END_TEST

static Suite *loss_suite(void) {
    Suite *s = suite_create("loss");
    TCase *tc = tcase_create("loss");
    tcase_add_test(tc, mse_refuses_a_target_that_enlarges_the_prediction);
    tcase_add_test(tc, mse_accepts_equal_shapes_and_a_broadcast_target);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(loss_suite)
