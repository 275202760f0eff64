/* The built-in synthetic data: its size, skew and learnability
 * (models/sasrec/data/synthetic.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/sasrec/data/sample.h"
#include "models/sasrec/data/synthetic.h"
#include "tests/sasrec/fixture.h"

/* ---- synthetic data ---- */

START_TEST(synthetic_data_meets_size_and_skew) {
    SyntheticOptions o = synthetic_default_options();
    ck_assert_int_ge(o.n_users, 1000);
    ck_assert_int_ge(o.n_items, 500);
    Dataset ds, again, other;
    NnError err;
    ck_assert_msg(synthetic_generate(&o, &ds, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(ds.n_users, o.n_users);
    ck_assert_int_ge(ds.n_items, 500);
    ck_assert_int_le(ds.n_items, o.n_items);
    ck_assert_int_eq(ds.format, FORMAT_SYNTHETIC);
    ck_assert_int_eq(ds.duplicates, 0);
    int64_t *count = calloc((size_t)ds.n_items + 1, sizeof *count), hist[41] = {0};
    for (int64_t u = 0; u < ds.n_users; u++) {
        int64_t len;
        const int32_t *s = dataset_seq(&ds, u, &len);
        ck_assert(len >= o.min_len && len <= o.max_len);
        hist[len]++;
        for (int64_t k = 0; k < len; k++) count[s[k]]++;
    }
    /* skewed lengths: more short users than long ones */
    ck_assert_int_gt(hist[5] + hist[6] + hist[7] + hist[8] + hist[9],
                     2 * (hist[36] + hist[37] + hist[38] + hist[39] + hist[40]));
    /* skewed popularity: the top 10% of items hold over a quarter of the interactions */
    int64_t top = 0;
    for (int64_t t = 0; t < ds.n_items / 10; t++) {
        int64_t best = 0;
        for (int64_t i = 1; i <= ds.n_items; i++)
            if (count[i] > count[best]) best = i;
        top += count[best];
        count[best] = -1;
    }
    ck_assert_msg(top * 4 > ds.n_interactions, "top 10%% of items: %lld of %lld", (long long)top,
                  (long long)ds.n_interactions);
    free(count);
    /* the same seed gives the same data, another seed other data */
    ck_assert_int_eq(synthetic_generate(&o, &again, NULL), 0);
    ck_assert_int_eq(again.n_interactions, ds.n_interactions);
    ck_assert_mem_eq(again.items, ds.items, (size_t)ds.n_interactions * sizeof *ds.items);
    o.seed = 7;
    ck_assert_int_eq(synthetic_generate(&o, &other, NULL), 0);
    ck_assert(other.n_interactions != ds.n_interactions ||
              memcmp(other.items, ds.items, (size_t)ds.n_interactions * sizeof *ds.items) != 0);
    ck_assert_str_eq(ds.user_ids[16], "u17");
    ck_assert_int_eq(dataset_user_index(&ds, "u17", 3), 16);
    ck_assert(dataset_item_id(&ds, ds.item_ids[42], strlen(ds.item_ids[42])) == 42);
    dataset_free(&again);
    dataset_free(&other);
    dataset_free(&ds);
    o = synthetic_default_options();
    o.n_items = 50;
    ck_assert_int_eq(synthetic_generate(&o, &ds, &err), -1);
    ck_assert_msg(strstr(err.msg, "50 items; expected at least max_len + 100 = 140"), "%s", err.msg);
    o = synthetic_default_options();
    o.min_len = 2;
    ck_assert_int_eq(synthetic_generate(&o, &ds, &err), -1);
    ck_assert_msg(strstr(err.msg, "3 <= min_len <= max_len"), "%s", err.msg);
}
END_TEST

/* Sampled HR@10 on the test split: a bigram count model (a stand-in for a sequential model) must beat
 * most-popular by a wide margin. */
START_TEST(synthetic_data_is_learnable) {
    SyntheticOptions o = synthetic_default_options();
    Dataset ds;
    ck_assert_int_eq(synthetic_generate(&o, &ds, NULL), 0);
    int64_t N = ds.n_items;
    double *pop = calloc((size_t)N + 1, sizeof *pop);
    float *next = calloc((size_t)(N + 1) * (size_t)(N + 1), sizeof *next);
    for (int64_t u = 0; u < ds.n_users; u++) { /* counted on the test inputs s[:-1] */
        int64_t len;
        const int32_t *s = dataset_seq(&ds, u, &len);
        for (int64_t k = 0; k + 1 < len; k++) {
            pop[s[k]]++;
            if (k > 0) next[(size_t)s[k - 1] * (size_t)(N + 1) + (size_t)s[k]] += 1;
        }
    }
    SampleSet neg;
    ck_assert_int_eq(sample_generate(&ds, 99, 12345, &neg, NULL), 0);
    double hit_pop = 0, hit_seq = 0;
    for (int64_t u = 0; u < ds.n_users; u++) {
        int64_t len;
        const int32_t *s = dataset_seq(&ds, u, &len);
        int32_t answer = s[len - 1], last = s[len - 2];
        const float *row = next + (size_t)last * (size_t)(N + 1);
        double sa = row[answer] + 1e-3 * pop[answer];
        int rank_pop = 0, rank_seq = 0;
        for (int k = 0; k < 99; k++) {
            int32_t j = neg.neg[u * 99 + k];
            rank_pop += pop[j] > pop[answer];
            rank_seq += row[j] + 1e-3 * pop[j] > sa;
        }
        hit_pop += rank_pop < 10;
        hit_seq += rank_seq < 10;
    }
    hit_pop /= (double)ds.n_users;
    hit_seq /= (double)ds.n_users;
    ck_assert_msg(hit_seq >= 2.5 * hit_pop && hit_seq > 0.8, "HR@10: bigram %.3f, most popular %.3f", hit_seq, hit_pop);
    free(pop);
    free(next);
    sample_free(&neg);
    dataset_free(&ds);
}
END_TEST

/* sasrec gen's length control: the skew for a mean gives that mean, within the bounds, skewed either way. */
START_TEST(length_skew_hits_the_requested_mean) {
    int cases[2][3] = {{5, 49, 20}, {5, 200, 150}}; /* min, max, mean: short-skewed (2) and long-skewed */
    for (int c = 0; c < 2; c++) {
        SyntheticOptions o = synthetic_default_options();
        o.n_users = 3000;
        o.n_items = 5000;
        o.min_len = cases[c][0], o.max_len = cases[c][1];
        o.len_skew = synthetic_len_skew(o.min_len, o.max_len, cases[c][2]);
        if (c == 0) ck_assert(fabs(o.len_skew - 2) < 1e-12); /* the built-in data's skew */
        Dataset ds;
        NnError err;
        ck_assert_msg(synthetic_generate(&o, &ds, &err) == 0, "%s", err.msg);
        double mean = (double)ds.n_interactions / (double)ds.n_users;
        ck_assert_msg(fabs(mean - cases[c][2]) < 0.03 * cases[c][2], "mean length %.2f, asked %d", mean, cases[c][2]);
        for (int64_t u = 0; u < ds.n_users; u++) {
            int64_t len;
            dataset_seq(&ds, u, &len);
            ck_assert(len >= o.min_len && len <= o.max_len);
        }
        dataset_free(&ds);
    }
}
END_TEST

static Suite *synthetic_suite(void) {
    Suite *s = suite_create("synthetic");
    TCase *tc = fixture_tcase("synthetic");
    tcase_add_test(tc, synthetic_data_meets_size_and_skew);
    tcase_add_test(tc, synthetic_data_is_learnable);
    tcase_add_test(tc, length_skew_hits_the_requested_mean);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(synthetic_suite)
