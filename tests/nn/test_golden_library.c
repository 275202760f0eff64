/* Golden values from PyTorch for the everyday ops, the N-d cross-entropy,
 * the GRU and the learning-rate schedules driving Adam, AdamW and SGD.
 *
 * The fixtures are tests/fixtures/library/<case>.safetensors, written by
 * tests/fixtures/gen_fixtures_library.py (which documents the names) and read
 * here with the library's own reader. Inputs are float32, references float64;
 * the comparison allows our float32 rounding only, as tests/nn/test_golden.c.
 * GOLDEN_REPORT=1 prints the worst error of every comparison. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "autograd/op.h"
#include "io/safetensors.h"
#include "nn/gru.h"
#include "nn/loss.h"
#include "nn/lr_schedule.h"
#include "nn/optim.h"
#include "nn/transformer_block.h"
#include "tests/support.h"

#define FIXTURE_DIR "tests/fixtures/library/"
#define REGENERATE  "/usr/bin/python3 tests/fixtures/gen_fixtures_library.py"

/* ---- reading a case ---- */

typedef struct {
    char name[64];
    SafeTensors *st;
} Case;

static Case case_open(const char *name) {
    char path[256];
    NnError err;
    Case c;
    snprintf(c.name, sizeof c.name, "%s", name);
    snprintf(path, sizeof path, FIXTURE_DIR "%s.safetensors", name);
    c.st = safetensors_read(path, &err);
    ck_assert_msg(c.st != NULL, "%s (run the tests from the repository root; regenerate with %s)", err.msg, REGENERATE);
    return c;
}

static int case_has(const Case *c, const char *key) { return safetensors_find(c->st, key) >= 0; }

/* A new owned tensor holding entry key. */
static Tensor *case_tensor(const Case *c, const char *key) {
    NnError err;
    Tensor *t = safetensors_load(c->st, key, &err);
    ck_assert_msg(t != NULL, "%s: %s (regenerate with %s)", c->name, err.msg, REGENERATE);
    return t;
}

/* An F64 entry's values exactly (settings and learning rates are compared in double). */
static double case_f64(const Case *c, const char *key) {
    int i = safetensors_find(c->st, key);
    ck_assert_msg(i >= 0 && safetensors_dtype(c->st, i) == ST_F64 && safetensors_shape(c->st, i, NULL) == 0,
                  "%s: no F64 scalar '%s'", c->name, key);
    double v;
    memcpy(&v, safetensors_raw(c->st, i, NULL), sizeof v);
    return v;
}

static double setting(const Case *c, const char *name) {
    char key[128];
    snprintf(key, sizeof key, "set.%s", name);
    return case_f64(c, key);
}

/* An I64 entry "ids.<name>" as a malloc'd array; its shape into (ndim, shape) when non-NULL. */
static int64_t *case_ids(const Case *c, const char *name, int *ndim, int64_t *shape) {
    char key[128];
    snprintf(key, sizeof key, "ids.%s", name);
    int i = safetensors_find(c->st, key);
    ck_assert_msg(i >= 0 && safetensors_dtype(c->st, i) == ST_I64, "%s: no I64 entry '%s'", c->name, key);
    const int64_t *dims;
    int nd = safetensors_shape(c->st, i, &dims);
    size_t bytes;
    const void *raw = safetensors_raw(c->st, i, &bytes);
    int64_t *out = malloc(bytes ? bytes : 1);
    memcpy(out, raw, bytes);
    if (ndim) *ndim = nd;
    for (int d = 0; shape && d < nd; d++) shape[d] = dims[d];
    return out;
}

static int report_on(void) {
    const char *r = getenv("GOLDEN_REPORT");
    return r && strcmp(r, "1") == 0;
}

