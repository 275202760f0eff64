/* Finite-difference gradient checks (double build) of the ops issue 21 asked
 * for: sin, cos, leaky_relu, elu, log1p, sign, erf, softsign; cumsum; min,
 * var, std and the p-norm; index_add and scatter_add; row_dot.
 *
 * As in grad_ops_extra.c: a small shape whose last dim (37) leaves a tail after
 * the vector loops, a strided view (a transpose), and a shape past the op's
 * parallel threshold where about 64 elements are checked (skipped under
 * valgrind, NN_TEST_QUICK=1). The scalar differentiated is sum(W * f) with
 * fixed random W (gradcheck.h). */
#include <math.h>
#include <string.h>

#include "tests/support.h"

#define SAMPLED 64
#define BIG_EPS 1e-5

static void check_large(const char *name, GradcheckFn f, void *ctx, uint64_t seed, int ndim, const int64_t *shape,
                        real lo, real hi) {
    if (test_quick()) return;
    Tensor *big = test_param(test_uniform(seed, ndim, shape, lo, hi));
    test_gradcheck_sampled(name, f, ctx, 1, &big, SAMPLED, BIG_EPS);
    tensor_free(big);
}

static Tensor *maybe_t(Graph *g, Tensor *x, int transposed) { return transposed ? ag_transpose(g, x, 0, 1) : x; }

/* ---- elementwise ---- */

typedef struct {
    int op; /* 0 sin, 1 cos, 2 leaky_relu, 3 elu, 4 log1p, 5 sign (times x), 6 erf, 7 softsign */
    int transposed;
} UnaryCase;

static const char *const unary_names[] = {"sin", "cos", "leaky_relu", "elu", "log1p", "sign * x", "erf", "softsign"};

static Tensor *f_unary(Graph *g, Tensor *const *in, void *ctx) {
    const UnaryCase *c = ctx;
    Tensor *x = maybe_t(g, in[0], c->transposed);
    switch (c->op) {
    case 0: return ag_sin(g, x);
    case 1: return ag_cos(g, x);
    case 2: return ag_leaky_relu(g, x, (real)0.1);
    case 3: return ag_elu(g, x, (real)1.3);
    case 4: return ag_log1p(g, x);
    case 5: return ag_mul(g, ag_sign(g, x), x); /* |x|: sign itself passes no gradient */
    case 6: return ag_erf(g, x);
    default: return ag_softsign(g, x);
    }
}

START_TEST(grad_unary) {
    for (int op = 0; op < 8; op++) {
        real lo = op == 4 ? (real)-0.7 : -3, hi = 3; /* log1p needs x > -1 */
        for (int transposed = 0; transposed < 2; transposed++) {
            UnaryCase c = {op, transposed};
            Tensor *x = test_param(test_uniform(10 + op, NN_SHAPE(5, 37), lo, hi));
            test_gradcheck(unary_names[op], f_unary, &c, 1, &x);
            tensor_free(x);
        }
        UnaryCase c = {op, 0};
        check_large(unary_names[op], f_unary, &c, 20 + op, NN_SHAPE(181, 203), lo, hi);
    }
}
END_TEST

/* ---- cumsum ---- */

typedef struct {
    int dim, transposed;
} CumsumCase;

static Tensor *f_cumsum(Graph *g, Tensor *const *in, void *ctx) {
    const CumsumCase *c = ctx;
    return ag_cumsum(g, maybe_t(g, in[0], c->transposed), c->dim);
}

START_TEST(grad_cumsum) {
    const int dims[] = {0, 1, 2, -1};
    for (int k = 0; k < 4; k++)
        for (int transposed = 0; transposed < 2; transposed++) {
            CumsumCase c = {dims[k], transposed};
            Tensor *x = test_param(test_randn(40 + k, NN_SHAPE(3, 4, 37)));
            test_gradcheck("cumsum", f_cumsum, &c, 1, &x);
            tensor_free(x);
        }
    CumsumCase c = {0, 0};
    check_large("cumsum", f_cumsum, &c, 49, NN_SHAPE(181, 203), -1, 1);
}
END_TEST

/* ---- min, var, std, norm ---- */

typedef struct {
    int op; /* 0 min, 1 var, 2 std, 3 norm */
    int naxes, axes[3], keepdim;
    int64_t correction;
    real p;
} StatCase;

