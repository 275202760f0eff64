/* Golden values from PyTorch at SASRec's sizes (H 64, L 50, 2 heads), so
 * that the float build's vector loops run as in training and are compared
 * too: 16-lane blocks of 64 without a tail, attention over 50 keys in blocks
 * of 16 queries, rows of 200 classes, layer norm over 300 rows. Fewer
 * sequences than a batch of 256 where the path is the same for any number
 * (tests/fixtures/gen_fixtures.py says which). The references are float64
 * results stored as float32; tolerances are those of test_golden.c (1e-5
 * relative, 1e-6 of the case's largest value absolute; optimizer state 1e-6).
 *
 * Then the float build's own vector math (r_exp, r_erf and what is made of
 * them: exp, sigmoid, GELU and its gradient, softmax) against libm in double
 * over the range training reaches, to the accuracy rmath.h states. */
#include <math.h>
#include <string.h>

#include "base/memory.h"
#include "nn/embedding.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "nn/transformer_block.h"
#include "tensor/kernels.h"
#include "tests/nn/golden.h"

/* ---- layers ---- */

/* Compares the rows of a packed (real positions only) result with the same rows of a dense
 * (B, L, H) reference; key_valid (B * L) marks them. */
static void check_packed_rows(const Fixture *f, const char *name, const Tensor *packed, const unsigned char *key_valid,
                              double floor_) {
    const FxEntry *e = fx_get(f, name);
    int64_t H = e->shape[e->ndim - 1], rows = e->n / H, r = 0;
    double worst = 0;
    for (int64_t q = 0; q < rows; q++) {
        if (!key_valid[q]) continue;
        for (int64_t j = 0; j < H; j++) {
            double a = packed->data[r * H + j], b = e->v[q * H + j];
            double ratio = fabs(a - b) / (TOL_LAYER.rtol * fabs(b) + TOL_LAYER.atol * floor_);
            ck_assert_msg(ratio <= 1, "%s (packed): '%s' row %lld column %lld is %.9g, expected %.9g", f->name, name,
                          (long long)q, (long long)j, a, b);
            worst = fmax(worst, ratio);
        }
        r++;
    }
    ck_assert_int_eq(r, packed->shape[0]);
    if (golden_report()) printf("golden %-24s %-32s %.3f of tolerance (packed rows)\n", f->name, name, worst);
}

START_TEST(golden_attention_sasrec) {
    Fixture *f = fx_open("attention_sasrec");
    unsigned char *kv = fx_key_valid(f);
    Tensor *x = fx_input(f);
    int64_t B = x->shape[0], L = x->shape[1], H = x->shape[2];
    /* dense, as the seed's step: all B * L rows, padding masked with -10000 */
    Module m;
    module_init(&m, 10);
    Attention a = attention_new(&m, "attn", H, 2, 0.5, MASK_MINUS_10000);
    module_train(&m, 0);
    fx_load_params(f, &m);
    Graph *g = graph_new();
    SeqLayout dense = seq_layout_dense(g, B, L, kv, 1);
    check_layer(f, g, &m, x, attention_forward(&a, &m, g, x, &dense));
    graph_free(g);
    /* packed, as the length-aware step: the real rows only (W is 0 at padding, so the real rows'
     * gradients and the parameters' are the dense ones) */
    module_zero_grad(&m);
    int64_t rows = 0, *off = nn_malloc((size_t)(B + 1) * sizeof *off);
    off[0] = 0;
    for (int64_t b = 0; b < B; b++) {
        for (int64_t t = 0; t < L; t++) rows += kv[b * L + t];
        off[b + 1] = rows;
    }
    Tensor *xp = test_param(tensor_zeros(NN_SHAPE(rows, H))), *W = fx_tensor(f, "W");
    Tensor *Wp = tensor_zeros(NN_SHAPE(rows, H));
    for (int64_t q = 0, r = 0; q < B * L; q++)
        if (kv[q]) {
            memcpy(xp->data + r * H, x->data + q * H, (size_t)H * sizeof(real));
            memcpy(Wp->data + r * H, W->data + q * H, (size_t)H * sizeof(real));
            r++;
        }
    g = graph_new();
    SeqLayout packed = {B, off, NULL, 1};
    Tensor *y = attention_forward(&a, &m, g, xp, &packed);
    ag_backward_with(g, y, Wp);
    double scale = 1;
    for (int k = 0; k < f->n; k++)
        if (!strcmp(f->e[k].name, "y") || !strncmp(f->e[k].name, "grad.", 5))
            for (int64_t i = 0; i < f->e[k].n; i++) scale = fmax(scale, fabs(f->e[k].v[i]));
    check_packed_rows(f, "y", y, kv, scale);
    check_packed_rows(f, "grad.x", xp->grad, kv, scale);
    char key[256];
    for (int i = 0; i < m.n_params; i++) {
        snprintf(key, sizeof key, "grad.%s", m.params[i].name);
        fx_check_tol(f, key, m.params[i].value->grad, (Tol){TOL_LAYER.rtol, TOL_LAYER.atol * scale, 0});
    }
    graph_free(g);
    tensor_free(W);
    tensor_free(Wp);
    tensor_free(xp);
    free(off);
    free(kv);
    tensor_free(x);
    module_free(&m);
    fx_free(f);
}
END_TEST

