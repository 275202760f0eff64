/* The transformer block for a plain dense batch: PyTorch's defaults in one
 * call, a forward pass on (B, T, H) with a causal flag and a padding mask and
 * no layout to build, and a config that was never filled in refused with a
 * message. Values against nn.TransformerEncoderLayer: tests/nn/test_golden_library.c. */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "nn/transformer_block.h"
#include "tests/support.h"

START_TEST(default_config_has_pytorch_conventions) {
    for (int pre = 0; pre < 2; pre++) {
        NormPlacement norm = pre ? NORM_PRE : NORM_POST;
        TransformerBlockConfig c = transformer_block_default_config(64, 4, norm);
        ck_assert(c.hidden == 64 && c.heads == 4 && c.inner == 256);
        ck_assert(c.mask == MASK_NEG_INF && c.act == ACT_RELU && c.norm == norm);
        ck_assert(c.eps == (real)1e-5 && c.dropout == (real)0.1 && c.attn_dropout == (real)0.1);
    }
}
END_TEST

/* The dense forward is the layout forward with seq_layout_dense: the same numbers (dropout masks
 * included) and the same gradients. */
START_TEST(dense_forward_equals_the_layout_forward) {
    const unsigned char valid[3 * 5] = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0};
    for (int variant = 0; variant < 8; variant++) {
        int causal = variant & 1;
        const unsigned char *kv = variant & 2 ? valid : NULL;
        NormPlacement norm = variant & 4 ? NORM_PRE : NORM_POST;
        Module m;
        module_init(&m, 3);
        TransformerBlockConfig cfg = transformer_block_default_config(8, 2, norm);
        TransformerBlock t = transformer_block_new(&m, "block", &cfg);
        Tensor *x = test_param(test_randn(4, NN_SHAPE(3, 5, 8)));
        Graph *g = graph_new();
        Rng start = m.dropout_rng;
        Tensor *a = transformer_block_forward_dense(&t, &m, g, x, causal, kv);
        ag_backward_with(g, a, a); /* any fixed output gradient */
        Tensor *ga = tensor_clone(x->grad);
        tensor_zero_grad(x);
        m.dropout_rng = start;
        SeqLayout layout = seq_layout_dense(g, 3, 5, kv, causal);
        Tensor *b = transformer_block_forward(&t, &m, g, x, &layout);
        ck_assert(memcmp(a->data, b->data, (size_t)a->numel * sizeof(real)) == 0);
        ag_backward_with(g, b, b);
        ck_assert(memcmp(ga->data, x->grad->data, (size_t)x->numel * sizeof(real)) == 0);
        graph_free(g);
        tensor_free(ga);
        tensor_free(x);
        module_free(&m);
    }
}
END_TEST

static void build_zero_config(void *ctx) {
    (void)ctx;
    Module m;
    module_init(&m, 1);
    TransformerBlockConfig zero = {0};
    transformer_block_new(&m, "block", &zero);
}

static void build_without_eps(void *ctx) {
    (void)ctx;
    Module m;
    module_init(&m, 1);
    TransformerBlockConfig c = {.hidden = 8, .inner = 32, .heads = 2, .norm = NORM_PRE, .mask = MASK_NEG_INF};
    transformer_block_new(&m, "enc", &c);
}

static void dense_forward_wrong_shape(void *ctx) {
    (void)ctx;
    Module m;
    module_init(&m, 1);
    TransformerBlockConfig c = transformer_block_default_config(8, 2, NORM_PRE);
    TransformerBlock t = transformer_block_new(&m, "enc", &c);
    Graph *g = graph_new();
    transformer_block_forward_dense(&t, &m, g, ag_zeros(g, NN_SHAPE(15, 8)), 1, NULL);
}

static void expect_abort(void (*fn)(void *), const char *needle) {
    char err[4096];
    int status = test_run_forked(fn, NULL, err, sizeof err);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "no abort for '%s' (status %d)", needle, status);
    ck_assert_msg(strstr(err, needle), "message lacks '%s': %s", needle, err);
}

START_TEST(an_unfilled_config_is_refused_with_a_message) {
    expect_abort(build_zero_config, "transformer_block_default_config(hidden, heads, NORM_PRE or NORM_POST)");
    expect_abort(build_without_eps, "enc: hidden 8, inner 32, heads 2, eps 0");
    expect_abort(dense_forward_wrong_shape, "enc: input (15, 8), expected (B, T, 8)");
}
END_TEST

static Suite *transformer_dense_suite(void) {
    Suite *s = suite_create("transformer_dense");
    TCase *tc = tcase_create("dense");
    tcase_add_test(tc, default_config_has_pytorch_conventions);
    tcase_add_test(tc, dense_forward_equals_the_layout_forward);
    tcase_add_test(tc, an_unfilled_config_is_refused_with_a_message);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(transformer_dense_suite)
