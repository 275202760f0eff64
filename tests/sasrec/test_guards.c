/* The program's guards of issue 22, as a user meets them: no output lands on
 * an input or in a model folder, a model is scored only on the data it came
 * from, a flag is checked as the float it becomes, gen reports a full disk
 * and its real lengths, and an id that begins with U+FEFF survives the
 * model folder's id lists.
 *
 * The program is $NN_SASREC (default ./sasrec), run through /bin/sh; every
 * test works in its own temporary folder (fixture.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "models/sasrec/io/regular_file.h"
#include "models/sasrec/io/sha256.h"
#include "tests/sasrec/fixture.h"

static char out[1 << 16];    /* stdout of the last run */
static char errout[1 << 16]; /* stderr of the last run */

/* Runs "<prefix> $NN_SASREC <args>" through /bin/sh, {} in args standing for the test's folder; the exit code
 * (128 + signal if killed), stdout and stderr into out and errout. */
static int run_with(const char *prefix, const char *args) {
    return fixture_run(prefix, args, out, sizeof out, errout, sizeof errout);
}

static int run(const char *args) { return run_with("", args); }

#define RUN_OK(args) ck_assert_msg(run(args) == 0, "%s failed: %s", args, errout)
/* exit code, and stderr holding needle */
#define EXPECT(code, args, needle)                                                                                     \
    do {                                                                                                               \
        int got_ = run(args);                                                                                          \
        ck_assert_msg(got_ == (code), "%s exited %d, expected %d: %s", args, got_, code, errout);                      \
        ck_assert_msg(strstr(errout, needle), "%s: stderr lacks '%s': %s", args, needle, errout);                      \
    } while (0)
/* refused before any work: exit 2, the reason and the path named, nothing loaded */
#define REFUSED(args, reason, path)                                                                                    \
    do {                                                                                                               \
        EXPECT(2, args, reason);                                                                                       \
        ck_assert_msg(strstr(errout, path), "%s: the path %s is not named: %s", args, path, errout);                   \
        ck_assert_msg(!strstr(out, "data:"), "%s: refused only after loading the data: %s", args, out);                \
    } while (0)

static int exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

/* The SHA-256 of the file at path, to show that it was left as it was. */
static Sha256Hex digest(const char *path) {
    Sha256Hex h;
    NnError err;
    ck_assert_msg(regular_file_sha256(path, 1u << 30, &h, &err) == 0, "%s", err.msg);
    return h;
}

#define ASSERT_UNCHANGED(path, before) ck_assert_str_eq(digest(path).s, (before).s)

#define TRAIN "train --data {}/tiny.csv --epochs 1 --hidden 16 --max-len 8 --batch 16 "
#define EXPLAIN "explain --data {}/tiny.csv --batch 4 --max-len 8 --hidden 16 --heads 4 "

/* ---- item 2: single-file outputs never land on an input or in a model folder ---- */

