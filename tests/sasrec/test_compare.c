/* sasrec eval's intervals and coverage, and sasrec compare, as a user runs
 * them: eval's JSON line keeps its keys and values and adds "<metric>_ci" (and
 * coverage@K under full ranking), the same for a seed at any thread count;
 * compare of a model with itself differs by 0 with p = 1, of two models gives
 * every metric's difference, interval and p-value; two models with different
 * item maps and bad command lines are refused with exit 2 and a message.
 *
 * The program is $NN_SASREC (default ./sasrec), run through /bin/sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sasrec/fixture.h"

static char out[1 << 16];    /* stdout of the last run */
static char errout[1 << 16]; /* stderr of the last run */

static int run(const char *args) { return fixture_run("", args, out, sizeof out, errout, sizeof errout); }

/* The last line of stdout (the JSON object), copied into buf. */
static const char *json_line(char *buf, size_t size) {
    const char *last = strrchr(out, '{');
    ck_assert_msg(last && strchr(last, '}'), "no JSON line: %s", out);
    snprintf(buf, size, "%s", last);
    return buf;
}

/* The value of "key": x in line. */
static double number(const char *line, const char *key) {
    char k[64];
    snprintf(k, sizeof k, "\"%s\": ", key);
    const char *p = strstr(line, k);
    ck_assert_msg(p, "no %s in %s", key, line);
    return atof(p + strlen(k));
}

/* line from the key "key" on, without the "seconds" member (which varies). */
static void from_key(const char *line, const char *key, char *buf, size_t size) {
    const char *p = strstr(line, key);
    ck_assert_msg(p, "no %s in %s", key, line);
    snprintf(buf, size, "%s", p);
    char *s = strstr(buf, "\"seconds\"");
    if (s) s[0] = 0;
}

/* Two models on tiny.csv (seeds 1 and 2). */
static void train_two(void) {
    fixture_tiny_csv();
    const char *args = "train --data {}/tiny.csv --epochs 2 --hidden 16 --max-len 8 --batch 16 --threads 1";
    char cmd[512];
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd, "%s --seed %d --out {}/%c", args, k + 1, "ab"[k]);
        ck_assert_msg(run(cmd) == 0, "train failed: %s", errout);
    }
}

START_TEST(eval_adds_intervals_and_coverage_and_keeps_its_keys) {
    train_two();
    char line[8192], a[8192], b[8192];
    ck_assert_msg(run("eval --data {}/tiny.csv --model {}/a --eval full --resamples 0") == 0, "%s", errout);
    json_line(a, sizeof a);
    ck_assert_msg(!strstr(a, "_ci") && strstr(a, "\"coverage@10\": "), "%s", a);
    ck_assert_msg(run("eval --data {}/tiny.csv --model {}/a --eval full --threads 1") == 0, "%s", errout);
    json_line(line, sizeof line);
    /* the keys of before, in their order and with their values, up to "seconds" */
    ck_assert_msg(strncmp(line, "{\"HR@5\": ", 9) == 0, "%s", line);
    ck_assert_msg(strncmp(line, a, (size_t)(strstr(a, "\"seconds\"") - a)) == 0, "keys changed:\n%s\n%s", a, line);
    ck_assert_msg(strstr(line, "\"ci_resamples\": 1000, \"ci_seed\": 42"), "%s", line);
    ck_assert_msg(strstr(out, "95% intervals by the bootstrap over users, 1000 resamples, seed 42"), "%s", out);
    const char *ci = strstr(line, "\"HR@10_ci\": [");
    ck_assert_msg(ci, "%s", line);
    double lo = atof(ci + 13), hi = atof(strchr(ci, ',') + 1), v = number(line, "HR@10");
    ck_assert_msg(lo <= v && v <= hi && lo < hi, "HR@10 %g outside [%g, %g]", v, lo, hi);
    double c5 = number(line, "coverage@5"), c20 = number(line, "coverage@20");
    ck_assert_msg(0 < c5 && c5 <= c20 && c20 <= 1, "coverage %g, %g", c5, c20);
    /* one seed, any thread count: the same intervals; another seed: others */
    from_key(line, "\"HR@5_ci\"", a, sizeof a);
    ck_assert(run("eval --data {}/tiny.csv --model {}/a --eval full --threads 2") == 0);
    from_key(json_line(line, sizeof line), "\"HR@5_ci\"", b, sizeof b);
    ck_assert_msg(strcmp(a, b) == 0, "threads changed the intervals:\n%s\n%s", a, b);
    ck_assert(run("eval --data {}/tiny.csv --model {}/a --eval full --seed 7") == 0);
    from_key(json_line(line, sizeof line), "\"HR@5_ci\"", b, sizeof b);
    ck_assert_msg(strcmp(a, b) != 0, "--seed 7 gave the intervals of 42: %s", b);
    /* the sampled protocol: intervals, no coverage (it has no recommendation lists) */
    ck_assert(run("eval --data {}/tiny.csv --model {}/a --eval sample --sample-method fast") == 0);
    json_line(line, sizeof line);
    ck_assert_msg(strstr(line, "\"MRR_ci\": [") && !strstr(line, "coverage"), "%s", line);
    ck_assert_int_eq(run("eval --data {}/tiny.csv --model {}/a --resamples -1"), 2);
}
END_TEST

