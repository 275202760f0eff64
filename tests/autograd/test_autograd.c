/* The engine's semantics: accumulation, reuse, no-grad, released graphs,
 * gradients through views and broadcasting, and thread-count independence. */
#include <math.h>
#include <signal.h>
#include <string.h>

#include "autograd/op.h"
#include "base/parallel.h"
#include "tests/support.h"

START_TEST(leaf_gradients_accumulate_until_zeroed) {
    Tensor *w = test_param(tensor_full(NN_SHAPE(3), 2));
    Graph *g = graph_new();
    for (int step = 1; step <= 2; step++) {
        Tensor *y = ag_sum(g, ag_mul_scalar(g, w, 3), 0, NULL, 0);
        ag_backward(g, y);
        for (int i = 0; i < 3; i++) ck_assert(w->grad->data[i] == 3 * step);
        graph_reset(g);
    }
    tensor_zero_grad(w);
    ck_assert(w->grad->data[0] == 0);
    graph_free(g);
    tensor_free(w);
}
END_TEST

START_TEST(tensor_used_twice_gets_the_sum) {
    Tensor *x = test_param(tensor_full(NN_SHAPE(2), 3));
    Graph *g = graph_new();
    /* y = x * x + exp(x) x: dy/dx = 2x + exp(x)(1 + x) */
    Tensor *y = ag_add(g, ag_mul(g, x, x), ag_mul(g, ag_exp(g, x), x));
    ag_backward(g, ag_sum(g, y, 0, NULL, 0));
    ck_assert(fabs(x->grad->data[0] - (6 + exp(3.0) * 4)) < 1e-3);
    graph_free(g);
    tensor_free(x);
}
END_TEST

START_TEST(no_grad_records_nothing) {
    Tensor *x = test_param(tensor_full(NN_SHAPE(2), 1));
    Graph *g = graph_new();
    int prev = ag_set_grad_enabled(0);
    Tensor *y = ag_exp(g, x);
    ck_assert(y->node == NULL && !y->requires_grad && graph_num_nodes(g) == 0);
    ag_set_grad_enabled(prev);
    ck_assert(ag_grad_enabled());
    y = ag_exp(g, x);
    ck_assert(y->node != NULL && graph_num_nodes(g) == 1);
    /* inputs that need no gradient record nothing either */
    Tensor *c = tensor_full(NN_SHAPE(2), 1);
    ck_assert(ag_exp(g, c)->node == NULL);
    graph_free(g);
    tensor_free(x);
    tensor_free(c);
}
END_TEST

START_TEST(backward_twice_is_refused) {
    Tensor *x = test_param(tensor_full(NN_SHAPE(2), 1));
    Graph *g = graph_new();
    Tensor *y = ag_sum(g, ag_exp(g, x), 0, NULL, 0);
    ag_backward(g, y);
    ag_backward(g, y); /* aborts: the graph was released */
}
END_TEST

START_TEST(gradients_through_views_and_broadcasting_have_the_right_shape) {
    Tensor *x = test_param(test_randn(1, NN_SHAPE(2, 3))), *b = test_param(test_randn(2, NN_SHAPE(3, 1)));
    Graph *g = graph_new();
    Tensor *xt = ag_transpose(g, x, 0, 1); /* (3, 2) view */
    Tensor *y = ag_add(g, xt, b);          /* b broadcast over columns */
    Tensor *z = ag_narrow(g, y, 1, 1, 1);  /* (3, 1) */
    ag_backward(g, ag_sum(g, z, 0, NULL, 0));
    ck_assert(x->grad->ndim == 2 && x->grad->shape[0] == 2 && x->grad->shape[1] == 3);
    ck_assert(b->grad->ndim == 2 && b->grad->shape[0] == 3 && b->grad->shape[1] == 1);
    for (int j = 0; j < 3; j++) {
        ck_assert(x->grad->data[j] == 0);     /* row 0 of x is column 0 of y: not selected */
        ck_assert(x->grad->data[3 + j] == 1); /* row 1 of x is column 1 */
        ck_assert(b->grad->data[j] == 1);
    }
    graph_free(g);
    tensor_free(x);
    tensor_free(b);
}
END_TEST

