/* Finite-difference gradient checks (double build) of the everyday ops:
 * activations, minimum/maximum, softmax along any dim, logsumexp, gather,
 * take_along_dim, top-k, split/chunk/select/stack and N-d cross-entropy.
 *
 * Each op is checked on a small shape whose last dim (37) leaves a tail after
 * the vector loops, on a strided view (a transpose or a column slice), and on
 * a shape past the op's parallel threshold, where about 64 elements of each
 * input are checked (skipped under valgrind, NN_TEST_QUICK=1: it runs one thread). */
#include <math.h>
#include <string.h>

#include "tests/support.h"

#define SAMPLED 64   /* elements checked per input on the large shapes */
#define BIG_EPS 1e-5 /* their step: sum(W * f) over ~20000 outputs has rounding noise ~1e-12 */

/* A check of f on one random input of the given shape past the op's parallel threshold, about
 * SAMPLED of its elements (skipped under valgrind, which runs one thread and slowly). */
static void check_large(const char *name, GradcheckFn f, void *ctx, uint64_t seed, int ndim, const int64_t *shape) {
    if (test_quick()) return;
    Tensor *big = test_param(test_uniform(seed, ndim, shape, -2, 2));
    test_gradcheck_sampled(name, f, ctx, 1, &big, SAMPLED, BIG_EPS);
    tensor_free(big);
}

/* A transposed view of in[0] when ctx asks for it: the op then reads a strided input. */
static Tensor *maybe_t(Graph *g, Tensor *x, int transposed) { return transposed ? ag_transpose(g, x, 0, 1) : x; }

/* ---- activations ---- */

typedef struct {
    int op; /* 0 clamp, 1 abs, 2 softplus, 3 softplus(beta 2, threshold 1), 4 silu */
    int transposed;
} ActCase;

static Tensor *f_act(Graph *g, Tensor *const *in, void *ctx) {
    const ActCase *c = ctx;
    Tensor *x = maybe_t(g, in[0], c->transposed);
    switch (c->op) {
    case 0: return ag_clamp(g, x, -0.5, 0.7);
    case 1: return ag_abs(g, x);
    case 2: return ag_softplus(g, x, 1, 20);
    case 3: return ag_softplus(g, x, 2, 1);
    default: return ag_silu(g, x);
    }
}

static void check_activation(const char *name, int op) {
    for (int transposed = 0; transposed < 2; transposed++) {
        ActCase c = {op, transposed};
        Tensor *x = test_param(test_uniform(10 + op, NN_SHAPE(5, 37), -2, 2));
        test_gradcheck(name, f_act, &c, 1, &x);
        tensor_free(x);
    }
    ActCase c = {op, 0};
    check_large(name, f_act, &c, 20 + op, NN_SHAPE(181, 203)); /* 36743 elements */
}

START_TEST(grad_clamp) { check_activation("clamp", 0); }
END_TEST
START_TEST(grad_abs) { check_activation("abs", 1); }
END_TEST
START_TEST(grad_softplus) {
    check_activation("softplus", 2);
    check_activation("softplus(beta 2, threshold 1)", 3); /* both branches */
}
END_TEST
START_TEST(grad_silu) { check_activation("silu", 4); }
END_TEST

/* ---- minimum and maximum ---- */

typedef struct {
    int is_max, transposed;
} MinMaxCase;

static Tensor *f_minmax(Graph *g, Tensor *const *in, void *ctx) {
    const MinMaxCase *c = ctx;
    Tensor *a = maybe_t(g, in[0], c->transposed);
    return c->is_max ? ag_maximum(g, a, in[1]) : ag_minimum(g, a, in[1]);
}

static void check_minmax(const char *name, int is_max) {
    MinMaxCase c = {is_max, 0};
    Tensor *in[2] = {test_param(test_randn(30, NN_SHAPE(3, 1, 37))), test_param(test_randn(31, NN_SHAPE(5, 37)))};
    test_gradcheck(name, f_minmax, &c, 2, in); /* both broadcast */
    test_free_all(2, in);
    /* ties: equal elements share the gradient, which is what central differences see */
    Tensor *t[2] = {test_param(test_randn(32, NN_SHAPE(4, 37))), test_param(test_randn(33, NN_SHAPE(4, 37)))};
    for (int64_t i = 0; i < 4 * 37; i += 3) t[1]->data[i] = t[0]->data[i];
    test_gradcheck(name, f_minmax, &c, 2, t);
    test_free_all(2, t);
    c.transposed = 1;
    Tensor *v[2] = {test_param(test_randn(34, NN_SHAPE(37, 4))), test_param(test_randn(35, NN_SHAPE(37)))};
    test_gradcheck(name, f_minmax, &c, 2, v);
    test_free_all(2, v);
    if (test_quick()) return;
    c.transposed = 0;
    Tensor *big[2] = {test_param(test_randn(36, NN_SHAPE(181, 203))), test_param(test_randn(37, NN_SHAPE(203)))};
    test_gradcheck_sampled(name, f_minmax, &c, 2, big, SAMPLED, BIG_EPS);
    test_free_all(2, big);
}