/* Element i passes when |actual - expected| <= rtol |expected| + atol. actual NULL: all zeros. */
static void case_check(const Case *c, const char *key, const Tensor *actual, double rtol, double atol) {
    Tensor *ref = case_tensor(c, key);
    if (actual)
        ck_assert_msg(tensor_same_shape(ref, actual), "%s: '%s' has shape %s, expected %s", c->name, key,
                      shape_str(actual->ndim, actual->shape).s, shape_str(ref->ndim, ref->shape).s);
    double worst = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < ref->numel; i++) {
        double a = actual ? (double)actual->data[tensor_offset_of(actual, i)] : 0, b = ref->data[i];
        double ratio = fabs(a - b) / (rtol * fabs(b) + atol);
        if (!(ratio <= worst)) worst = ratio, at = i;
    }
    if (report_on()) printf("golden %-26s %-26s %.3f of tolerance\n", c->name, key, worst);
    double a = actual && ref->numel ? (double)actual->data[tensor_offset_of(actual, at)] : 0;
    ck_assert_msg(worst <= 1, "%s: '%s' element %lld is %.9g, expected %.9g", c->name, key, (long long)at, a,
                  ref->numel ? (double)ref->data[at] : 0);
    tensor_free(ref);
}

/* The largest magnitude among the case's results (y and gradients): the scale of its rounding. */
static double result_scale(const Case *c) {
    double scale = 1;
    for (int i = 0; i < safetensors_count(c->st); i++) {
        const char *k = safetensors_name(c->st, i);
        if (strcmp(k, "y") && strncmp(k, "grad.", 5)) continue;
        Tensor *t = case_tensor(c, k);
        for (int64_t j = 0; j < t->numel; j++) scale = fmax(scale, fabs((double)t->data[j]));
        tensor_free(t);
    }
    return scale;
}

#define RTOL 1e-5 /* float32 rounding through a few ops; atol is 1e-6 of the case's scale */

/* Compares y, then backpropagates dy = W and compares the gradient of each of the n inputs. */
static void check_results(const Case *c, Graph *g, Tensor *y, int n, Tensor *const *in) {
    char key[64];
    double atol = 1e-6 * result_scale(c);
    case_check(c, "y", y, RTOL, atol);
    Tensor *W = case_tensor(c, "W");
    ag_backward_with(g, y, W);
    tensor_free(W);
    for (int k = 0; k < n; k++) {
        snprintf(key, sizeof key, "grad.in.%d", k);
        case_check(c, key, in[k]->grad, RTOL, atol);
    }
}

/* ---- ops: each case's inputs "in.<k>" through one of our ops ---- */

typedef Tensor *(*OpFn)(Graph *g, Tensor *const *in, const Case *c);

static void run_op(const char *name, OpFn f) {
    char key[64];
    Case c = case_open(name);
    Tensor *in[4];
    int n = 0;
    for (; n < 4; n++) {
        snprintf(key, sizeof key, "in.%d", n);
        if (!case_has(&c, key)) break;
        in[n] = test_param(case_tensor(&c, key));
    }
    Graph *g = graph_new();
    check_results(&c, g, f(g, in, &c), n, in);
    graph_free(g);
    test_free_all(n, in);
    safetensors_free(c.st);
}

static Tensor *op_clamp(Graph *g, Tensor *const *in, const Case *c) {
    return ag_clamp(g, in[0], (real)setting(c, "lo"), (real)setting(c, "hi"));
}
static Tensor *op_abs(Graph *g, Tensor *const *in, const Case *c) {
    (void)c;
    return ag_abs(g, in[0]);
}
static Tensor *op_softplus(Graph *g, Tensor *const *in, const Case *c) {
    return ag_softplus(g, in[0], (real)setting(c, "beta"), (real)setting(c, "threshold"));
}
static Tensor *op_silu(Graph *g, Tensor *const *in, const Case *c) {
    (void)c;
    return ag_silu(g, in[0]);
}
static Tensor *op_maximum(Graph *g, Tensor *const *in, const Case *c) {
    (void)c;
    return ag_maximum(g, in[0], in[1]);
}
static Tensor *op_minimum(Graph *g, Tensor *const *in, const Case *c) {
    (void)c;
    return ag_minimum(g, in[0], in[1]);
}

