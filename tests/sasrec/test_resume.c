/* sasrec train --resume (issue 25): a run killed with SIGKILL at random
 * moments and resumed until it ends gives the same model.safetensors, byte
 * for byte, the same config.json and the same final JSON line (times aside) as
 * a run that was never interrupted, at 1 and 2 threads, with the seed's loss
 * and with the sampled softmax; a resume with another flag or other data is
 * refused with what differs, and the killed run's folder stays as it was.
 *
 * The program is $NN_SASREC (default ./sasrec); every test works in its own
 * temporary folder (fixture.h), on a small generated data set. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/sasrec/fixture.h"

static char out[1 << 16];    /* stdout of the last run */
static char errout[1 << 16]; /* stderr of the last run */

static int run(const char *args) { return fixture_run("", args, out, sizeof out, errout, sizeof errout); }
#define RUN_OK(args) ck_assert_msg(run(args) == 0, "%s failed: %s", args, errout)

#define FLAGS "--data {}/data.txt --epochs 6 --patience 100 --hidden 16 --max-len 10 --batch 32 --eval-batch 64 "

static void make_data(void) {
    RUN_OK("gen --out {}/data.txt --users 200 --items 160 --avg-len 8 --seed 5");
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

static void sleep_ms(double ms) {
    struct timespec ts = {(time_t)(ms / 1e3), (long)((ms - 1e3 * (double)(time_t)(ms / 1e3)) * 1e6)};
    nanosleep(&ts, NULL);
}

static pid_t spawn(const char *args) { return fixture_spawn(args); }

static int wait_for(pid_t pid) { return fixture_wait(pid, out, sizeof out, errout, sizeof errout); }

/* The last line of text without the fields that hold times or memory, into line. */
static void result_line(const char *text, char *line, size_t size) {
    size_t n = strlen(text);
    while (n > 0 && text[n - 1] == '\n') n--;
    const char *start = text + n;
    while (start > text && start[-1] != '\n') start--;
    snprintf(line, size, "%.*s", (int)(text + n - start), start);
    static const char *const varying[] = {"\"train_s_per_epoch\"", "\"eval_s_per_epoch\"", "\"seconds\"",
                                          "\"peak_rss_mib\""};
    for (int k = 0; k < 4; k++) {
        char *at = strstr(line, varying[k]), *end = at ? strpbrk(at, ",}") : NULL;
        if (at && end) memmove(at, end, strlen(end) + 1);
    }
}

/* The bytes of fixture_dir/rel (malloc'd, NUL-terminated), their count in *len. */
static char *read_all(const char *rel, size_t *len) {
    FILE *f = fopen(fixture_path(rel), "rb");
    ck_assert_msg(f != NULL, "%s is missing", rel);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert(fread(buf, 1, (size_t)n, f) == (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void assert_same_file(const char *a, const char *b) {
    size_t la, lb;
    char *x = read_all(a, &la), *y = read_all(b, &lb);
    ck_assert_msg(la == lb && memcmp(x, y, la) == 0, "%s and %s differ (%zu and %zu bytes)", a, b, la, lb);
    free(x);
    free(y);
}

/* Number of staging folders of fixture_dir/m. */
static int leftovers(void) { return fixture_count_entries(".m.sasrec-"); }

/* Trains flags into {}/ref without a stop, then into {}/m killed at random moments (seeded) and resumed until
 * it ends; the two folders' model and settings, and the final lines, must be the same. */
static void kill_and_resume(const char *flags, unsigned seed) {
    char args[2048], line_ref[4096], line[4096];
    make_data();
    snprintf(args, sizeof args, "train " FLAGS "%s --out {}/ref", flags);
    double t0 = now_ms();
    RUN_OK(args);
    double ms = now_ms() - t0;
    result_line(out, line_ref, sizeof line_ref);
    int kills = 0, resumed = 0, code = -1;
    for (int attempt = 0; attempt < 6 && code != 0; attempt++) {
        snprintf(args, sizeof args, "train " FLAGS "%s --out {}/m%s", flags, attempt ? " --resume" : "");
        pid_t pid = spawn(args);
        if (attempt < 4) { /* the last ones run to the end */
            seed = seed * 1103515245u + 12345u;
            sleep_ms(ms * (0.1 + 0.9 * (double)(seed >> 16 & 0x7fff) / 32768.0));
            kill(pid, SIGKILL);
        }
        code = wait_for(pid);
        kills += code == 128 + SIGKILL;
        resumed += strstr(errout, "resuming the run a kill left in") != NULL;
        ck_assert_msg(code == 0 || code == 128 + SIGKILL, "attempt %d: exit %d: %s", attempt, code, errout);
    }
    ck_assert_msg(code == 0, "the run never ended: %s", errout);
    result_line(out, line, sizeof line);
    ck_assert_str_eq(line, line_ref);
    assert_same_file("m/model.safetensors", "ref/model.safetensors");
    assert_same_file("m/config.json", "ref/config.json");
    assert_same_file("m/curve.svg", "ref/curve.svg");
    ck_assert_int_eq(leftovers(), 0);
    ck_assert_msg(access(fixture_path("m/resume.safetensors"), F_OK) != 0, "the resumable state is in the model");
    printf("test_resume %s: %d kills, %d runs resumed from a saved epoch: the same model, byte for byte\n", flags,
           kills, resumed);
}

START_TEST(killed_runs_resume_to_the_same_bits_1_thread) { kill_and_resume("--threads 1", 11); }
END_TEST
START_TEST(killed_runs_resume_to_the_same_bits_2_threads) { kill_and_resume("--threads 2", 12); }
END_TEST
START_TEST(killed_sampled_runs_resume_to_the_same_bits_1_thread) {
    kill_and_resume("--threads 1 --loss sampled --negatives 32", 13);
}
END_TEST
START_TEST(killed_sampled_runs_resume_to_the_same_bits_2_threads) {
    kill_and_resume("--threads 2 --loss sampled --negatives 32", 14);
}
END_TEST

/* Starts a run of {}/m and kills it once it has saved a finished epoch; its staging folder stays. */
static void leave_a_killed_run(void) {
    make_data();
    pid_t pid = spawn("train " FLAGS "--epochs 1000 --out {}/m");
    int saved = 0;
    for (int i = 0; i < 6000 && !saved; i++) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "ls %s/.m.sasrec-*/resume.safetensors >/dev/null 2>&1", fixture_dir);
        saved = system(cmd) == 0;
        if (!saved) sleep_ms(10);
    }
    kill(pid, SIGKILL);
    wait_for(pid);
    ck_assert_msg(saved, "no resumable state appeared");
    ck_assert_int_eq(leftovers(), 1);
}

/* The names and sizes of the files in the staging folder of m, as one string. */
static void leftover_listing(char *buf, size_t size) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd %s && ls -l .m.sasrec-*/ | awk '{print $5, $9}' | grep -v '\\.tmp\\.'", fixture_dir);
    FILE *p = popen(cmd, "r");
    ck_assert(p != NULL);
    size_t n = fread(buf, 1, size - 1, p);
    buf[n] = '\0';
    pclose(p);
}

START_TEST(a_resume_with_other_flags_or_data_is_refused) {
    leave_a_killed_run();
    char before[4096], after[4096];
    leftover_listing(before, sizeof before);
    /* the next plain run names the leftover and the command that resumes it */
    RUN_OK("train " FLAGS "--epochs 1 --out {}/other");
    ck_assert_int_eq(run("train " FLAGS "--epochs 1 --out {}/m --lr 0.002 --resume"), 2);
    ck_assert_msg(strstr(errout, "--lr 0.002 is given now, not then") && strstr(errout, "--epochs was 1000, now 1"),
                  "%s", errout);
    ck_assert_int_eq(run("train " FLAGS "--out {}/m --epochs 1000 --dense --resume"), 2);
    ck_assert_msg(strstr(errout, "--dense") && strstr(errout, "given now, not then"), "%s", errout);
    RUN_OK("gen --out {}/data.txt --users 200 --items 160 --avg-len 8 --seed 6"); /* other data, same path */
    ck_assert_int_eq(run("train " FLAGS "--epochs 1000 --out {}/m --resume"), 2);
    ck_assert_msg(strstr(errout, "--data's content differs"), "%s", errout);
    leftover_listing(after, sizeof after);
    ck_assert_str_eq(before, after);
    ck_assert_int_eq(leftovers(), 1);
    ck_assert(access(fixture_path("m/config.json"), F_OK) != 0); /* --out was never written */
}
END_TEST

START_TEST(a_killed_run_is_named_with_its_resume_command) {
    leave_a_killed_run();
    RUN_OK("train " FLAGS "--epochs 1 --out {}/m");
    char want[1024];
    fixture_expand("to continue it: sasrec train " FLAGS "--epochs 1000 --out {}/m --resume", want, sizeof want);
    ck_assert_msg(strstr(errout, want), "no '%s' in: %s", want, errout);
    ck_assert_int_eq(leftovers(), 1); /* named, never removed */
    /* a file train does not write, in the leftover: refused, naming it, and left */
    DIR *d = opendir(fixture_dir);
    struct dirent *e;
    char name[512] = "";
    while (d && (e = readdir(d)))
        if (strncmp(e->d_name, ".m.sasrec-", 10) == 0) snprintf(name, sizeof name, "%s/notes.txt", e->d_name);
    if (d) closedir(d);
    ck_assert_msg(name[0], "no staging folder of m");
    fixture_write_text(fixture_path(name), "mine\n");
    ck_assert_int_eq(run("train " FLAGS "--epochs 1000 --out {}/m --resume"), 2);
    ck_assert_msg(strstr(errout, "holds notes.txt, which sasrec train does not write"), "%s", errout);
    ck_assert_int_eq(leftovers(), 1);
}
END_TEST

static Suite *resume_suite(void) {
    Suite *s = suite_create("resume");
    TCase *tc = fixture_tcase("resume");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, killed_runs_resume_to_the_same_bits_1_thread);
    tcase_add_test(tc, killed_runs_resume_to_the_same_bits_2_threads);
    tcase_add_test(tc, killed_sampled_runs_resume_to_the_same_bits_1_thread);
    tcase_add_test(tc, killed_sampled_runs_resume_to_the_same_bits_2_threads);
    tcase_add_test(tc, a_resume_with_other_flags_or_data_is_refused);
    tcase_add_test(tc, a_killed_run_is_named_with_its_resume_command);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(resume_suite)
