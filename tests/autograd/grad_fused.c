/* Gradient checks of the fused ops (softmax, dropout, layer norm, the losses)
 * on the double build: element by element at every row width that takes a
 * different path through their vector loops, 1, 15, 16, 17, 64 and 200
 * (below, at and past one block of 16 lanes, SASRec's 64, several blocks and
 * a tail), on contiguous and strided inputs; along random directions past
 * their parallel thresholds (16384 or 32768 elements, layer norm's chunks of
 * 256 rows) and at SASRec's (256, 50, 64), at 1 and 2 threads. */
#include <math.h>
#include <string.h>

#include "tests/support.h"

static const int64_t WIDTHS[] = {1, 15, 16, 17, 64, 200};
#define N_WIDTHS ((int)(sizeof WIDTHS / sizeof WIDTHS[0]))

/* Rows for a row width: a few, fewer for the widest. */
static int64_t rows_for(int64_t width) { return width >= 200 ? 2 : 3; }

/* ---- softmax ---- */

/* v & 1: log-softmax; v & 2: the input transposed (a strided row) */
static Tensor *f_softmax(Graph *g, Tensor *const *in, void *ctx) {
    int v = *(int *)ctx;
    Tensor *x = v & 2 ? ag_transpose(g, in[0], 0, 1) : in[0];
    return v & 1 ? ag_log_softmax(g, x) : ag_softmax(g, x);
}

static void check_softmax(const char *name, int log) {
    for (int w = 0; w < N_WIDTHS; w++)
        for (int strided = 0; strided < 2; strided++) {
            int v = log | strided << 1;
            int64_t width = WIDTHS[w], rows = rows_for(width);
            Tensor *x = test_param(strided ? test_uniform(80 + w, NN_SHAPE(width, rows), -3, 3)
                                           : test_uniform(80 + w, NN_SHAPE(rows, width), -3, 3));
            if (width == 1) /* softmax of one element is the constant 1 */
                test_gradcheck_zero(name, f_softmax, &v, 1, &x);
            else
                test_gradcheck(name, f_softmax, &v, 1, &x);
            tensor_free(x);
        }
}

START_TEST(grad_softmax) { check_softmax("softmax", 0); }
END_TEST

START_TEST(grad_log_softmax) { check_softmax("log_softmax", 1); }
END_TEST

START_TEST(grad_softmax_large) {
    /* past 16384 elements: 1100 rows of 17, 300 of 64, 100 of 200, 17000 of 1; strided rows of 64 */
    const int64_t shapes[][2] = {{1100, 17}, {300, 64}, {100, 200}, {17000, 1}, {64, 300}};
    for (int log = 0; log < 2; log++)
        for (int k = 0; k < 5; k++) {
            int v = log | (k == 4) << 1;
            Tensor *x = test_param(test_uniform(85 + k, NN_SHAPE(shapes[k][0], shapes[k][1]), -3, 3));
            if (shapes[k][1] == 1) { /* rows of one element: a constant, every gradient 0 */
                DirectionalOptions o = gradcheck_directional_defaults();
                o.expect_zero = 1;
                ck_assert(gradcheck_directional(f_softmax, &v, 1, &x, &o).passed);
            } else {
                test_directional_threads(log ? "log_softmax (large)" : "softmax (large)", f_softmax, &v, 1, &x, 0);
            }
            tensor_free(x);
        }
}
END_TEST

/* ---- dropout ---- */

static Tensor *f_dropout(Graph *g, Tensor *const *in, void *ctx) {
    (void)ctx;
    Rng r = rng_new(77, 5); /* the same mask at every evaluation */
    return ag_dropout(g, ag_transpose(g, in[0], 0, 1), 0.4, 1, &r);
}

START_TEST(grad_dropout) {
    Tensor *x = test_param(test_randn(140, NN_SHAPE(6, 7)));
    test_gradcheck("dropout", f_dropout, NULL, 1, &x);
    tensor_free(x);
    /* 33153 elements: 9 chunks of 4096 and a short one, in parallel */
    x = test_param(test_randn(141, NN_SHAPE(129, 257)));
    test_directional_threads("dropout (large)", f_dropout, NULL, 1, &x, 0);
    tensor_free(x);
}
END_TEST