START_TEST(golden_elementwise) {
    run_op("clamp", op_clamp);
    run_op("abs", op_abs);
    run_op("softplus", op_softplus);
    run_op("softplus_beta2", op_softplus);
    run_op("silu", op_silu);
    run_op("maximum", op_maximum);
    run_op("minimum", op_minimum);
}
END_TEST

static Tensor *op_softmax(Graph *g, Tensor *const *in, const Case *c) {
    return ag_softmax_dim(g, in[0], (int)setting(c, "dim"));
}
static Tensor *op_log_softmax(Graph *g, Tensor *const *in, const Case *c) {
    return ag_log_softmax_dim(g, in[0], (int)setting(c, "dim"));
}
static Tensor *op_logsumexp_02_keep(Graph *g, Tensor *const *in, const Case *c) {
    (void)c;
    return ag_logsumexp(g, in[0], 2, (int[]){0, 2}, 1);
}
static Tensor *op_logsumexp_1(Graph *g, Tensor *const *in, const Case *c) {
    (void)c;
    return ag_logsumexp(g, in[0], 1, (int[]){1}, 0);
}

START_TEST(golden_softmax_any_dim_and_logsumexp) {
    run_op("softmax_dim0", op_softmax);
    run_op("softmax_dim1", op_softmax);
    run_op("log_softmax_dim0", op_log_softmax);
    run_op("log_softmax_dim1", op_log_softmax);
    run_op("logsumexp_02_keep", op_logsumexp_02_keep);
    run_op("logsumexp_1", op_logsumexp_1);
}
END_TEST

static Tensor *op_gather(Graph *g, Tensor *const *in, const Case *c) {
    int nd;
    int64_t shape[TENSOR_MAX_DIMS], *idx = case_ids(c, "idx", &nd, shape);
    Tensor *y = ag_gather(g, in[0], 1, idx, nd, shape);
    free(idx);
    return y;
}
static Tensor *op_take(Graph *g, Tensor *const *in, const Case *c) {
    int nd;
    int64_t shape[TENSOR_MAX_DIMS], *idx = case_ids(c, "idx", &nd, shape);
    Tensor *y = ag_take_along_dim(g, in[0], 2, idx, nd, shape);
    free(idx);
    return y;
}
/* top-k values, with the indices checked against torch's on the way */
static Tensor *op_topk(Graph *g, Tensor *const *in, const Case *c) {
    const int64_t *got;
    Tensor *y = ag_topk(g, in[0], (int)setting(c, "dim"), (int64_t)setting(c, "k"), (int)setting(c, "largest"), &got);
    int64_t *want = case_ids(c, "indices", NULL, NULL);
    for (int64_t i = 0; i < y->numel; i++)
        ck_assert_msg(got[i] == want[i], "%s: index %lld is %lld, torch %lld", c->name, (long long)i, (long long)got[i],
                      (long long)want[i]);
    free(want);
    return y;
}

START_TEST(golden_picking) {
    run_op("gather_dim1", op_gather);
    run_op("take_along_dim", op_take);
    run_op("topk_largest", op_topk);
    run_op("topk_smallest", op_topk);
    Case c = case_open("argmax");
    Tensor *x = case_tensor(&c, "in.0");
    Graph *g = graph_new();
    for (int dim = 0; dim < 2; dim++) {
        int64_t n, *want = case_ids(&c, dim ? "dim1" : "dim0", NULL, &n);
        const int64_t *got = ag_argmax(g, x, dim);
        for (int64_t i = 0; i < x->shape[1 - dim]; i++)
            ck_assert_msg(got[i] == want[i], "argmax dim %d: %lld, torch %lld", dim, (long long)got[i],
                          (long long)want[i]);
        free(want);
    }
    graph_free(g);
    tensor_free(x);
    safetensors_free(c.st);
}
END_TEST