START_TEST(graph_memory_settles) {
    Tensor *w = test_param(test_randn(3, NN_SHAPE(64, 64)));
    Tensor *x = test_randn(4, NN_SHAPE(128, 64));
    Graph *g = graph_new();
    size_t hw = 0;
    for (int step = 0; step < 3; step++) {
        Tensor *y = ag_gelu(g, ag_linear(g, x, w, NULL));
        ag_backward(g, ag_mean(g, ag_mul(g, y, y), 0, NULL, 0));
        if (step == 1) hw = arena_reserved(graph_arena(g));
        if (step == 2) ck_assert(arena_reserved(graph_arena(g)) == hw); /* no growth in the steady state */
        graph_reset(g);
    }
    ck_assert(graph_high_water(g) > 3 * 128 * 64 * sizeof(real));
    graph_free(g);
    tensor_free(w);
    tensor_free(x);
}
END_TEST

/* A step through most ops at a size where kernels run in parallel; returns
 * the loss and copies every gradient into grads. */
static double step(int threads, real *grads, int64_t *n_grads) {
    nn_set_threads(threads);
    Tensor *w1 = test_param(test_randn(10, NN_SHAPE(96, 64))), *b1 = test_param(test_randn(11, NN_SHAPE(96)));
    Tensor *emb = test_param(test_randn(12, NN_SHAPE(500, 64)));
    Tensor *ln_w = test_param(tensor_ones(NN_SHAPE(96))), *ln_b = test_param(tensor_zeros(NN_SHAPE(96)));
    int64_t ids[40 * 50];
    Rng r = rng_new(5, 0);
    for (int i = 0; i < 40 * 50; i++) ids[i] = (int64_t)rng_below(&r, 500);
    real tgt[40 * 50];
    for (int i = 0; i < 40 * 50; i++) tgt[i] = (real)(i % 3 == 0);
    Tensor target = tensor_wrap(tgt, NN_SHAPE(40, 50));
    Graph *g = graph_new();
    Rng drop = rng_new(9, 1);
    Tensor *x = ag_embedding(g, emb, ids, NN_SHAPE(40, 50), 0); /* (40, 50, 64) */
    Tensor *h = ag_gelu(g, ag_linear(g, x, w1, b1));            /* (40, 50, 96) */
    h = ag_dropout(g, ag_layer_norm(g, h, ln_w, ln_b, 1e-12), 0.3, 1, &drop);
    Tensor *att = ag_softmax(g, ag_matmul(g, h, ag_transpose(g, h, 1, 2))); /* (40, 50, 50) */
    Tensor *ctx = ag_matmul(g, att, h);                                     /* (40, 50, 96) */
    Tensor *logit = ag_mean(g, ctx, 1, (int[]){-1}, 0);                     /* (40, 50) */
    Tensor *loss = ag_add(g, ag_bce_with_logits(g, logit, &target, NULL), ag_sum(g, ag_mul(g, b1, b1), 0, NULL, 0));
    ag_backward(g, loss);
    double value = loss->data[0];
    Tensor *ps[] = {w1, b1, emb, ln_w, ln_b};
    int64_t k = 0;
    for (int p = 0; p < 5; p++) {
        memcpy(grads + k, ps[p]->grad->data, (size_t)ps[p]->numel * sizeof(real));
        k += ps[p]->numel;
    }
    *n_grads = k;
    graph_free(g);
    test_free_all(5, ps);
    return value;
}

START_TEST(results_identical_for_any_thread_count) {
    int64_t n1, n2, n3;
    real *g1 = malloc(60000 * sizeof(real)), *g2 = malloc(60000 * sizeof(real)), *g3 = malloc(60000 * sizeof(real));
    int before = nn_threads();
    double l1 = step(1, g1, &n1), l2 = step(2, g2, &n2), l3 = step(3, g3, &n3);
    nn_set_threads(before);
    ck_assert(l1 == l2 && l2 == l3);
    ck_assert(n1 == n2 && n2 == n3);
    ck_assert_msg(memcmp(g1, g2, (size_t)n1 * sizeof(real)) == 0, "gradients differ between 1 and 2 threads");
    ck_assert_msg(memcmp(g1, g3, (size_t)n1 * sizeof(real)) == 0, "gradients differ between 1 and 3 threads");
    free(g1);
    free(g2);
    free(g3);
}
END_TEST

/* The library's other parallel ops (activations, minimum/maximum, softmax
 * along a middle dim, N-d cross-entropy, gather, top-k, argmax) at a size
 * where they run in parallel; returns the loss, x's gradient in grads and the
 * picked indices in idx (64 * 16 * 5 top-k, then 16 * 64 argmax). */
