/* The everyday ops' definitions where gradients say nothing: argmax and top-k
 * indices, multinomial draws, arange, the -inf corners of softmax and
 * logsumexp, agreement of the N-d cross-entropy with the 2-d one, and the
 * messages of misuse. Values against PyTorch: tests/nn/test_golden_library.c. */
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "tests/support.h"

START_TEST(argmax_picks_the_first_maximum_along_any_dim) {
    real v[] = {1, 5, 5, 0, /**/ 2, -1, 7, 7, /**/ 3, NAN, 1, 9};
    Tensor x = tensor_wrap(v, NN_SHAPE(3, 4));
    Graph *g = graph_new();
    const int64_t *rows = ag_argmax(g, &x, -1), *cols = ag_argmax(g, &x, 0);
    const int64_t want_rows[] = {1, 2, 1}, want_cols[] = {2, 2, 1, 2}; /* NaN counts as largest */
    for (int i = 0; i < 3; i++) ck_assert_int_eq(rows[i], want_rows[i]);
    for (int i = 0; i < 4; i++) ck_assert_int_eq(cols[i], want_cols[i]);
    Tensor t = tensor_transpose(&x, 0, 1); /* a strided view: the same answers, dims swapped */
    const int64_t *trows = ag_argmax(g, &t, 0);
    for (int i = 0; i < 3; i++) ck_assert_int_eq(trows[i], want_rows[i]);
    graph_free(g);
}
END_TEST

START_TEST(topk_returns_values_best_first_with_their_indices) {
    real v[] = {0.5, 3, -1, 3, 2, 7, 0, -4};
    Tensor x = tensor_wrap(v, NN_SHAPE(2, 4));
    Graph *g = graph_new();
    const int64_t *idx;
    Tensor *top = ag_topk(g, &x, 1, 2, 1, &idx);
    const int64_t want[] = {1, 3, 1, 0}; /* the tie 3, 3 goes to the lower index first */
    const real want_v[] = {3, 3, 7, 2};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(idx[i], want[i]);
        ck_assert(top->data[i] == want_v[i]);
    }
    Tensor *low = ag_topk(g, &x, 0, 2, 0, &idx); /* smallest along dim 0: k = the whole dim */
    ck_assert(low->ndim == 2 && low->shape[0] == 2 && low->shape[1] == 4);
    /* columns (0.5, 2), (3, 7), (-1, 0), (3, -4): smallest first */
    const real want_low[] = {0.5, 3, -1, -4, 2, 7, 0, 3};
    const int64_t want_low_idx[] = {0, 0, 0, 1, 1, 1, 1, 0};
    for (int i = 0; i < 8; i++) ck_assert(low->data[i] == want_low[i] && idx[i] == want_low_idx[i]);
    Tensor *none = ag_topk(g, &x, 1, 0, 1, NULL);
    ck_assert_int_eq(none->numel, 0);
    graph_free(g);
    /* a long line: the same as sorting */
    Tensor *big = test_randn(3, NN_SHAPE(5000));
    g = graph_new();
    Tensor *t10 = ag_topk(g, big, 0, 10, 1, &idx);
    for (int i = 0; i < 10; i++) {
        int64_t above = 0;
        for (int64_t j = 0; j < 5000; j++) above += big->data[j] > t10->data[i];
        ck_assert_int_eq(above, i);
        ck_assert(big->data[idx[i]] == t10->data[i]);
    }
    graph_free(g);
    tensor_free(big);
}
END_TEST

