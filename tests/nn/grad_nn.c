/* A finite-difference gradient check of every nn layer and loss as a whole,
 * on the double build: the layer's output and all its parameters' gradients. */
#include <string.h>

#include "nn/embedding.h"
#include "nn/loss.h"
#include "nn/transformer_block.h"
#include "tests/nn/attention_unfused.h"
#include "tests/support.h"

typedef struct {
    Module m;
    void *layer;
    const SeqLayout *layout;
    int variant;
} LayerCase;

static void fix_dropout(LayerCase *c) { c->m.dropout_rng = rng_new(11, 22); } /* the same masks every call */

static Tensor *f_linear(Graph *g, Tensor *const *in, void *ctx) {
    LayerCase *c = ctx;
    return linear_forward(c->layer, g, in[0]);
}

START_TEST(grad_linear_layer) {
    for (int bias = 0; bias < 2; bias++) {
        LayerCase c;
        module_init(&c.m, 1);
        Linear l = linear_new(&c.m, "fc", 4, 3, bias);
        c.layer = &l;
        Tensor *in[3], *x = test_param(test_randn(1, NN_SHAPE(2, 5, 4)));
        test_gradcheck("Linear", f_linear, &c, test_module_inputs(in, x, &c.m), in);
        tensor_free(x);
        module_free(&c.m);
    }
}
END_TEST

static Tensor *f_embedding(Graph *g, Tensor *const *in, void *ctx) {
    (void)in;
    const int64_t ids[] = {1, 4, 4, 2, 1, 3}; /* repeated ids */
    LayerCase *c = ctx;
    return embedding_forward(c->layer, g, ids, NN_SHAPE(2, 3));
}

START_TEST(grad_embedding_layer) {
    LayerCase c;
    module_init(&c.m, 2);
    Embedding e = embedding_new(&c.m, "emb", 5, 3, -1);
    c.layer = &e;
    Tensor *in[1];
    test_gradcheck("Embedding", f_embedding, &c, test_module_inputs(in, NULL, &c.m), in);
    module_free(&c.m);
}
END_TEST

static Tensor *f_layer_norm(Graph *g, Tensor *const *in, void *ctx) {
    LayerCase *c = ctx;
    return layer_norm_forward(c->layer, g, in[0]);
}

START_TEST(grad_layer_norm_layer) {
    LayerCase c;
    module_init(&c.m, 3);
    LayerNorm ln = layer_norm_new(&c.m, "ln", 6, 1e-12);
    test_randomise(&c.m, 3, 0.5);
    c.layer = &ln;
    Tensor *in[3], *x = test_param(test_randn(3, NN_SHAPE(4, 6)));
    test_gradcheck("LayerNorm", f_layer_norm, &c, test_module_inputs(in, x, &c.m), in);
    tensor_free(x);
    module_free(&c.m);
}
END_TEST

static Tensor *f_dropout(Graph *g, Tensor *const *in, void *ctx) {
    LayerCase *c = ctx;
    fix_dropout(c);
    return dropout_forward(c->layer, &c->m, g, in[0]);
}

START_TEST(grad_dropout_layer) {
    LayerCase c;
    module_init(&c.m, 4);
    Dropout d = dropout_new(&c.m, "dropout", 0.5);
    c.layer = &d;
    Tensor *x = test_param(test_randn(4, NN_SHAPE(5, 6)));
    test_gradcheck("Dropout", f_dropout, &c, 1, &x);
    /* evaluation mode: the identity */
    module_train(&c.m, 0);
    Graph *g = graph_new();
    ck_assert(dropout_forward(&d, &c.m, g, x) == x);
    graph_free(g);
    tensor_free(x);
    module_free(&c.m);
}
END_TEST

static Tensor *f_ffn(Graph *g, Tensor *const *in, void *ctx) {
    LayerCase *c = ctx;
    return feed_forward_forward(c->layer, g, in[0]);
}

START_TEST(grad_feed_forward_layer) {
    for (int act = 0; act < 2; act++) {
        LayerCase c;
        module_init(&c.m, 5);
        FeedForward f = feed_forward_new(&c.m, "ffn", 4, 8, act ? ACT_RELU : ACT_GELU);
        test_randomise(&c.m, 5, 0.5);
        c.layer = &f;
        Tensor *in[5], *x = test_param(test_randn(5, NN_SHAPE(3, 4)));
        test_gradcheck(act ? "FeedForward(relu)" : "FeedForward(gelu)", f_ffn, &c, test_module_inputs(in, x, &c.m), in);
        tensor_free(x);
        module_free(&c.m);
    }
}
END_TEST

/* Left-padded batch: B = 3 sequences of L = 4 with 4, 2 and 0 real items. */
static const unsigned char KEY_VALID[12] = {1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0};

