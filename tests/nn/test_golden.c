/* Golden values from PyTorch: every nn layer, loss and optimizer compared
 * with the fixtures in tests/fixtures/ (written by
 * tests/fixtures/gen_fixtures.py, read through tests/nn/golden.h), on small
 * shapes; test_golden_sasrec.c has SASRec's sizes.
 *
 * Each layer case loads PyTorch's weights into our layer by our parameter
 * names, runs the forward pass on the fixture's input, backpropagates
 * dy = W (the gradient of sum(W * y)) and compares the output, the input
 * gradient and every parameter gradient. The references are float64 results
 * from float32 inputs, so a difference is our float32 rounding (or a bug).
 *
 * GOLDEN_REPORT=1 prints the worst error of every comparison. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "autograd/op.h"
#include "base/error.h"
#include "nn/embedding.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "nn/transformer_block.h"
#include "tests/nn/attention_unfused.h"
#include "tests/nn/golden.h"

/* ---- the fixture reader itself ---- */

START_TEST(golden_fixture_reader) {
    NnError err;
    ck_assert(fx_load("no_such_case", &err) == NULL);
    ck_assert_msg(strstr(err.msg, "tests/fixtures/no_such_case.safetensors") && strstr(err.msg, "gen_fixtures.py"),
                  "%s", err.msg);
    /* a committed fixture: F64 settings, I64 ids, F32 inputs through the library's reader */
    Fixture *f = fx_open("embedding_pad3");
    ck_assert(fx_get(f, "ids")->is_int && fx_get(f, "ids")->n == 12 && !fx_get(f, "grad.emb.weight")->stored_f32);
    int64_t n, *ids = fx_ints(f, "ids", &n), *pad = fx_ints(f, "padding_idx", NULL);
    ck_assert(n == 12 && ids[0] == 3 && ids[11] == 5 && pad[0] == 3);
    Tensor *w = fx_tensor(f, "param.emb.weight");
    ck_assert(w->ndim == 2 && w->shape[0] == 7 && w->shape[1] == 5 && w->data[3] == (real)fx_get(f, "param.emb.weight")->v[3]);
    free(ids);
    free(pad);
    tensor_free(w);
    fx_free(f);
    f = fx_open("layernorm_eps1e-5");
    ck_assert(fx_scalar(f, "eps") == 1e-5);
    fx_free(f);
    /* what the library's reader refuses comes back with its message */
    char dir[] = "/tmp/nn_golden_XXXXXX", path[64];
    ck_assert(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    FILE *fp = fopen(path, "wb");
    fputs("not a safetensors file", fp);
    fclose(fp);
    ck_assert(fx_load_path(path, "bad", &err) == NULL && strstr(err.msg, path));
    remove(path);
    rmdir(dir);
}
END_TEST

/* ---- layers ---- */

START_TEST(golden_linear) {
    const char *cases[] = {"linear_bias", "linear_nobias"};
    for (int c = 0; c < 2; c++) {
        Fixture *f = fx_open(cases[c]);
        const FxEntry *w = fx_get(f, "param.fc.weight");
        Module m;
        module_init(&m, 1);
        Linear l = linear_new(&m, "fc", w->shape[1], w->shape[0], fx_scalar(f, "bias") != 0);
        fx_load_params(f, &m);
        Graph *g = graph_new();
        Tensor *x = fx_input(f);
        check_layer(f, g, &m, x, linear_forward(&l, g, x));
        graph_free(g);
        tensor_free(x);
        module_free(&m);
        fx_free(f);
    }
}
END_TEST

START_TEST(golden_embedding) {
    golden_embedding_case("embedding_pad0");
    golden_embedding_case("embedding_pad3");
}
END_TEST

START_TEST(golden_layernorm) {
    golden_layernorm_case("layernorm_eps1e-12");
    golden_layernorm_case("layernorm_eps1e-5");
}
END_TEST

START_TEST(golden_feedforward) {
    const char *cases[] = {"feedforward_gelu", "feedforward_relu"};
    for (int c = 0; c < 2; c++) {
        Fixture *f = fx_open(cases[c]);
        const FxEntry *w1 = fx_get(f, "param.ffn.fc1.weight");
        Module m;
        module_init(&m, 4);
        FeedForward ff = feed_forward_new(&m, "ffn", w1->shape[1], w1->shape[0], c == 0 ? ACT_GELU : ACT_RELU);
        fx_load_params(f, &m);
        Graph *g = graph_new();
        Tensor *x = fx_input(f);
        check_layer(f, g, &m, x, feed_forward_forward(&ff, g, x));
        graph_free(g);
        tensor_free(x);
        module_free(&m);
        fx_free(f);
    }
}
END_TEST

START_TEST(golden_multihead_attention) {
    const char *cases[] = {"attention_m10000", "attention_inf"};
    for (int c = 0; c < 2; c++)
        for (int fused = 1; fused >= 0; fused--) {
            Fixture *f = fx_open(cases[c]);
            int64_t *heads = fx_ints(f, "heads", NULL), *neg_inf = fx_ints(f, "neg_inf", NULL);
            unsigned char *kv = fx_key_valid(f);
            Tensor *x = fx_input(f);
            int64_t B = x->shape[0], L = x->shape[1], H = x->shape[2];
            Module m;
            module_init(&m, 5);
            /* evaluation mode: the attention dropout must be off */
            Attention a =
                attention_new(&m, "attn", H, (int)heads[0], 0.2, neg_inf[0] ? MASK_NEG_INF : MASK_MINUS_10000);
            module_train(&m, 0);
            fx_load_params(f, &m);
            Graph *g = graph_new();
            Tensor *y;
            SeqLayout layout = seq_layout_dense(g, B, L, kv, 1);
            if (fused)
                y = attention_forward(&a, &m, g, x, &layout);
            else
                y = attention_unfused_forward(&a, &m, g, x, &layout);
            snprintf(f->name, sizeof f->name, "%s/%s", cases[c], fused ? "fused" : "unfused");
            /* The unfused -10000 path adds -10000 in float32, as PyTorch's float32 module: that keeps
             * the scores of fully padded rows to 2^-11 only, and it has its own reference. */
            int rounded = !fused && sizeof(real) == sizeof(float) && fx_find(f, "unfused.y");
            check_layer_ref(f, rounded ? "unfused." : "", g, &m, x, y);
            graph_free(g);
            tensor_free(x);
            free(heads);
            free(neg_inf);
            free(kv);
            module_free(&m);
            fx_free(f);
        }
}
END_TEST

START_TEST(golden_transformer_block) {
    const char *cases[] = {"block_post", "block_pre"};
    for (int c = 0; c < 2; c++) {
        Fixture *f = fx_open(cases[c]);
        int64_t *heads = fx_ints(f, "heads", NULL), *neg_inf = fx_ints(f, "neg_inf", NULL);
        int64_t *pre = fx_ints(f, "pre_norm", NULL), *gelu = fx_ints(f, "gelu", NULL);
        unsigned char *kv = fx_key_valid(f);
        Tensor *x = fx_input(f);
        int64_t B = x->shape[0], L = x->shape[1], H = x->shape[2];
        TransformerBlockConfig cfg = {.hidden = H,
                                      .inner = fx_get(f, "param.block.ffn.fc1.weight")->shape[0],
                                      .heads = (int)heads[0],
                                      .dropout = 0.3, /* evaluation mode: both must be off */
                                      .attn_dropout = 0.2,
                                      .eps = (real)fx_scalar(f, "eps"),
                                      .act = gelu[0] ? ACT_GELU : ACT_RELU,
                                      .mask = neg_inf[0] ? MASK_NEG_INF : MASK_MINUS_10000,
                                      .norm = pre[0] ? NORM_PRE : NORM_POST};
        Module m;
        module_init(&m, 6);
        TransformerBlock t = transformer_block_new(&m, "block", &cfg);
        module_train(&m, 0); /* dropout off, as the reference in eval mode */
        fx_load_params(f, &m);
        Graph *g = graph_new();
        SeqLayout layout = seq_layout_dense(g, B, L, kv, 1);
        check_layer(f, g, &m, x, transformer_block_forward(&t, &m, g, x, &layout));
        graph_free(g);
        tensor_free(x);
        free(heads);
        free(neg_inf);
        free(pre);
        free(gelu);
        free(kv);
        module_free(&m);
        fx_free(f);
    }
}
END_TEST

/* Dropout's masks are not PyTorch's, so this checks its definition instead:
 * evaluation mode (or p = 0) is the identity; in training every output is 0 or
 * x / (1 - p), about a fraction p is dropped, and the gradient is dy with the
 * same mask and scale. */
START_TEST(golden_dropout) {
    const real ps[] = {0.1, 0.5};
    Tensor *x = test_param(test_randn(21, NN_SHAPE(64, 1000)));
    Tensor *dy = test_randn(22, NN_SHAPE(64, 1000));
    for (int k = 0; k < 2; k++) {
        real p = ps[k];
        Module m;
        module_init(&m, 7);
        Dropout d = dropout_new(&m, "dropout", p);
        Graph *g = graph_new();
        module_train(&m, 0);
        ck_assert(dropout_forward(&d, &m, g, x) == x);
        module_train(&m, 1);
        Dropout d0 = dropout_new(&m, "dropout", 0);
        ck_assert(dropout_forward(&d0, &m, g, x) == x);
        Tensor *y = dropout_forward(&d, &m, g, x);
        ag_backward_with(g, y, dy);
        /* One assertion per property, not per element: Check records every assertion it passes. */
        int64_t dropped = 0, bad_zero = -1, bad_value = -1, bad_grad = -1;
        double scale = 1 / (1 - (double)p);
        for (int64_t i = 0; i < x->numel; i++) {
            double xi = x->data[i], yi = y->data[i], gi = x->grad->data[i], di = dy->data[i];
            if (xi == 0 && bad_zero < 0) bad_zero = i;
            if (yi == 0) {
                dropped++;
                if (gi != 0 && bad_grad < 0) bad_grad = i;
            } else {
                if (fabs(yi - xi * scale) > 1e-6 * fabs(xi * scale) && bad_value < 0) bad_value = i;
                if (fabs(gi - di * scale) > 1e-6 * fabs(di * scale) + 1e-12 && bad_grad < 0) bad_grad = i;
            }
        }
        ck_assert_msg(bad_zero < 0, "x has a zero at %lld: the test cannot tell a dropped element",
                      (long long)bad_zero);
        ck_assert_msg(bad_value < 0, "p %g: element %lld is %.9g, neither 0 nor x/(1-p) = %.9g", (double)p,
                      (long long)bad_value, bad_value < 0 ? 0 : (double)y->data[bad_value],
                      bad_value < 0 ? 0 : x->data[bad_value] * scale);
        ck_assert_msg(bad_grad < 0, "p %g: gradient %lld is %.9g, expected %s", (double)p, (long long)bad_grad,
                      bad_grad < 0 ? 0 : (double)x->grad->data[bad_grad],
                      bad_grad >= 0 && y->data[bad_grad] == 0 ? "0 (dropped)" : "dy/(1-p) (kept)");
        /* 64000 draws: the standard deviation of the fraction is at most 0.002 */
        double frac = (double)dropped / (double)x->numel;
        if (golden_report()) printf("golden dropout p %.1f: fraction dropped %.4f\n", (double)p, frac);
        ck_assert_msg(fabs(frac - p) < 0.01, "p %g: fraction dropped %g", (double)p, frac);
        tensor_zero_grad(x);
        graph_free(g);
        module_free(&m);
    }
    tensor_free(x);
    tensor_free(dy);
}
END_TEST

/* ---- losses ---- */

START_TEST(golden_loss_bce) { golden_bce_case("loss_bce"); }
END_TEST

START_TEST(golden_loss_cross_entropy) {
    golden_ce_case("loss_ce_ignore_m100");
    golden_ce_case("loss_ce_ignore0");
}
END_TEST

START_TEST(golden_loss_mse) {
    const char *cases[] = {"loss_mse", "loss_mse_broadcast"};
    for (int c = 0; c < 2; c++) {
        Fixture *f = fx_open(cases[c]);
        const char *names[] = {"pred", "target"};
        Tensor *in[2] = {test_param(fx_tensor(f, names[0])), test_param(fx_tensor(f, names[1]))};
        Graph *g = graph_new();
        check_loss(f, g, loss_mse(g, in[0], in[1]), 2, in, names);
        graph_free(g);
        test_free_all(2, in);
        fx_free(f);
    }
}
END_TEST

/* ---- optimizers: Linear(4, 3) + LayerNorm(3), explicit gradients, 5 steps ---- */

static void optim_params(Module *m) {
    linear_new(m, "fc", 4, 3, 1);
    layer_norm_new(m, "ln", 3, 1e-5);
}

static void optim_module(Module *m, const Fixture *f) {
    module_init(m, 8);
    optim_params(m);
    fx_load_params(f, m);
}

static void run_adam_case(const char *name) { golden_adam_case(name, optim_params); }

START_TEST(golden_adam) {
    run_adam_case("adam_default");
    run_adam_case("adam_wd");
}
END_TEST

START_TEST(golden_adamw) { run_adam_case("adamw"); }
END_TEST

/* AdamW's usual groups (no_decay = OPTIM_NO_DECAY_USUAL) against torch.optim.AdamW with two param_groups:
 * fc.weight decays, fc.bias and LayerNorm's gain and bias do not. */
START_TEST(golden_adamw_groups) { run_adam_case("adamw_groups"); }
END_TEST

START_TEST(golden_adam_late_gradient) { run_adam_case("adam_late_grad"); }
END_TEST

START_TEST(golden_sgd) {
    const char *cases[] = {"sgd_plain", "sgd_momentum", "sgd_nesterov", "sgd_wd"};
    for (int c = 0; c < 4; c++) {
        Fixture *f = fx_open(cases[c]);
        Module m;
        optim_module(&m, f);
        SgdConfig cfg = {(real)fx_scalar(f, "lr"), (real)fx_scalar(f, "momentum"), (real)fx_scalar(f, "dampening"),
                         (real)fx_scalar(f, "weight_decay"), (int)fx_scalar(f, "nesterov")};
        Sgd *s = sgd_new(&m, cfg);
        Tensor *values[8];
        for (int k = 1; k <= 5; k++) {
            set_step_grads(f, &m, k);
            sgd_step(s);
            check_state(f, &m, k, "param", param_values(&m, values));
            check_state(f, &m, k, "buf", s->buf);
        }
        sgd_free(s);
        module_free(&m);
        fx_free(f);
    }
}
END_TEST

START_TEST(golden_clip_grad_norm) {
    const char *cases[] = {"clip_grad_norm_clip", "clip_grad_norm_noclip", "clip_grad_norm_tiny"};
    const Tol tol = {1e-5, 0, 1e-6}; /* no absolute floor: the tiny case's gradients are ~1e-6 */
    char key[256];
    for (int c = 0; c < 3; c++) {
        Fixture *f = fx_open(cases[c]);
        Module m;
        module_init(&m, 9);
        linear_new(&m, "fc", 4, 3, 1);
        layer_norm_new(&m, "ln", 3, 1e-5);
        Graph *g = graph_new();
        for (int i = 0; i < m.n_params; i++) {
            snprintf(key, sizeof key, "grad.%s", m.params[i].name);
            if (fx_find(f, key)) fx_fill(f, key, ag_grad(g, m.params[i].value)); /* ln.bias keeps no gradient */
        }
        graph_free(g);
        fx_check_value(f, "norm", clip_grad_norm(&m, fx_scalar(f, "max_norm")), tol);
        for (int i = 0; i < m.n_params; i++) {
            snprintf(key, sizeof key, "clipped.%s", m.params[i].name);
            if (fx_find(f, key))
                fx_check_tol(f, key, m.params[i].value->grad, tol);
            else
                ck_assert(m.params[i].value->grad == NULL);
        }
        module_free(&m);
        fx_free(f);
    }
}
END_TEST

static Suite *golden_suite(void) {
    Suite *s = suite_create("golden");
    TCase *tc = tcase_create("pytorch");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, golden_fixture_reader);
    tcase_add_test(tc, golden_linear);
    tcase_add_test(tc, golden_embedding);
    tcase_add_test(tc, golden_layernorm);
    tcase_add_test(tc, golden_dropout);
    tcase_add_test(tc, golden_feedforward);
    tcase_add_test(tc, golden_multihead_attention);
    tcase_add_test(tc, golden_transformer_block);
    tcase_add_test(tc, golden_loss_bce);
    tcase_add_test(tc, golden_loss_cross_entropy);
    tcase_add_test(tc, golden_loss_mse);
    tcase_add_test(tc, golden_adam);
    tcase_add_test(tc, golden_adamw);
    tcase_add_test(tc, golden_adamw_groups);
    tcase_add_test(tc, golden_adam_late_gradient);
    tcase_add_test(tc, golden_sgd);
    tcase_add_test(tc, golden_clip_grad_norm);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(golden_suite)