START_TEST(multinomial_draws_follow_the_weights) {
    real w[] = {1, 0, 3, 6, /**/ 0, 0, 2, 0};
    Tensor weights = tensor_wrap(w, NN_SHAPE(2, 4));
    Graph *g = graph_new();
    Rng rng = rng_new(11, 0);
    enum { N = 20000 };
    const int64_t *d = ag_multinomial(g, &weights, N, 1, &rng);
    int64_t count[4] = {0};
    for (int i = 0; i < N; i++) count[d[i]]++;
    ck_assert_int_eq(count[1], 0); /* a zero weight is never drawn */
    for (int c = 0; c < 4; c++) {
        double p = w[c] / 10.0, sd = sqrt(N * p * (1 - p));
        ck_assert_msg(fabs((double)count[c] - N * p) <= 5 * sd + 1, "category %d drawn %lld times, expected %.0f", c,
                      (long long)count[c], N * p);
    }
    for (int i = 0; i < N; i++) ck_assert_int_eq(d[N + i], 2); /* the second row has one category */
    /* without replacement: distinct, only positive weights, and every one of them when n = their count */
    Rng r2 = rng_new(12, 0);
    Tensor first = tensor_narrow(&weights, 0, 0, 1); /* (1, 4): three categories have weight */
    for (int rep = 0; rep < 50; rep++) {
        const int64_t *s = ag_multinomial(g, &first, 3, 0, &r2);
        ck_assert(s[0] != s[1] && s[1] != s[2] && s[0] != s[2]);
        ck_assert(s[0] != 1 && s[1] != 1 && s[2] != 1);
    }
    /* the same generator state gives the same draws */
    Rng a = rng_new(5, 1), b = rng_new(5, 1);
    const int64_t *da = ag_multinomial(g, &weights, 7, 1, &a), *db = ag_multinomial(g, &weights, 7, 1, &b);
    ck_assert(memcmp(da, db, 14 * sizeof *da) == 0);
    graph_free(g);
}
END_TEST

START_TEST(arange_counts_like_torch) {
    Graph *g = graph_new();
    Tensor *a = ag_arange(g, 0, 5, 1), *b = ag_arange(g, 1, 2, 0.3), *c = ag_arange(g, 3, -1, -1.5),
           *e = ag_arange(g, 2, 2, 1);
    ck_assert(a->numel == 5 && a->data[4] == 4);
    ck_assert(b->numel == 4 && fabs((double)b->data[3] - 1.9) < 1e-6);
    ck_assert(c->numel == 3 && c->data[2] == 0);
    ck_assert(e->numel == 0 && e->ndim == 1);
    graph_free(g);
}
END_TEST

START_TEST(softmax_and_logsumexp_handle_minus_infinity) {
    real v[] = {-INFINITY, -INFINITY, 1, -INFINITY, 0, 2};
    Tensor x = tensor_wrap(v, NN_SHAPE(3, 2)); /* lines along dim 0: (-inf, 1, 0) and (-inf, -inf, 2) */
    Graph *g = graph_new();
    Tensor *p = ag_softmax_dim(g, &x, 0), *l = ag_logsumexp(g, &x, 1, (int[]){1}, 0);
    ck_assert(p->data[0] == 0 && p->data[1] == 0 && fabs((double)p->data[5] - 1) < 1e-6);
    ck_assert(isinf(l->data[0]) && l->data[0] < 0); /* a row of -inf: -inf, not NaN */
    ck_assert(fabs((double)l->data[2] - log(exp(0.0) + exp(2.0))) < 1e-5);
    /* along the last dim the any-dim softmax is the last-dim op */
    Tensor *r = test_randn(4, NN_SHAPE(3, 37));
    Tensor *s1 = ag_softmax_dim(g, r, -1), *s2 = ag_softmax(g, r);
    test_assert_close("softmax_dim(-1)", s1->data, s2->data, r->numel, 0, 0);
    tensor_free(r);
    graph_free(g);
}
END_TEST

START_TEST(cross_entropy_nd_agrees_with_the_2d_op) {
    Tensor *x = test_randn(5, NN_SHAPE(6, 11));
    const int64_t target[] = {3, -100, 0, 10, 4, 4};
    Graph *g = graph_new();
    Tensor *a = ag_cross_entropy(g, x, target, 6, -100), *b = ag_cross_entropy_nd(g, x, 1, target, 6, NULL);
    ck_assert_msg(fabs((double)a->data[0] - (double)b->data[0]) < 1e-6, "%g vs %g", (double)a->data[0],
                  (double)b->data[0]);
    /* classes last on a (2, 3, 11) view equals classes along dim 1 of the (2, 11, 3) permutation */
    Tensor *x3 = test_randn(6, NN_SHAPE(2, 3, 11));
    CrossEntropyOptions o = cross_entropy_default_options();
    o.label_smoothing = 0.2;
    Tensor *c = ag_cross_entropy_nd(g, x3, -1, target, 6, &o);
    Tensor *d = ag_cross_entropy_nd(g, ag_permute(g, x3, (int[]){0, 2, 1}), 1, target, 6, &o);
    ck_assert(fabs((double)c->data[0] - (double)d->data[0]) < 1e-6);
    /* every target ignored: 0 */
    const int64_t ignored[] = {-100, -100, -100, -100, -100, -100};
    ck_assert(ag_cross_entropy_nd(g, x, 1, ignored, 6, NULL)->data[0] == 0);
    graph_free(g);
    tensor_free(x);
    tensor_free(x3);
}
END_TEST