static double step_extra(int threads, real *grads, int64_t *idx) {
    nn_set_threads(threads);
    Tensor *x = test_param(test_randn(21, NN_SHAPE(16, 40, 64)));
    int64_t *pick = malloc(16 * 40 * 64 * sizeof *pick), target[16 * 64];
    for (int64_t i = 0; i < 16 * 40 * 64; i++) pick[i] = (i * 7919) % 64;
    for (int64_t i = 0; i < 16 * 64; i++) target[i] = (i * 31) % 40;
    Graph *g = graph_new();
    Tensor *a = ag_clamp(g, x, -1, 1), *c = ag_silu(g, x), *sp = ag_softplus(g, x, 1, 20);
    Tensor *s = ag_softmax_dim(g, ag_maximum(g, a, c), 1);
    Tensor *ls = ag_log_softmax_dim(g, sp, 1);
    Tensor *picked = ag_gather(g, s, 2, pick, NN_SHAPE(16, 40, 64));
    const int64_t *top;
    Tensor *best = ag_topk(g, ls, 2, 5, 1, &top); /* (16, 40, 5) */
    Tensor *loss = ag_add(g, ag_cross_entropy_nd(g, x, 1, target, 16 * 64, NULL),
                          ag_add(g, ag_sum(g, ag_mul(g, picked, picked), 0, NULL, 0), ag_mean(g, best, 0, NULL, 0)));
    ag_backward(g, loss);
    memcpy(idx, top, 16 * 40 * 5 * sizeof *idx);
    memcpy(idx + 16 * 40 * 5, ag_argmax(g, x, 1), 16 * 64 * sizeof *idx);
    memcpy(grads, x->grad->data, (size_t)x->numel * sizeof(real));
    double value = loss->data[0];
    graph_free(g);
    tensor_free(x);
    free(pick);
    return value;
}

START_TEST(other_ops_identical_for_any_thread_count) {
    enum { N = 16 * 40 * 64, NI = 16 * 40 * 5 + 16 * 64 };
    real *g[3];
    int64_t *idx[3];
    double loss[3];
    int before = nn_threads();
    for (int t = 0; t < 3; t++) {
        g[t] = malloc(N * sizeof(real));
        idx[t] = malloc(NI * sizeof(int64_t));
        loss[t] = step_extra(t + 1, g[t], idx[t]);
    }
    nn_set_threads(before);
    for (int t = 1; t < 3; t++) {
        ck_assert_msg(loss[t] == loss[0], "loss differs between 1 and %d threads", t + 1);
        ck_assert_msg(memcmp(g[t], g[0], N * sizeof(real)) == 0, "gradient differs between 1 and %d threads", t + 1);
        ck_assert_msg(memcmp(idx[t], idx[0], NI * sizeof(int64_t)) == 0, "indices differ between 1 and %d threads",
                      t + 1);
    }
    for (int t = 0; t < 3; t++) {
        free(g[t]);
        free(idx[t]);
    }
}
END_TEST

/* A step through ops whose backward stores into a gradient it creates rather
 * than adding into zeros (unary, dropout, layer norm, linear through a reshape
 * view, sum, mean), ops that hand their output gradient's buffer on (add, sub,
 * reshape) and one that may do neither (linear through a narrow view), with
 * intermediates used twice, in both orders and as both operands of one op;
 * returns every leaf's gradient in grads. With `zeros`, every intermediate's
 * gradient is made (zero filled) before the backward pass, so all of them are
 * added into instead. */
