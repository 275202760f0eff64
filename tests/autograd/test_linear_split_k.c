/* Linear's weight gradient (autograd/op_matmul.c): with threads, a small
 * weight's K steps are multiplied side by side and added in step order (the
 * first few straight into the gradient, how many depending on the threads);
 * the gradient is the same bits as the one-thread path (gemm's own order), for
 * row counts that are and are not whole K steps, at 2 to 4 threads, added to
 * a gradient that is zero and to one that is not. */
#include <string.h>

#include "base/parallel.h"
#include "tests/support.h"

/* The weight gradient of sum(linear(x) * dy) at `threads` threads, accumulated `passes` times, into gw. */
static void weight_grad_at(int threads, int passes, Tensor *x, Tensor *w, Tensor *b, const Tensor *dy, Tensor *gw) {
    nn_set_threads(threads);
    tensor_zero_grad(w);
    Graph *g = graph_new();
    for (int p = 0; p < passes; p++) {
        ag_backward_with(g, ag_linear(g, x, w, b), dy);
        graph_reset(g);
    }
    memcpy(gw->data, w->grad->data, (size_t)gw->numel * sizeof(real));
    graph_free(g);
}

START_TEST(split_k_weight_gradient_is_bit_identical) {
    const int64_t rows[3] = {3000, 1024, 1537}, sizes[3][2] = {{64, 64}, {48, 40}, {128, 128}};
    for (int c = 0; c < 3; c++) {
        int64_t R = rows[c], out = sizes[c][0], in = sizes[c][1];
        Tensor *x = test_randn(60 + c, NN_SHAPE(R, in)), *w = test_param(test_randn(70 + c, NN_SHAPE(out, in)));
        Tensor *b = test_param(test_randn(80 + c, NN_SHAPE(out))), *dy = test_randn(90 + c, NN_SHAPE(R, out));
        Tensor *g1 = tensor_zeros(NN_SHAPE(out, in)), *g2 = tensor_zeros(NN_SHAPE(out, in));
        for (int passes = 1; passes <= 2; passes++) {
            weight_grad_at(1, passes, x, w, b, dy, g1);
            for (int t = 2; t <= 4; t++) {
                weight_grad_at(t, passes, x, w, b, dy, g2);
                for (int64_t i = 0; i < g1->numel; i++)
                    ck_assert_msg(memcmp(&g1->data[i], &g2->data[i], sizeof(real)) == 0,
                                  "case %d, %d threads, %d passes: dw[%lld] %.9g vs %.9g", c, t, passes, (long long)i,
                                  (double)g1->data[i], (double)g2->data[i]);
            }
        }
        test_free_all(6, (Tensor *[]){x, w, b, dy, g1, g2});
    }
}
END_TEST

static Suite *linear_split_k_suite(void) {
    Suite *s = suite_create("linear_split_k");
    TCase *tc = tcase_create("linear_split_k");
    tcase_add_test(tc, split_k_weight_gradient_is_bit_identical);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(linear_split_k_suite)
