/* Golden values from PyTorch for the ops and layers issue 21 asked for: sin,
 * cos, leaky_relu, elu, log1p, sign, erf, softsign, cumsum, min (torch.amin),
 * var, std, the p-norm (torch.linalg.vector_norm), index_add, scatter_add;
 * RMSNorm (the formula: torch 1.13 has none), a SwiGLU feed-forward and
 * cross-attention against nn.MultiheadAttention with kdim/vdim and a key
 * padding mask.
 *
 * The fixtures are tests/fixtures/library/more_*.safetensors, written by
 * tests/fixtures/gen_fixtures_more.py, read through tests/nn/golden.h. Inputs
 * are float32, references float64; the comparison allows our float32 rounding
 * (TOL_LAYER, with a floor of 1e-6 of the case's largest result). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/cross_attention.h"
#include "nn/rms_norm.h"
#include "nn/swiglu.h"
#include "tests/nn/golden.h"

#undef REGENERATE
#define DIR        "tests/fixtures/library/"
#define REGENERATE "/usr/bin/python3 tests/fixtures/gen_fixtures_more.py"

static Fixture *open_case(const char *name) {
    char path[256];
    NnError err;
    snprintf(path, sizeof path, DIR "%s.safetensors", name);
    Fixture *f = fx_load_path(path, name, &err);
    ck_assert_msg(f != NULL, "%s (run from the repository root; regenerate with %s)", err.msg, REGENERATE);
    return f;
}

/* The tolerance of a case: TOL_LAYER's, with an absolute floor of 1e-6 of its largest result. */
static Tol case_tol(const Fixture *f) {
    double scale = 1;
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->e[i].name, "y") || !strncmp(f->e[i].name, "grad.", 5))
            for (int64_t j = 0; j < f->e[i].n; j++) scale = fmax(scale, fabs(f->e[i].v[j]));
    Tol t = TOL_LAYER;
    t.atol = fmax(t.atol, 1e-6 * scale);
    return t;
}

/* ---- ops: inputs "in.<k>" through one of our ops, compared with y and grad.in.<k> ---- */

typedef Tensor *(*OpFn)(Graph *g, Tensor *const *in, const Fixture *f);

static void run_op(const char *name, OpFn fn) {
    char key[64];
    Fixture *f = open_case(name);
    Tensor *in[4];
    int n = 0;
    for (; n < 4; n++) {
        snprintf(key, sizeof key, "in.%d", n);
        if (!fx_find(f, key)) break;
        in[n] = test_param(fx_tensor(f, key));
    }
    Graph *g = graph_new();
    Tol tol = case_tol(f);
    Tensor *y = fn(g, in, f);
    fx_check_tol(f, "y", y, tol);
    Tensor *W = fx_tensor(f, "W");
    ag_backward_with(g, y, W);
    tensor_free(W);
    for (int k = 0; k < n; k++) {
        snprintf(key, sizeof key, "grad.in.%d", k);
        fx_check_tol(f, key, in[k]->grad, tol);
    }
    graph_free(g);
    test_free_all(n, in);
    fx_free(f);
}

static Tensor *op_sin(Graph *g, Tensor *const *in, const Fixture *f) { return (void)f, ag_sin(g, in[0]); }
static Tensor *op_cos(Graph *g, Tensor *const *in, const Fixture *f) { return (void)f, ag_cos(g, in[0]); }
static Tensor *op_leaky(Graph *g, Tensor *const *in, const Fixture *f) {
    return ag_leaky_relu(g, in[0], (real)fx_scalar(f, "set.slope"));
}
static Tensor *op_elu(Graph *g, Tensor *const *in, const Fixture *f) {
    return ag_elu(g, in[0], (real)fx_scalar(f, "set.alpha"));
}
static Tensor *op_log1p(Graph *g, Tensor *const *in, const Fixture *f) { return (void)f, ag_log1p(g, in[0]); }
static Tensor *op_sign(Graph *g, Tensor *const *in, const Fixture *f) {
    return (void)f, ag_mul(g, ag_sign(g, in[0]), in[0]);
}
static Tensor *op_erf(Graph *g, Tensor *const *in, const Fixture *f) { return (void)f, ag_erf(g, in[0]); }
static Tensor *op_softsign(Graph *g, Tensor *const *in, const Fixture *f) { return (void)f, ag_softsign(g, in[0]); }

START_TEST(golden_unary) {
    run_op("more_sin", op_sin);
    run_op("more_cos", op_cos);
    run_op("more_leaky_relu", op_leaky);
    run_op("more_elu", op_elu);
    run_op("more_log1p", op_log1p);
    run_op("more_sign", op_sign);
    run_op("more_erf", op_erf);
    run_op("more_softsign", op_softsign);
}
END_TEST

