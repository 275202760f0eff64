/* ag_row_dot is ag_sum(ag_mul(a, b), last axis) bit for bit (autograd/op_row_dot.c): the scores, and the
 * gradients of both inputs, fresh (a tensor the graph made) and added (a leaf, and a tensor scored twice as
 * SASRec's sequence output is against its positives and its negatives), at rows of 64 (SASRec's), of a tail
 * after the 8 lanes, of more than one reduction chunk, and for a transposed view. */
#include <string.h>

#include "tests/support.h"

/* The scores and the gradients of a leaf x and of an intermediate z = 1.5 x w (scored twice) of one run. */
typedef struct {
    Tensor *y1, *y2, *gx, *gw;
} Run;

/* scores s1 = dot(z, w), s2 = dot(z, x), z = x * 1.5 made by the graph; loss = sum(s1 c1 + s2 c2). */
static Run run(Graph *g, Tensor *x, Tensor *w, const Tensor *c1, const Tensor *c2, int fused, int transposed) {
    Tensor *xv = transposed ? ag_transpose(g, ag_transpose(g, x, 0, 1), 0, 1) : x;
    Tensor *z = ag_mul_scalar(g, xv, (real)1.5);
    Tensor *s1 = fused ? ag_row_dot(g, z, w) : ag_sum(g, ag_mul(g, z, w), 1, (int[]){1}, 0);
    Tensor *s2 = fused ? ag_row_dot(g, z, xv) : ag_sum(g, ag_mul(g, z, xv), 1, (int[]){1}, 0);
    Tensor *loss = ag_sum(g, ag_add(g, ag_mul(g, s1, (Tensor *)c1), ag_mul(g, s2, (Tensor *)c2)), 0, NULL, 0);
    tensor_zero_grad(x);
    tensor_zero_grad(w);
    ag_backward(g, loss);
    return (Run){s1, s2, tensor_clone(x->grad), tensor_clone(w->grad)};
}

static void same_bits(const char *what, const Tensor *got, const Tensor *want, int64_t rows, int64_t cols) {
    ck_assert_msg(got->numel == want->numel, "%s: %lld elements, want %lld", what, (long long)got->numel,
                  (long long)want->numel);
    for (int64_t i = 0; i < got->numel; i++)
        ck_assert_msg(memcmp(&got->data[i], &want->data[i], sizeof(real)) == 0,
                      "%s (%lld, %lld): element %lld is %.9g, the composed ops give %.9g", what, (long long)rows,
                      (long long)cols, (long long)i, (double)got->data[i], (double)want->data[i]);
}

START_TEST(row_dot_keeps_the_bits_of_sum_of_mul) {
    const int64_t shapes[][2] = {{7, 64}, {3, 13}, {1, 1}, {2, 4096 + 75}, {0, 5}};
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++)
        for (int transposed = 0; transposed < 2; transposed++) {
            int64_t rows = shapes[k][0], cols = shapes[k][1];
            Tensor *x = test_param(test_uniform(3 + k, NN_SHAPE(rows, cols), -3, 3));
            Tensor *w = test_param(test_uniform(4 + k, NN_SHAPE(rows, cols), -3, 3));
            Tensor *c1 = test_uniform(5 + k, NN_SHAPE(rows), -1, 1), *c2 = test_uniform(6 + k, NN_SHAPE(rows), -1, 1);
            Graph *gf = graph_new(), *gc = graph_new();
            Run f = run(gf, x, w, c1, c2, 1, transposed), c = run(gc, x, w, c1, c2, 0, transposed);
            same_bits("scores against w", f.y1, c.y1, rows, cols);
            same_bits("scores against x", f.y2, c.y2, rows, cols);
            same_bits("gradient of x", f.gx, c.gx, rows, cols);
            same_bits("gradient of w", f.gw, c.gw, rows, cols);
            Tensor *owned[] = {f.gx, f.gw, c.gx, c.gw, x, w, c1, c2};
            for (size_t i = 0; i < sizeof owned / sizeof *owned; i++) tensor_free(owned[i]);
            graph_free(gf);
            graph_free(gc);
        }
}
END_TEST

static void two_shapes(void) {
    Graph *g = graph_new();
    ag_row_dot(g, ag_new(g, NN_SHAPE(2, 3)), ag_new(g, NN_SHAPE(3, 2)));
}

START_TEST(row_dot_refuses_two_shapes) {
    test_assert_aborts("row_dot of (2, 3) and (3, 2)", two_shapes, "nn: row_dot:", "a (2, 3) and b (3, 2)",
                       "(rows, cols) tensors of one shape", NULL);
}
END_TEST

static Suite *row_dot_suite(void) {
    Suite *s = suite_create("row_dot");
    TCase *tc = tcase_create("row_dot");
    tcase_add_test(tc, row_dot_keeps_the_bits_of_sum_of_mul);
    if (test_forking()) tcase_add_test(tc, row_dot_refuses_two_shapes);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(row_dot_suite)
