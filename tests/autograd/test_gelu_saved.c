/* GELU keeps its erf for the backward (autograd/op_elementwise.c): the values
 * and the gradient are the same bits as the path that recomputes it (taken for
 * a strided input), so training results do not move. */
#include <string.h>

#include "tests/support.h"

enum { R = 37, C = 41 }; /* odd sizes: vector bodies and scalar tails */

START_TEST(gelu_with_its_erf_kept_is_bit_identical) {
    Tensor *a = test_param(test_randn(1, NN_SHAPE(R, C))), *b = test_param(tensor_zeros(NN_SHAPE(C, R)));
    for (int64_t i = 0; i < R * C; i++) a->data[i] *= 3;
    a->data[0] = 0, a->data[1] = -9, a->data[2] = 9, a->data[3] = (real)-1e-7, a->data[4] = 40; /* edges */
    for (int64_t i = 0; i < R; i++)
        for (int64_t j = 0; j < C; j++) b->data[j * R + i] = a->data[i * C + j]; /* b^T == a */
    Tensor *w = test_randn(2, NN_SHAPE(R, C));
    Graph *g = graph_new();
    Tensor *ya = ag_gelu(g, a), *yb = ag_gelu(g, ag_transpose(g, b, 0, 1)); /* kept erf; recomputed (strided) */
    ck_assert(tensor_is_contiguous(ya) && tensor_is_contiguous(yb));
    ck_assert(memcmp(ya->data, yb->data, R * C * sizeof(real)) == 0);
    ag_backward_with(g, ya, w);
    ag_backward_with(g, yb, w);
    for (int64_t i = 0; i < R; i++)
        for (int64_t j = 0; j < C; j++)
            ck_assert_msg(memcmp(&a->grad->data[i * C + j], &b->grad->data[j * R + i], sizeof(real)) == 0,
                          "(%lld, %lld): %.9g vs %.9g", (long long)i, (long long)j, (double)a->grad->data[i * C + j],
                          (double)b->grad->data[j * R + i]);
    graph_free(g);
    test_free_all(3, (Tensor *[]){a, b, w});
}
END_TEST

static Suite *gelu_saved_suite(void) {
    Suite *s = suite_create("gelu_saved");
    TCase *tc = tcase_create("gelu");
    tcase_add_test(tc, gelu_with_its_erf_kept_is_bit_identical);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(gelu_saved_suite)