/* torch.split(x, 10, dim=1) and torch.chunk(x, 4, dim=0), each piece flattened and scaled, in reverse */
static Tensor *op_split_chunk(Graph *g, Tensor *const *in, const Case *c) {
    (void)c;
    Tensor *p[16], *flat[16];
    int n = ag_split(g, in[0], 1, 10, p);
    n += ag_chunk(g, in[0], 0, 4, p + n);
    for (int k = 0; k < n; k++) flat[n - 1 - k] = ag_mul_scalar(g, ag_reshape(g, p[k], NN_SHAPE(-1)), (real)(k + 1));
    return ag_concat(g, n, flat, 0);
}
static Tensor *op_stack(Graph *g, Tensor *const *in, const Case *c) {
    (void)c;
    return ag_stack(g, 3, (Tensor *[]){in[0], in[1], ag_mul(g, in[0], in[1])}, 1);
}

START_TEST(golden_cutting_and_arange) {
    run_op("split_chunk", op_split_chunk);
    run_op("stack_dim1", op_stack);
    Case c = case_open("arange");
    Graph *g = graph_new();
    char key[64];
    for (int k = 0; k < 4; k++) {
        double v[3];
        const char *names[] = {"start", "end", "step"};
        for (int j = 0; j < 3; j++) {
            snprintf(key, sizeof key, "a%d.%s", k, names[j]);
            v[j] = setting(&c, key);
        }
        snprintf(key, sizeof key, "a%d.y", k);
        case_check(&c, key, ag_arange(g, v[0], v[1], v[2]), 1e-7, 1e-7);
    }
    graph_free(g);
    safetensors_free(c.st);
}
END_TEST

/* ---- cross-entropy ---- */

static Tensor *op_cross_entropy(Graph *g, Tensor *const *in, const Case *c) {
    CrossEntropyOptions o = cross_entropy_default_options();
    o.label_smoothing = (real)setting(c, "smoothing");
    o.ignore_index = (int64_t)setting(c, "ignore_index");
    Tensor *w = setting(c, "weighted") != 0 ? case_tensor(c, "const.weight") : NULL;
    o.weight = w;
    int nd;
    int64_t tshape[TENSOR_MAX_DIMS], *target = case_ids(c, "target", &nd, tshape);
    Tensor *y = ag_cross_entropy_nd(g, in[0], (int)setting(c, "class_dim"), target, shape_numel(nd, tshape), &o);
    free(target);
    tensor_free(w);
    return y;
}

START_TEST(golden_cross_entropy_nd) {
    run_op("ce_nd_weighted_smoothed", op_cross_entropy);
    run_op("ce_nd_classes_last", op_cross_entropy);
    run_op("ce_2d_smoothed", op_cross_entropy);
    run_op("ce_nd_plain", op_cross_entropy);
}
END_TEST

/* ---- GRU ---- */

/* Loads "param.<name>" into every parameter of m; the case must hold exactly those. */
static void load_params(const Case *c, Module *m) {
    char key[256];
    int in_case = 0;
    for (int i = 0; i < safetensors_count(c->st); i++) in_case += strncmp(safetensors_name(c->st, i), "param.", 6) == 0;
    ck_assert_msg(in_case == m->n_params, "%s: %d parameters in the case, %d in our module", c->name, in_case,
                  m->n_params);
    for (int i = 0; i < m->n_params; i++) {
        NnError err;
        snprintf(key, sizeof key, "param.%s", m->params[i].name);
        ck_assert_msg(safetensors_load_into(c->st, key, m->params[i].value, &err) == 0, "%s", err.msg);
    }
}