START_TEST(compare_gives_the_paired_difference) {
    train_two();
    char line[16384], a[16384], b[16384];
    ck_assert_msg(run("compare --data {}/tiny.csv --model {}/a --model {}/a --eval full") == 0, "%s", errout);
    json_line(line, sizeof line);
    const char *names[] = {"HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20"};
    for (int k = 0; k < 6; k++) {
        char key[32];
        snprintf(key, sizeof key, "%s_diff", names[k]);
        ck_assert_msg(number(line, key) == 0, "%s: %s", key, line);
        snprintf(key, sizeof key, "%s_p", names[k]);
        ck_assert_msg(number(line, key) == 1, "%s: %s", key, line);
    }
    ck_assert_msg(strstr(line, "\"difference\": \"B - A\"") && strstr(line, "\"test\": \"sign-flip\""), "%s", line);
    /* two models: B - A is eval's B minus eval's A, and the same at any thread count */
    ck_assert_msg(run("compare --data {}/tiny.csv --model {}/a --model={}/b --eval full --threads 1") == 0, "%s",
                  errout);
    from_key(json_line(line, sizeof line), "\"protocol\"", a, sizeof a);
    ck_assert_msg(strstr(out, "users B better / worse"), "%s", out);
    double d = number(line, "NDCG@10_diff"), p = number(line, "NDCG@10_p");
    ck_assert(run("eval --data {}/tiny.csv --model {}/b --eval full") == 0);
    double eb = number(json_line(b, sizeof b), "NDCG@10");
    ck_assert(run("eval --data {}/tiny.csv --model {}/a --eval full") == 0);
    double ea = number(json_line(b, sizeof b), "NDCG@10");
    ck_assert_msg(fabs(d - (eb - ea)) < 2e-6, "diff %g, eval %g - %g", d, eb, ea);
    ck_assert(p > 0 && p <= 1);
    ck_assert(run("compare --data {}/tiny.csv --model {}/a --model {}/b --eval full --threads 2") == 0);
    from_key(json_line(line, sizeof line), "\"protocol\"", b, sizeof b);
    ck_assert_msg(strcmp(a, b) == 0, "threads changed compare:\n%s\n%s", a, b);
}
END_TEST

/* A model selected by full ranking is evaluated (and compared) by full ranking unless --eval says otherwise,
 * with a word on stderr: never the sampled protocol without one. */
START_TEST(eval_takes_the_models_protocol) {
    fixture_tiny_csv();
    char line[8192];
    const char *train = "train --data {}/tiny.csv --epochs 1 --hidden 16 --max-len 8 --batch 16 --threads 1";
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s --eval full --out {}/f", train);
    ck_assert_msg(run(cmd) == 0, "%s", errout);
    snprintf(cmd, sizeof cmd, "%s --out {}/s", train);
    ck_assert_msg(run(cmd) == 0, "%s", errout);
    ck_assert_msg(run("eval --data {}/tiny.csv --model {}/f --resamples 0") == 0, "%s", errout);
    ck_assert_msg(strstr(json_line(line, sizeof line), "\"protocol\": \"full\""), "%s", line);
    ck_assert_msg(strstr(errout, "the model's protocol, full") && strstr(errout, "--eval sample"), "%s", errout);
    ck_assert(run("eval --data {}/tiny.csv --model {}/f --eval sample --sample-method fast --resamples 0") == 0);
    ck_assert_msg(strstr(json_line(line, sizeof line), "\"protocol\": \"sample\""), "%s", line);
    ck_assert_msg(!strstr(errout, "the model's protocol"), "%s", errout);
    ck_assert(run("eval --data {}/tiny.csv --model {}/s --sample-method fast --resamples 0") == 0);
    ck_assert_msg(strstr(json_line(line, sizeof line), "\"protocol\": \"sample\""), "%s", line);
    ck_assert_msg(run("compare --data {}/tiny.csv --model {}/f --model {}/f --resamples 10") == 0, "%s", errout);
    ck_assert_msg(strstr(json_line(line, sizeof line), "\"protocol\": \"full\""), "%s", line);
    ck_assert(run("compare --data {}/tiny.csv --model {}/f --model {}/s --sample-method fast --resamples 10") == 0);
    ck_assert_msg(strstr(errout, "different protocols") && strstr(errout, "--eval to choose"), "%s", errout);
}
END_TEST

START_TEST(compare_refuses_what_it_cannot_compare) {
    train_two();
    ck_assert_int_eq(run("compare --help"), 0);
    ck_assert_msg(strstr(out, "usage: sasrec compare") && strstr(out, "--resamples"), "%s", out);
    ck_assert_int_eq(run("compare --data {}/tiny.csv --model {}/a"), 2);
    ck_assert_msg(strstr(errout, "two model folders"), "%s", errout);
    ck_assert_int_eq(run("compare --data {}/tiny.csv --model {}/a --model {}/b --model {}/a"), 2);
    ck_assert_int_eq(run("compare --data {}/tiny.csv --model {}/a --model {}/b --resamples 0"), 2);
    ck_assert_msg(strstr(errout, "--resamples"), "%s", errout);
    ck_assert_int_eq(run("compare --data {}/tiny.csv --model {}/a --model {}/nothing"), 2);
    /* a model of other data: its item map differs */
    ck_assert(run("gen --out {}/g.txt --users 80 --items 200 --avg-len 8 --seed 4") == 0);
    ck_assert_msg(run("train --data {}/g.txt --epochs 1 --hidden 16 --max-len 8 --out {}/c") == 0, "%s", errout);
    ck_assert_int_eq(run("compare --data {}/tiny.csv --model {}/a --model {}/c"), 2);
    ck_assert_msg(strstr(errout, "items.txt") && strstr(errout, "/c"), "%s", errout);
}
END_TEST

static Suite *compare_suite(void) {
    Suite *s = suite_create("compare");
    TCase *tc = fixture_tcase("compare");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, eval_adds_intervals_and_coverage_and_keeps_its_keys);
    tcase_add_test(tc, compare_gives_the_paired_difference);
    tcase_add_test(tc, compare_refuses_what_it_cannot_compare);
    tcase_add_test(tc, eval_takes_the_models_protocol);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(compare_suite)
