/* Evaluation negatives: sample files read and written, and negatives
 * generated as S3-Rec's generate_test.py does (models/sasrec/data/sample.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static Suite *samples_suite(void) {
    Suite *s = suite_create("samples");
    TCase *tc = fixture_tcase("samples");
    tcase_add_test(tc, sample_file_matches_users_by_token);
    tcase_add_test(tc, sample_file_refusals);
    tcase_add_test(tc, generated_negatives_are_unseen_and_reproducible);
    tcase_add_test(tc, generated_negatives_match_s3rec_generate_test);
    tcase_add_test(tc, generated_negatives_need_enough_unseen_items);
    tcase_add_test(tc, sample_write_round_trips);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(samples_suite)