START_TEST(outputs_refuse_inputs_model_folders_and_links) {
    fixture_tiny_csv();
    RUN_OK(TRAIN "--out {}/m1");
    RUN_OK(TRAIN "--seed 3 --out {}/m2");
    Sha256Hex data = digest(fixture_path("tiny.csv")), model1 = digest(fixture_path("m1/model.safetensors")),
              items2 = digest(fixture_path("m2/items.txt")), users2 = digest(fixture_path("m2/users.txt"));
    /* explain --dot onto its own --data: the data would become Graphviz */
    REFUSED(EXPLAIN "--dot {}/tiny.csv", "is the input", "tiny.csv");
    /* the same file by another name: a symbolic link to it, a hard link, a path through ".." */
    ck_assert_int_eq(symlink("tiny.csv", fixture_path("data-link.csv")), 0);
    ck_assert_int_eq(link(fixture_path("tiny.csv"), fixture_path("hard.csv")), 0);
    REFUSED("explain --data {}/data-link.csv --batch 4 --max-len 8 --hidden 16 --heads 4 --dot {}/tiny.csv",
            "is the input", "data-link.csv");
    REFUSED(EXPLAIN "--dot {}/hard.csv", "is the input", "hard.csv");
    REFUSED("predict --data {}/tiny.csv --model {}/m1 --out {}/../$(basename {})/tiny.csv", "is the input",
            "tiny.csv");
    ASSERT_UNCHANGED(fixture_path("tiny.csv"), data);
    /* explain --dot into a model folder: its checkpoint would fail its SHA-256 */
    REFUSED(EXPLAIN "--dot {}/m1/model.safetensors", "is inside the model folder", "m1");
    REFUSED(EXPLAIN "--dot {}/m1/graph.dot", "is inside the model folder", "m1");
    ASSERT_UNCHANGED(fixture_path("m1/model.safetensors"), model1);
    ck_assert(!exists(fixture_path("m1/graph.dot")));
    /* gen --out and predict --out into a model folder other than --model, directly, below, through a link */
    REFUSED("gen --users 10 --items 200 --avg-len 8 --out {}/m2/items.txt", "is inside the model folder", "m2");
    REFUSED("predict --data {}/tiny.csv --model {}/m1 --out {}/m2/users.txt", "is inside the model folder", "m2");
    ck_assert_int_eq(mkdir(fixture_path("m2/sub"), 0755), 0);
    REFUSED("predict --data {}/tiny.csv --model {}/m1 --out {}/m2/sub/p.csv", "is inside the model folder", "m2");
    ck_assert_int_eq(symlink("m2", fixture_path("m2-link")), 0);
    REFUSED("predict --data {}/tiny.csv --model {}/m1 --out {}/m2-link/p.csv", "is inside the model folder", "m2");
    ASSERT_UNCHANGED(fixture_path("m2/items.txt"), items2);
    ASSERT_UNCHANGED(fixture_path("m2/users.txt"), users2);
    ck_assert(!exists(fixture_path("m2/sub/p.csv")) && !exists(fixture_path("m2/p.csv")));
    /* an output that is itself a link, for every writer */
    fixture_write_text(fixture_path("victim.txt"), "precious\n");
    ck_assert_int_eq(symlink("victim.txt", fixture_path("out-link")), 0);
    REFUSED(EXPLAIN "--dot {}/out-link", "symbolic link", "out-link");
    REFUSED("gen --users 10 --items 200 --avg-len 8 --out {}/out-link", "symbolic link", "out-link");
    REFUSED("predict --data {}/tiny.csv --model {}/m1 --out {}/out-link", "symbolic link", "out-link");
    char buf[64];
    slurp(fixture_path("victim.txt"), buf, sizeof buf);
    ck_assert_str_eq(buf, "precious\n");
    /* train --out equal to its --data, or a folder inside another model folder: refused, both left as they were */
    EXPECT(2, TRAIN "--out {}/tiny.csv", "tiny.csv");
    ASSERT_UNCHANGED(fixture_path("tiny.csv"), data);
    EXPECT(2, TRAIN "--out {}/m2/new", "is inside the model folder");
    ck_assert(!exists(fixture_path("m2/new")));
    RUN_OK(TRAIN "--out {}/m1/."); /* the model folder itself, named from inside, is replaced as before */
    /* what is allowed still works: beside the model folders */
    RUN_OK(EXPLAIN "--dot {}/g.dot");
    RUN_OK("predict --data {}/tiny.csv --model {}/m1 --out {}/p.csv");
    RUN_OK("gen --users 10 --items 200 --avg-len 8 --out {}/g.txt");
}
END_TEST

/* ---- item 3: eval and predict score a model only on the data it came from ---- */

START_TEST(without_data_a_model_is_scored_only_on_the_data_it_came_from) {
    fixture_tiny_csv();
    RUN_OK(TRAIN "--out {}/m");
    /* trained on a file: eval and predict without --data ask for it, and score nothing */
    EXPECT(2, "eval --model {}/m", "was not trained on the built-in synthetic data");
    ck_assert_msg(strstr(errout, "give --data"), "%s", errout);
    ck_assert_msg(!strstr(out, "HR@10"), "metrics printed: %s", out);
    EXPECT(2, "predict --model {}/m --out {}/p.csv", "give --data");
    ck_assert(!exists(fixture_path("p.csv")));
    RUN_OK("eval --data {}/tiny.csv --model {}/m");
    /* a config.json that claims the built-in data for a model of another catalogue: the counts are both named */
    fixture_set_config("m", "data", "null");
    EXPECT(1, "eval --model {}/m", "was not trained on the built-in synthetic data");
    const char *has = strstr(errout, "the data has ");
    ck_assert_msg(has && atoi(has + strlen("the data has ")) > 100, "the data's item count is wrong: %s", errout);
    /* trained on the built-in data: eval without --data scores on it */
    RUN_OK("train --epochs 1 --hidden 16 --max-len 8 --out {}/builtin");
    char trained[256];
    const char *hr = strstr(strrchr(out, '{'), "\"HR@10\": "); /* the last line: the test metrics */
    ck_assert(hr);
    snprintf(trained, sizeof trained, "%.16s", hr);
    RUN_OK("eval --model {}/builtin");
    ck_assert_msg(strstr(out, trained), "eval gives other metrics than train's test (%s): %s", trained, out);
}
END_TEST

