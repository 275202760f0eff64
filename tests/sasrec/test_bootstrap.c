/* The intervals and the paired test of models/sasrec/bootstrap.h on
 * hand-made ranks with known answers: identical models differ by 0 with
 * p = 1, a model better on every user has p = 1 / (1 + resamples), a
 * proportion's interval is about +-1.96 standard errors, the per-row sums are
 * those of metrics_from_ranks; and the results depend on the seed alone (not
 * on the thread count), grouped rows included. */
#include <math.h>
#include <string.h>

#include "base/parallel.h"
#include "models/sasrec/bootstrap.h"
#include "tests/support.h"

enum { N = 400, R = 1000 };

/* Ranks 0 (a hit at every cutoff) for every other row and 1000 (a miss) for the rest. */
static void half_hits(int64_t *rank) {
    for (int i = 0; i < N; i++) rank[i] = i % 2 ? 1000 : 0;
}

START_TEST(percentiles_are_linear_between_order_statistics) {
    double x[101], lo, hi;
    for (int i = 0; i < 101; i++) x[i] = 100 - i; /* reversed: they are sorted first */
    bootstrap_percentiles(x, 101, &lo, &hi);
    ck_assert_double_eq_tol(lo, 2.5, 1e-12);
    ck_assert_double_eq_tol(hi, 97.5, 1e-12);
    ck_assert_double_eq(x[0], 0);
    double one = 7;
    bootstrap_percentiles(&one, 1, &lo, &hi);
    ck_assert(lo == 7 && hi == 7);
}
END_TEST

START_TEST(identical_models_differ_by_zero_with_p_one) {
    int64_t rank[N];
    for (int i = 0; i < N; i++) rank[i] = (i * 37) % 150;
    for (int p = 0; p < 2; p++) {
        MetricsPaired d = bootstrap_paired(p ? PROTOCOL_FULL : PROTOCOL_SAMPLE, rank, rank, NULL, N, R, 42);
        ck_assert_int_eq(d.users, N);
        for (int k = 0; k < d.n; k++) {
            ck_assert_msg(d.diff[k] == 0 && d.lo[k] == 0 && d.hi[k] == 0, "%s: %g [%g, %g]", d.name[k], d.diff[k],
                          d.lo[k], d.hi[k]);
            ck_assert_msg(d.p[k] == 1, "%s: p %g", d.name[k], d.p[k]);
            ck_assert(d.better[k] == 0 && d.worse[k] == 0);
        }
    }
}
END_TEST

START_TEST(a_model_better_on_every_user_has_the_smallest_p) {
    int64_t a[N], b[N];
    for (int i = 0; i < N; i++) {
        a[i] = 30 + i % 50; /* a miss at every cutoff of 20 and below */
        b[i] = i % 3;       /* a hit at every cutoff */
    }
    MetricsPaired d = bootstrap_paired(PROTOCOL_FULL, a, b, NULL, N, R, 42);
    Metrics ma = metrics_from_ranks(PROTOCOL_FULL, a, N), mb = metrics_from_ranks(PROTOCOL_FULL, b, N);
    for (int k = 0; k < d.n; k++) {
        ck_assert_double_eq_tol(d.diff[k], mb.value[k] - ma.value[k], 1e-12);
        ck_assert_msg(d.lo[k] > 0 && d.lo[k] <= d.diff[k] && d.diff[k] <= d.hi[k], "%s: %g [%g, %g]", d.name[k],
                      d.diff[k], d.lo[k], d.hi[k]);
        ck_assert_msg(d.p[k] == 1.0 / (1 + R), "%s: p %g, expected 1/%d", d.name[k], d.p[k], 1 + R);
        ck_assert(d.better[k] == N && d.worse[k] == 0);
    }
    /* and B - A is A - B negated */
    MetricsPaired e = bootstrap_paired(PROTOCOL_FULL, b, a, NULL, N, R, 42);
    for (int k = 0; k < d.n; k++) {
        ck_assert(e.diff[k] == -d.diff[k] && e.p[k] == d.p[k]);
        ck_assert(e.better[k] == 0 && e.worse[k] == N);
    }
}
END_TEST

START_TEST(two_users_with_equal_gains_give_p_near_one_half) {
    /* sign flips of two equal differences: |mean| keeps its size in half the draws, else 0 */
    int64_t a[2] = {100, 100}, b[2] = {0, 0};
    MetricsPaired d = bootstrap_paired(PROTOCOL_SAMPLE, a, b, NULL, 2, R, 7);
    for (int k = 0; k < d.n; k++) ck_assert_msg(fabs(d.p[k] - 0.5) < 0.06, "%s: p %g", d.name[k], d.p[k]);
    /* one user: every flip is as far from 0 as the observation */
    d = bootstrap_paired(PROTOCOL_SAMPLE, a, b, NULL, 1, R, 7);
    for (int k = 0; k < d.n; k++) ck_assert(d.p[k] == 1);
}
END_TEST

START_TEST(a_proportions_interval_is_about_two_standard_errors) {
    int64_t rank[N];
    half_hits(rank);
    MetricsInterval ci = bootstrap_interval(PROTOCOL_FULL, rank, NULL, N, R, 42);
    Metrics m = metrics_from_ranks(PROTOCOL_FULL, rank, N);
    double se = sqrt(0.25 / N); /* 0.025 */
    for (int k = 0; k < ci.n; k++) {
        ck_assert_str_eq(ci.name[k], m.name[k]);
        ck_assert_msg(ci.value[k] == m.value[k], "%s: %.17g vs metrics_from_ranks %.17g", ci.name[k], ci.value[k],
                      m.value[k]);
        if (ci.name[k][0] != 'H') continue; /* HR: hits are 1, so the metric is the share 0.5 */
        ck_assert_msg(fabs(ci.lo[k] - (0.5 - 1.96 * se)) < 0.3 * se && fabs(ci.hi[k] - (0.5 + 1.96 * se)) < 0.3 * se,
                      "%s: [%g, %g], expected about [%g, %g]", ci.name[k], ci.lo[k], ci.hi[k], 0.5 - 1.96 * se,
                      0.5 + 1.96 * se);
    }
    /* every row a hit: no spread at all */
    for (int i = 0; i < N; i++) rank[i] = 0;
    ci = bootstrap_interval(PROTOCOL_SAMPLE, rank, NULL, N, R, 42);
    for (int k = 0; k < ci.n; k++) ck_assert(ci.lo[k] == 1 && ci.hi[k] == 1 && ci.value[k] == 1);
}
END_TEST