/* ---- misuse: aborts naming the op and the problem ---- */

static void gather_out_of_range(void *ctx) {
    (void)ctx;
    Graph *g = graph_new();
    Tensor *x = ag_zeros(g, NN_SHAPE(2, 3));
    ag_gather(g, x, 1, (const int64_t[]){0, 3}, NN_SHAPE(2, 1));
}

static void ce_bad_target(void *ctx) {
    (void)ctx;
    Graph *g = graph_new();
    Tensor *x = ag_zeros(g, NN_SHAPE(2, 4, 3));
    int64_t t[6] = {0, 1, 2, 3, 4, 0};
    ag_cross_entropy_nd(g, x, 1, t, 6, NULL);
}

static void multinomial_all_zero(void *ctx) {
    (void)ctx;
    Graph *g = graph_new();
    Rng r = rng_new(1, 1);
    ag_multinomial(g, ag_zeros(g, NN_SHAPE(2, 3)), 1, 1, &r);
}

static void stack_mismatch(void *ctx) {
    (void)ctx;
    Graph *g = graph_new();
    ag_stack(g, 2, (Tensor *[]){ag_zeros(g, NN_SHAPE(2, 3)), ag_zeros(g, NN_SHAPE(3, 2))}, 0);
}

/* The case: (B, T, V) = (2, 30, 5) logits, 60 targets, the classes along dim 1 by mistake. */
static void ce_nd_wrong_class_dim(void) {
    Graph *g = graph_new();
    Tensor *x = ag_zeros(g, NN_SHAPE(2, 30, 5));
    static int64_t t[60];
    ag_cross_entropy_nd(g, x, 1, t, 60, NULL);
}

static void ce_short_targets(void) {
    Graph *g = graph_new();
    ag_cross_entropy(g, ag_zeros(g, NN_SHAPE(4, 3)), (const int64_t[]){0, 1, 2}, 3, -100);
}

static void linear_ce_short_targets(void) {
    Graph *g = graph_new();
    ag_linear_cross_entropy(g, ag_zeros(g, NN_SHAPE(4, 2)), ag_zeros(g, NN_SHAPE(7, 2)), (const int64_t[]){0, 1}, 2, 0);
}

/* The over-read: K = 5 candidate columns, an id array of 3. */
static void sampled_short_neg_ids(void) {
    Graph *g = graph_new();
    ag_sampled_softmax(g, ag_zeros(g, NN_SHAPE(6)), ag_zeros(g, NN_SHAPE(6, 5)), (const int64_t[]){1, 2, 3, 4, 5, 6},
                       6, (const int64_t[]){7, 8, 9}, 3, 0, NULL, NULL);
}

static void gbce_short_targets(void) {
    Graph *g = graph_new();
    ag_gbce(g, ag_zeros(g, NN_SHAPE(6)), ag_zeros(g, NN_SHAPE(6, 3)), (const int64_t[]){1, 2}, 2,
            (const int64_t[]){7, 8, 9}, 3, 0, 1);
}

START_TEST(cross_entropy_nd_needs_the_class_dim_and_the_target_count) {
    /* right: classes last, 60 targets, the loss of uniform logits is log 5 */
    Graph *g = graph_new();
    Tensor *x = ag_zeros(g, NN_SHAPE(2, 30, 5));
    int64_t t[60] = {0};
    ck_assert(fabs((double)ag_cross_entropy_nd(g, x, -1, t, 60, NULL)->data[0] - log(5.0)) < 1e-6);
    graph_free(g);
    test_assert_aborts("(2, 30, 5) logits with classes along dim 1", ce_nd_wrong_class_dim, "nn: cross_entropy_nd:",
                       "60 targets for logits (2, 30, 5) with classes along dim 1: expected 10", "-1 for (..., C)", NULL);
    test_assert_aborts("cross_entropy with 3 targets for 4 rows", ce_short_targets, "nn: cross_entropy:",
                       "3 targets for logits (4, 3)", "(4)", NULL);
    test_assert_aborts("linear_cross_entropy with 2 targets for 4 rows", linear_ce_short_targets,
                       "nn: linear_cross_entropy:", "2 targets for x (4, 2)", NULL);
}
END_TEST