START_TEST(golden_layernorm_sasrec) { golden_layernorm_case("layernorm_sasrec"); }
END_TEST

START_TEST(golden_embedding_sasrec) { golden_embedding_case("embedding_sasrec"); }
END_TEST

/* ---- losses and Adam ---- */

START_TEST(golden_loss_bce_sasrec) { golden_bce_case("loss_bce_sasrec"); }
END_TEST

START_TEST(golden_loss_cross_entropy_sasrec) { golden_ce_case("loss_ce_sasrec"); }
END_TEST

static void sasrec_projection(Module *m) { linear_new(m, "fc", 64, 64, 1); }

START_TEST(golden_adam_sasrec) { golden_adam_case("adam_sasrec", sasrec_projection); }
END_TEST

/* ---- the float build's vector math against libm ---- */

/* Worst |ours - reference| / (rel |reference| + abs) over n values. */
static double worst_ratio(const real *ours, const double *ref, int64_t n, double rel, double abs_) {
    double worst = 0;
    for (int64_t i = 0; i < n; i++) worst = fmax(worst, fabs(ours[i] - ref[i]) / (rel * fabs(ref[i]) + abs_));
    return worst;
}

/* Fails unless ratio <= 1; GOLDEN_REPORT=1 prints it. */
static void within(const char *what, double ratio) {
    if (golden_report()) printf("golden vector math %-28s %.3f of tolerance\n", what, ratio);
    ck_assert_msg(ratio <= 1, "%s: %.3g of the tolerance", what, ratio);
}

/* x (n): evenly spaced float values over [lo, hi). */
static Tensor *grid(int64_t n, double lo, double hi) {
    Tensor *x = tensor_zeros(NN_SHAPE(n));
    for (int64_t i = 0; i < n; i++) x->data[i] = (real)(lo + (hi - lo) * (double)i / (double)n);
    return x;
}