static Tensor *f_stat(Graph *g, Tensor *const *in, void *ctx) {
    const StatCase *c = ctx;
    switch (c->op) {
    case 0: return ag_min(g, in[0], c->naxes, c->axes, c->keepdim);
    case 1: return ag_var(g, in[0], c->naxes, c->axes, c->correction, c->keepdim);
    case 2: return ag_std(g, in[0], c->naxes, c->axes, c->correction, c->keepdim);
    default: return ag_norm(g, in[0], c->p, c->naxes, c->axes, c->keepdim);
    }
}

static void check_stat(const char *name, StatCase c) {
    const struct {
        int naxes, axes[3], keepdim;
    } ax[] = {{1, {2}, 0}, {1, {0}, 1}, {2, {0, 2}, 0}, {0, {0}, 0}, {1, {-2}, 1}};
    for (size_t k = 0; k < sizeof ax / sizeof ax[0]; k++) {
        c.naxes = ax[k].naxes;
        memcpy(c.axes, ax[k].axes, sizeof c.axes);
        c.keepdim = ax[k].keepdim;
        Tensor *x = test_param(test_randn(50 + k, NN_SHAPE(3, 4, 37)));
        test_gradcheck(name, f_stat, &c, 1, &x);
        tensor_free(x);
    }
}

START_TEST(grad_min) { check_stat("min", (StatCase){.op = 0}); }
END_TEST

START_TEST(grad_var_std) {
    for (int64_t corr = 0; corr < 2; corr++) {
        check_stat("var", (StatCase){.op = 1, .correction = corr});
        check_stat("std", (StatCase){.op = 2, .correction = corr});
    }
}
END_TEST

START_TEST(grad_norm) {
    const real ps[] = {1, 2, 3, (real)1.5, INFINITY};
    for (int k = 0; k < 5; k++) check_stat("norm", (StatCase){.op = 3, .p = ps[k]});
}
END_TEST

/* An all-zero set: the norm and the std are 0 and their gradient is 0, not NaN. */
START_TEST(norm_and_std_of_zeros_have_zero_gradient) {
    for (int op = 2; op < 4; op++) {
        Tensor *x = test_param(tensor_zeros(NN_SHAPE(3, 5)));
        for (int64_t i = 0; i < 5; i++) x->data[5 + i] = (real)(i + 1); /* row 1 is not zero */
        Graph *g = graph_new();
        int axis = 1;
        Tensor *y = op == 2 ? ag_std(g, x, 1, &axis, 1, 0) : ag_norm(g, x, 2, 1, &axis, 0);
        ag_backward(g, ag_sum(g, y, 0, NULL, 0));
        for (int64_t i = 0; i < 15; i++) {
            int zero_row = i < 5 || i >= 10;
            ck_assert_msg(zero_row ? x->grad->data[i] == 0 : isfinite(x->grad->data[i]) && x->grad->data[i] != 0,
                          "%s: gradient %g at %lld", op == 2 ? "std" : "norm", (double)x->grad->data[i], (long long)i);
        }
        graph_free(g);
        tensor_free(x);
    }
}
END_TEST

/* ---- index_add and scatter_add ---- */

typedef struct {
    int dim, transposed;
    const int64_t *idx;
    int64_t n;
} AddCase;

static Tensor *f_index_add(Graph *g, Tensor *const *in, void *ctx) {
    const AddCase *c = ctx;
    return ag_index_add(g, in[0], c->dim, c->idx, c->n, maybe_t(g, in[1], c->transposed));
}

static Tensor *f_scatter_add(Graph *g, Tensor *const *in, void *ctx) {
    const AddCase *c = ctx;
    return ag_scatter_add(g, in[0], c->dim, c->idx, c->n, maybe_t(g, in[1], c->transposed));
}

