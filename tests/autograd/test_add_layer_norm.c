/* ag_add_layer_norm (autograd/op_layernorm.c): LayerNorm(x + r) in one op is
 * the same bits as ag_add then ag_layer_norm, forward and backward, whether
 * the terms' gradients are made by the op (terms computed in the graph) or
 * added to existing ones (leaves, or a term with a second consumer); and
 * ag_dropout_add_layer_norm, LayerNorm(x + dropout(r)), the same bits as
 * ag_dropout then ag_add_layer_norm, at 1 and 2 threads. */
#include <string.h>

#include "base/parallel.h"
#include "nn/layer_norm.h"
#include "tests/support.h"

enum { R = 37, H = 41 }; /* odd sizes: vector bodies and scalar tails */

static void assert_same(const char *what, const Tensor *a, const Tensor *b) {
    ck_assert_msg(a && b, "%s: a gradient is missing", what);
    for (int64_t i = 0; i < a->numel; i++)
        ck_assert_msg(memcmp(&a->data[i], &b->data[i], sizeof(real)) == 0, "%s[%lld]: %.9g vs %.9g", what,
                      (long long)i, (double)a->data[i], (double)b->data[i]);
}

/* y = LayerNorm(x + r) by the fused op (fused 1) or the two ops; terms made in the graph from the leaves
 * (in_graph 1: their gradients are made by the op) or the leaves themselves; out = y + x's term when shared. */
static void run(int fused, int in_graph, int shared, Tensor *const *p, const Tensor *dy, Tensor *y_out) {
    Tensor *x0 = p[0], *r0 = p[1], *w = p[2], *b = p[3];
    for (int i = 0; i < 4; i++) tensor_zero_grad(p[i]);
    Graph *g = graph_new();
    Tensor *x = in_graph ? ag_mul_scalar(g, x0, 2) : x0, *r = in_graph ? ag_mul_scalar(g, r0, 3) : r0;
    Tensor *y = fused ? ag_add_layer_norm(g, x, r, w, b, (real)1e-5) : ag_layer_norm(g, ag_add(g, x, r), w, b, (real)1e-5);
    memcpy(y_out->data, y->data, (size_t)y->numel * sizeof(real));
    ag_backward_with(g, shared ? ag_add(g, y, x) : y, dy);
    graph_free(g);
}

/* y = LayerNorm(x + dropout(r)), p 0.4, by the fused op (fused 1) or ag_dropout then ag_add_layer_norm, each
 * with a new generator of one seed; the terms and sharing as in run. */
static void run_dropout(int fused, int in_graph, int shared, Tensor *const *p, const Tensor *dy, Tensor *y_out) {
    Tensor *x0 = p[0], *r0 = p[1], *w = p[2], *b = p[3];
    for (int i = 0; i < 4; i++) tensor_zero_grad(p[i]);
    Graph *g = graph_new();
    Rng rng = rng_new(77, 3);
    rng_u64(&rng); /* a stream drawn before, as a model's earlier dropouts would */
    Tensor *x = in_graph ? ag_mul_scalar(g, x0, 2) : x0, *r = in_graph ? ag_mul_scalar(g, r0, 3) : r0;
    Tensor *y = fused ? ag_dropout_add_layer_norm(g, x, r, (real)0.4, 1, &rng, w, b, (real)1e-5)
                      : ag_add_layer_norm(g, x, ag_dropout(g, r, (real)0.4, 1, &rng), w, b, (real)1e-5);
    memcpy(y_out->data, y->data, (size_t)y->numel * sizeof(real));
    ag_backward_with(g, shared ? ag_add(g, y, x) : y, dy);
    graph_free(g);
}

/* A run of the composed ops (fused 0) or the fused op (1) into y_out, the parameters' gradients left in p. */
typedef void RunFn(int fused, int in_graph, int shared, Tensor *const *p, const Tensor *dy, Tensor *y_out);

/* The fused run gives the composed run's y and gradients, bit for bit: the composed one at one thread and the
 * fused one at `threads` (0: both at the default count). */
static void same_as_composed(RunFn *f, int in_graph, int shared, int threads, Tensor *const *p, const Tensor *dy,
                             Tensor *ya, Tensor *yb) {
    int saved = nn_threads();
    Tensor *ga[4];
    if (threads) nn_set_threads(1);
    f(0, in_graph, shared, p, dy, ya);
    for (int i = 0; i < 4; i++) ga[i] = tensor_clone(p[i]->grad);
    if (threads) nn_set_threads(threads);
    f(1, in_graph, shared, p, dy, yb);
    nn_set_threads(saved);
    assert_same("y", ya, yb);
    const char *names[4] = {"dx", "dr", "dw", "db"};
    for (int i = 0; i < 4; i++) assert_same(names[i], ga[i], p[i]->grad);
    test_free_all(4, ga);
}

