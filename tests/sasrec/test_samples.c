/* Evaluation negatives: sample files read and written, and negatives
 * generated as S3-Rec's generate_test.py does (models/sasrec/data/sample.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/parallel.h"
#include "base/rng.h"
#include "models/sasrec/data/sample.h"
#include "models/sasrec/data/synthetic.h"
#include "tests/sasrec/fixture.h"

/* ---- evaluation negatives ---- */

/* 3 users; items a..z plus "0" and "-5" (28 items), so 4 negatives each. */
static void sample_data(Dataset *ds) {
    LOAD_OK("sd.txt", "u1 a b c\nu2 d e f g\n-5 0 a d\n", NULL, ds);
    ck_assert_int_eq(ds->n_items, 8);
}

static int sample_read_text(const char *name, const char *text, size_t len, const Dataset *ds, int n_neg, SampleSet *s,
                            NnError *err) {
    return sample_read(put(name, text, len), ds, n_neg, s, err);
}

static void expect_sample_error_v(const char *name, const char *text, size_t len, const Dataset *ds,
                                  const char *const *subs) {
    NnError err = {0};
    SampleSet s;
    ck_assert_int_eq(sample_read_text(name, text, len, ds, 3, &s, &err), -1);
    for (int i = 0; subs[i]; i++)
        ck_assert_msg(strstr(err.msg, subs[i]), "message for %s lacks \"%s\": %s", name, subs[i], err.msg);
    ck_assert_ptr_null(s.neg);
}
#define EXPECT_SAMPLE_ERROR(name, literal, ds, ...)                                                                    \
    expect_sample_error_v(name, literal, sizeof(literal) - 1, ds, (const char *const[]){__VA_ARGS__, NULL})

