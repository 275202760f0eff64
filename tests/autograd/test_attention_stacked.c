/* The attention op's two ways of writing q, k and v's gradients (autograd/
 * op_attention.c): added to an existing gradient (here a leaf's), or, when q,
 * k, v are the column thirds of a (rows, 3H) tensor made in the graph that has
 * no gradient yet, stored into it unfilled. Both give the same bits, with and
 * without dropout and key padding, for sequences of one block of queries and
 * of many (past gemm's K step of 256 keys), at one and two threads. */
#include <string.h>

#include "base/parallel.h"
#include "tests/support.h"

/* The gradient of the (rows, 3H) leaf p after attention of its thirds; stacked 1: through p * 1 in the graph. */
static void run(Tensor *p, int stacked, const SeqLayout *lay, AttentionSpec spec, const Tensor *dy, Tensor *y_out) {
    int64_t H = p->shape[1] / 3;
    tensor_zero_grad(p);
    Graph *g = graph_new();
    Rng r = rng_new(9, 3);
    spec.rng = &r;
    Tensor *base = stacked ? ag_mul_scalar(g, p, 1) : p;
    Tensor *y = ag_attention(g, ag_narrow(g, base, 1, 0, H), ag_narrow(g, base, 1, H, H),
                             ag_narrow(g, base, 1, 2 * H, H), lay, &spec);
    memcpy(y_out->data, y->data, (size_t)y->numel * sizeof(real));
    ag_backward_with(g, y, dy);
    graph_free(g);
}

START_TEST(stacked_gradients_are_bit_identical) {
    int64_t lens[2][4] = {{13, 50, 31, 1}, {300, 70, 2, 260}};
    for (int shape = 0; shape < 2; shape++)
        for (int c = 0; c < 4; c++) {
            int64_t off[5] = {0}, H = shape ? 16 : 64;
            for (int b = 0; b < 4; b++) off[b + 1] = off[b] + lens[shape][b];
            int64_t rows = off[4];
            unsigned char valid[700];
            for (int64_t i = 0; i < rows; i++) valid[i] = (i * 7) % 5 != 0;
            SeqLayout lay = {4, off, c & 2 ? valid : NULL, 1};
            AttentionSpec spec = {2, MASK_MINUS_10000, c & 1 ? 0.3 : 0, c & 1, NULL};
            Tensor *p = test_param(test_randn(40 + c, NN_SHAPE(rows, 3 * H))), *dy = test_randn(50 + c, NN_SHAPE(rows, H));
            Tensor *ya = tensor_zeros(NN_SHAPE(rows, H)), *yb = tensor_zeros(NN_SHAPE(rows, H));
            nn_set_threads(1 + c % 2);
            run(p, 0, &lay, spec, dy, ya);
            Tensor *ga = tensor_clone(p->grad);
            nn_set_threads(2 - c % 2);
            run(p, 1, &lay, spec, dy, yb);
            ck_assert(memcmp(ya->data, yb->data, (size_t)ya->numel * sizeof(real)) == 0);
            for (int64_t i = 0; i < ga->numel; i++)
                ck_assert_msg(memcmp(&ga->data[i], &p->grad->data[i], sizeof(real)) == 0,
                              "shape %d case %d: grad[%lld] %.9g vs %.9g", shape, c, (long long)i,
                              (double)ga->data[i], (double)p->grad->data[i]);
            test_free_all(5, (Tensor *[]){p, dy, ya, yb, ga});
        }
}
END_TEST

static Suite *attention_stacked_suite(void) {
    Suite *s = suite_create("attention_stacked");
    TCase *tc = tcase_create("attention_stacked");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, stacked_gradients_are_bit_identical);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(attention_stacked_suite)
