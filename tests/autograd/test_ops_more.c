/* The ops issue 21 asked for, in the float build: values a reader can check by
 * hand, the integer ids, and the misuses they refuse (a count of indices that
 * does not match, an index out of range, a variance without degrees of
 * freedom), each aborting with the op and what to do. */
#include <math.h>
#include <string.h>

#include "tests/support.h"

START_TEST(values_by_hand) {
    Graph *g = graph_new();
    real xv[] = {1, -2, 0, 3, NAN, -0.5f};
    Tensor *x = ag_from_buffer(g, NN_SHAPE(2, 3), xv);
    Tensor *c0 = ag_cumsum(g, x, 0), *c1 = ag_cumsum(g, x, -1), *s = ag_sign(g, x);
    const real want0[] = {1, -2, 0, 4, NAN, -0.5f}, want1[] = {1, -1, -1, 3, NAN, NAN};
    const real wants[] = {1, -1, 0, 1, NAN, -1};
    for (int i = 0; i < 6; i++) {
        ck_assert(c0->data[i] == want0[i] || (isnan(c0->data[i]) && isnan(want0[i])));
        ck_assert(c1->data[i] == want1[i] || (isnan(c1->data[i]) && isnan(want1[i])));
        ck_assert(s->data[i] == wants[i] || (isnan(s->data[i]) && isnan(wants[i])));
    }
    real yv[] = {3, 4, 0, 1, -7, 2};
    Tensor *y = ag_from_buffer(g, NN_SHAPE(2, 3), yv);
    int axis = 1;
    Tensor *n2 = ag_norm(g, y, 2, 1, &axis, 0), *mn = ag_min(g, y, 1, &axis, 0);
    Tensor *var = ag_var(g, y, 1, &axis, 1, 0), *ninf = ag_norm(g, y, INFINITY, 0, NULL, 0);
    ck_assert(n2->data[0] == 5 && fabs(n2->data[1] - sqrt(54.0)) < 1e-5);
    ck_assert(mn->data[0] == 0 && mn->data[1] == -7);
    ck_assert(fabs(var->data[0] - 13.0 / 3) < 1e-5 && ninf->data[0] == 7);
    graph_free(g);
}
END_TEST

START_TEST(integer_ids_from_an_arange) {
    Graph *g = graph_new();
    int64_t n;
    const int64_t *a = ag_arange_ids(g, 2, 11, 3, &n);
    ck_assert(n == 3 && a[0] == 2 && a[1] == 5 && a[2] == 8);
    a = ag_arange_ids(g, 5, 0, -2, &n);
    ck_assert(n == 3 && a[0] == 5 && a[1] == 3 && a[2] == 1);
    ag_arange_ids(g, 4, 4, 1, &n);
    ck_assert(n == 0);
    const int64_t *p = ag_position_ids(g, 2, 3);
    const int64_t want[] = {0, 1, 2, 0, 1, 2};
    ck_assert(memcmp(p, want, sizeof want) == 0);
    graph_free(g);
}
END_TEST

static void index_add_short_count(void) {
    Graph *g = graph_new();
    int64_t idx[] = {0, 1};
    ag_index_add(g, ag_zeros(g, NN_SHAPE(4, 3)), 0, idx, 2, ag_zeros(g, NN_SHAPE(3, 3)));
}

static void index_add_out_of_range(void) {
    Graph *g = graph_new();
    int64_t idx[] = {0, 4};
    ag_index_add(g, ag_zeros(g, NN_SHAPE(4, 3)), 0, idx, 2, ag_zeros(g, NN_SHAPE(2, 3)));
}

static void scatter_add_short_count(void) {
    Graph *g = graph_new();
    int64_t idx[] = {0, 1, 2};
    ag_scatter_add(g, ag_zeros(g, NN_SHAPE(4, 3)), 0, idx, 3, ag_zeros(g, NN_SHAPE(2, 3)));
}

static void var_of_one(void) {
    Graph *g = graph_new();
    int axis = 1;
    ag_var(g, ag_zeros(g, NN_SHAPE(4, 1)), 1, &axis, 1, 0);
}

static void norm_below_one(void) {
    Graph *g = graph_new();
    ag_norm(g, ag_zeros(g, NN_SHAPE(4)), (real)0.5, 0, NULL, 0);
}

static void expect_abort(void (*fn)(void), const char *a, const char *b) {
    char msg[1024];
    ck_assert_msg(test_abort_message(fn, msg, sizeof msg), "no abort (%s): %s", a, msg);
    ck_assert_msg(strstr(msg, a) && strstr(msg, b), "message lacks '%s' / '%s': %s", a, b, msg);
}

START_TEST(misuse_is_refused_with_a_message) {
    expect_abort(index_add_short_count, "index_add",
                 "src (3, 3) must be x (4, 3) with 2 (the number of indices) along dim 0");
    expect_abort(index_add_out_of_range, "index_add", "index 4 (at 1 of 2) out of range [0, 4)");
    expect_abort(scatter_add_short_count, "scatter_add", "3 indices given for src (2, 3) (6 elements)");
    expect_abort(var_of_one, "var", "1 elements per reduced set of shape (4, 1) with correction 1 leave no degrees");
    expect_abort(norm_below_one, "norm", "p is 0.5: expected p >= 1");
}
END_TEST

static Suite *ops_more_suite(void) {
    Suite *s = suite_create("ops_more");
    TCase *tc = tcase_create("ops");
    tcase_add_test(tc, values_by_hand);
    tcase_add_test(tc, integer_ids_from_an_arange);
    if (test_forking()) tcase_add_test(tc, misuse_is_refused_with_a_message);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(ops_more_suite)