static Tensor *f_mha(Graph *g, Tensor *const *in, void *ctx) {
    LayerCase *c = ctx;
    fix_dropout(c);
    SeqLayout layout = c->layout ? *c->layout : seq_layout_dense(g, 3, 4, KEY_VALID, 1);
    if (c->variant == 1) return attention_unfused_forward(c->layer, &c->m, g, in[0], &layout);
    return attention_forward(c->layer, &c->m, g, in[0], &layout);
}

START_TEST(grad_attention_layer) {
    int64_t packed_off[] = {0, 4, 6, 7};
    SeqLayout packed = {.n_seq = 3, .offsets = packed_off, .key_valid = NULL, .causal = 1};
    /* variant 0: fused, dense with causal + padding masks; 1: unfused reference; 2: fused, packed lengths */
    for (int variant = 0; variant < 3; variant++)
        for (int kind = 0; kind < 2; kind++) {
            LayerCase c = {.layout = variant == 2 ? &packed : NULL, .variant = variant};
            module_init(&c.m, 6);
            Attention a = attention_new(&c.m, "attn", 4, 2, 0.25, kind ? MASK_NEG_INF : MASK_MINUS_10000);
            test_randomise(&c.m, 6, 0.5);
            c.layer = &a;
            Tensor *in[9],
                *x = test_param(variant == 2 ? test_randn(6, NN_SHAPE(7, 4)) : test_randn(6, NN_SHAPE(3, 4, 4)));
            /* The unfused -10000 mask adds 10000 to scores of fully masked rows, which rounds them to
             * 1e-12: a step of 1e-4 keeps that noise below the tolerance. */
            double eps = variant == 1 && kind == 0 ? 1e-4 : 0;
            test_gradcheck_eps("Attention", f_mha, &c, test_module_inputs(in, x, &c.m), in, eps);
            tensor_free(x);
            module_free(&c.m);
        }
}
END_TEST

static Tensor *f_block(Graph *g, Tensor *const *in, void *ctx) {
    LayerCase *c = ctx;
    fix_dropout(c);
    SeqLayout layout = seq_layout_dense(g, 3, 4, KEY_VALID, 1);
    return transformer_block_forward(c->layer, &c->m, g, in[0], &layout);
}

START_TEST(grad_transformer_block) {
    for (int norm = 0; norm < 2; norm++) {
        LayerCase c = {0};
        module_init(&c.m, 7);
        TransformerBlockConfig cfg = {.hidden = 4,
                                      .inner = 8,
                                      .heads = 2,
                                      .dropout = 0.2,
                                      .attn_dropout = 0.3,
                                      .eps = 1e-12,
                                      .act = ACT_GELU,
                                      .mask = MASK_MINUS_10000,
                                      .norm = norm ? NORM_PRE : NORM_POST};
        TransformerBlock t = transformer_block_new(&c.m, "block", &cfg);
        test_randomise(&c.m, 7, 0.5);
        c.layer = &t;
        Tensor *in[20], *x = test_param(test_randn(7, NN_SHAPE(3, 4, 4)));
        test_gradcheck(norm ? "TransformerBlock(pre)" : "TransformerBlock(post)", f_block, &c, test_module_inputs(in, x, &c.m),
                       in);
        tensor_free(x);
        module_free(&c.m);
    }
}
END_TEST

static Tensor *f_loss(Graph *g, Tensor *const *in, void *ctx) {
    int which = *(int *)ctx;
    static real mask[6] = {1, 1, 0, 1, 0, 1};
    static const int64_t target[3] = {1, -1, 0};
    Tensor m = tensor_wrap(mask, NN_SHAPE(2, 3));
    if (which == 0) return loss_bce_pos_neg(g, in[0], in[1], &m);
    if (which == 1) return loss_cross_entropy(g, ag_reshape(g, in[0], NN_SHAPE(3, 2)), target, 3, -1); /* (3, 2) */
    return loss_mse(g, in[0], in[1]);
}

START_TEST(grad_losses) {
    const char *names[] = {"bce_pos_neg", "cross_entropy", "mse"};
    for (int which = 0; which < 3; which++) {
        Tensor *in[2] = {test_param(test_randn(8, NN_SHAPE(2, 3))), test_param(test_randn(9, NN_SHAPE(2, 3)))};
        test_gradcheck(names[which], f_loss, &which, which == 1 ? 1 : 2, in);
        test_free_all(2, in);
    }
}
END_TEST

static Suite *grad_nn_suite(void) {
    Suite *s = suite_create("grad_nn");
    TCase *tc = tcase_create("layers");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, grad_linear_layer);
    tcase_add_test(tc, grad_embedding_layer);
    tcase_add_test(tc, grad_layer_norm_layer);
    tcase_add_test(tc, grad_dropout_layer);
    tcase_add_test(tc, grad_feed_forward_layer);
    tcase_add_test(tc, grad_attention_layer);
    tcase_add_test(tc, grad_transformer_block);
    tcase_add_test(tc, grad_losses);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(grad_nn_suite)