START_TEST(golden_vector_math_against_libm) {
    const int64_t n = 200003; /* past the parallel threshold, and an odd tail */
    double *ref = nn_malloc((size_t)n * sizeof *ref);
    Tensor *y = tensor_zeros(NN_SHAPE(n));
    /* exp over everything softmax and sigmoid can pass it: within 2 ulp (rmath.h: 1 ulp of expf) */
    Tensor *x = grid(n, -87, 88);
    tensor_unary(y, x, UNARY_EXP, 0);
    for (int64_t i = 0; i < n; i++) ref[i] = exp((double)x->data[i]);
    within("exp", worst_ratio(y->data, ref, n, 2.4e-7, 1e-45));
    tensor_free(x);
    /* exp near the ends of its reduction intervals, x = (k +- 1/2) ln 2, where its polynomial is least
     * accurate: within 1.2 ulp of the exact value (it reaches 1.02 with FMA, 0.99 without) */
    x = tensor_zeros(NN_SHAPE(252 * 2 * 1000));
    for (int k = -125, i = 0; k <= 126; k++)
        for (int side = -1; side <= 1; side += 2)
            for (int j = 0; j < 1000; j++) x->data[i++] = (real)((k + 0.5 * side) * 0.69314718055994530942 - side * 1e-5 * j);
    Tensor *ye = tensor_zeros(x->ndim, x->shape);
    tensor_unary(ye, x, UNARY_EXP, 0);
    double ulps = 0;
    for (int64_t i = 0; i < x->numel; i++) {
        if (x->data[i] < -87 || x->data[i] > 88) continue;
        double e = exp((double)x->data[i]);
        float ef = (float)e;
        ulps = fmax(ulps, fabs((double)ye->data[i] - e) / (nextafterf(ef, INFINITY) - ef));
    }
    within("exp at the ends of ln 2 steps", ulps / 1.2);
    tensor_free(x);
    tensor_free(ye);
    /* sigmoid; GELU (erf within 6e-7 absolute) and GELU's gradient, through the op's backward */
    x = test_param(grid(n, -12, 12));
    tensor_unary(y, x, UNARY_SIGMOID, 0);
    for (int64_t i = 0; i < n; i++) ref[i] = 1 / (1 + exp(-(double)x->data[i]));
    within("sigmoid", worst_ratio(y->data, ref, n, 3e-7, 1e-12));
    Graph *g = graph_new();
    Tensor *gelu = ag_gelu(g, x);
    for (int64_t i = 0; i < n; i++) {
        double v = x->data[i];
        ref[i] = 0.5 * v * (1 + erf(v / sqrt(2.0)));
    }
    within("gelu", worst_ratio(gelu->data, ref, n, 2.4e-7, 4e-7 * 12));
    ag_backward(g, ag_sum(g, gelu, 0, NULL, 0));
    for (int64_t i = 0; i < n; i++) {
        double v = x->data[i];
        ref[i] = 0.5 * (1 + erf(v / sqrt(2.0))) + v * exp(-0.5 * v * v) * 0.39894228040143267794; /* 1 / sqrt(2 pi) */
    }
    within("gelu's gradient", worst_ratio(x->grad->data, ref, n, 2.4e-7, 1e-6));
    graph_free(g);
    tensor_free(x);
    /* softmax over rows of 50 (SASRec's keys) and 200 (a catalogue) of scores in [-20, 20] */
    for (int64_t w = 50; w <= 200; w += 150) {
        int64_t rows = n / w;
        Tensor *s = tensor_zeros(NN_SHAPE(rows, w)), *p = tensor_zeros(NN_SHAPE(rows, w));
        for (int64_t i = 0; i < s->numel; i++) s->data[i] = (real)(20 * sin(0.37 * (double)i));
        tensor_softmax(p, s);
        for (int64_t q = 0; q < rows; q++) {
            double m = -INFINITY, sum = 0;
            for (int64_t j = 0; j < w; j++) m = fmax(m, s->data[q * w + j]);
            for (int64_t j = 0; j < w; j++) sum += exp(s->data[q * w + j] - m);
            for (int64_t j = 0; j < w; j++) ref[q * w + j] = exp(s->data[q * w + j] - m) / sum;
        }
        /* float's s - max is off by up to 2^-24 |s - max| <= 2.4e-6 of 40, and exp passes that on */
        within(w == 50 ? "softmax over 50" : "softmax over 200", worst_ratio(p->data, ref, s->numel, 3e-6, 1e-30));
        tensor_free(s);
        tensor_free(p);
    }
    tensor_free(y);
    free(ref);
}
END_TEST

static Suite *golden_sasrec_suite(void) {
    Suite *s = suite_create("golden_sasrec");
    TCase *tc = tcase_create("sasrec_sizes");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, golden_attention_sasrec);
    tcase_add_test(tc, golden_layernorm_sasrec);
    tcase_add_test(tc, golden_embedding_sasrec);
    tcase_add_test(tc, golden_loss_bce_sasrec);
    tcase_add_test(tc, golden_loss_cross_entropy_sasrec);
    tcase_add_test(tc, golden_adam_sasrec);
    tcase_add_test(tc, golden_vector_math_against_libm);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(golden_sasrec_suite)
