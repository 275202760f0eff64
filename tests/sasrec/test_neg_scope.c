/* sasrec train --neg-scope sequence|position (issue 23): negatives drawn per
 * sequence or per target position, uniformly, in-batch or mixed, for --loss
 * sampled and gbce. A run gives the same numbers at 1 and 2 threads; its
 * config.json records the scope and eval and predict load its model; gbce
 * refuses non-uniform draws; the memory plan counts the drawn ids and refuses
 * a run that cannot fit with the flag to lower.
 *
 * The program is $NN_SASREC (default ./sasrec), run as a subprocess. */
#include <stdio.h>
#include <string.h>

#include "tests/sasrec/fixture.h"

static char out[1 << 16], errout[1 << 16];

static int run(const char *prefix, const char *args) {
    return fixture_run(prefix, args, out, sizeof out, errout, sizeof errout);
}

/* The last line of out up to its timings (the metrics, epochs and losses), into buf. */
static void metrics(char *buf, size_t size) {
    const char *last = strrchr(out, '{'), *cut = last ? strstr(last, "\"train_s_per_epoch\"") : NULL;
    ck_assert_msg(last && cut, "no JSON line: %s", out);
    snprintf(buf, size, "%.*s", (int)(cut - last), last);
}

#define TRAIN "train --data {}/tiny.txt --epochs 2 --hidden 16 --max-len 8 --batch 16 --negatives 24 "

START_TEST(drawn_negatives_give_the_same_run_at_1_and_2_threads) {
    fixture_tiny_seq();
    const char *runs[] = {"--loss sampled --neg-scope position", "--loss sampled --neg-scope sequence",
                          "--loss sampled --neg-scope position --neg-dist in-batch",
                          "--loss sampled --neg-scope sequence --neg-dist mixed", "--loss gbce --neg-scope position",
                          "--loss sampled --neg-scope position --dense"};
    for (int i = 0; i < 6; i++) {
        char args[512], first[1024], second[1024];
        snprintf(args, sizeof args, TRAIN "%s --threads 1 --out {}/m1", runs[i]);
        ck_assert_msg(run("", args) == 0, "%s: %s", runs[i], errout);
        metrics(first, sizeof first);
        snprintf(args, sizeof args, TRAIN "%s --threads 2 --out {}/m2", runs[i]);
        ck_assert_msg(run("", args) == 0, "%s: %s", runs[i], errout);
        metrics(second, sizeof second);
        ck_assert_msg(strcmp(first, second) == 0, "%s: 1 thread %s, 2 threads %s", runs[i], first, second);
        ck_assert_msg(!strstr(first, "nan") && !strstr(first, "inf"), "%s: %s", runs[i], first);
    }
}
END_TEST

START_TEST(the_scope_is_recorded_and_the_model_loads) {
    fixture_tiny_seq();
    ck_assert_msg(run("", TRAIN "--loss sampled --neg-scope position --neg-dist mixed --out {}/m") == 0, "%s", errout);
    char config[1 << 14];
    slurp(fixture_path("m/config.json"), config, sizeof config);
    ck_assert_msg(strstr(config, "\"neg_scope\": \"position\"") && strstr(config, "\"neg_dist\": \"mixed\""), "%s",
                  config);
    ck_assert_msg(run("", "eval --data {}/tiny.txt --model {}/m") == 0, "eval: %s", errout);
    ck_assert_msg(run("", "predict --data {}/tiny.txt --model {}/m --k 3 --out {}/p.csv") == 0, "predict: %s", errout);
}
END_TEST

START_TEST(gbce_refuses_draws_that_are_not_uniform) {
    fixture_tiny_seq();
    const char *dists[] = {"in-batch", "mixed"};
    for (int i = 0; i < 2; i++) {
        char args[512], want[128];
        snprintf(args, sizeof args, TRAIN "--loss gbce --neg-scope sequence --neg-dist %s --out {}/m", dists[i]);
        ck_assert_int_eq(run("", args), 2);
        snprintf(want, sizeof want, "--loss gbce draws its negatives uniformly (its calibration assumes it); drop "
                                    "--neg-dist %s", dists[i]);
        ck_assert_msg(strstr(errout, want), "%s", errout);
    }
}
END_TEST

/* 65,536 negatives for each of 128 x 50 positions: 1.6 GB of drawn ids alone. */
START_TEST(the_plan_counts_the_drawn_negatives) {
    fixture_tiny_seq();
    int code = run("NN_MEMORY_LIMIT_MIB=800", "train --data {}/tiny.txt --epochs 1 --loss sampled --neg-scope position "
                                              "--negatives 65536 --batch 128 --out {}/m");
    ck_assert_msg(code == 2, "exit %d, expected 2: %s", code, errout);
    ck_assert_msg(strstr(errout, "needs about") &&
                      strstr(errout, "activations of one training step: lower --negatives, --batch or --max-len"),
                  "%s", errout);
    ck_assert(fixture_count_entries("m") == 0);
}
END_TEST

static Suite *neg_scope_suite(void) {
    Suite *s = suite_create("neg_scope");
    TCase *tc = fixture_tcase("neg_scope");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, drawn_negatives_give_the_same_run_at_1_and_2_threads);
    tcase_add_test(tc, the_scope_is_recorded_and_the_model_loads);
    tcase_add_test(tc, gbce_refuses_draws_that_are_not_uniform);
    tcase_add_test(tc, the_plan_counts_the_drawn_negatives);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(neg_scope_suite)