/* ---- layer norm ---- */

typedef struct {
    int affine, strided;
    real eps;
} LayerNormCase;

static Tensor *f_layer_norm(Graph *g, Tensor *const *in, void *ctx) {
    const LayerNormCase *c = ctx;
    Tensor *x = c->strided ? ag_transpose(g, in[0], 0, 1) : in[0];
    return c->affine ? ag_layer_norm(g, x, in[1], in[2], c->eps) : ag_layer_norm(g, x, NULL, NULL, c->eps);
}

START_TEST(grad_layer_norm) {
    /* affine with eps 1e-12 (SASRec's), without affine, and on a transposed input (copied to rows) */
    const LayerNormCase cases[] = {{1, 0, 1e-12}, {0, 0, 1e-5}, {1, 1, 1e-5}};
    for (int w = 0; w < N_WIDTHS; w++)
        for (int k = 0; k < 3; k++) {
            int64_t H = WIDTHS[w], rows = rows_for(H);
            /* rows of different means and scales; H 1 has zero variance: y = b, no gradient to x */
            Tensor *in[3] = {test_param(cases[k].strided ? test_randn(150 + w, NN_SHAPE(H, rows))
                                                         : test_randn(150 + w, NN_SHAPE(rows, H))),
                             test_param(test_uniform(151, NN_SHAPE(H), 0.5, 1.5)),
                             test_param(test_randn(152, NN_SHAPE(H)))};
            for (int64_t i = 0; i < in[0]->numel; i++) in[0]->data[i] = in[0]->data[i] * (1 + i % 3) + (real)(i % 5);
            if (H == 1 && !cases[k].affine) /* only x, whose gradient is 0 */
                test_gradcheck_zero("layer_norm (H 1)", f_layer_norm, (void *)&cases[k], 1, in);
            else
                test_gradcheck("layer_norm", f_layer_norm, (void *)&cases[k], cases[k].affine ? 3 : 1, in);
            test_free_all(3, in);
        }
}
END_TEST

START_TEST(grad_layer_norm_large) {
    /* past 16384 elements and 256 rows (the weight's gradient summed in chunks): SASRec's (256, 50, 64),
     * 300 rows of 200, 1100 of 17 without affine, 400 of 64 transposed */
    struct {
        const char *what;
        int64_t shape[3];
        LayerNormCase c;
    } cases[] = {
        {"layer_norm (256, 50, 64)", {test_quick() ? 8 : 256, 50, 64}, {1, 0, 1e-12}},
        {"layer_norm (300, 200)", {1, 300, 200}, {1, 0, 1e-5}},
        {"layer_norm (1100, 17), no affine", {1, 1100, 17}, {0, 0, 1e-5}},
        {"layer_norm (400, 64), transposed", {1, 64, 400}, {1, 1, 1e-5}},
    };
    for (int k = 0; k < 4; k++) {
        int64_t H = cases[k].c.strided ? cases[k].shape[1] : cases[k].shape[2];
        Tensor *in[3] = {test_param(test_uniform(155 + k, 3, cases[k].shape, -2, 2)),
                         test_param(test_uniform(156, NN_SHAPE(H), 0.5, 1.5)),
                         test_param(test_uniform(157, NN_SHAPE(H), -1, 1))};
        if (cases[k].c.strided) { /* f_layer_norm transposes the last two dims of a 2-D input */
            Tensor *x2 = test_param(test_uniform(155 + k, NN_SHAPE(cases[k].shape[1], cases[k].shape[2]), -2, 2));
            tensor_free(in[0]);
            in[0] = x2;
        }
        test_directional_threads(cases[k].what, f_layer_norm, &cases[k].c, cases[k].c.affine ? 3 : 1, in, 0);
        test_free_all(3, in);
    }
}
END_TEST

/* ---- losses ---- */

static Tensor *f_bce(Graph *g, Tensor *const *in, void *ctx) {
    Tensor *const *tw = ctx;
    return ag_bce_with_logits(g, in[0], tw[0], tw[1]);
}