/* ---- item 7: a decimal flag is checked as the float the program computes with ---- */

START_TEST(flags_are_checked_as_the_float_they_become) {
    fixture_tiny_csv();
    EXPECT(2, TRAIN "--dropout 0.99999999 --out {}/m", "--dropout 0.99999999 is out of range");
    ck_assert_msg(strstr(errout, "32-bit float") && strstr(errout, "[0, 1)"), "%s", errout);
    EXPECT(2, TRAIN "--attn-dropout 0.999999999 --out {}/m", "--attn-dropout 0.999999999 is out of range");
    ck_assert_msg(strstr(errout, "[0, 1)"), "%s", errout);
    EXPECT(2, TRAIN "--lr 1e-50 --out {}/m", "--lr 1e-50 is out of range");
    ck_assert_msg(strstr(errout, "it is 0") && strstr(errout, "(0, 10]"), "%s", errout);
    EXPECT(2, TRAIN "--lr 1e-40 --out {}/m", "below the smallest normal 32-bit float");
    EXPECT(2, TRAIN "--init-std 1e-45 --out {}/m", "--init-std 1e-45 is out of range");
    EXPECT(2, EXPLAIN "--dropout 0.99999999", "--dropout 0.99999999 is out of range");
    ck_assert(!exists(fixture_path("m")));
    /* values that stay in range as floats run: a dropout just below 1, a tiny learning rate */
    RUN_OK(EXPLAIN "--dropout 0.9999999 --attn-dropout 0.9999999");
    RUN_OK(TRAIN "--lr 1e-30 --out {}/m");
}
END_TEST

/* ---- items 9 and 11: gen ---- */

START_TEST(gen_reports_a_full_disk_and_its_real_lengths) {
    /* a file size limit stands for a full disk: exit 4, the reason named, nothing left behind */
    int code = run_with("trap '' XFSZ; ulimit -f 1;", "gen --users 2000 --items 500 --avg-len 20 --out {}/g.txt");
    ck_assert_msg(code == 4, "exit %d: %s", code, errout);
    ck_assert_msg(strstr(errout, "File too large") && strstr(errout, "g.txt"), "%s", errout);
    ck_assert(!exists(fixture_path("g.txt")));
    /* its summary to a full device: exit 4 and the reason */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s gen --users 20 --items 500 --avg-len 8 --out %s >/dev/full 2>%s",
             getenv("NN_SASREC") ? getenv("NN_SASREC") : "./sasrec", fixture_path("g.txt"), fixture_path(".stderr"));
    int status = system(cmd);
    slurp(fixture_path(".stderr"), errout, sizeof errout);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 4 && strstr(errout, "No space left"), "status %d: %s",
                  status, errout);
    /* a mean below the shortest length names the flags given, not a derived --max-len of -1 */
    EXPECT(2, "gen --users 10 --avg-len 3 --out {}/g.txt", "--avg-len 3 must lie above --min-len 5");
    ck_assert_msg(!strstr(errout, "-1"), "%s", errout);
    /* a mean just above the shortest length gets a --max-len that holds it */
    RUN_OK("gen --users 50 --items 500 --avg-len 5.2 --out {}/g.txt");
    /* the summary gives the lengths drawn, which the file holds */
    RUN_OK("gen --users 300 --items 600 --avg-len 6 --max-len 200 --seed 3 --out {}/g.txt");
    FILE *f = fopen(fixture_path("g.txt"), "r");
    ck_assert(f);
    char line[8192];
    int shortest = 1 << 30, longest = 0;
    while (fgets(line, sizeof line, f)) {
        int tokens = 0;
        for (char *t = strtok(line, " \n"); t; t = strtok(NULL, " \n")) tokens++;
        shortest = tokens - 1 < shortest ? tokens - 1 : shortest;
        longest = tokens - 1 > longest ? tokens - 1 : longest;
    }
    fclose(f);
    char want[128];
    snprintf(want, sizeof want, "shortest %d, longest %d)", shortest, longest);
    ck_assert_msg(strstr(out, want), "the summary lacks '%s': %s", want, out);
    ck_assert_msg(longest < 200, "the test needs a longest sequence below --max-len: %d", longest);
}
END_TEST