static Tensor *op_cumsum(Graph *g, Tensor *const *in, const Fixture *f) {
    return ag_cumsum(g, in[0], (int)fx_scalar(f, "set.dim"));
}
static Tensor *op_amin(Graph *g, Tensor *const *in, const Fixture *f) {
    (void)f;
    return ag_min(g, in[0], 2, (int[]){0, 2}, 1);
}
static Tensor *op_var(Graph *g, Tensor *const *in, const Fixture *f) {
    (void)f;
    return ag_var(g, in[0], 1, (int[]){1}, 1, 0);
}
static Tensor *op_std(Graph *g, Tensor *const *in, const Fixture *f) {
    (void)f;
    return ag_std(g, in[0], 2, (int[]){0, 2}, 0, 1);
}
static Tensor *op_norm_2(Graph *g, Tensor *const *in, const Fixture *f) {
    return ag_norm(g, in[0], (real)fx_scalar(f, "set.p"), 1, (int[]){2}, 0);
}
static Tensor *op_norm_01(Graph *g, Tensor *const *in, const Fixture *f) {
    return ag_norm(g, in[0], (real)fx_scalar(f, "set.p"), 2, (int[]){0, 1}, 0);
}
static Tensor *op_norm_all(Graph *g, Tensor *const *in, const Fixture *f) {
    return ag_norm(g, in[0], (real)fx_scalar(f, "set.p"), 0, NULL, 0);
}

START_TEST(golden_scans_and_statistics) {
    run_op("more_cumsum_dim0", op_cumsum);
    run_op("more_cumsum_dim1", op_cumsum);
    run_op("more_cumsum_dim2", op_cumsum);
    run_op("more_amin_02_keep", op_amin);
    run_op("more_var_1", op_var);
    run_op("more_std_02_keep", op_std);
    run_op("more_norm2_2", op_norm_2);
    run_op("more_norm3_01", op_norm_01);
    run_op("more_norm1_all", op_norm_all);
}
END_TEST

static Tensor *op_index_add(Graph *g, Tensor *const *in, const Fixture *f) {
    int64_t n;
    int64_t *idx = fx_ints(f, "ids.idx", &n);
    Tensor *y = ag_index_add(g, in[0], 1, idx, n, in[1]);
    free(idx);
    return y;
}
static Tensor *op_scatter_add(Graph *g, Tensor *const *in, const Fixture *f) {
    int64_t n;
    int64_t *idx = fx_ints(f, "ids.idx", &n);
    Tensor *y = ag_scatter_add(g, in[0], 0, idx, n, in[1]);
    free(idx);
    return y;
}

START_TEST(golden_index_add_and_scatter_add) {
    run_op("more_index_add", op_index_add);
    run_op("more_scatter_add", op_scatter_add);
}
END_TEST

/* ---- layers ---- */

START_TEST(golden_rms_norm) {
    Fixture *f = open_case("more_rmsnorm");
    Module m;
    module_init(&m, 1);
    RMSNorm n = rms_norm_new(&m, "norm", 8, (real)fx_scalar(f, "set.eps"));
    fx_load_params(f, &m);
    Tensor *x = fx_input(f);
    Graph *g = graph_new();
    check_layer(f, g, &m, x, rms_norm_forward(&n, g, x));
    graph_free(g);
    tensor_free(x);
    module_free(&m);
    fx_free(f);
}
END_TEST

START_TEST(golden_swiglu) {
    Fixture *f = open_case("more_swiglu");
    Module m;
    module_init(&m, 1);
    SwiGLU s = swiglu_new(&m, "ffn", (int64_t)fx_scalar(f, "set.hidden"), (int64_t)fx_scalar(f, "set.inner"), 0);
    fx_load_params(f, &m);
    Tensor *x = fx_input(f);
    Graph *g = graph_new();
    check_layer(f, g, &m, x, swiglu_forward(&s, g, x));
    graph_free(g);
    tensor_free(x);
    module_free(&m);
    fx_free(f);
}
END_TEST

/* torch's MultiheadAttention with kdim/vdim and key_padding_mask; ours takes memory_valid, its inverse. */
START_TEST(golden_cross_attention_is_torch_multihead_attention) {
    Fixture *f = open_case("more_cross_attention");
    Module m;
    module_init(&m, 1);
    CrossAttention a = cross_attention_new(&m, "attn", (int64_t)fx_scalar(f, "set.hidden"),
                                           (int64_t)fx_scalar(f, "set.memory_dim"), (int)fx_scalar(f, "set.heads"), 0,
                                           MASK_NEG_INF);
    module_train(&m, 0);
    fx_load_params(f, &m);
    int64_t n;
    int64_t *valid = fx_ints(f, "ids.key_valid", &n);
    unsigned char *kv = malloc((size_t)n);
    for (int64_t i = 0; i < n; i++) kv[i] = valid[i] != 0;
    Tensor *x = fx_input(f), *mem = test_param(fx_tensor(f, "memory"));
    Graph *g = graph_new();
    check_layer(f, g, &m, x, cross_attention_forward(&a, &m, g, x, mem, kv));
    fx_check_tol(f, "grad.memory", mem->grad, case_tol(f));
    graph_free(g);
    tensor_free(x);
    tensor_free(mem);
    free(kv);
    free(valid);
    module_free(&m);
    fx_free(f);
}
END_TEST

static Suite *golden_more_suite(void) {
    Suite *s = suite_create("golden_more");
    TCase *tc = tcase_create("more");
    tcase_add_test(tc, golden_unary);
    tcase_add_test(tc, golden_scans_and_statistics);
    tcase_add_test(tc, golden_index_add_and_scatter_add);
    tcase_add_test(tc, golden_rms_norm);
    tcase_add_test(tc, golden_swiglu);
    tcase_add_test(tc, golden_cross_attention_is_torch_multihead_attention);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(golden_more_suite)
