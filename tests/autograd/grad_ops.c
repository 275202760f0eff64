/* A finite-difference gradient check for every op, on the double build.
 * Shapes include broadcasting, non-contiguous views and repeated indices. */
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
    return apply_unary(g, ag_narrow(g, ag_transpose(g, in[0], 0, 2), 1, 1, 2), ctx);
}

static void check_unary(const char *name, int op, real c, real lo, real hi) {
    UnaryCase u = {op, c};
    Tensor *a = test_param(test_uniform(3, NN_SHAPE(3, 5), lo, hi));
    test_gradcheck(name, f_unary, &u, 1, &a);
    Tensor *b = test_param(test_uniform(4, NN_SHAPE(2, 3, 4), lo, hi));
    test_gradcheck(name, f_unary_view, &u, 1, &b);
    if (op == 9) { /* relu: keep away from the kink at 0 */
        for (int64_t i = 0; i < a->numel; i++) ck_assert(fabs((double)a->data[i]) > 1e-3);
    }
    tensor_free(a);
    tensor_free(b);
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
}

START_TEST(grad_sum) { check_reduce("sum", 0); }
END_TEST
START_TEST(grad_mean) { check_reduce("mean", 1); }
END_TEST
START_TEST(grad_max) { check_reduce("max", 2); }
END_TEST

/* ---- products ---- */

typedef struct {
    int ta, tb; /* operands given transposed (stored as (K, M) / (N, K)) */
} MatmulCase;

static Tensor *f_matmul(Graph *g, Tensor *const *in, void *ctx) {
    const MatmulCase *c = ctx;
    Tensor *a = c->ta ? ag_transpose(g, in[0], -1, -2) : in[0];
    Tensor *b = c->tb ? ag_transpose(g, in[1], -1, -2) : in[1];
    return ag_matmul(g, a, b);
}