START_TEST(grad_index_add) {
    const int64_t idx[] = {2, 0, 2, 4}; /* 2 repeats; 1 and 3 get nothing */
    for (int dim = 0; dim < 3; dim++) {
        int64_t xs[3] = {5, 6, 37}, ss[3] = {5, 6, 37};
        xs[dim] = 5;
        ss[dim] = 4;
        AddCase c = {dim, 0, idx, 4};
        Tensor *in[2] = {test_param(test_randn(60 + dim, 3, xs)), test_param(test_randn(70 + dim, 3, ss))};
        test_gradcheck("index_add", f_index_add, &c, 2, in);
        test_free_all(2, in);
    }
    /* a transposed src: (4, 37) seen as (37, 4) into x (37, 5) along dim 1 */
    AddCase c = {1, 1, idx, 4};
    Tensor *in[2] = {test_param(test_randn(80, NN_SHAPE(37, 5))), test_param(test_randn(81, NN_SHAPE(4, 37)))};
    test_gradcheck("index_add", f_index_add, &c, 2, in);
    test_free_all(2, in);
    if (test_quick()) return;
    int64_t big_idx[40];
    for (int j = 0; j < 40; j++) big_idx[j] = (j * 7) % 23;
    AddCase b = {1, 0, big_idx, 40};
    Tensor *big[2] = {test_param(test_randn(82, NN_SHAPE(181, 23, 9))), test_param(test_randn(83, NN_SHAPE(181, 40, 9)))};
    test_gradcheck_sampled("index_add", f_index_add, &b, 2, big, SAMPLED, BIG_EPS);
    test_free_all(2, big);
}
END_TEST

START_TEST(grad_scatter_add) {
    for (int dim = 0; dim < 2; dim++) {
        int64_t idx[3 * 5];
        for (int p = 0; p < 15; p++) idx[p] = (p * 5 + dim) % 4; /* repeats along dim */
        AddCase c = {dim, 0, idx, 15};
        Tensor *in[2] = {test_param(test_randn(90 + dim, NN_SHAPE(4, 6))), test_param(test_randn(92 + dim, NN_SHAPE(3, 5)))};
        test_gradcheck("scatter_add", f_scatter_add, &c, 2, in);
        test_free_all(2, in);
        c.transposed = 1; /* src (5, 3) seen as (3, 5) */
        Tensor *t[2] = {test_param(test_randn(94 + dim, NN_SHAPE(4, 6))), test_param(test_randn(96 + dim, NN_SHAPE(5, 3)))};
        test_gradcheck("scatter_add", f_scatter_add, &c, 2, t);
        test_free_all(2, t);
    }
}
END_TEST

/* ---- row_dot: both inputs, a transposed one, the same tensor twice (its gradient summed), a big case ---- */

static Tensor *f_row_dot(Graph *g, Tensor *const *in, void *ctx) {
    int c = *(const int *)ctx;
    if (c == 2) return ag_row_dot(g, in[0], in[0]);
    return ag_row_dot(g, maybe_t(g, in[0], c == 1), in[1]);
}

START_TEST(grad_row_dot) {
    for (int c = 0; c < 3; c++) {
        Tensor *a = test_param(c == 1 ? test_uniform(40 + c, NN_SHAPE(37, 5), -2, 2)
                                      : test_uniform(40 + c, NN_SHAPE(5, 37), -2, 2));
        Tensor *b = test_param(test_uniform(50 + c, NN_SHAPE(5, 37), -2, 2));
        Tensor *in[2] = {a, b};
        const char *what[3] = {"row_dot(a, b)", "row_dot(a^T, b)", "row_dot(a, a)"};
        test_gradcheck(what[c], f_row_dot, &c, c == 2 ? 1 : 2, in);
        tensor_free(a);
        tensor_free(b);
    }
    int c = 0;
    if (test_quick()) return;
    Tensor *a = test_param(test_uniform(60, NN_SHAPE(600, 64), -2, 2)),
           *b = test_param(test_uniform(61, NN_SHAPE(600, 64), -2, 2));
    Tensor *in[2] = {a, b};
    test_gradcheck_sampled("row_dot (600, 64)", f_row_dot, &c, 2, in, SAMPLED, BIG_EPS);
    tensor_free(a);
    tensor_free(b);
}
END_TEST

static Suite *grad_ops_more_suite(void) {
    Suite *s = suite_create("grad_ops_more");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, grad_unary);
    tcase_add_test(tc, grad_cumsum);
    tcase_add_test(tc, grad_min);
    tcase_add_test(tc, grad_var_std);
    tcase_add_test(tc, grad_norm);
    tcase_add_test(tc, norm_and_std_of_zeros_have_zero_gradient);
    tcase_add_test(tc, grad_index_add);
    tcase_add_test(tc, grad_scatter_add);
    tcase_add_test(tc, grad_row_dot);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(grad_ops_more_suite)