START_TEST(grad_bce_with_logits) {
    real t[] = {1, 0, 1, 0, 0, 1, 1, 0}, w[] = {1, 1, 0, 1, 0.5, 1, 0, 1}, none[8] = {0};
    Tensor target = tensor_wrap(t, NN_SHAPE(2, 4)), weight = tensor_wrap(w, NN_SHAPE(2, 4));
    Tensor zero = tensor_wrap(none, NN_SHAPE(2, 4));
    Tensor *ctx[2] = {&target, &weight};
    Tensor *x = test_param(test_uniform(160, NN_SHAPE(2, 4), -4, 4)); /* both signs: both sigmoid branches */
    test_gradcheck("bce_with_logits", f_bce, ctx, 1, &x);
    ctx[1] = NULL;
    test_gradcheck("bce_with_logits(no weight)", f_bce, ctx, 1, &x);
    ctx[1] = &zero; /* every weight 0: the loss is 0 and so is its gradient */
    test_gradcheck_zero("bce_with_logits(zero weights)", f_bce, ctx, 1, &x);
    tensor_free(x);
    /* 39000 logits: 10 chunks of 4096, in parallel */
    Tensor *tb = test_uniform(161, NN_SHAPE(300, 130), 0, 1), *wb = test_uniform(162, NN_SHAPE(300, 130), 0, 2);
    for (int64_t i = 0; i < tb->numel; i++) tb->data[i] = tb->data[i] < 0.3;
    Tensor *big = test_param(test_uniform(163, NN_SHAPE(300, 130), -6, 6));
    Tensor *large[2] = {tb, wb};
    test_directional_threads("bce_with_logits (large)", f_bce, large, 1, &big, 0);
    large[1] = NULL;
    test_directional_threads("bce_with_logits (large, no weight)", f_bce, large, 1, &big, 0);
    test_free_all(1, &big);
    tensor_free(tb);
    tensor_free(wb);
}
END_TEST

typedef struct {
    const int64_t *target;
    int64_t ignore;
} CeCase;

static Tensor *f_ce(Graph *g, Tensor *const *in, void *ctx) {
    const CeCase *c = ctx;
    return ag_cross_entropy(g, in[0], c->target, in[0]->shape[0], c->ignore);
}

START_TEST(grad_cross_entropy) {
    for (int w = 0; w < N_WIDTHS; w++) {
        int64_t C = WIDTHS[w], target[4] = {C - 1, -100, 0, C / 2};
        CeCase c = {target, -100};
        Tensor *x = test_param(test_uniform(170 + w, NN_SHAPE(4, C), -3, 3));
        if (C == 1) /* one class: the loss is 0 whatever the logits */
            test_gradcheck_zero("cross_entropy", f_ce, &c, 1, &x);
        else
            test_gradcheck("cross_entropy", f_ce, &c, 1, &x);
        tensor_free(x);
    }
    /* every row ignored: the loss is 0 and so is its gradient */
    const int64_t ignored[3] = {2, 2, 2};
    CeCase c = {ignored, 2};
    Tensor *x = test_param(test_randn(177, NN_SHAPE(3, 5)));
    test_gradcheck_zero("cross_entropy(all ignored)", f_ce, &c, 1, &x);
    tensor_free(x);
    /* 300 rows of 130 classes, some ignored */
    int64_t target[300];
    for (int r = 0; r < 300; r++) target[r] = r % 7 == 3 ? -100 : (r * 13) % 130;
    CeCase big = {target, -100};
    x = test_param(test_uniform(178, NN_SHAPE(300, 130), -3, 3));
    test_directional_threads("cross_entropy (large)", f_ce, &big, 1, &x, 0);
    tensor_free(x);
}
END_TEST

static Suite *grad_fused_suite(void) {
    Suite *s = suite_create("grad_fused");
    TCase *tc = tcase_create("fused");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, grad_softmax);
    tcase_add_test(tc, grad_log_softmax);
    tcase_add_test(tc, grad_softmax_large);
    tcase_add_test(tc, grad_dropout);
    tcase_add_test(tc, grad_layer_norm);
    tcase_add_test(tc, grad_layer_norm_large);
    tcase_add_test(tc, grad_bce_with_logits);
    tcase_add_test(tc, grad_cross_entropy);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(grad_fused_suite)