static void check_param_grads(const Case *c, const Module *m) {
    char key[256];
    double atol = 1e-6 * result_scale(c);
    for (int i = 0; i < m->n_params; i++) {
        snprintf(key, sizeof key, "grad.%s", m->params[i].name);
        case_check(c, key, m->params[i].value->grad, RTOL, atol);
    }
}

/* "gru_cell" runs through the cell; "gru_layer" (which has set.layers) through the layer, its
 * outputs then its last states flattened into one result. */
static void run_gru(const char *name) {
    Case c = case_open(name);
    int layered = case_has(&c, "set.layers");
    int64_t input = (int64_t)setting(&c, "input"), hidden = (int64_t)setting(&c, "hidden");
    Module m;
    module_init(&m, 1);
    GruCell cell = {0};
    Gru r = {0};
    if (layered)
        r = gru_new(&m, "gru", input, hidden, (int)setting(&c, "layers"), 1, 0);
    else
        cell = gru_cell_new(&m, "cell", input, hidden, 1);
    load_params(&c, &m);
    Tensor *in[2] = {test_param(case_tensor(&c, "in.0")), test_param(case_tensor(&c, "in.1"))};
    Graph *g = graph_new();
    Tensor *y;
    if (layered) {
        Tensor *h_n, *out = gru_forward(&r, &m, g, in[0], in[1], &h_n);
        y = ag_concat(g, 2, (Tensor *[]){ag_reshape(g, out, NN_SHAPE(-1)), ag_reshape(g, h_n, NN_SHAPE(-1))}, 0);
    } else {
        y = gru_cell_forward(&cell, g, in[0], in[1]);
    }
    check_results(&c, g, y, 2, in);
    check_param_grads(&c, &m);
    graph_free(g);
    test_free_all(2, in);
    module_free(&m);
    safetensors_free(c.st);
}

START_TEST(golden_gru_cell_and_layer) {
    run_gru("gru_cell");
    run_gru("gru_layer");
}
END_TEST

/* ---- a transformer block with PyTorch's conventions against nn.TransformerEncoderLayer ---- */

/* transformer_block_default_config and the dense forward (causal, right-padded sequences) against the
 * reference; padded positions are zeroed on both sides (torch leaves them undefined). */
static void run_transformer(const char *name) {
    Case c = case_open(name);
    int64_t H = (int64_t)setting(&c, "hidden");
    NormPlacement norm = setting(&c, "pre_norm") != 0 ? NORM_PRE : NORM_POST;
    Module m;
    module_init(&m, 4);
    TransformerBlockConfig cfg = transformer_block_default_config(H, (int)setting(&c, "heads"), norm);
    TransformerBlock t = transformer_block_new(&m, "block", &cfg);
    module_train(&m, 0); /* dropout off, as torch's eval() */
    load_params(&c, &m);
    int nd;
    int64_t shape[TENSOR_MAX_DIMS], *valid = case_ids(&c, "key_valid", &nd, shape); /* (B, T) */
    int64_t B = shape[0], T = shape[1];
    unsigned char *kv = malloc((size_t)(B * T));
    Graph *g = graph_new();
    Tensor *keep = ag_new(g, NN_SHAPE(B, T, 1));
    for (int64_t i = 0; i < B * T; i++) keep->data[i] = (real)(kv[i] = valid[i] != 0);
    Tensor *x = test_param(case_tensor(&c, "in.0"));
    Tensor *y = ag_mul(g, transformer_block_forward_dense(&t, &m, g, x, 1, kv), keep);
    check_results(&c, g, y, 1, &x);
    check_param_grads(&c, &m);
    graph_free(g);
    tensor_free(x);
    free(kv);
    free(valid);
    module_free(&m);
    safetensors_free(c.st);
}

START_TEST(golden_transformer_default_config_is_torch_encoder_layer) {
    run_transformer("transformer_default_post");
    run_transformer("transformer_default_pre");
}
END_TEST