START_TEST(fused_dropout_residual_norm_is_bit_identical) {
    /* odd sizes (rows straddle Philox blocks), and rows enough for chunks on both threads (not under valgrind) */
    const int64_t shapes[2][2] = {{R, H}, {700, 64}};
    for (int k = 0; k < (test_quick() ? 1 : 2); k++) {
        int64_t rows = shapes[k][0], cols = shapes[k][1];
        Tensor *p[4] = {test_param(test_randn(21, NN_SHAPE(rows, cols))),
                        test_param(test_randn(22, NN_SHAPE(rows, cols))), test_param(test_randn(23, NN_SHAPE(cols))),
                        test_param(test_randn(24, NN_SHAPE(cols)))};
        Tensor *dy = test_randn(25, NN_SHAPE(rows, cols)), *ya = tensor_zeros(NN_SHAPE(rows, cols)),
               *yb = tensor_zeros(NN_SHAPE(rows, cols));
        for (int mode = 0; mode < 8; mode++) {
            same_as_composed(run_dropout, mode & 1, (mode >> 1) & 1, 1 + (mode >> 2), p, dy, ya, yb);
        }
        test_free_all(4, p);
        test_free_all(3, (Tensor *[]){dy, ya, yb});
    }
}
END_TEST

START_TEST(fused_residual_norm_is_bit_identical) {
    Tensor *p[4] = {test_param(test_randn(1, NN_SHAPE(R, H))), test_param(test_randn(2, NN_SHAPE(R, H))),
                    test_param(test_randn(3, NN_SHAPE(H))), test_param(test_randn(4, NN_SHAPE(H)))};
    Tensor *dy = test_randn(5, NN_SHAPE(R, H)), *ya = tensor_zeros(NN_SHAPE(R, H)), *yb = tensor_zeros(NN_SHAPE(R, H));
    for (int mode = 0; mode < 4; mode++) same_as_composed(run, mode & 1, mode >> 1, 0, p, dy, ya, yb);
    test_free_all(4, p);
    test_free_all(3, (Tensor *[]){dy, ya, yb});
}
END_TEST

/* A term without a gradient (a constant residual, or a constant input) gets none, and the other term's is the
 * same bits as the two ops give it. */
START_TEST(a_constant_term_gets_no_gradient) {
    for (int which = 0; which < 2; which++) {
        Tensor *x = test_param(test_randn(11, NN_SHAPE(R, H))), *r = test_param(test_randn(12, NN_SHAPE(R, H)));
        Tensor *w = test_param(test_randn(13, NN_SHAPE(H))), *b = test_param(test_randn(14, NN_SHAPE(H)));
        Tensor *dy = test_randn(15, NN_SHAPE(R, H)), *want[2] = {NULL, NULL};
        tensor_set_requires_grad(which ? x : r, 0);
        for (int fused = 0; fused < 2; fused++) {
            tensor_zero_grad(x), tensor_zero_grad(r), tensor_zero_grad(w), tensor_zero_grad(b);
            Graph *g = graph_new();
            Tensor *y = fused ? ag_add_layer_norm(g, x, r, w, b, (real)1e-5)
                              : ag_layer_norm(g, ag_add(g, x, r), w, b, (real)1e-5);
            ag_backward_with(g, y, dy);
            graph_free(g);
            Tensor *live = which ? r : x, *dead = which ? x : r;
            ck_assert_msg(dead->grad == NULL, "the constant term got a gradient");
            if (!fused) want[0] = tensor_clone(live->grad), want[1] = tensor_clone(w->grad);
            else assert_same(which ? "dr" : "dx", want[0], live->grad), assert_same("dw", want[1], w->grad);
        }
        test_free_all(2, want);
        test_free_all(5, (Tensor *[]){x, r, w, b, dy});
    }
}
END_TEST

static void dropout_without_generator(void) {
    Graph *g = graph_new();
    Tensor *x = ag_zeros(g, NN_SHAPE(2, 3)), *r = ag_zeros(g, NN_SHAPE(2, 3));
    ag_dropout_add_layer_norm(g, x, r, (real)0.5, 1, NULL, NULL, NULL, (real)1e-5);
}

static void plain_dropout_without_generator(void) {
    Graph *g = graph_new();
    ag_dropout(g, ag_zeros(g, NN_SHAPE(2, 3)), (real)0.5, 1, NULL);
}

START_TEST(dropout_without_a_generator_is_refused) {
    test_assert_aborts("dropout_add_layer_norm, rng NULL", dropout_without_generator, "nn: dropout_add_layer_norm:",
                       "probability 0.5 and no generator", "&m->dropout_rng", NULL);
    test_assert_aborts("dropout, rng NULL", plain_dropout_without_generator, "nn: dropout:",
                       "probability 0.5 and no generator", NULL);
}
END_TEST

static Suite *add_layer_norm_suite(void) {
    Suite *s = suite_create("add_layer_norm");
    TCase *tc = tcase_create("add_layer_norm");
    tcase_add_test(tc, fused_residual_norm_is_bit_identical);
    tcase_add_test(tc, a_constant_term_gets_no_gradient);
    tcase_add_test(tc, fused_dropout_residual_norm_is_bit_identical);
    if (test_forking()) tcase_add_test(tc, dropout_without_a_generator_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(add_layer_norm_suite)
