/* Gradient checks of the elementwise ops and the reductions on the double
 * build: element by element on small shapes with broadcasting (on either
 * side, along the last dim too), non-contiguous views and rows past a block
 * of lanes; along random directions past every parallel threshold (32768
 * elements, chunks of 4096, reductions of more than 4096 values and of more
 * than 64 columns), at 1 and 2 threads. */
#include <math.h>
#include <string.h>

#include "tests/support.h"

/* ---- elementwise binary, with broadcasting and views ---- */

typedef Tensor *(*Binary)(Graph *, Tensor *, Tensor *);

static Tensor *f_binary(Graph *g, Tensor *const *in, void *ctx) { return ((Binary *)ctx)[0](g, in[0], in[1]); }

/* a transposed before the op: a non-contiguous left operand */
static Tensor *f_binary_t(Graph *g, Tensor *const *in, void *ctx) {
    return ((Binary *)ctx)[0](g, ag_transpose(g, in[0], 0, 1), in[1]);
}

static void check_binary(const char *name, Binary op, real lo) {
    Binary ctx[1] = {op};
    struct {
        int na, nb;
        int64_t a[3], b[3];
    } cases[] = {
        {2, 2, {3, 4}, {3, 4}},    /* same shape */
        {3, 2, {3, 1, 4}, {5, 4}}, /* both broadcast */
        {2, 1, {3, 4}, {4}},       /* row vector */
        {2, 0, {2, 3}, {0}},       /* scalar */
        {1, 3, {4}, {2, 3, 4}},    /* left operand broadcast */
        {2, 2, {3, 1}, {3, 4}},    /* left operand broadcast along the last dim */
        {2, 2, {2, 19}, {2, 1}},   /* right operand broadcast along rows of 19: 16 lanes and a tail */
        {1, 2, {3}, {1, 3}},       /* a leading dim of 1: nothing to sum, the gradient is added as it is */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        Tensor *in[2] = {test_param(test_uniform(c + 1, cases[c].na, cases[c].a, lo, 2)),
                         test_param(test_uniform(c + 11, cases[c].nb, cases[c].b, lo, 2))};
        test_gradcheck(name, f_binary, ctx, 2, in);
        test_free_all(2, in);
    }
    Tensor *in[2] = {test_param(test_uniform(7, NN_SHAPE(4, 3), lo, 2)),
                     test_param(test_uniform(8, NN_SHAPE(3, 4), lo, 2))};
    test_gradcheck(name, f_binary_t, ctx, 2, in);
    test_free_all(2, in);
    /* past 32768 outputs; the broadcast operand's gradient sums over 300 rows of 130 columns (blocks of
     * 64), over rows of 300, over rows of 5000 (chunks of 4096); a strided left operand */
    struct {
        int64_t a[2], b[2];
        GradcheckFn f;
    } large[] = {
        {{300, 130}, {1, 130}, f_binary},
        {{130, 1}, {130, 300}, f_binary},
        {{9, 5000}, {9, 1}, f_binary},
        {{130, 300}, {300, 130}, f_binary_t},
    };
    for (size_t c = 0; c < sizeof large / sizeof large[0]; c++) {
        Tensor *big[2] = {test_param(test_uniform(c + 21, NN_SHAPE(large[c].a[0], large[c].a[1]), lo, 2)),
                          test_param(test_uniform(c + 31, NN_SHAPE(large[c].b[0], large[c].b[1]), lo, 2))};
        test_directional_threads(name, large[c].f, ctx, 2, big, 0);
        test_free_all(2, big);
    }
}

START_TEST(grad_add) { check_binary("add", ag_add, -2); }
END_TEST
START_TEST(grad_sub) { check_binary("sub", ag_sub, -2); }
END_TEST
START_TEST(grad_mul) { check_binary("mul", ag_mul, -2); }
END_TEST
START_TEST(grad_div) { check_binary("div", ag_div, 0.5); }
END_TEST

/* ---- elementwise unary ---- */

typedef struct {
    int op;
    real c;
} UnaryCase;