START_TEST(grad_matmul) {
    struct {
        int na, nb;
        int64_t a[3], b[3];
        MatmulCase c;
    } cases[] = {
        {2, 2, {3, 4}, {4, 5}, {0, 0}},       {3, 3, {2, 3, 4}, {2, 4, 5}, {0, 0}}, /* batched */
        {3, 2, {2, 3, 4}, {4, 5}, {0, 0}},    {2, 3, {3, 4}, {2, 4, 5}, {0, 0}},    /* broadcast batch */
        {3, 3, {2, 1, 4}, {1, 4, 5}, {0, 0}}, /* size-1 batch dims broadcast both ways */
        {2, 2, {4, 3}, {5, 4}, {1, 1}},       {3, 2, {2, 4, 3}, {4, 5}, {1, 0}}, /* transposed views */
        {3, 2, {2, 3, 4}, {5, 4}, {0, 1}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        Tensor *in[2] = {test_param(test_randn(30 + k, cases[k].na, cases[k].a)),
                         test_param(test_randn(40 + k, cases[k].nb, cases[k].b))};
        test_gradcheck("matmul", f_matmul, &cases[k].c, 2, in);
        test_free_all(2, in);
    }
}
END_TEST

static Tensor *f_linear(Graph *g, Tensor *const *in, void *ctx) {
    int variant = *(int *)ctx;
    Tensor *x = variant == 2 ? ag_transpose(g, in[0], 0, 1) : in[0];
    return ag_linear(g, x, in[1], variant == 1 ? NULL : in[2]);
}

START_TEST(grad_linear) {
    for (int variant = 0; variant < 3; variant++) {
        Tensor *in[3] = {test_param(test_randn(50, NN_SHAPE(2, 3, 4))), test_param(test_randn(51, NN_SHAPE(5, 4))),
                         test_param(test_randn(52, NN_SHAPE(5)))};
        test_gradcheck("linear", f_linear, &variant, 3, in);
        test_free_all(3, in);
    }
}
END_TEST

/* ---- shape ---- */

static Tensor *f_shape(Graph *g, Tensor *const *in, void *ctx) {
    Tensor *x = in[0]; /* (2, 3, 4) */
    switch (*(int *)ctx) {
    case 0: return ag_reshape(g, x, NN_SHAPE(4, -1));
    case 1: return ag_reshape(g, ag_transpose(g, x, 0, 2), NN_SHAPE(12, 2)); /* copies: not contiguous */
    case 2: return ag_permute(g, x, (int[]){1, 2, 0});
    case 3: return ag_transpose(g, x, 0, 1);
    case 4: return ag_narrow(g, x, 2, 1, 2);
    case 5: return ag_expand(g, ag_narrow(g, x, 1, 0, 1), NN_SHAPE(5, 2, 3, 4));
    case 6: return ag_contiguous(g, ag_permute(g, x, (int[]){2, 0, 1}));
    default: /* x used twice through overlapping views: row 1 gets both gradients */
        return ag_concat(g, 2, (Tensor *[]){ag_narrow(g, x, 1, 0, 2), ag_narrow(g, x, 1, 1, 2)}, 1);
    }
}

START_TEST(grad_shape_ops) {
    const char *names[] = {"reshape", "reshape(copy)", "permute",    "transpose",
                           "narrow",  "expand",        "contiguous", "concat(overlap)"};
    for (int v = 0; v < 8; v++) {
        Tensor *x = test_param(test_randn(60 + v, NN_SHAPE(2, 3, 4)));
        test_gradcheck(names[v], f_shape, &v, 1, &x);
        tensor_free(x);
    }
}
END_TEST

static Tensor *f_concat(Graph *g, Tensor *const *in, void *ctx) {
    int dim = *(int *)ctx;
    Tensor *b = dim == 0 ? in[1] : ag_transpose(g, in[1], 0, 1);
    return ag_concat(g, 3, (Tensor *[]){in[0], b, in[0]}, dim);
}

START_TEST(grad_concat) {
    /* dim 0: (3,3) ++ (2,3) ++ (3,3); dim 1: (3,3) ++ (2,3)^T ++ (3,3), a non-contiguous part */
    for (int dim = 0; dim < 2; dim++) {
        Tensor *in[2] = {test_param(test_randn(70, NN_SHAPE(3, 3))), test_param(test_randn(71, NN_SHAPE(2, 3)))};
        test_gradcheck("concat", f_concat, &dim, 2, in);
        test_free_all(2, in);
    }
}
END_TEST

/* ---- softmax ---- */

static Tensor *f_softmax(Graph *g, Tensor *const *in, void *ctx) {
    int v = *(int *)ctx;
    Tensor *x = v & 2 ? ag_transpose(g, in[0], 0, 1) : in[0];
    return v & 1 ? ag_log_softmax(g, x) : ag_softmax(g, x);
}

START_TEST(grad_softmax) {
    for (int v = 0; v < 4; v += 2) {
        Tensor *x = test_param(test_randn(80 + v, NN_SHAPE(4, 6)));
        test_gradcheck("softmax", f_softmax, &v, 1, &x);
        tensor_free(x);
    }
}
END_TEST

START_TEST(grad_log_softmax) {
    for (int v = 1; v < 4; v += 2) {
        Tensor *x = test_param(test_randn(90 + v, NN_SHAPE(4, 6)));
        test_gradcheck("log_softmax", f_softmax, &v, 1, &x);
        tensor_free(x);
    }
}
END_TEST

/* ---- selection ---- */

static Tensor *f_masked_fill(Graph *g, Tensor *const *in, void *ctx) {
    return ag_masked_fill(g, in[0], (const Tensor *)ctx, -3);
}

START_TEST(grad_masked_fill) {
    real m[] = {1, 0, 0, 1, 0};
    Tensor mask = tensor_wrap(m, NN_SHAPE(5)); /* broadcast over rows */
    Tensor *x = test_param(test_randn(100, NN_SHAPE(3, 5)));
    test_gradcheck("masked_fill", f_masked_fill, &mask, 1, &x);
    tensor_free(x);
}
END_TEST

static Tensor *f_where(Graph *g, Tensor *const *in, void *ctx) {
    return ag_where(g, (const Tensor *)ctx, in[0], in[1]);
}

START_TEST(grad_where) {
    real c[] = {1, 0, 1, 1, 0, 0};
    Tensor cond = tensor_wrap(c, NN_SHAPE(2, 1, 3)); /* (2, 1, 3) with a (4, 3) and b (3): all broadcast */
    Tensor *in[2] = {test_param(test_randn(110, NN_SHAPE(4, 3))), test_param(test_randn(111, NN_SHAPE(3)))};
    test_gradcheck("where", f_where, &cond, 2, in);
    test_free_all(2, in);
}
END_TEST

static Tensor *f_index_select(Graph *g, Tensor *const *in, void *ctx) {
    const int64_t idx[] = {2, 0, 2, 2, 1}; /* repeated */
    int dim = *(int *)ctx;
    return ag_index_select(g, in[0], dim, idx, 5);
}

START_TEST(grad_index_select) {
    for (int dim = 0; dim < 3; dim++) {
        Tensor *x = test_param(test_randn(120 + dim, NN_SHAPE(3, 3, 3)));
        test_gradcheck("index_select", f_index_select, &dim, 1, &x);
        tensor_free(x);
    }
}
END_TEST

static Tensor *f_embedding(Graph *g, Tensor *const *in, void *ctx) {
    (void)ctx;
    const int64_t ids[] = {3, 1, 3, 0, 3, 1}; /* (2, 3), repeated */
    return ag_embedding(g, in[0], ids, NN_SHAPE(2, 3), -1);
}

START_TEST(grad_embedding) {
    Tensor *t = test_param(test_randn(130, NN_SHAPE(5, 4)));
    test_gradcheck("embedding", f_embedding, NULL, 1, &t);
    tensor_free(t);
}
END_TEST

START_TEST(embedding_padding_row_gets_no_gradient) {
    Tensor *t = test_param(test_randn(131, NN_SHAPE(4, 3)));
    Graph *g = graph_new();
    const int64_t ids[] = {0, 2, 0, 1};
    Tensor *y = ag_embedding(g, t, ids, NN_SHAPE(4), 0);
    ag_backward(g, ag_sum(g, y, 0, NULL, 0));
    for (int j = 0; j < 3; j++) {
        ck_assert(t->grad->data[0 * 3 + j] == 0); /* padding row */
        ck_assert(t->grad->data[1 * 3 + j] == 1);
        ck_assert(t->grad->data[3 * 3 + j] == 0); /* unused row */
    }
    graph_free(g);
    tensor_free(t);
}
END_TEST

/* ---- fused layers ---- */

static Tensor *f_dropout(Graph *g, Tensor *const *in, void *ctx) {
    (void)ctx;
    Rng r = rng_new(77, 5); /* the same mask at every evaluation */
    return ag_dropout(g, ag_transpose(g, in[0], 0, 1), 0.4, 1, &r);
}

START_TEST(grad_dropout) {
    Tensor *x = test_param(test_randn(140, NN_SHAPE(6, 7)));
    test_gradcheck("dropout", f_dropout, NULL, 1, &x);
    tensor_free(x);
}
END_TEST

static Tensor *f_layer_norm(Graph *g, Tensor *const *in, void *ctx) {
    int v = *(int *)ctx;
    Tensor *x = v == 2 ? ag_transpose(g, in[0], 0, 1) : in[0];
    return v == 1 ? ag_layer_norm(g, x, NULL, NULL, 1e-5) : ag_layer_norm(g, x, in[1], in[2], 1e-12);
}

START_TEST(grad_layer_norm) {
    /* v 0: affine, eps 1e-12; v 1: no affine; v 2: on a transposed (non-contiguous) input */
    for (int v = 0; v < 3; v++) {
        Tensor *in[3] = {test_param(test_randn(150 + v, NN_SHAPE(4, 3, 6))),
                         test_param(test_uniform(151, NN_SHAPE(6), 0.5, 1.5)),
                         test_param(test_randn(152, NN_SHAPE(6)))};
        test_gradcheck("layer_norm", f_layer_norm, &v, 3, in);
        test_free_all(3, in);
    }
}
END_TEST

static Tensor *f_bce(Graph *g, Tensor *const *in, void *ctx) {
    Tensor *const *tw = ctx;
    return ag_bce_with_logits(g, in[0], tw[0], tw[1]);
}

START_TEST(grad_bce_with_logits) {
    real t[] = {1, 0, 1, 0, 0, 1, 1, 0}, w[] = {1, 1, 0, 1, 0.5, 1, 0, 1};
    Tensor target = tensor_wrap(t, NN_SHAPE(2, 4)), weight = tensor_wrap(w, NN_SHAPE(2, 4));
    Tensor *ctx[2] = {&target, &weight};
    Tensor *x = test_param(test_uniform(160, NN_SHAPE(2, 4), -4, 4));
    test_gradcheck("bce_with_logits", f_bce, ctx, 1, &x);
    ctx[1] = NULL;
    test_gradcheck("bce_with_logits(no weight)", f_bce, ctx, 1, &x);
    tensor_free(x);
}
END_TEST

static Tensor *f_ce(Graph *g, Tensor *const *in, void *ctx) {
    (void)ctx;
    const int64_t target[] = {2, -100, 0, 4};
    return ag_cross_entropy(g, in[0], target, -100);
}

START_TEST(grad_cross_entropy) {
    Tensor *x = test_param(test_randn(170, NN_SHAPE(4, 5)));
    test_gradcheck("cross_entropy", f_ce, NULL, 1, &x);
    tensor_free(x);
}
END_TEST

/* ---- attention ---- */

typedef struct {
    SeqLayout layout;
    AttentionSpec spec;
    uint64_t drop_seed;
} AttnCase;

/* q, k, v are column slices of one (rows, 3H) input: non-contiguous rows */
static Tensor *f_attention(Graph *g, Tensor *const *in, void *ctx) {
    AttnCase *c = ctx;
    int64_t H = in[0]->shape[1] / 3;
    Rng r = rng_new(c->drop_seed, 3);
    AttentionSpec spec = c->spec;
    spec.rng = &r;
    return ag_attention(g, ag_narrow(g, in[0], 1, 0, H), ag_narrow(g, in[0], 1, H, H), ag_narrow(g, in[0], 1, 2 * H, H),
                        &c->layout, &spec);
}

START_TEST(grad_attention) {
    /* 3 sequences of 5 rows, left-padded with 0, 2 and 5 (all) padding keys */
    int64_t dense_off[] = {0, 5, 10, 15}, var_off[] = {0, 1, 4, 9};
    unsigned char valid[15] = {1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0};
    unsigned char holes[9] = {1, 0, 1, 1, 0, 1, 0, 1, 1};
    /* (layout: sequences, offsets, key_valid, causal), (spec: heads, mask, dropout, training), dropout seed */
    AttnCase cases[] = {
        {{3, dense_off, valid, 1}, {2, MASK_MINUS_10000, 0, 0, NULL}, 0}, /* SASRec dense: causal + padding, -10000 */
        {{3, var_off, NULL, 1}, {2, MASK_MINUS_10000, 0, 0, NULL}, 0},    /* length-aware: packed, causal */
        {{3, var_off, holes, 0}, {1, MASK_NEG_INF, 0, 0, NULL}, 0},       /* -inf, not causal, masked keys inside */
        {{3, dense_off, valid, 1}, {2, MASK_NEG_INF, 0, 0, NULL}, 0},     /* -inf: fully padded rows see themselves */
        {{3, dense_off, valid, 1}, {2, MASK_MINUS_10000, 0.3, 1, NULL}, 5}, /* dropout on the probabilities */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t rows = cases[c].layout.offsets[3];
        Tensor *x = test_param(test_randn(190 + c, NN_SHAPE(rows, 3 * 4)));
        test_gradcheck("attention", f_attention, &cases[c], 1, &x);
        tensor_free(x);
    }
}
END_TEST

/* ---- the checker itself ---- */

/* A user-defined op whose backward is 1% off: the checker must reject it. */
static void wrong_exp_backward(Graph *g, Node *n) {
    real *gx = ag_grad(g, n->in[0])->data;
    for (int64_t i = 0; i < n->out->numel; i++) gx[i] += n->out->grad->data[i] * n->out->data[i] * (real)1.01;
}

static Tensor *f_wrong(Graph *g, Tensor *const *in, void *ctx) {
    (void)ctx;
    Tensor *x = in[0], *y = ag_new(g, x->ndim, x->shape);
    for (int64_t i = 0; i < x->numel; i++) y->data[i] = exp(x->data[i]);
    ag_record(g, "wrong_exp", wrong_exp_backward, y, 1, &x);
    return y;
}

START_TEST(gradcheck_rejects_a_one_percent_error) {
    Tensor *x = test_param(test_randn(180, NN_SHAPE(3, 4)));
    GradcheckOptions o = gradcheck_defaults();
    o.verbose = 0;
    GradcheckResult r = gradcheck(f_wrong, NULL, 1, &x, &o);
    ck_assert_msg(!r.passed, "a backward that is 1%% off passed the check (worst ratio %g)", r.worst_ratio);
    ck_assert_int_eq(r.failures, 12);
    ck_assert(r.worst_ratio > 10); /* not a near miss: the tolerance is far tighter than 1% */
    tensor_free(x);
}
END_TEST

static Suite *grad_ops_suite(void) {
    Suite *s = suite_create("grad_ops");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 30);
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
    tcase_add_test(tc, grad_matmul);
    tcase_add_test(tc, grad_linear);
    tcase_add_test(tc, grad_shape_ops);
    tcase_add_test(tc, grad_concat);
    tcase_add_test(tc, grad_softmax);
    tcase_add_test(tc, grad_log_softmax);
    tcase_add_test(tc, grad_masked_fill);
    tcase_add_test(tc, grad_where);
    tcase_add_test(tc, grad_index_select);
    tcase_add_test(tc, grad_embedding);
    tcase_add_test(tc, embedding_padding_row_gets_no_gradient);
    tcase_add_test(tc, grad_dropout);
    tcase_add_test(tc, grad_layer_norm);
    tcase_add_test(tc, grad_bce_with_logits);
    tcase_add_test(tc, grad_cross_entropy);
    tcase_add_test(tc, grad_attention);
    tcase_add_test(tc, gradcheck_rejects_a_one_percent_error);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(grad_ops_suite)