START_TEST(grad_maximum) { check_minmax("maximum", 1); }
END_TEST
START_TEST(grad_minimum) { check_minmax("minimum", 0); }
END_TEST

/* ---- softmax and log-softmax along any dim, logsumexp ---- */

typedef struct {
    int dim, take_log, transposed;
} SoftmaxCase;

static Tensor *f_softmax_dim(Graph *g, Tensor *const *in, void *ctx) {
    const SoftmaxCase *c = ctx;
    Tensor *x = maybe_t(g, in[0], c->transposed);
    return c->take_log ? ag_log_softmax_dim(g, x, c->dim) : ag_softmax_dim(g, x, c->dim);
}

static void check_softmax_dim(const char *name, int take_log) {
    const int dims[] = {0, 1, 2, -1, -2};
    for (int k = 0; k < 5; k++)
        for (int transposed = 0; transposed < 2; transposed++) {
            SoftmaxCase c = {dims[k], take_log, transposed};
            Tensor *x = test_param(test_randn(40 + k, NN_SHAPE(3, 4, 37)));
            test_gradcheck(name, f_softmax_dim, &c, 1, &x);
            tensor_free(x);
        }
    SoftmaxCase c = {0, take_log, 0};
    check_large(name, f_softmax_dim, &c, 49, NN_SHAPE(37, 520)); /* 19240 elements, lines along dim 0 */
}

START_TEST(grad_softmax_dim) { check_softmax_dim("softmax_dim", 0); }
END_TEST
START_TEST(grad_log_softmax_dim) { check_softmax_dim("log_softmax_dim", 1); }
END_TEST

typedef struct {
    int naxes, axes[3], keepdim;
} LseCase;

static Tensor *f_logsumexp(Graph *g, Tensor *const *in, void *ctx) {
    const LseCase *c = ctx;
    return ag_logsumexp(g, in[0], c->naxes, c->axes, c->keepdim);
}