static Tensor *apply_unary(Graph *g, Tensor *x, const UnaryCase *u) {
    switch (u->op) {
    case 0: return ag_neg(g, x);
    case 1: return ag_add_scalar(g, x, u->c);
    case 2: return ag_mul_scalar(g, x, u->c);
    case 3: return ag_pow_scalar(g, x, u->c);
    case 4: return ag_exp(g, x);
    case 5: return ag_log(g, x);
    case 6: return ag_sqrt(g, x);
    case 7: return ag_tanh(g, x);
    case 8: return ag_sigmoid(g, x);
    case 9: return ag_relu(g, x);
    default: return ag_gelu(g, x);
    }
}

static Tensor *f_unary(Graph *g, Tensor *const *in, void *ctx) { return apply_unary(g, in[0], ctx); }

static Tensor *f_unary_view(Graph *g, Tensor *const *in, void *ctx) {
    Tensor *x = in[0]->ndim == 3 ? ag_narrow(g, ag_transpose(g, in[0], 0, 2), 1, 1, 2) : ag_transpose(g, in[0], 0, 1);
    return apply_unary(g, x, ctx);
}

/* Uniform values in [lo, hi); for relu (op 9) at least 0.05 from its kink at 0. */
static Tensor *unary_input(uint64_t seed, int ndim, const int64_t *shape, int op, real lo, real hi) {
    Tensor *x = test_param(test_uniform(seed, ndim, shape, lo, hi));
    if (op == 9)
        for (int64_t i = 0; i < x->numel; i++) x->data[i] += x->data[i] >= 0 ? (real)0.05 : (real)-0.05;
    return x;
}

static void check_unary(const char *name, int op, real c, real lo, real hi) {
    UnaryCase u = {op, c};
    Tensor *a = unary_input(3, NN_SHAPE(3, 5), op, lo, hi);
    test_gradcheck(name, f_unary, &u, 1, &a);
    Tensor *b = unary_input(4, NN_SHAPE(2, 3, 4), op, lo, hi);
    test_gradcheck(name, f_unary_view, &u, 1, &b);
    /* 33153 elements: 9 chunks of 4096 and a short one, in parallel; contiguous and transposed */
    Tensor *big = unary_input(5, NN_SHAPE(257, 129), op, lo, hi);
    test_directional_threads(name, f_unary, &u, 1, &big, 0);
    test_directional_threads(name, f_unary_view, &u, 1, &big, 0);
    tensor_free(a);
    tensor_free(b);
    tensor_free(big);
}

START_TEST(grad_neg) { check_unary("neg", 0, 0, -2, 2); }
END_TEST
START_TEST(grad_add_scalar) { check_unary("add_scalar", 1, 0.7, -2, 2); }
END_TEST
START_TEST(grad_mul_scalar) { check_unary("mul_scalar", 2, -1.3, -2, 2); }
END_TEST
START_TEST(grad_pow_scalar) {
    check_unary("pow_scalar", 3, 2.5, 0.3, 2);
    check_unary("pow_scalar", 3, -1.5, 0.3, 2);
}
END_TEST
START_TEST(grad_exp) { check_unary("exp", 4, 0, -2, 2); }
END_TEST
START_TEST(grad_log) { check_unary("log", 5, 0, 0.2, 3); }
END_TEST
START_TEST(grad_sqrt) { check_unary("sqrt", 6, 0, 0.2, 3); }
END_TEST
START_TEST(grad_tanh) { check_unary("tanh", 7, 0, -2, 2); }
END_TEST
START_TEST(grad_sigmoid) { check_unary("sigmoid", 8, 0, -4, 4); }
END_TEST
START_TEST(grad_relu) { check_unary("relu", 9, 0, -2, 2); }
END_TEST
START_TEST(grad_gelu) { check_unary("gelu", 10, 0, -3, 3); }
END_TEST

/* ---- reductions ---- */

typedef struct {
    int kind; /* 0 sum, 1 mean, 2 max */
    int naxes, axes[3], keepdim, view;
} ReduceCase;

static Tensor *f_reduce(Graph *g, Tensor *const *in, void *ctx) {
    const ReduceCase *c = ctx;
    Tensor *x = c->view ? ag_permute(g, in[0], (int[]){2, 0, 1}) : in[0];
    if (c->kind == 0) return ag_sum(g, x, c->naxes, c->axes, c->keepdim);
    if (c->kind == 1) return ag_mean(g, x, c->naxes, c->axes, c->keepdim);
    return ag_max(g, x, c->naxes, c->axes, c->keepdim);
}

