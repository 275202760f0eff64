/* The fused, tiled cross-entropy over x w^T (autograd/op_linear_ce.c), on the
 * double build: its gradients against central differences at tiles that cut
 * rows and classes at uneven borders, and its loss and gradients against the
 * unfused ag_cross_entropy(ag_linear(x, w)) they replace. */
#include <math.h>
#include <string.h>

#include "base/parallel.h"
#include "tests/support.h"

typedef struct {
    const int64_t *target; /* (N) */
    int64_t ignore;
    int64_t rows, classes; /* the tile; 0: the unfused ops */
} LceCase;

static Tensor *f_lce(Graph *g, Tensor *const *in, void *ctx) {
    const LceCase *c = ctx;
    int64_t n = in[0]->shape[0];
    if (c->rows == 0) return ag_cross_entropy(g, ag_linear(g, in[0], in[1], NULL), c->target, n, c->ignore);
    return ag_linear_cross_entropy_tiled(g, in[0], in[1], c->target, n, c->ignore, c->rows, c->classes);
}

/* 7 rows (two ignored), 13 classes of 5 features; targets hit the first and last class and a tile border */
static const int64_t TARGET[7] = {0, 12, -1, 5, 6, -1, 3};

START_TEST(grad_linear_cross_entropy_across_tile_borders) {
    Tensor *x = test_param(test_randn(301, NN_SHAPE(7, 5)));
    Tensor *w = test_param(test_randn(302, NN_SHAPE(13, 5)));
    Tensor *in[2] = {x, w};
    /* tiles: one for all, rows and classes cut unevenly, 1 x 1 */
    const int64_t tiles[][2] = {{64, 64}, {2, 5}, {3, 6}, {1, 1}, {4, 13}};
    for (int k = 0; k < 5; k++) {
        LceCase c = {TARGET, -1, tiles[k][0], tiles[k][1]};
        char what[64];
        snprintf(what, sizeof what, "linear_cross_entropy %lld x %lld", (long long)c.rows, (long long)c.classes);
        test_gradcheck(what, f_lce, &c, 2, in);
    }
    /* every row counts: the rows are used in place (no gather) */
    const int64_t all[7] = {0, 12, 1, 5, 6, 11, 3};
    LceCase c = {all, -1, 3, 4};
    test_gradcheck("linear_cross_entropy, no ignored row", f_lce, &c, 2, in);
    test_free_all(2, in);
}
END_TEST

/* Loss and gradients of f on fresh copies of x and w; grads written to gx, gw. */
static double run_case(const LceCase *c, Tensor *x, Tensor *w, real *gx, real *gw) {
    Graph *g = graph_new();
    Tensor *in[2] = {x, w};
    tensor_zero_grad(x);
    tensor_zero_grad(w);
    Tensor *loss = f_lce(g, in, (void *)c);
    double v = loss->data[0];
    ag_backward(g, loss);
    memcpy(gx, x->grad->data, (size_t)x->numel * sizeof(real));
    memcpy(gw, w->grad->data, (size_t)w->numel * sizeof(real));
    graph_free(g);
    return v;
}

START_TEST(linear_cross_entropy_equals_the_unfused_loss) {
    /* larger than a default tile's class block, with rows ignored, and logits large enough to need the max shift */
    int64_t N = 37, H = 6, C = LCE_BLOCK_CLASSES + 77;
    Tensor *x = test_param(test_uniform(303, NN_SHAPE(N, H), -3, 3));
    Tensor *w = test_param(test_uniform(304, NN_SHAPE(C, H), -3, 3));
    int64_t target[37];
    for (int64_t r = 0; r < N; r++) target[r] = r % 5 == 2 ? 0 : (r * 97 + 11) % C;
    real *gx0 = malloc((size_t)(N * H) * sizeof(real)), *gw0 = malloc((size_t)(C * H) * sizeof(real));
    real *gx1 = malloc((size_t)(N * H) * sizeof(real)), *gw1 = malloc((size_t)(C * H) * sizeof(real));
    LceCase unfused = {target, 0, 0, 0};
    double l0 = run_case(&unfused, x, w, gx0, gw0);
    const int64_t tiles[][2] = {{0, 0}, {8, 100}, {37, 1}};
    for (int k = 0; k < 3; k++) {
        LceCase fused = {target, 0, tiles[k][0], tiles[k][1]};
        double l1 = k == 0 ? 0 : run_case(&fused, x, w, gx1, gw1);
        if (k == 0) { /* the default tile */
            Graph *g = graph_new();
            tensor_zero_grad(x);
            tensor_zero_grad(w);
            Tensor *loss = ag_linear_cross_entropy(g, x, w, target, x->shape[0], 0);
            l1 = loss->data[0];
            ag_backward(g, loss);
            memcpy(gx1, x->grad->data, (size_t)(N * H) * sizeof(real));
            memcpy(gw1, w->grad->data, (size_t)(C * H) * sizeof(real));
            graph_free(g);
        }
        ck_assert_msg(fabs(l1 - l0) <= 1e-12 * fabs(l0), "tile %d: loss %.17g, unfused %.17g", k, l1, l0);
        test_assert_close("dx", gx1, gx0, N * H, 1e-14, 1e-11);
        test_assert_close("dw", gw1, gw0, C * H, 1e-14, 1e-11);
    }
    /* every row ignored: loss 0 */
    LceCase none = {(int64_t[37]){0}, 0, 8, 100};
    Graph *g = graph_new();
    Tensor *loss = f_lce(g, (Tensor *[]){x, w}, &none);
    ck_assert(loss->data[0] == 0);
    graph_free(g);
    free(gx0);
    free(gw0);
    free(gx1);
    free(gw1);
    tensor_free(x);
    tensor_free(w);
}
END_TEST

START_TEST(linear_cross_entropy_identical_for_any_thread_count) {
    int64_t N = 300, H = 16, C = 2000;
    Tensor *x = test_param(test_randn(305, NN_SHAPE(N, H)));
    Tensor *w = test_param(test_randn(306, NN_SHAPE(C, H)));
    int64_t *target = malloc((size_t)N * sizeof *target);
    for (int64_t r = 0; r < N; r++) target[r] = (r * 31) % C;
    real *gx[3], *gw[3];
    double loss[3];
    int saved = nn_threads();
    for (int t = 0; t < 3; t++) {
        nn_set_threads(t + 1);
        gx[t] = malloc((size_t)(N * H) * sizeof(real));
        gw[t] = malloc((size_t)(C * H) * sizeof(real));
        LceCase c = {target, -1, 64, 256};
        loss[t] = run_case(&c, x, w, gx[t], gw[t]);
    }
    nn_set_threads(saved);
    for (int t = 1; t < 3; t++) {
        ck_assert(loss[t] == loss[0]);
        ck_assert(memcmp(gx[t], gx[0], (size_t)(N * H) * sizeof(real)) == 0);
        ck_assert(memcmp(gw[t], gw[0], (size_t)(C * H) * sizeof(real)) == 0);
    }
    for (int t = 0; t < 3; t++) {
        free(gx[t]);
        free(gw[t]);
    }
    free(target);
    tensor_free(x);
    tensor_free(w);
}
END_TEST

static Suite *linear_ce_suite(void) {
    Suite *s = suite_create("linear_cross_entropy");
    TCase *tc = tcase_create("linear_cross_entropy");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, grad_linear_cross_entropy_across_tile_borders);
    tcase_add_test(tc, linear_cross_entropy_equals_the_unfused_loss);
    tcase_add_test(tc, linear_cross_entropy_identical_for_any_thread_count);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(linear_ce_suite)