START_TEST(out_of_range_numbers_name_the_real_range) {
    fixture_tiny_csv();
    EXPECT(2, TRAIN "--seed 9300000000000000000 --out {}/m", "--seed 9300000000000000000 is out of range");
    ck_assert_msg(strstr(errout, "[0, 9200000000000000000]") && !strstr(errout, "inf"), "%s", errout);
    EXPECT(2, TRAIN "--seed 9200000000000000001 --out {}/m", "is out of range");
    EXPECT(2, "gen --seed 99999999999999999999 --out {}/g.txt", "--seed 99999999999999999999 is out of range");
    EXPECT(2, TRAIN "--seed 12x --out {}/m", "--seed expects a whole number, got '12x'");
    EXPECT(2, TRAIN "--clip 1e19 --out {}/m", "[0, 1e+18]");
    ck_assert(!exists(fixture_path("m")));
    /* a --out name longer than a model folder's name can be: said so, not "cannot be a model folder" */
    char args[1024], name[230];
    memset(name, 'a', 225);
    name[225] = '\0';
    snprintf(args, sizeof args, TRAIN "--out {}/%s", name);
    EXPECT(2, args, "name too long");
    ck_assert_msg(!strstr(errout, "cannot be a model folder"), "%s", errout);
}
END_TEST

/* ---- item 10: an id that begins with U+FEFF survives items.txt and users.txt ---- */

#define FEFF "\xEF\xBB\xBF"

START_TEST(ids_that_begin_with_a_byte_order_mark_round_trip) {
    /* a user and the first item whose ids begin with U+FEFF, beside the same ids without it: in a file with its
     * own mark, the user first (after the mark); in a file without one, the user second */
    for (int marked = 0; marked < 2; marked++) {
        char text[1 << 14];
        size_t n = (size_t)snprintf(text, sizeof text, marked ? FEFF FEFF "u0" : "u0");
        for (int k = 0; k < 8; k++) n += (size_t)snprintf(text + n, sizeof text - n, k ? " i%d" : " " FEFF "i%d", k);
        n += (size_t)snprintf(text + n, sizeof text - n, "\n");
        for (int u = 1; u < 60; u++) {
            n += (size_t)snprintf(text + n, sizeof text - n, u == 1 ? (marked ? "u0" : FEFF "u0") : "u%d", u);
            for (int k = 0; k < 8; k++) n += (size_t)snprintf(text + n, sizeof text - n, " i%d", (u * 2 + 3 * k) % 150);
            n += (size_t)snprintf(text + n, sizeof text - n, "\n");
        }
        fixture_write_text(fixture_path("bom.txt"), text);
        RUN_OK("train --data {}/bom.txt --epochs 1 --hidden 16 --max-len 8 --out {}/m");
        char items[64];
        slurp(fixture_path("m/items.txt"), items, sizeof items);
        ck_assert_msg(strncmp(items, FEFF "i0\n", 6) == 0, "items.txt starts with '%.8s'", items);
        RUN_OK("eval --data {}/bom.txt --model {}/m");
        RUN_OK("predict --data {}/bom.txt --model {}/m --out {}/p.csv");
        /* every user and every item of the data is the model's own, by the same name */
        ck_assert_msg(strstr(out, "\"unknown_users\": 0, \"unknown_items\": 0,"), "%s", out);
        char p[1 << 16];
        slurp(fixture_path("p.csv"), p, sizeof p);
        ck_assert_msg(strstr(p, "\n" FEFF "u0,") && strstr(p, "\nu0,"), "%.400s", p);
    }
}
END_TEST

static Suite *guards_suite(void) {
    Suite *s = suite_create("guards");
    TCase *tc = fixture_tcase("guards");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, outputs_refuse_inputs_model_folders_and_links);
    tcase_add_test(tc, without_data_a_model_is_scored_only_on_the_data_it_came_from);
    tcase_add_test(tc, flags_are_checked_as_the_float_they_become);
    tcase_add_test(tc, gen_reports_a_full_disk_and_its_real_lengths);
    tcase_add_test(tc, out_of_range_numbers_name_the_real_range);
    tcase_add_test(tc, ids_that_begin_with_a_byte_order_mark_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(guards_suite)
