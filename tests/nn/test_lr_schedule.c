/* A schedule whose warmup would start at learning rate 0 is refused: a
 * warmup_start left out of an initializer is 0, and PyTorch's LinearLR refuses
 * a start factor of 0. A set warmup_start, or none needed, runs as before. */
#include <math.h>
#include <string.h>

#include "nn/lr_schedule.h"
#include "tests/support.h"

static void warmup_start_left_out(void) {
    LrSchedule s = {.lr = 1e-3, .warmup_steps = 10};
    lr_schedule_at(&s, 0);
}

static void warmup_start_above_one(void) {
    LrSchedule s = {.lr = 1e-3, .warmup_steps = 10, .warmup_start = 1.5};
    lr_schedule_at(&s, 3);
}

START_TEST(a_warmup_from_zero_is_refused) {
    char msg[1024];
    ck_assert_msg(test_abort_message(warmup_start_left_out, msg, sizeof msg), "no abort: %s", msg);
    ck_assert_msg(strstr(msg, "lr_schedule_at") && strstr(msg, "warmup_start is 0 with 10 warmup steps") &&
                      strstr(msg, "Set .warmup_start"),
                  "%s", msg);
    ck_assert_msg(test_abort_message(warmup_start_above_one, msg, sizeof msg), "no abort: %s", msg);
    ck_assert_msg(strstr(msg, "warmup_start is 1.5"), "%s", msg);
}
END_TEST

START_TEST(a_set_warmup_start_or_no_warmup_runs) {
    LrSchedule s = {.lr = 1e-3, .warmup_steps = 4, .warmup_start = 0.25};
    ck_assert(fabs(lr_schedule_at(&s, 0) - 2.5e-4) < 1e-18);
    ck_assert(fabs(lr_schedule_at(&s, 2) - 6.25e-4) < 1e-18);
    ck_assert(lr_schedule_at(&s, 4) == 1e-3);
    LrSchedule none = {.lr = 2e-3}; /* no warmup: warmup_start is not read */
    ck_assert(lr_schedule_at(&none, 0) == 2e-3);
}
END_TEST

static Suite *lr_schedule_suite(void) {
    Suite *s = suite_create("lr_schedule");
    TCase *tc = tcase_create("warmup");
    if (test_forking()) tcase_add_test(tc, a_warmup_from_zero_is_refused);
    tcase_add_test(tc, a_set_warmup_start_or_no_warmup_runs);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(lr_schedule_suite)
