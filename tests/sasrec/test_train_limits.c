/* sasrec train against the limits of the machine it runs on (issue 22, cases
 * 4 and 6): an --out that is a mount point is refused before training; the
 * memory plan counts the sampled losses' (T x K) logits and the address-space
 * limit, refusing a run that cannot fit with exit 2 and the flag to lower; an
 * allocation that fails during the run ends it with exit 4, --out as it was
 * and no staging folder left.
 *
 * The program is $NN_SASREC (default ./sasrec), run through /bin/sh; the mount
 * point is made in a private mount namespace (unshare -m, as root), and the
 * detection itself is also checked on /proc. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "models/sasrec/cli/stage.h"
#include "tests/sasrec/fixture.h"

static char out[1 << 16];    /* stdout of the last run */
static char errout[1 << 16]; /* stderr of the last run */


/* Runs "<prefix> $NN_SASREC <args>" through /bin/sh; each %s in prefix and args (up to four) is the test's
 * folder. Returns the exit code (128 + signal if killed). */
static int run_with(const char *prefix, const char *args) {
    char p[1024], a[2048], cmd[4096], so[256], se[256];
    snprintf(p, sizeof p, prefix, fixture_dir, fixture_dir, fixture_dir, fixture_dir);
    snprintf(a, sizeof a, args, fixture_dir, fixture_dir, fixture_dir, fixture_dir);
    snprintf(so, sizeof so, "%s/.stdout", fixture_dir);
    snprintf(se, sizeof se, "%s/.stderr", fixture_dir);
    snprintf(cmd, sizeof cmd, "%s %s %s >%s 2>%s", p, fixture_program(), a, so, se);
    int status = system(cmd);
    slurp(so, out, sizeof out);
    slurp(se, errout, sizeof errout);
    unlink(so);
    unlink(se);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int exists(const char *name) {
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", fixture_dir, name);
    return lstat(path, &st) == 0;
}

/* Entries of the test's folder whose name starts with prefix. */
#define GEN "gen --out %s/d.txt --users 300 --items 2000 --seed 4"

START_TEST(mount_points_are_detected) {
    ck_assert_msg(stage_is_mount_point("/proc"), "/proc is a mount point");
    ck_assert_msg(stage_is_mount_point("/"), "/ is the root");
    ck_assert_msg(!stage_is_mount_point(fixture_dir), "%s is a plain folder", fixture_dir);
}
END_TEST

START_TEST(out_on_a_mount_point_is_refused_before_training) {
    if (geteuid() != 0 || system("unshare -m true 2>/dev/null") != 0) {
        printf("test_train_limits: no mount namespace here (not root, or no unshare): the program-level mount "
               "point test is skipped; the detection is checked on /proc\n");
        return;
    }
    ck_assert_msg(run_with("", GEN) == 0, "%s", errout);
    char vol[512];
    snprintf(vol, sizeof vol, "%s/vol", fixture_dir);
    ck_assert(mkdir(vol, 0777) == 0);
    int code = run_with("unshare -m sh -c 'mount -t tmpfs none %s/vol && exec \"$0\" \"$@\"'",
                        "train --data %s/d.txt --epochs 1 --hidden 16 --out %s/vol");
    ck_assert_msg(code == 2, "exit %d, expected 2: %s", code, errout);
    ck_assert_msg(strstr(errout, "is a mount point") && strstr(errout, "give --out a folder inside it"), "%s", errout);
    ck_assert_msg(!strstr(out, "epoch"), "it trained before refusing: %s", out);
    /* a folder inside the mount is fine */
    code = run_with("unshare -m sh -c 'mount -t tmpfs none %s/vol && exec \"$0\" \"$@\"'",
                    "train --data %s/d.txt --epochs 1 --hidden 16 --out %s/vol/model");
    ck_assert_msg(code == 0, "a folder inside the mount: exit %d: %s", code, errout);
}
END_TEST

/* The sampled losses at 65,536 negatives and --batch 128 need over a GiB here (docs/sasrec.md, section 5). */
START_TEST(the_plan_counts_the_sampled_logits) {
    ck_assert_msg(run_with("", GEN) == 0, "%s", errout);
    const char *losses[] = {"sampled", "gbce"};
    for (int i = 0; i < 2; i++) {
        char args[512];
        snprintf(args, sizeof args, "train --data %%s/d.txt --epochs 1 --loss %s --negatives 65536 --batch 128 "
                                    "--out %%s/m", losses[i]);
        int code = run_with("NN_MEMORY_LIMIT_MIB=800", args);
        ck_assert_msg(code == 2, "--loss %s: exit %d, expected 2: %s", losses[i], code, errout);
        ck_assert_msg(strstr(errout, "activations of one training step: lower --negatives, --batch or --max-len"),
                      "--loss %s: %s", losses[i], errout);
        ck_assert(!exists("m") && fixture_count_entries(".m.sasrec-") == 0);
    }
}
END_TEST

START_TEST(the_plan_consults_the_address_space_limit) {
    ck_assert_msg(run_with("", GEN) == 0, "%s", errout);
    int code = run_with("ulimit -v 1000000;",
                        "train --data %s/d.txt --epochs 1 --loss sampled --negatives 65536 --batch 128 --out %s/m");
    ck_assert_msg(code == 2, "exit %d, expected 2: %s", code, errout);
    ck_assert_msg(strstr(errout, "the address-space limit (ulimit -v) of 977 MiB") &&
                      strstr(errout, "lower --negatives, --batch or --max-len"),
                  "%s", errout);
    ck_assert(!exists("m") && fixture_count_entries(".m.sasrec-") == 0);
}
END_TEST

START_TEST(out_of_memory_during_the_run_exits_4_and_leaves_out_as_it_was) {
    ck_assert_msg(run_with("", GEN) == 0, "%s", errout);
    /* the plan is told of plenty of memory (NN_MEMORY_LIMIT_MIB), so the run starts and an allocation fails */
    const char *cases[] = {"m", "new"}; /* an existing model folder, and an --out that did not exist */
    ck_assert_msg(run_with("", "train --data %s/d.txt --epochs 1 --hidden 16 --out %s/m") == 0, "%s", errout);
    char before[1 << 12];
    snprintf(before, sizeof before, "%s/m/model.safetensors", fixture_dir);
    struct stat st0;
    ck_assert(stat(before, &st0) == 0);
    for (int i = 0; i < 2; i++) {
        char args[512];
        snprintf(args, sizeof args, "train --data %%s/d.txt --epochs 1 --hidden 16 --loss sampled --negatives 65536 "
                                    "--batch 128 --out %%s/%s", cases[i]);
        int code = run_with("ulimit -v 1000000; NN_MEMORY_LIMIT_MIB=100000", args);
        ck_assert_msg(code == 4, "--out %s: exit %d, expected 4: %s", cases[i], code, errout);
        ck_assert_msg(strstr(errout, "out of memory allocating") && strstr(errout, "was left as it was"), "%s",
                      errout);
        char prefix[64];
        snprintf(prefix, sizeof prefix, ".%s.sasrec-", cases[i]);
        ck_assert_msg(fixture_count_entries(prefix) == 0, "a staging folder of --out %s was left", cases[i]);
    }
    ck_assert_msg(!exists("new"), "--out new did not exist before and must not now");
    struct stat st1;
    ck_assert(stat(before, &st1) == 0 && st1.st_ino == st0.st_ino && st1.st_mtime == st0.st_mtime);
}
END_TEST

static Suite *limits_suite(void) {
    Suite *s = suite_create("train_limits");
    TCase *tc = fixture_tcase("train_limits");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, mount_points_are_detected);
    tcase_add_test(tc, out_on_a_mount_point_is_refused_before_training);
    tcase_add_test(tc, the_plan_counts_the_sampled_logits);
    if (!arena_poisons()) { /* AddressSanitizer reserves terabytes of shadow memory: no program of it starts
                              * under ulimit -v, so these run in the plain build (make test) only */
        tcase_add_test(tc, the_plan_consults_the_address_space_limit);
        tcase_add_test(tc, out_of_memory_during_the_run_exits_4_and_leaves_out_as_it_was);
    }
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(limits_suite)