static void store_or_add_step(int zeros, real *grads) {
    Tensor *x = test_param(test_randn(1, NN_SHAPE(6, 8))), *w = test_param(test_randn(2, NN_SHAPE(8, 8)));
    Tensor *b = test_param(test_randn(3, NN_SHAPE(8))), *w2 = test_param(test_randn(4, NN_SHAPE(5, 4)));
    Tensor *lw = test_param(test_randn(5, NN_SHAPE(8))), *lb = test_param(test_randn(6, NN_SHAPE(8)));
    Tensor *c = test_randn(7, NN_SHAPE(6, 8));
    Graph *g = graph_new();
    /* the arena's memory holds NaNs: a gradient left partly unwritten shows */
    Tensor *junk = ag_new(g, NN_SHAPE(1 << 15));
    for (int64_t i = 0; i < junk->numel; i++) junk->data[i] = NAN;
    graph_reset(g);
    Rng rng = rng_new(3, 0);
    Tensor *h = ag_linear(g, x, w, b);                                      /* (6, 8) */
    Tensor *twice = ag_add(g, ag_mul_scalar(g, h, 2), h);                   /* h used twice, scalar first */
    Tensor *r = ag_reshape(g, h, NN_SHAPE(4, 12));                          /* a view of h */
    Tensor *u = ag_gelu(g, r);                                              /* (4, 12) */
    Tensor *v = ag_dropout(g, ag_add(g, u, ag_exp(g, u)), 0.3, 1, &rng);    /* u used twice */
    Tensor *nrm = ag_layer_norm(g, ag_reshape(g, v, NN_SHAPE(6, 8)), lw, lb, 1e-5); /* (6, 8) */
    Tensor *early = ag_linear(g, nrm, w, NULL); /* adds into nrm's gradient, which the product below stores */
    Tensor *z = ag_linear(g, ag_reshape(g, ag_mul(g, nrm, twice), NN_SHAPE(6, 8)), w, NULL);
    Tensor *y = ag_linear(g, ag_narrow(g, z, 1, 2, 4), w2, NULL); /* through a narrow view */
    Tensor *same = ag_add(g, ag_add(g, nrm, nrm), ag_sub(g, twice, ag_mul_scalar(g, twice, 0.5))); /* one tensor twice */
    Tensor *loss = ag_add(g, ag_sum(g, ag_mul(g, ag_add(g, z, early), c), 0, NULL, 0),
                          ag_add(g, ag_mean(g, ag_mul(g, y, y), 0, NULL, 0), ag_sum(g, ag_mul(g, same, same), 0, NULL, 0)));
    if (zeros) {
        Tensor *mid[] = {h, twice, r, u, v, nrm, early, z, y, same};
        for (size_t k = 0; k < sizeof mid / sizeof *mid; k++) ag_grad(g, mid[k]);
    }
    ag_backward(g, loss);
    Tensor *leaves[] = {x, w, b, w2, lw, lb};
    for (int k = 0; k < 6; k++) {
        memcpy(grads, leaves[k]->grad->data, (size_t)leaves[k]->numel * sizeof(real));
        grads += leaves[k]->numel;
    }
    graph_free(g);
    test_free_all(6, leaves);
    tensor_free(c);
}

START_TEST(new_gradients_are_stored_then_added_to) {
    enum { N = 6 * 8 + 8 * 8 + 8 + 5 * 4 + 8 + 8 };
    real stored[N], added[N];
    store_or_add_step(0, stored);
    store_or_add_step(1, added);
    for (int i = 0; i < N; i++) {
        ck_assert_msg(isfinite(stored[i]), "gradient %d is %g", i, (double)stored[i]);
        ck_assert_msg(stored[i] == added[i], "gradient %d: %.9g stored first, %.9g added", i, (double)stored[i],
                      (double)added[i]);
    }
}
END_TEST

START_TEST(dot_graph_lists_ops) {
    Tensor *x = test_param(tensor_full(NN_SHAPE(2), 1));
    x->name = "x";
    Graph *g = graph_new();
    Tensor *y = ag_sum(g, ag_tanh(g, x), 0, NULL, 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ag_write_dot(y, f);
    fclose(f);
    ck_assert(strstr(buf, "digraph") && strstr(buf, "tanh") && strstr(buf, "sum") && strstr(buf, "\\nx") == NULL);
    ck_assert(strstr(buf, "label=\"x\\n(2)\""));
    free(buf);
    graph_free(g);
    tensor_free(x);
}
END_TEST

static Suite *autograd_suite(void) {
    Suite *s = suite_create("autograd");
    TCase *tc = tcase_create("engine");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, leaf_gradients_accumulate_until_zeroed);
    tcase_add_test(tc, tensor_used_twice_gets_the_sum);
    tcase_add_test(tc, no_grad_records_nothing);
    tcase_add_test(tc, gradients_through_views_and_broadcasting_have_the_right_shape);
    tcase_add_test(tc, graph_memory_settles);
    tcase_add_test(tc, results_identical_for_any_thread_count);
    tcase_add_test(tc, other_ops_identical_for_any_thread_count);
    tcase_add_test(tc, new_gradients_are_stored_then_added_to);
    tcase_add_test(tc, dot_graph_lists_ops);
    if (test_forking()) tcase_add_test_raise_signal(tc, backward_twice_is_refused, SIGABRT);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(autograd_suite)