START_TEST(sample_file_matches_users_by_token) {
    Dataset ds;
    sample_data(&ds);
    SampleSet s;
    NnError err = {0};
    /* lines in another order than the data; CRLF, blank lines, tabs; a repeated negative is counted */
    const char text[] = "-5 e\tf g\r\n\r\nu1 d e e\r\nu2 a b 0\r\n";
    ck_assert_msg(sample_read_text("s.txt", text, sizeof text - 1, &ds, 3, &s, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(s.n_users, 3);
    ck_assert_int_eq(s.n_neg, 3);
    ck_assert_int_eq(s.duplicates, 1);
    const char *want[3][3] = {{"d", "e", "e"}, {"a", "b", "0"}, {"e", "f", "g"}};
    for (int u = 0; u < 3; u++)
        for (int k = 0; k < 3; k++) ck_assert_str_eq(ds.item_ids[s.neg[u * 3 + k]], want[u][k]);
    sample_free(&s);
    dataset_free(&ds);
}
END_TEST

START_TEST(sample_file_refusals) {
    Dataset ds;
    sample_data(&ds);
    EXPECT_SAMPLE_ERROR("x1.txt", "u1 d e f\nu2 a b c\nu9 a b c\n-5 e f g\n", &ds,
                        "x1.txt:3:1:", "user \"u9\" is not in the data");
    EXPECT_SAMPLE_ERROR("x2.txt", "u1 d e f\n-5 e f g\n", &ds, "x2.txt:", "user \"u2\" of the data has no line",
                        "1 of the 3 users");
    EXPECT_SAMPLE_ERROR("x3.txt", "u1 d e f\nu2 a b c\nu1 d e f\n-5 e f g\n", &ds,
                        "x3.txt:3:", "\"u1\" has a line already (line 1)");
    EXPECT_SAMPLE_ERROR("x4.txt", "u1 d e f\nu2 a b zz\n", &ds, "x4.txt:2:8:", "negative \"zz\" is not an item");
    EXPECT_SAMPLE_ERROR("x5.txt", "u1 d e\n", &ds, "x5.txt:1:", "has 2 negatives; expected exactly 3");
    EXPECT_SAMPLE_ERROR("x6.txt", "u1 d e f g\n", &ds, "x6.txt:1:10:", "more than 3 negatives");
    EXPECT_SAMPLE_ERROR("x7.txt", "u1\n", &ds, "x7.txt:1:", "has 0 negatives");
    EXPECT_SAMPLE_ERROR("x8.txt", "u1 d b f\n", &ds, "x8.txt:1:6:", "negative \"b\" is in user \"u1\"'s own sequence",
                        "other data");
    EXPECT_SAMPLE_ERROR("x9.txt", "\n\n", &ds, "x9.txt is empty", "user neg1 ... neg3");
    EXPECT_SAMPLE_ERROR("x10.txt", "u1 d e f\nu2 a\xff b c\n", &ds, "x10.txt:2:5:", "invalid UTF-8");
    EXPECT_SAMPLE_ERROR("x11.txt", "u1 d e f\0", &ds, "x11.txt:1:9:", "NUL byte");
    /* the negatives are mapped through the data's item ids: "0" and "-5" are tokens */
    EXPECT_SAMPLE_ERROR("x12.txt", "-5 -5 e f\n", &ds, "x12.txt:1:4:", "\"-5\" is not an item");
    SampleSet s;
    NnError err;
    char path[512];
    snprintf(path, sizeof path, "%s/nope.txt", fixture_dir);
    ck_assert_int_eq(sample_read(path, &ds, 3, &s, &err), -1);
    ck_assert_msg(strstr(err.msg, "cannot open") && strstr(err.msg, "nope.txt"), "%s", err.msg);
    dataset_free(&ds);
}
END_TEST

/* The lists numpy gives for S3-Rec's generate_test.py procedure on this data:
 *   rs = np.random.RandomState(12345); all_item = items in order of first appearance
 *   for s in seqs: got = []; while len(got) < 5: got += [x for x in rs.choice(all_item, 5, replace=False)
 *                                                        if x not in s]; keep got[:5] */
START_TEST(generated_negatives_match_s3rec_generate_test) {
    char text[2048];
    int n = snprintf(text, sizeof text, "a 1 2 3 4 5\nb 6 7 8 1 2 9\nc 10 11 12\nd");
    for (int i = 13; i <= 120; i++) n += snprintf(text + n, sizeof text - (size_t)n, " %d", i);
    snprintf(text + n, sizeof text - (size_t)n, "\n");
    Dataset ds;
    NnError err;
    ck_assert_msg(dataset_load_buffer("s3rec.txt", text, strlen(text), NULL, NULL, &ds, &err) == 0, "%s", err.msg);
    SampleSet s;
    ck_assert_msg(sample_generate(&ds, 5, 12345, &s, &err) == 0, "%s", err.msg);
    const char *expected[3][5] = {{"20", "34", "85", "25", "37"}, {"32", "104", "36", "49", "64"},
                                  {"17", "114", "116", "88", "108"}};
    for (int u = 0; u < 3; u++)
        for (int k = 0; k < 5; k++)
            ck_assert_str_eq(ds.item_ids[s.neg[u * 5 + k]], expected[u][k]);
    sample_free(&s);
    dataset_free(&ds);
}
END_TEST

START_TEST(generated_negatives_are_unseen_and_reproducible) {
    SyntheticOptions o = synthetic_default_options();
    o.n_users = 300;
    o.n_items = 400;
    o.max_len = 250; /* some users leave few items: the enumerating path */
    Dataset ds;
    NnError err;
    ck_assert_msg(synthetic_generate(&o, &ds, &err) == 0, "%s", err.msg);
    SampleSet a, b, c;
    ck_assert_msg(sample_generate(&ds, 99, 12345, &a, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(sample_generate(&ds, 99, 12345, &b, NULL), 0);
    ck_assert_int_eq(sample_generate(&ds, 99, 1, &c, NULL), 0);
    char *mark = calloc((size_t)ds.n_items + 1, 1);
    int64_t same = 0;
    for (int64_t u = 0; u < ds.n_users; u++) {
        memset(mark, 0, (size_t)ds.n_items + 1);
        int64_t len;
        const int32_t *s = dataset_seq(&ds, u, &len);
        for (int64_t k = 0; k < len; k++) mark[s[k]] = 1;
        for (int k = 0; k < 99; k++) {
            int32_t x = a.neg[u * 99 + k];
            ck_assert(x >= 1 && x <= ds.n_items);
            ck_assert_msg(mark[x] != 1, "user %lld: negative %d is in the sequence", (long long)u, x);
            ck_assert_int_eq(x, b.neg[u * 99 + k]);
            same += x == c.neg[u * 99 + k];
        }
    }
    ck_assert_int_lt(same, ds.n_users * 99 / 10);
    free(mark);
    sample_free(&a), sample_free(&b), sample_free(&c);
    dataset_free(&ds);
}
END_TEST

START_TEST(generated_negatives_need_enough_unseen_items) {
    Dataset ds;
    LOAD_OK("g.txt", "a 1 2 3 4 5\nb 1 2 3\nc 6 7 8\n", NULL, &ds);
    SampleSet s;
    NnError err;
    ck_assert_int_eq(sample_generate(&ds, 3, 7, &s, &err), 0); /* a leaves 3 items, exactly enough */
    for (int k = 0; k < 3; k++) ck_assert_int_ge(s.neg[k], 6);
    sample_free(&s);
    ck_assert_int_eq(sample_generate(&ds, 4, 7, &s, &err), -1);
    ck_assert_msg(strstr(err.msg, "user \"a\" interacted with 5 of the 8 items, which leaves 3 to draw 4 negatives"),
                  "%s", err.msg);
    ck_assert_ptr_null(s.neg);
    dataset_free(&ds);
}
END_TEST

START_TEST(sample_write_round_trips) {
    Dataset ds;
    sample_data(&ds);
    SampleSet a, b;
    NnError err;
    ck_assert_int_eq(sample_generate(&ds, 4, 3, &a, NULL), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/written_sample.txt", fixture_dir);
    ck_assert_msg(sample_write(path, &ds, &a, &err) == 0, "%s", err.msg);
    ck_assert_msg(sample_read(path, &ds, 4, &b, &err) == 0, "%s", err.msg);
    ck_assert_mem_eq(a.neg, b.neg, (size_t)3 * 4 * sizeof *a.neg);
    sample_free(&b);
    /* an id with a space cannot be written in this layout */
    Dataset sp;
    LOAD_OK("sp.csv", "user,item,time\nu v,a,1\nu v,c,2\nu v,d,3\nw,e,1\nw,f,2\nw,g,3\n", NULL, &sp);
    ck_assert_int_eq(sample_generate(&sp, 3, 3, &b, NULL), 0);
    ck_assert_int_eq(sample_write(path, &sp, &b, &err), -1);
    ck_assert_msg(strstr(err.msg, "user id \"u v\" holds whitespace"), "%s", err.msg);
    sample_free(&b);
    /* the failed write left the earlier file as it was */
    ck_assert_msg(sample_read(path, &ds, 4, &b, &err) == 0, "%s", err.msg);
    ck_assert_mem_eq(a.neg, b.neg, (size_t)3 * 4 * sizeof *a.neg);
    sample_free(&a), sample_free(&b);
    dataset_free(&sp);
    dataset_free(&ds);
}
END_TEST

/* ---- the fast sampler (sample_generate_fast) ---- */

/* U users who each saw the same `seen` items of 1..200, and two more users who between them hold every
 * item, so that the catalogue is 1..200: the draws of the first U users are U samples of one law. */
static void same_history_data(int U, int seen, Dataset *ds) {
    size_t cap = (size_t)U * 8 * (size_t)seen + 4096, n = 0;
    char *text = malloc(cap);
    for (int u = 0; u < U; u++) {
        n += (size_t)snprintf(text + n, cap - n, "u%d", u);
        for (int i = 1; i <= seen; i++) n += (size_t)snprintf(text + n, cap - n, " i%d", i);
        text[n++] = '\n';
    }
    for (int half = 0; half < 2; half++) {
        n += (size_t)snprintf(text + n, cap - n, "all%d", half);
        for (int i = 1 + half * 100; i <= 100 + half * 100; i++) n += (size_t)snprintf(text + n, cap - n, " i%d", i);
        text[n++] = '\n';
    }
    load_ok("same.txt", text, n, NULL, ds);
    free(text);
    ck_assert_int_eq(ds->n_items, 200);
}

/* Pearson's chi-square of the counts of the items user 0 never saw against the uniform law, over the
 * first U users' draws; a seen item drawn fails the test. */
static double chi_square_unseen(const Dataset *ds, const int32_t *neg, int U, int n_neg) {
    int64_t len, counts[201] = {0};
    const int32_t *s = dataset_seq(ds, 0, &len);
    char seen[201] = {0};
    for (int64_t k = 0; k < len; k++) seen[s[k]] = 1;
    for (int64_t k = 0; k < (int64_t)U * n_neg; k++) counts[neg[k]]++;
    double expected = (double)U * n_neg / (double)(200 - len), chi = 0;
    for (int i = 1; i <= 200; i++) {
        if (seen[i]) {
            ck_assert_msg(counts[i] == 0, "seen item %d drawn %lld times", i, (long long)counts[i]);
            continue;
        }
        chi += ((double)counts[i] - expected) * ((double)counts[i] - expected) / expected;
    }
    return chi;
}

/* The 0.1% point of chi-square with df degrees of freedom (Wilson-Hilferty): a fair sampler passes
 * a fixed seed with 99.9% odds; the threshold is fixed, so the test is deterministic. */
static double chi_square_limit(int df) {
    double z = 3.09, a = 2.0 / (9.0 * df), c = 1 - a + z * sqrt(a);
    return df * c * c * c;
}

START_TEST(fast_negatives_are_uniform_over_unseen_items) {
    enum { U = 3000 };
    Dataset ds;
    NnError err;
    SampleSet s;
    /* 10 of 200 seen: rejection draws; 5 negatives per user, 15000 draws over 190 items */
    same_history_data(U, 10, &ds);
    ck_assert_msg(sample_generate_fast(&ds, 5, 2024, &s, &err) == 0, "%s", err.msg);
    for (int64_t u = 0; u < ds.n_users; u++) /* distinct within a user */
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < i; j++) ck_assert_int_ne(s.neg[u * 5 + i], s.neg[u * 5 + j]);
    double chi = chi_square_unseen(&ds, s.neg, U, 5), limit = chi_square_limit(189);
    ck_assert_msg(chi < limit, "rejection path: chi-square %.1f over 189 df, limit %.1f", chi, limit);
    /* a biased sampler fails that limit: a draw that hits a seen item takes the next unseen one
     * (item 11 then gets 11 times its share) */
    int32_t *biased = malloc((size_t)U * 5 * sizeof *biased);
    Rng r = rng_new(2024, 0);
    for (int k = 0; k < U * 5; k++) {
        int32_t x = 1 + (int32_t)rng_below(&r, 200);
        biased[k] = x <= 10 ? 11 : x;
    }
    double chi_biased = chi_square_unseen(&ds, biased, U, 5);
    ck_assert_msg(chi_biased > limit, "the biased sampler's chi-square %.1f passes the limit %.1f", chi_biased, limit);
    free(biased);
    sample_free(&s);
    dataset_free(&ds);
    /* 150 of 200 seen: the enumerating path; 20 negatives per user over 50 items */
    same_history_data(U, 150, &ds);
    ck_assert_msg(sample_generate_fast(&ds, 20, 7, &s, &err) == 0, "%s", err.msg);
    chi = chi_square_unseen(&ds, s.neg, U, 20), limit = chi_square_limit(49);
    ck_assert_msg(chi < limit, "enumerating path: chi-square %.1f over 49 df, limit %.1f", chi, limit);
    sample_free(&s);
    dataset_free(&ds);
}
END_TEST

START_TEST(fast_negatives_do_not_depend_on_threads_and_auto_picks_by_size) {
    SyntheticOptions o = synthetic_default_options();
    o.n_users = 500;
    o.n_items = 400;
    o.max_len = 250;
    Dataset ds;
    NnError err;
    ck_assert_msg(synthetic_generate(&o, &ds, &err) == 0, "%s", err.msg);
    SampleSet a, b, c;
    int threads = nn_threads();
    nn_set_threads(1);
    ck_assert_int_eq(sample_generate_fast(&ds, 99, 12345, &a, NULL), 0);
    nn_set_threads(2);
    ck_assert_int_eq(sample_generate_fast(&ds, 99, 12345, &b, NULL), 0);
    nn_set_threads(threads);
    ck_assert_mem_eq(a.neg, b.neg, (size_t)ds.n_users * 99 * sizeof *a.neg);
    ck_assert_int_eq(sample_generate_fast(&ds, 99, 12346, &c, NULL), 0);
    ck_assert(memcmp(a.neg, c.neg, (size_t)ds.n_users * 99 * sizeof *a.neg) != 0); /* the seed matters */
    sample_free(&a), sample_free(&b), sample_free(&c);
    ck_assert_int_eq(sample_auto_method(&ds), SAMPLE_S3REC); /* 500 x 400: S3-Rec's lists */
    ds.n_users = 10000000; /* only the size is read: 4e9 > SAMPLE_S3REC_MAX_COST */
    ck_assert_int_eq(sample_auto_method(&ds), SAMPLE_FAST);
    ds.n_users = 500;
    ck_assert_str_eq(sample_method_name(SAMPLE_FAST), "fast");
    /* too few unseen items: the same message as S3-Rec's generator */
    Dataset g;
    LOAD_OK("g.txt", "a 1 2 3 4 5\nb 1 2 3\nc 6 7 8\n", NULL, &g);
    ck_assert_int_eq(sample_generate_fast(&g, 4, 7, &a, &err), -1);
    ck_assert_msg(strstr(err.msg, "user \"a\" interacted with 5 of the 8 items, which leaves 3 to draw 4 negatives"),
                  "%s", err.msg);
    dataset_free(&g);
    dataset_free(&ds);
}
END_TEST

static Suite *samples_suite(void) {
    Suite *s = suite_create("samples");
    TCase *tc = fixture_tcase("samples");
    tcase_add_test(tc, sample_file_matches_users_by_token);
    tcase_add_test(tc, sample_file_refusals);
    tcase_add_test(tc, generated_negatives_are_unseen_and_reproducible);
    tcase_add_test(tc, generated_negatives_match_s3rec_generate_test);
    tcase_add_test(tc, generated_negatives_need_enough_unseen_items);
    tcase_add_test(tc, sample_write_round_trips);
    tcase_add_test(tc, fast_negatives_are_uniform_over_unseen_items);
    tcase_add_test(tc, fast_negatives_do_not_depend_on_threads_and_auto_picks_by_size);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(samples_suite)
