/* Finite-difference gradient checks (double build) of the layers issue 21
 * asked for, as a whole: RMSNorm, the SwiGLU feed-forward and cross-attention
 * (with and without padded memory, both mask kinds, dropout on with a fixed
 * generator), each through its input(s) and every parameter. */
#include <string.h>

#include "nn/cross_attention.h"
#include "nn/rms_norm.h"
#include "nn/swiglu.h"
#include "tests/support.h"

typedef struct {
    Module m;
    void *layer;
    const unsigned char *memory_valid;
} LayerCase;

static Tensor *f_rms(Graph *g, Tensor *const *in, void *ctx) {
    LayerCase *c = ctx;
    return rms_norm_forward(c->layer, g, in[0]);
}

START_TEST(grad_rms_norm_layer) {
    LayerCase c;
    module_init(&c.m, 1);
    RMSNorm n = rms_norm_new(&c.m, "norm", 37, 1e-6);
    test_randomise(&c.m, 2, 0.5);
    c.layer = &n;
    Tensor *in[2], *x = test_param(test_randn(3, NN_SHAPE(2, 3, 37)));
    test_gradcheck("RMSNorm", f_rms, &c, test_module_inputs(in, x, &c.m), in);
    tensor_free(x);
    module_free(&c.m);
}
END_TEST

static Tensor *f_swiglu(Graph *g, Tensor *const *in, void *ctx) {
    LayerCase *c = ctx;
    return swiglu_forward(c->layer, g, in[0]);
}

START_TEST(grad_swiglu_layer) {
    for (int bias = 0; bias < 2; bias++) {
        LayerCase c;
        module_init(&c.m, 4);
        SwiGLU s = swiglu_new(&c.m, "ffn", 6, 10, bias);
        test_randomise(&c.m, 5, 0.5);
        c.layer = &s;
        Tensor *in[8], *x = test_param(test_randn(6, NN_SHAPE(2, 3, 6)));
        test_gradcheck("SwiGLU", f_swiglu, &c, test_module_inputs(in, x, &c.m), in);
        tensor_free(x);
        module_free(&c.m);
    }
}
END_TEST

/* in[0] is x (B, T, H), in[1] the memory (B, S, M), then the parameters. */
static Tensor *f_cross(Graph *g, Tensor *const *in, void *ctx) {
    LayerCase *c = ctx;
    c->m.dropout_rng = rng_new(11, 22); /* the same masks every call */
    return cross_attention_forward(c->layer, &c->m, g, in[0], in[1], c->memory_valid);
}

START_TEST(grad_cross_attention_layer) {
    static const unsigned char valid[2 * 5] = {1, 1, 1, 1, 1, 1, 1, 0, 0, 0};
    for (int padded = 0; padded < 2; padded++)
        for (int kind = 0; kind < 2; kind++) {
            LayerCase c = {.memory_valid = padded ? valid : NULL};
            module_init(&c.m, 7);
            CrossAttention a = cross_attention_new(&c.m, "attn", 4, 3, 2, 0.25, kind ? MASK_NEG_INF : MASK_MINUS_10000);
            test_randomise(&c.m, 8, 0.5);
            c.layer = &a;
            Tensor *in[12], *x = test_param(test_randn(9, NN_SHAPE(2, 4, 4)));
            in[0] = x;
            in[1] = test_param(test_randn(10, NN_SHAPE(2, 5, 3)));
            int n = 2 + test_module_inputs(in + 2, NULL, &c.m);
            test_gradcheck("CrossAttention", f_cross, &c, n, in);
            tensor_free(x);
            tensor_free(in[1]);
            module_free(&c.m);
        }
}
END_TEST

static void cross_attention_all_padding(void) {
    Module m;
    module_init(&m, 1);
    CrossAttention a = cross_attention_new(&m, "attn", 4, 3, 2, 0, MASK_NEG_INF);
    static const unsigned char valid[2 * 2] = {1, 0, 0, 0};
    Graph *g = graph_new();
    cross_attention_forward(&a, &m, g, ag_zeros(g, NN_SHAPE(2, 3, 4)), ag_zeros(g, NN_SHAPE(2, 2, 3)), valid);
}

START_TEST(cross_attention_refuses_a_memory_of_padding_only) {
    char msg[1024];
    ck_assert_msg(test_abort_message(cross_attention_all_padding, msg, sizeof msg), "no abort: %s", msg);
    ck_assert_msg(strstr(msg, "cross_attention_forward") && strstr(msg, "memory 1 of 2 has no real position"), "%s",
                  msg);
}
END_TEST

static Suite *grad_layers_more_suite(void) {
    Suite *s = suite_create("grad_layers_more");
    TCase *tc = tcase_create("layers");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, grad_rms_norm_layer);
    tcase_add_test(tc, grad_swiglu_layer);
    tcase_add_test(tc, grad_cross_attention_layer);
    if (test_forking()) tcase_add_test(tc, cross_attention_refuses_a_memory_of_padding_only);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(grad_layers_more_suite)
