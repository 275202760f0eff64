/* The thread count comes from NN_THREADS when a program does not set it: read
 * once, at first use; a value that is not a whole number from 1 to 256 aborts
 * with a message naming it. Each case runs in a fresh child, where nothing has
 * asked for the count yet. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/parallel.h"
#include "tests/support.h"

/* Sets NN_THREADS to ctx and exits with the count nn_threads() reports. */
static void count_with_env(void *ctx) {
    setenv("NN_THREADS", (const char *)ctx, 1);
    int n = nn_threads();
    _exit(n);
}

/* nn_set_threads wins over the environment. */
static void set_overrides_env(void *ctx) {
    (void)ctx;
    setenv("NN_THREADS", "3", 1);
    nn_set_threads(2);
    _exit(nn_threads());
}

START_TEST(nn_threads_reads_the_environment) {
    char err[1024];
    int status = test_run_forked(count_with_env, "3", err, sizeof err);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 3, "NN_THREADS=3 gave status %d: %s", status, err);
    status = test_run_forked(count_with_env, "1", err, sizeof err);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "NN_THREADS=1 gave status %d: %s", status, err);
    status = test_run_forked(set_overrides_env, NULL, err, sizeof err);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 2, "nn_set_threads(2) gave status %d: %s", status, err);
}
END_TEST

START_TEST(an_invalid_nn_threads_is_refused) {
    const char *bad[] = {"0", "-2", "abc", "4x", "", "257", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[1024], want[64];
        int status = test_run_forked(count_with_env, (void *)bad[i], err, sizeof err);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "NN_THREADS=\"%s\" was not refused: %s",
                      bad[i], err);
        snprintf(want, sizeof want, "NN_THREADS is \"%s\"", bad[i]);
        ck_assert_msg(strstr(err, "nn_threads") && strstr(err, want) && strstr(err, "from 1 to 256"), "%s", err);
    }
}
END_TEST

static Suite *threads_env_suite(void) {
    Suite *s = suite_create("threads_env");
    TCase *tc = tcase_create("env");
#ifndef NN_NO_THREADS
    if (test_forking()) {
        tcase_add_test(tc, nn_threads_reads_the_environment);
        tcase_add_test(tc, an_invalid_nn_threads_is_refused);
    }
#endif
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(threads_env_suite)