static void check_reduce(const char *name, int kind) {
    ReduceCase cases[] = {
        {kind, 0, {0}, 0, 0},    {kind, 1, {0}, 0, 0}, {kind, 1, {-1}, 1, 0},   {kind, 2, {0, 2}, 1, 0},
        {kind, 2, {0, 2}, 0, 0}, {kind, 1, {1}, 0, 1}, {kind, 2, {1, 2}, 1, 1},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        Tensor *x = test_param(test_randn(20 + k, NN_SHAPE(3, 4, 5)));
        test_gradcheck(name, f_reduce, &cases[k], 1, &x);
        tensor_free(x);
    }
    /* over a dim of size 1: nothing to reduce, a copy */
    ReduceCase one = {kind, 1, {1}, 0, 0};
    Tensor *x1 = test_param(test_randn(27, NN_SHAPE(3, 1, 4)));
    test_gradcheck(name, f_reduce, &one, 1, &x1);
    tensor_free(x1);
    /* runs of 19 along the last dim: blocks of 8 lanes and a tail */
    ReduceCase rows = {kind, 1, {-1}, 0, 0};
    Tensor *x = test_param(test_randn(28, NN_SHAPE(2, 3, 19)));
    test_gradcheck(name, f_reduce, &rows, 1, &x);
    tensor_free(x);
    /* past 32768 inputs: rows of 5000 (two chunks of 4096), 300 rows of 130 columns (blocks of 64),
     * everything at once (10 chunks), and strided runs */
    struct {
        int64_t shape[3];
        ReduceCase c;
    } large[] = {
        {{3, 3, 5000}, {kind, 1, {-1}, 0, 0}},
        {{1, 300, 130}, {kind, 1, {1}, 1, 0}},
        {{1, 200, 200}, {kind, 0, {0}, 0, 0}},
        {{130, 300, 1}, {kind, 1, {2}, 0, 1}}, /* permuted to (1, 130, 300): rows of stride 300 */
    };
    for (size_t k = 0; k < sizeof large / sizeof large[0]; k++) {
        Tensor *big = test_param(test_randn(29 + k, 3, large[k].shape));
        test_directional_threads(name, f_reduce, &large[k].c, 1, &big, 0);
        tensor_free(big);
    }
}

START_TEST(max_of_minus_infinity_is_minus_infinity) {
    /* rows of 5000 (two chunks) and columns of 3 rows: every element -inf, and so the maximum */
    Tensor *x = tensor_full(NN_SHAPE(3, 5000), -INFINITY);
    Graph *g = graph_new();
    for (int axis = 0; axis < 2; axis++) {
        Tensor *m = ag_max(g, x, 1, &axis, 0);
        for (int64_t i = 0; i < m->numel; i++) ck_assert(m->data[i] == -INFINITY);
    }
    graph_free(g);
    tensor_free(x);
}
END_TEST

START_TEST(grad_sum) { check_reduce("sum", 0); }
END_TEST
START_TEST(grad_mean) { check_reduce("mean", 1); }
END_TEST
START_TEST(grad_max) { check_reduce("max", 2); }
END_TEST

static Suite *grad_elementwise_suite(void) {
    Suite *s = suite_create("grad_elementwise");
    TCase *tc = tcase_create("elementwise");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, grad_add);
    tcase_add_test(tc, grad_sub);
    tcase_add_test(tc, grad_mul);
    tcase_add_test(tc, grad_div);
    tcase_add_test(tc, grad_neg);
    tcase_add_test(tc, grad_add_scalar);
    tcase_add_test(tc, grad_mul_scalar);
    tcase_add_test(tc, grad_pow_scalar);
    tcase_add_test(tc, grad_exp);
    tcase_add_test(tc, grad_log);
    tcase_add_test(tc, grad_sqrt);
    tcase_add_test(tc, grad_tanh);
    tcase_add_test(tc, grad_sigmoid);
    tcase_add_test(tc, grad_relu);
    tcase_add_test(tc, grad_gelu);
    tcase_add_test(tc, grad_sum);
    tcase_add_test(tc, grad_mean);
    tcase_add_test(tc, grad_max);
    tcase_add_test(tc, max_of_minus_infinity_is_minus_infinity);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(grad_elementwise_suite)
