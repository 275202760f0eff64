/* Starting eval, predict and serve while the model folder they read is
 * replaced (issue 22, case 5): every start succeeds, and every answer is the
 * old model's or the new one's, never a mix and never a checksum error.
 *
 * Two tests: a child process exchanges two complete model folders in place
 * of one path as fast as it can (renameat2 RENAME_EXCHANGE, the rename train's
 * swap makes), which catches a loader that opens the folder's files one by
 * one by path within seconds; and sasrec train itself replacing the folder in
 * a loop (that swap, then the removal of the old folder's files) for
 * NN_SWAP_SECONDS (default 10; the full run is 60).
 *
 * The program is $NN_SASREC (default ./sasrec), run through /bin/sh. */
#define _GNU_SOURCE /* renameat2 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "tests/sasrec/fixture.h"

static char out[1 << 16];    /* stdout of the last run */
static char errout[1 << 16]; /* stderr of the last run */


/* Runs "$NN_SASREC <args>" (%s in args: the test's folder, up to four times) with stdin from the file stdin_name
 * (or /dev/null); stdout and stderr into out and errout. Returns the exit code (128 + signal if killed). */
static int run(const char *stdin_name, const char *args) {
    char expanded[2048], cmd[4096];
    snprintf(expanded, sizeof expanded, args, fixture_dir, fixture_dir, fixture_dir, fixture_dir);
    char so[512], se[512];
    snprintf(so, sizeof so, "%s/.stdout-%d", fixture_dir, (int)getpid());
    snprintf(se, sizeof se, "%s/.stderr-%d", fixture_dir, (int)getpid());
    snprintf(cmd, sizeof cmd, "%s %s <%s >%s 2>%s", fixture_program(), expanded, stdin_name ? fixture_path(stdin_name) : "/dev/null", so,
             se);
    int status = system(cmd);
    slurp(so, out, sizeof out);
    slurp(se, errout, sizeof errout);
    unlink(so);
    unlink(se);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#define TRAIN_FLAGS "--data %s/d.txt --epochs 1 --hidden 16 --max-len 8 --batch 32 --threads 1 "

/* The answers of one model folder: eval's metrics, predict's CSV, serve's answer line. */
typedef struct {
    char eval[512], predict[1 << 14], serve[1024];
} Answers;

/* The metrics of eval's last line without its timing. */
static void eval_metrics(char *dst, size_t size) {
    char *last = strrchr(out, '{'), *cut = last ? strstr(last, ", \"seconds\"") : NULL;
    if (cut) *cut = '\0';
    snprintf(dst, size, "%.500s", last ? last : out);
}

/* The answers of the folder name; 0, or the failing command's exit code with its stderr in errout. */
static int answers_of(const char *name, Answers *a) {
    char args[512];
    int code;
    snprintf(args, sizeof args, "eval --data %%s/d.txt --threads 1 --model %%s/%s", name);
    if ((code = run(NULL, args)) != 0) return code;
    eval_metrics(a->eval, sizeof a->eval);
    snprintf(args, sizeof args, "predict --data %%s/d.txt --threads 1 --k 3 --out %%s/p-%d.csv --model %%s/%s",
             (int)getpid(), name);
    if ((code = run(NULL, args)) != 0) return code;
    char csv[512];
    snprintf(csv, sizeof csv, "%s/p-%d.csv", fixture_dir, (int)getpid());
    slurp(csv, a->predict, sizeof a->predict);
    unlink(csv);
    snprintf(args, sizeof args, "serve --threads 1 --model %%s/%s", name);
    if ((code = run("request.jsonl", args)) != 0) return code;
    snprintf(a->serve, sizeof a->serve, "%.1000s", out);
    return 0;
}

/* The data, the request, and the two reference folders a (seed 1) and b (seed 2) with their answers. */
static void prepare(Answers *a, Answers *b) {
    ck_assert_msg(run(NULL, "gen --out %s/d.txt --users 120 --items 200 --max-len 20 --seed 5") == 0, "%s", errout);
    PUT("request.jsonl", "{\"id\": \"r\", \"items\": [\"i3\", \"i7\", \"i11\"], \"k\": 5}\n");
    ck_assert_msg(run(NULL, "train " TRAIN_FLAGS "--seed 1 --out %s/a") == 0, "%s", errout);
    ck_assert_msg(run(NULL, "train " TRAIN_FLAGS "--seed 2 --out %s/b") == 0, "%s", errout);
    ck_assert_msg(answers_of("a", a) == 0, "%s", errout);
    ck_assert_msg(answers_of("b", b) == 0, "%s", errout);
    ck_assert_msg(strcmp(a->eval, b->eval) != 0 && strcmp(a->predict, b->predict) != 0,
                  "the two seeds gave the same model: the test could not tell them apart");
}

/* Starts eval, predict and serve on folder m in turn until deadline; each must succeed with a's or b's
 * answer. Returns the number of starts; fails the test at the first that does not. */
static int start_until(double deadline, const Answers *a, const Answers *b) {
    int starts = 0;
    while (clock_seconds() < deadline) {
        Answers got;
        int code = answers_of("m", &got);
        ck_assert_msg(code == 0, "start %d against a folder being replaced: exit %d: %s", starts, code, errout);
        const Answers *ref = strcmp(got.eval, a->eval) == 0 ? a : b;
        ck_assert_msg(strcmp(got.eval, ref->eval) == 0, "eval gave neither model's metrics: %s", got.eval);
        /* one start of each is one model's answer (it may differ between the three starts) */
        ck_assert_msg(strcmp(got.predict, a->predict) == 0 || strcmp(got.predict, b->predict) == 0,
                      "predict wrote neither model's rows");
        ck_assert_msg(strcmp(got.serve, a->serve) == 0 || strcmp(got.serve, b->serve) == 0,
                      "serve answered neither model's items: %s", got.serve);
        starts += 3;
    }
    return starts;
}

static double seconds_env(const char *name, double fallback) {
    const char *v = getenv(name);
    return v && atof(v) > 0 ? atof(v) : fallback;
}

START_TEST(loads_see_one_folder_while_it_is_exchanged) {
    Answers a, b;
    prepare(&a, &b);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp -r %s %s && cp -r %s %s", fixture_path("a"), fixture_path("m"), fixture_path("b"), fixture_path("other"));
    ck_assert(system(cmd) == 0);
    double deadline = clock_seconds() + seconds_env("NN_SWAP_SECONDS", 10) / 2;
    pid_t swapper = fork();
    ck_assert(swapper >= 0);
    if (swapper == 0) { /* as train's swap does, in a tight loop */
        char m[512], other[512];
        snprintf(m, sizeof m, "%s", fixture_path("m"));
        snprintf(other, sizeof other, "%s", fixture_path("other"));
        long swaps = 0;
        while (clock_seconds() < deadline + 1) {
            if (renameat2(AT_FDCWD, m, AT_FDCWD, other, RENAME_EXCHANGE) != 0) _exit(errno == EINVAL ? 3 : 1);
            swaps++;
            struct timespec pause = {0, 20000};
            nanosleep(&pause, NULL);
        }
        _exit(swaps > 0 ? 0 : 1);
    }
    int starts = start_until(deadline, &a, &b);
    int status;
    waitpid(swapper, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3) return; /* no RENAME_EXCHANGE on this file system */
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the swapping child failed");
    printf("test_swap_race: %d starts of eval, predict and serve while two folders were exchanged in place: all "
           "succeeded with one model's answers\n", starts);
}
END_TEST

START_TEST(starts_succeed_while_train_replaces_the_folder) {
    Answers a, b;
    prepare(&a, &b);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp -r %s %s", fixture_path("a"), fixture_path("m"));
    ck_assert(system(cmd) == 0);
    double deadline = clock_seconds() + seconds_env("NN_SWAP_SECONDS", 10);
    pid_t trainer = fork();
    ck_assert(trainer >= 0);
    if (trainer == 0) { /* seeds 1, 2, 1, ...: each run replaces the folder with the other model */
        int runs = 0;
        while (clock_seconds() < deadline) {
            char args[512];
            snprintf(args, sizeof args, "%s--seed %d --out %%s/m", "train " TRAIN_FLAGS, 2 - (runs + 1) % 2);
            if (run(NULL, args) != 0) {
                fprintf(stderr, "train failed: %s\n", errout);
                _exit(1);
            }
            runs++;
        }
        _exit(runs > 0 ? 0 : 2);
    }
    int starts = start_until(deadline, &a, &b);
    int status;
    waitpid(trainer, &status, 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the training loop failed (exit %d)",
                  WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    printf("test_swap_race: %d starts of eval, predict and serve while train replaced the folder for %.0f s: all "
           "succeeded with one model's answers\n", starts, seconds_env("NN_SWAP_SECONDS", 10));
}
END_TEST

static Suite *swap_suite(void) {
    Suite *s = suite_create("swap_race");
    TCase *tc = fixture_tcase("swap_race");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, loads_see_one_folder_while_it_is_exchanged);
    tcase_add_test(tc, starts_succeed_while_train_replaces_the_folder);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(swap_suite)