START_TEST(grad_logsumexp) {
    LseCase cases[] = {{1, {2}, 0}, {1, {0}, 1}, {2, {0, 2}, 0}, {0, {0}, 0}, {1, {-2}, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        Tensor *x = test_param(test_randn(50 + k, NN_SHAPE(3, 4, 37)));
        x->data[5] = 30; /* a large value: the stable form must not overflow */
        test_gradcheck("logsumexp", f_logsumexp, &cases[k], 1, &x);
        tensor_free(x);
    }
    LseCase rows = {1, {1}, 0};
    check_large("logsumexp", f_logsumexp, &rows, 59, NN_SHAPE(181, 203));
}
END_TEST

/* ---- gather, take_along_dim, top-k ---- */

typedef struct {
    int dim, ndim, strided;
    int64_t shape[3];
    const int64_t *idx;
} GatherCase;

static Tensor *f_gather(Graph *g, Tensor *const *in, void *ctx) {
    const GatherCase *c = ctx;
    Tensor *x = c->strided ? ag_narrow(g, in[0], 2, 1, in[0]->shape[2] - 1) : in[0];
    return ag_gather(g, x, c->dim, c->idx, c->ndim, c->shape);
}

/* Indices in [0, range), with repeats. */
static int64_t *make_indices(int64_t n, int64_t range, uint64_t seed) {
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    Rng r = rng_new(seed, 5);
    for (int64_t i = 0; i < n; i++) idx[i] = (int64_t)rng_below(&r, (uint64_t)range);
    return idx;
}

START_TEST(grad_gather) {
    /* x (4, 5, 38); the strided cases see its columns 1.. (4, 5, 37) */
    for (int strided = 0; strided < 2; strided++)
        for (int dim = 0; dim < 3; dim++) {
            int64_t xs[3] = {4, 5, 38 - strided}, range = xs[dim];
            GatherCase c = {dim, 3, strided, {3, 4, 37 - 2 * strided}, NULL};
            c.shape[dim] = 9; /* more picks than the dim holds: repeats */
            int64_t *idx = make_indices(c.shape[0] * c.shape[1] * c.shape[2], range, 60 + dim);
            c.idx = idx;
            Tensor *x = test_param(test_randn(61 + dim, NN_SHAPE(4, 5, 38)));
            test_gradcheck("gather", f_gather, &c, 1, &x);
            tensor_free(x);
            free(idx);
        }
    if (test_quick()) return;
    GatherCase c = {1, 2, 0, {150, 240}, NULL};
    int64_t *idx = make_indices(150 * 240, 300, 69);
    c.idx = idx;
    Tensor *big = test_param(test_randn(68, NN_SHAPE(150, 300))); /* 36000 picks */
    test_gradcheck_sampled("gather", f_gather, &c, 1, &big, SAMPLED, BIG_EPS);
    tensor_free(big);
    free(idx);
}
END_TEST

typedef struct {
    int dim;
    int64_t shape[3];
    const int64_t *idx;
} TakeCase;

static Tensor *f_take(Graph *g, Tensor *const *in, void *ctx) {
    const TakeCase *c = ctx;
    return ag_take_along_dim(g, in[0], c->dim, c->idx, 3, c->shape);
}

START_TEST(grad_take_along_dim) {
    /* x (4, 1, 37) and idx (1, 3, k) broadcast to (4, 3, .) outside dim */
    TakeCase cases[] = {{2, {1, 3, 6}, NULL}, {0, {2, 3, 37}, NULL}, {-1, {4, 3, 2}, NULL}};
    for (int k = 0; k < 3; k++) {
        int64_t range = k == 1 ? 4 : 37;
        int64_t *idx = make_indices(cases[k].shape[0] * cases[k].shape[1] * cases[k].shape[2], range, 70 + k);
        cases[k].idx = idx;
        Tensor *x = test_param(test_randn(75 + k, NN_SHAPE(4, 1, 37)));
        test_gradcheck("take_along_dim", f_take, &cases[k], 1, &x);
        tensor_free(x);
        free(idx);
    }
}
END_TEST

typedef struct {
    int64_t k;
    int dim, largest, transposed;
} TopkCase;

static Tensor *f_topk(Graph *g, Tensor *const *in, void *ctx) {
    const TopkCase *c = ctx;
    return ag_topk(g, maybe_t(g, in[0], c->transposed), c->dim, c->k, c->largest, NULL);
}

START_TEST(grad_topk) {
    TopkCase cases[] = {{5, -1, 1, 0}, {3, 0, 0, 0}, {37, -1, 1, 0}, {4, 1, 1, 1}, {2, 0, 1, 1}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        Tensor *x = test_param(test_randn(80 + k, NN_SHAPE(6, 37)));
        test_gradcheck("topk", f_topk, &cases[k], 1, &x);
        tensor_free(x);
    }
    TopkCase c = {10, -1, 1, 0};
    check_large("topk", f_topk, &c, 89, NN_SHAPE(64, 600));
}
END_TEST

/* ---- split, chunk, select, stack ---- */

/* Pieces of in[0] rejoined in another order with different scales: each piece's gradient must land
 * on its own elements. */
static Tensor *f_pieces(Graph *g, Tensor *const *in, void *ctx) {
    int which = *(int *)ctx;
    Tensor *p[16];
    int n;
    Tensor *x = maybe_t(g, in[0], which == 3);
    if (which == 0) {
        n = 3;
        ag_split_sizes(g, x, 0, 3, (const int64_t[]){2, 0, 3}, p);
    } else if (which == 1) {
        n = ag_split(g, x, -1, 3, p); /* 37 = 12 * 3 + 1 */
    } else {
        n = ag_chunk(g, x, which == 2 ? 1 : 0, 4, p);
    }
    Tensor *order[16];
    for (int k = 0; k < n; k++) order[k] = ag_mul_scalar(g, p[n - 1 - k], (real)(k + 1));
    return ag_concat(g, n, order, which == 1 ? -1 : (which == 2 ? 1 : 0));
}

static Tensor *f_select(Graph *g, Tensor *const *in, void *ctx) {
    int dim = *(int *)ctx;
    Tensor *a = ag_select(g, in[0], dim, 1), *b = ag_select(g, in[0], dim, 0);
    return ag_add(g, ag_mul_scalar(g, a, 3), ag_mul(g, b, b));
}

START_TEST(grad_split_chunk_select) {
    for (int which = 0; which < 4; which++) {
        Tensor *x = test_param(test_randn(90 + which, NN_SHAPE(5, 37)));
        test_gradcheck("split/chunk", f_pieces, &which, 1, &x);
        tensor_free(x);
    }
    for (int dim = 0; dim < 3; dim++) {
        Tensor *x = test_param(test_randn(95 + dim, NN_SHAPE(3, 4, 37)));
        test_gradcheck("select", f_select, &dim, 1, &x);
        tensor_free(x);
    }
}
END_TEST

static Tensor *f_stack(Graph *g, Tensor *const *in, void *ctx) {
    int dim = *(int *)ctx;
    Tensor *xs[3] = {in[0], ag_transpose(g, in[1], 0, 1), ag_mul(g, in[0], in[0])};
    return ag_stack(g, 3, xs, dim);
}

START_TEST(grad_stack) {
    for (int dim = -3; dim < 3; dim++) {
        Tensor *in[2] = {test_param(test_randn(100, NN_SHAPE(4, 37))), test_param(test_randn(101, NN_SHAPE(37, 4)))};
        test_gradcheck("stack", f_stack, &dim, 2, in);
        test_free_all(2, in);
    }
}
END_TEST

/* ---- N-d cross-entropy ---- */

typedef struct {
    CrossEntropyOptions opt;
    int class_dim;
    const int64_t *target;
    int64_t n_target;
    int transposed;
} CeCase;

static Tensor *f_ce_nd(Graph *g, Tensor *const *in, void *ctx) {
    const CeCase *c = ctx;
    return ag_cross_entropy_nd(g, maybe_t(g, in[0], c->transposed), c->class_dim, c->target, c->n_target, &c->opt);
}

/* Targets in [0, C) with about one in six set to ignore. */
static int64_t *make_targets(int64_t n, int64_t C, int64_t ignore, uint64_t seed) {
    int64_t *t = make_indices(n, C, seed);
    for (int64_t i = 0; i < n; i += 6) t[i] = ignore;
    return t;
}

START_TEST(grad_cross_entropy_nd) {
    struct {
        int class_dim, transposed, weighted, ndim;
        int64_t shape[4];
        real smoothing;
        int64_t ignore;
    } cases[] = {
        {1, 0, 0, 2, {6, 37}, 0, -100},        /* (N, C) */
        {1, 0, 1, 4, {3, 5, 4, 6}, 0.1, -100}, /* (N, C, d1, d2), weights, smoothing */
        {-1, 0, 1, 3, {3, 4, 37}, 0.25, 0},    /* classes last, ignore 0 */
        {0, 1, 1, 2, {5, 9}, 0.3, -1},         /* (9, 5) transposed: classes along dim 0, strided */
        {1, 0, 0, 3, {2, 37, 7}, 1, -100},     /* all mass smoothed */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int64_t positions = 1, C = 0;
        int cd = cases[k].class_dim < 0 ? cases[k].ndim - 1 : cases[k].class_dim;
        if (cases[k].transposed) cd = 1 - cd; /* the op sees the transposed (9, 5) with classes along 0 */
        for (int d = 0; d < cases[k].ndim; d++)
            if (d == cd)
                C = cases[k].shape[d];
            else
                positions *= cases[k].shape[d];
        int64_t *t = make_targets(positions, C, cases[k].ignore, 120 + k);
        Tensor *w = test_uniform(110 + k, NN_SHAPE(C), 0.2, 2);
        CeCase c = {{cases[k].ignore, cases[k].smoothing, cases[k].weighted ? w : NULL},
                    cases[k].class_dim,
                    t,
                    positions,
                    cases[k].transposed};
        Tensor *x = test_param(test_randn(130 + k, cases[k].ndim, cases[k].shape));
        test_gradcheck("cross_entropy_nd", f_ce_nd, &c, 1, &x);
        tensor_free(x);
        tensor_free(w);
        free(t);
    }
    if (test_quick()) return;
    int64_t *t = make_targets(40 * 11, 37, -100, 139);
    Tensor *w = test_uniform(119, NN_SHAPE(37), 0.2, 2);
    CeCase c = {{-100, 0.1, w}, 1, t, 40 * 11, 0};
    Tensor *big = test_param(test_randn(140, NN_SHAPE(40, 37, 11))); /* 16280 logits */
    test_gradcheck_sampled("cross_entropy_nd", f_ce_nd, &c, 1, &big, SAMPLED, BIG_EPS);
    tensor_free(big);
    free(t);
    tensor_free(w);
}
END_TEST

static Suite *grad_ops_extra_suite(void) {
    Suite *s = suite_create("grad_ops_extra");
    struct {
        const char *name;
        const TTest *tests[6];
    } groups[] = {
        {"activations", {grad_clamp, grad_abs, grad_softplus, grad_silu, grad_maximum, grad_minimum}},
        {"softmax", {grad_softmax_dim, grad_log_softmax_dim, grad_logsumexp}},
        {"picking", {grad_gather, grad_take_along_dim, grad_topk}},
        {"cutting", {grad_split_chunk_select, grad_stack}},
        {"cross_entropy", {grad_cross_entropy_nd}},
    };
    for (size_t k = 0; k < sizeof groups / sizeof groups[0]; k++) {
        TCase *tc = tcase_create(groups[k].name);
        tcase_set_timeout(tc, 60);
        for (int t = 0; t < 6 && groups[k].tests[t]; t++) tcase_add_test(tc, groups[k].tests[t]);
        suite_add_tcase(s, tc);
    }
    return s;
}

TEST_MAIN(grad_ops_extra_suite)