/* ---- schedules driving the optimizers: 10 steps with given gradients ---- */

static void run_schedule(const char *name) {
    char key[128];
    Case c = case_open(name);
    Module m;
    module_init(&m, 3);
    module_param(&m, "a", "weight", PARAM_WEIGHT, NN_SHAPE(3, 2));
    module_param(&m, "a", "bias", PARAM_BIAS, NN_SHAPE(3));
    load_params(&c, &m);
    LrSchedule s = {.lr = setting(&c, "lr"),
                    .warmup_steps = (int64_t)setting(&c, "warmup_steps"),
                    .warmup_start = setting(&c, "warmup_start"),
                    .decay = (LrDecay)setting(&c, "decay")};
    if (s.decay == LR_STEP) {
        s.step_size = (int64_t)setting(&c, "step_size");
        s.gamma = setting(&c, "gamma");
    } else {
        s.decay_steps = (int64_t)setting(&c, "decay_steps");
        s.min_lr = s.decay == LR_LINEAR ? s.lr * 0.2 : setting(&c, "min_lr"); /* LinearLR's end_factor 0.2 */
    }
    int which = (int)setting(&c, "optimizer"); /* 0 Adam, 1 AdamW, 2 SGD */
    AdamConfig ac = adam_defaults();
    if (which == 1) {
        ac.decoupled = 1;
        ac.weight_decay = setting(&c, "weight_decay");
    }
    Adam *adam = which < 2 ? adam_new(&m, ac) : NULL;
    Sgd *sgd = which == 2 ? sgd_new(&m, (SgdConfig){.momentum = (real)setting(&c, "momentum")}) : NULL;
    Graph *g = graph_new();
    for (int k = 1; k <= 10; k++) {
        double lr = lr_schedule_at(&s, k - 1);
        snprintf(key, sizeof key, "step%d.lr", k);
        double want = case_f64(&c, key);
        ck_assert_msg(fabs(lr - want) <= 1e-12 * fabs(want), "%s: step %d lr %.17g, torch %.17g", name, k, lr, want);
        for (int i = 0; i < m.n_params; i++) {
            snprintf(key, sizeof key, "step%d.grad.%s", k, m.params[i].name);
            NnError err;
            ck_assert(safetensors_load_into(c.st, key, ag_grad(g, m.params[i].value), &err) == 0);
        }
        if (adam) {
            adam->cfg.lr = lr;
            adam_step(adam);
        } else {
            sgd->cfg.lr = (real)lr;
            sgd_step(sgd);
        }
        for (int i = 0; i < m.n_params; i++) {
            snprintf(key, sizeof key, "step%d.param.%s", k, m.params[i].name);
            case_check(&c, key, m.params[i].value, 1e-5, 1e-6);
        }
    }
    graph_free(g);
    adam_free(adam);
    sgd_free(sgd);
    module_free(&m);
    safetensors_free(c.st);
}

START_TEST(golden_schedules_drive_adam_adamw_sgd) {
    run_schedule("sched_adam_warmup_cosine");
    run_schedule("sched_adamw_warmup_linear");
    run_schedule("sched_sgd_step");
}
END_TEST

/* ---- losses over shared negatives (gen_fixtures_losses.py) ---- */