START_TEST(the_seed_alone_decides_not_the_threads) {
    int64_t a[N], b[N];
    for (int i = 0; i < N; i++) {
        a[i] = (i * 7919) % 40;
        b[i] = (i * 104729) % 30;
    }
    int threads = nn_threads();
    nn_set_threads(1);
    MetricsInterval c1 = bootstrap_interval(PROTOCOL_FULL, a, NULL, N, R, 5);
    MetricsPaired d1 = bootstrap_paired(PROTOCOL_FULL, a, b, NULL, N, R, 5);
    nn_set_threads(4);
    MetricsInterval c4 = bootstrap_interval(PROTOCOL_FULL, a, NULL, N, R, 5);
    MetricsPaired d4 = bootstrap_paired(PROTOCOL_FULL, a, b, NULL, N, R, 5);
    MetricsInterval other = bootstrap_interval(PROTOCOL_FULL, a, NULL, N, R, 6);
    nn_set_threads(threads);
    ck_assert_msg(memcmp(c1.lo, c4.lo, sizeof c1.lo) == 0 && memcmp(c1.hi, c4.hi, sizeof c1.hi) == 0,
                  "the interval changed with the thread count");
    ck_assert_msg(memcmp(d1.lo, d4.lo, sizeof d1.lo) == 0 && memcmp(d1.hi, d4.hi, sizeof d1.hi) == 0 &&
                      memcmp(d1.p, d4.p, sizeof d1.p) == 0,
                  "the paired test changed with the thread count");
    ck_assert_msg(memcmp(c1.lo, other.lo, sizeof c1.lo) != 0, "another seed gave the same interval");
}
END_TEST

START_TEST(rows_are_resampled_by_user) {
    /* every user has two rows, one hit and one miss: each user's mean is 0.5, so no resample of users moves HR;
     * resampling the rows one by one would */
    int64_t rank[N], user[N];
    half_hits(rank);
    for (int i = 0; i < N; i++) user[i] = i / 2;
    MetricsInterval by_user = bootstrap_interval(PROTOCOL_FULL, rank, user, N, R, 42);
    ck_assert_int_eq(by_user.users, N / 2);
    for (int k = 0; k < by_user.n; k++)
        if (by_user.name[k][0] == 'H') ck_assert(by_user.lo[k] == 0.5 && by_user.hi[k] == 0.5);
    /* a row per user, given as users or as NULL: the same */
    for (int i = 0; i < N; i++) user[i] = 3 * i;
    MetricsInterval a = bootstrap_interval(PROTOCOL_FULL, rank, user, N, R, 42);
    MetricsInterval b = bootstrap_interval(PROTOCOL_FULL, rank, NULL, N, R, 42);
    ck_assert(memcmp(a.lo, b.lo, sizeof a.lo) == 0 && memcmp(a.hi, b.hi, sizeof a.hi) == 0);
}
END_TEST

static void unsorted_users(void) {
    int64_t rank[3] = {0, 1, 2}, user[3] = {0, 2, 1};
    bootstrap_interval(PROTOCOL_FULL, rank, user, 3, 10, 1);
}

static void unranked_row(void) {
    int64_t rank[3] = {0, -1, 2};
    bootstrap_interval(PROTOCOL_FULL, rank, NULL, 3, 10, 1);
}

/* --split time scores several rows per user: they are numbered by user, in order, so that they resample together. */
START_TEST(time_split_rows_are_numbered_by_user) {
    char *ids[] = {"u7", "u7", "u7", "u2", "u9", "u9"};
    int64_t *user = bootstrap_row_users(ids, 6);
    int64_t want[] = {0, 0, 0, 1, 2, 2};
    for (int i = 0; i < 6; i++) ck_assert_int_eq(user[i], want[i]);
    free(user);
}
END_TEST

START_TEST(misuse_aborts_with_what_to_do) {
    test_assert_aborts("users out of order", unsorted_users, "bootstrap", "give a user's rows together", NULL);
    test_assert_aborts("a row without a rank", unranked_row, "bootstrap", "non-finite", NULL);
}
END_TEST

static Suite *bootstrap_suite(void) {
    Suite *s = suite_create("bootstrap");
    TCase *tc = tcase_create("bootstrap");
    tcase_add_test(tc, percentiles_are_linear_between_order_statistics);
    tcase_add_test(tc, identical_models_differ_by_zero_with_p_one);
    tcase_add_test(tc, a_model_better_on_every_user_has_the_smallest_p);
    tcase_add_test(tc, two_users_with_equal_gains_give_p_near_one_half);
    tcase_add_test(tc, a_proportions_interval_is_about_two_standard_errors);
    tcase_add_test(tc, the_seed_alone_decides_not_the_threads);
    tcase_add_test(tc, rows_are_resampled_by_user);
    tcase_add_test(tc, time_split_rows_are_numbered_by_user);
    if (test_forking()) tcase_add_test(tc, misuse_aborts_with_what_to_do);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(bootstrap_suite)