START_TEST(sampled_losses_check_the_counts_of_their_ids) {
    test_assert_aborts("sampled_softmax with 3 ids for 5 candidates", sampled_short_neg_ids, "nn: sampled_softmax:",
                       "6 targets and 3 candidate ids", "candidate logits (6, 5)", NULL);
    test_assert_aborts("gbce with 2 targets for 6 rows", gbce_short_targets, "nn: gbce:", "2 targets and 3 candidate ids",
                       "positive logits (6)", NULL);
}
END_TEST

/* max propagates NaN as torch.max does, and its gradient goes to the first NaN; argmax points at it. */
START_TEST(max_and_argmax_propagate_nan) {
    const real cases[][3] = {{NAN, 1, 2}, {1, NAN, 2}, {1, 2, NAN}, {NAN, NAN, 2}};
    const int64_t first_nan[] = {0, 1, 2, 0};
    for (int k = 0; k < 4; k++) {
        Graph *g = graph_new();
        Tensor *x = test_param(tensor_from_buffer(NN_SHAPE(3), cases[k]));
        Tensor *m = ag_max(g, x, 0, NULL, 0);
        ck_assert_msg(isnan((double)m->data[0]), "case %d: max %g, not NaN", k, (double)m->data[0]);
        ag_backward(g, m);
        for (int64_t i = 0; i < 3; i++) ck_assert(x->grad->data[i] == (i == first_nan[k]));
        ck_assert(ag_argmax(g, x, 0)[0] == first_nan[k]);
        tensor_free(x);
        graph_free(g);
    }
    /* along either dim of (2, 3) (the inner and the outer reduction), NaN only in row 1, column 2 */
    const real v[] = {5, 1, 2, 3, 4, NAN};
    Tensor *x = tensor_from_buffer(NN_SHAPE(2, 3), v);
    Graph *g = graph_new();
    Tensor *rows = ag_max(g, x, 1, (int[]){1}, 0), *cols = ag_max(g, x, 1, (int[]){0}, 0);
    ck_assert(rows->data[0] == 5 && isnan((double)rows->data[1]));
    ck_assert(cols->data[0] == 5 && cols->data[1] == 4 && isnan((double)cols->data[2]));
    ck_assert(ag_argmax(g, x, 1)[1] == 2 && ag_argmax(g, x, 0)[2] == 1);
    graph_free(g);
    tensor_free(x);
}
END_TEST

static void expect_abort(void (*fn)(void *), const char *needle) {
    char err[4096];
    int status = test_run_forked(fn, NULL, err, sizeof err);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "no abort for '%s' (status %d)", needle, status);
    ck_assert_msg(strstr(err, needle), "message lacks '%s': %s", needle, err);
}

START_TEST(misuse_aborts_with_the_op_and_the_numbers) {
    expect_abort(gather_out_of_range, "gather: index 3 at 1 outside [0, 3)");
    expect_abort(ce_bad_target, "cross_entropy_nd: target 4 at position 4 outside [0, 4)");
    expect_abort(multinomial_all_zero, "multinomial: row 0: every weight is zero");
    expect_abort(stack_mismatch, "stack: input 1 has shape (3, 2), input 0 (2, 3)");
}
END_TEST

static Suite *ops_extra_suite(void) {
    Suite *s = suite_create("ops_extra");
    TCase *tc = tcase_create("ops");
    tcase_add_test(tc, argmax_picks_the_first_maximum_along_any_dim);
    tcase_add_test(tc, topk_returns_values_best_first_with_their_indices);
    tcase_add_test(tc, multinomial_draws_follow_the_weights);
    tcase_add_test(tc, arange_counts_like_torch);
    tcase_add_test(tc, softmax_and_logsumexp_handle_minus_infinity);
    tcase_add_test(tc, cross_entropy_nd_agrees_with_the_2d_op);
    tcase_add_test(tc, misuse_aborts_with_the_op_and_the_numbers);
    tcase_add_test(tc, cross_entropy_nd_needs_the_class_dim_and_the_target_count);
    tcase_add_test(tc, sampled_losses_check_the_counts_of_their_ids);
    tcase_add_test(tc, max_and_argmax_propagate_nan);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(ops_extra_suite)
