/* Finite-difference gradient checks (double build) of the GRU as a cell and
 * as a multi-step, multi-layer layer: the output, the input's, the initial
 * state's and every parameter's gradient. */
#include <string.h>

#include "nn/gru.h"
#include "tests/support.h"

typedef struct {
    Module m;
    GruCell cell;
    Gru gru;
    int with_h0, want_h_n;
} GruCase;

/* Inputs for gradcheck: the given tensors, then every parameter of m. */
static int with_params(Tensor **inputs, int n, Tensor *const *xs, const Module *m) {
    for (int i = 0; i < n; i++) inputs[i] = xs[i];
    for (int i = 0; i < m->n_params; i++) inputs[n++] = m->params[i].value;
    return n;
}

static Tensor *f_cell(Graph *g, Tensor *const *in, void *ctx) {
    GruCase *c = ctx;
    return gru_cell_forward(&c->cell, g, in[0], c->with_h0 ? in[1] : NULL);
}

START_TEST(grad_gru_cell) {
    for (int bias = 0; bias < 2; bias++)
        for (int with_h = 0; with_h < 2; with_h++) {
            GruCase c = {.with_h0 = with_h};
            module_init(&c.m, 1);
            c.cell = gru_cell_new(&c.m, "cell", 5, 4, bias);
            Tensor *xs[2] = {test_param(test_randn(1, NN_SHAPE(3, 5))), test_param(test_randn(2, NN_SHAPE(3, 4)))};
            Tensor *in[8];
            int n = with_params(in, 2, xs, &c.m);
            if (!with_h) { /* without a state the second input is unused: drop it */
                memmove(in + 1, in + 2, (size_t)(n - 2) * sizeof *in);
                n--;
            }
            test_gradcheck("GruCell", f_cell, &c, n, in);
            test_free_all(2, xs);
            module_free(&c.m);
        }
}
END_TEST

/* The outputs, and with want_h_n the last states too (joined into one result). */
static Tensor *f_gru(Graph *g, Tensor *const *in, void *ctx) {
    GruCase *c = ctx;
    c->m.dropout_rng = rng_new(3, 4); /* the same masks every call */
    Tensor *h_n, *y = gru_forward(&c->gru, &c->m, g, in[0], c->with_h0 ? in[1] : NULL, c->want_h_n ? &h_n : NULL);
    if (!c->want_h_n) return y;
    Tensor *flat[2] = {ag_reshape(g, y, NN_SHAPE(-1)), ag_reshape(g, h_n, NN_SHAPE(-1))};
    return ag_concat(g, 2, flat, 0);
}

START_TEST(grad_gru_layer) {
    struct {
        int layers, bias, with_h0, want_h_n;
        real dropout;
        int64_t T;
    } cases[] = {{1, 1, 0, 0, 0, 5}, {2, 1, 1, 1, 0, 4}, {3, 0, 1, 1, 0, 3}, {2, 1, 0, 1, 0.3, 4}, {1, 1, 1, 1, 0, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        GruCase c = {.with_h0 = cases[k].with_h0, .want_h_n = cases[k].want_h_n};
        module_init(&c.m, 2 + k);
        c.gru = gru_new(&c.m, "gru", 3, 4, cases[k].layers, cases[k].bias, cases[k].dropout);
        Tensor *xs[2] = {test_param(test_randn(10 + k, NN_SHAPE(2, cases[k].T, 3))),
                         test_param(test_randn(20 + k, NN_SHAPE(cases[k].layers, 2, 4)))};
        Tensor *in[32];
        int n = with_params(in, 2, xs, &c.m);
        if (!c.with_h0) {
            memmove(in + 1, in + 2, (size_t)(n - 2) * sizeof *in);
            n--;
        }
        test_gradcheck("Gru", f_gru, &c, n, in);
        test_free_all(2, xs);
        module_free(&c.m);
    }
}
END_TEST

/* The layer is the cell applied step by step: the same numbers, not just the same gradients. */
START_TEST(gru_layer_equals_its_cell_unrolled) {
    Module m;
    module_init(&m, 9);
    Gru r = gru_new(&m, "gru", 3, 4, 1, 1, 0);
    Tensor *x = test_randn(30, NN_SHAPE(2, 6, 3));
    Graph *g = graph_new();
    Tensor *y = gru_forward(&r, &m, g, x, NULL, NULL), *h = NULL;
    for (int64_t t = 0; t < 6; t++) {
        h = gru_cell_forward(&r.layer[0], g, ag_contiguous(g, ag_select(g, x, 1, t)), h);
        Tensor yt = tensor_narrow(y, 1, t, 1);
        for (int64_t b = 0; b < 2; b++)
            for (int64_t j = 0; j < 4; j++) ck_assert(yt.data[b * yt.stride[0] + j] == h->data[b * 4 + j]);
    }
    graph_free(g);
    tensor_free(x);
    module_free(&m);
}
END_TEST

static Suite *grad_gru_suite(void) {
    Suite *s = suite_create("grad_gru");
    TCase *tc = tcase_create("gru");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, grad_gru_cell);
    tcase_add_test(tc, grad_gru_layer);
    tcase_add_test(tc, gru_layer_equals_its_cell_unrolled);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(grad_gru_suite)