/* The case's sampled softmax (log-Q corrected when it has the corrections) or gBCE over in.0, in.1. */
static Tensor *op_shared_loss(Graph *g, Tensor *const *in, const Case *c, int gbce) {
    int nt, nc;
    int64_t ts[TENSOR_MAX_DIMS], cs[TENSOR_MAX_DIMS];
    int64_t *target = case_ids(c, "target", &nt, ts), *cand = case_ids(c, "cand", &nc, cs);
    int64_t R = shape_numel(nt, ts), K = shape_numel(nc, cs);
    Tensor *y;
    if (gbce) {
        y = ag_gbce(g, in[0], in[1], target, R, cand, K, 0, (real)setting(c, "beta"));
    } else if (case_has(c, "const.pos_logq")) {
        Tensor *pq = case_tensor(c, "const.pos_logq"), *nq = case_tensor(c, "const.neg_logq");
        y = ag_sampled_softmax(g, in[0], in[1], target, R, cand, K, 0, pq->data, nq->data);
        tensor_free(pq);
        tensor_free(nq);
    } else {
        y = ag_sampled_softmax(g, in[0], in[1], target, R, cand, K, 0, NULL, NULL);
    }
    free(target);
    free(cand);
    return y;
}
static Tensor *op_sampled(Graph *g, Tensor *const *in, const Case *c) { return op_shared_loss(g, in, c, 0); }
static Tensor *op_gbce(Graph *g, Tensor *const *in, const Case *c) { return op_shared_loss(g, in, c, 1); }

START_TEST(golden_sampled_softmax_and_gbce) {
    run_op("sampled_uniform", op_sampled);
    run_op("sampled_logq", op_sampled);
    run_op("gbce", op_gbce);
    /* the exponent the model uses is gSASRec's */
    Case c = case_open("gbce");
    double beta = loss_gbce_beta(40, (int64_t)setting(&c, "n_items"), setting(&c, "t")), want = setting(&c, "beta");
    ck_assert_msg(fabs(beta - want) <= 1e-12 * want, "beta %.17g, gSASRec's %.17g", beta, want);
    safetensors_free(c.st);
}
END_TEST

/* Lazy Adam on a row-sparse embedding table against torch.optim.SparseAdam: rows a step does not
 * gather keep their weights and moments; bias corrections use the step count. */
START_TEST(golden_lazy_adam_is_sparse_adam) {
    char key[64];
    Case c = case_open("sparse_adam");
    Module m;
    module_init(&m, 1);
    Tensor *table = case_tensor(&c, "param.table");
    Tensor *p = module_param(&m, "", "table", PARAM_TABLE, table->ndim, table->shape);
    tensor_copy(p, table);
    tensor_free(table);
    tensor_set_sparse_grad(p, 1);
    AdamConfig ac = adam_defaults();
    ac.lr = setting(&c, "lr");
    ac.lazy = 1;
    Adam *adam = adam_new(&m, ac);
    for (int k = 1; k <= 5; k++) {
        int64_t shape[1];
        snprintf(key, sizeof key, "step%d", k);
        int64_t *ids = case_ids(&c, key, NULL, shape);
        snprintf(key, sizeof key, "step%d.W", k);
        Tensor *W = case_tensor(&c, key);
        module_zero_grad(&m);
        Graph *g = graph_new();
        ag_backward_with(g, ag_embedding(g, p, ids, 1, shape, 0), W);
        graph_free(g);
        adam_step(adam);
        snprintf(key, sizeof key, "step%d.param.table", k);
        case_check(&c, key, p, 1e-5, 1e-6);
        tensor_free(W);
        free(ids);
    }
    adam_free(adam);
    module_free(&m);
    safetensors_free(c.st);
}
END_TEST

static Suite *golden_library_suite(void) {
    Suite *s = suite_create("golden_library");
    TCase *tc = tcase_create("library");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, golden_elementwise);
    tcase_add_test(tc, golden_softmax_any_dim_and_logsumexp);
    tcase_add_test(tc, golden_picking);
    tcase_add_test(tc, golden_cutting_and_arange);
    tcase_add_test(tc, golden_cross_entropy_nd);
    tcase_add_test(tc, golden_gru_cell_and_layer);
    tcase_add_test(tc, golden_transformer_default_config_is_torch_encoder_layer);
    tcase_add_test(tc, golden_schedules_drive_adam_adamw_sgd);
    tcase_add_test(tc, golden_sampled_softmax_and_gbce);
    tcase_add_test(tc, golden_lazy_adam_is_sparse_adam);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(golden_library_suite)
