/* graph_reset releases every tensor, node and layout of a step at once, and
 * the next step reuses the memory. In sanitizer builds (make sanitize) the
 * released memory is poisoned, so a use after the reset is reported by
 * AddressSanitizer instead of silently reading the next step's values; each
 * case below makes that mistake in a forked child and checks the report. */
#include <string.h>
#include <sys/wait.h>

#include "nn/attention.h"
#include "tests/support.h"

typedef enum { READ_DATA, READ_HEADER, WRITE_DATA, READ_LAYOUT, READ_PAST_END } Misuse;

static void use_after_reset(void *ctx) {
    Misuse what = *(Misuse *)ctx;
    Graph *g = graph_new();
    Tensor *x = ag_zeros(g, NN_SHAPE(4, 5));
    SeqLayout layout = seq_layout_dense(g, 2, 3, NULL, 1);
    volatile real sink = 0;
    if (what == READ_PAST_END) sink = x->data[20]; /* one past the end, before any reset */
    graph_reset(g);
    switch (what) {
    case READ_DATA: sink = x->data[3]; break;
    case READ_HEADER: sink = (real)x->numel; break;
    case WRITE_DATA: x->data[0] = 1; break;
    case READ_LAYOUT: sink = (real)layout.offsets[1]; break;
    case READ_PAST_END: break;
    }
    (void)sink;
    graph_free(g);
}

static void expect_report(Misuse what, const char *name) {
    char err[8192];
    int status = test_run_forked(use_after_reset, &what, err, sizeof err);
    ck_assert_msg(!(WIFEXITED(status) && WEXITSTATUS(status) == 0), "%s: the misuse went unreported", name);
    ck_assert_msg(strstr(err, "AddressSanitizer: use-after-poison"), "%s: no use-after-poison report:\n%s", name, err);
}

START_TEST(reading_a_released_tensor_is_reported) { expect_report(READ_DATA, "data read after reset"); }
END_TEST

START_TEST(reading_a_released_tensor_header_is_reported) { expect_report(READ_HEADER, "header read after reset"); }
END_TEST

START_TEST(writing_a_released_tensor_is_reported) { expect_report(WRITE_DATA, "data write after reset"); }
END_TEST

START_TEST(reading_a_released_layout_is_reported) { expect_report(READ_LAYOUT, "layout read after reset"); }
END_TEST

START_TEST(reading_past_an_arena_tensor_is_reported) { expect_report(READ_PAST_END, "read past the end"); }
END_TEST

/* What the poisoning guards against, in every build: after a reset the next
 * step's tensors take the released memory, so a stale pointer reads them. */
START_TEST(released_memory_is_reused_by_the_next_step) {
    Graph *g = graph_new();
    Tensor *x = ag_zeros(g, NN_SHAPE(4, 5));
    real *old = x->data;
    graph_reset(g);
    Tensor *y = ag_new(g, NN_SHAPE(4, 5));
    ck_assert_ptr_eq((void *)y->data, (void *)old);
    ck_assert_ptr_eq((void *)y, (void *)x);
    graph_free(g);
}
END_TEST

/* A used-correctly step is not reported: allocations after a reset are usable in full. */
START_TEST(memory_handed_out_after_a_reset_is_usable) {
    Graph *g = graph_new();
    for (int step = 0; step < 3; step++) {
        Tensor *x = ag_zeros(g, NN_SHAPE(7, 9));
        tensor_fill(x, (real)step);
        Tensor *y = ag_new(g, NN_SHAPE(7, 9));
        tensor_copy(y, x);
        ck_assert(y->data[62] == (real)step);
        graph_reset(g);
    }
    graph_free(g);
}
END_TEST

static Suite *released_suite(void) {
    Suite *s = suite_create("released");
    TCase *tc = tcase_create("released");
    tcase_add_test(tc, released_memory_is_reused_by_the_next_step);
    tcase_add_test(tc, memory_handed_out_after_a_reset_is_usable);
    if (arena_poisons()) { /* sanitizer builds only: elsewhere the misuse goes unseen, which is the point */
        tcase_add_test(tc, reading_a_released_tensor_is_reported);
        tcase_add_test(tc, reading_a_released_tensor_header_is_reported);
        tcase_add_test(tc, writing_a_released_tensor_is_reported);
        tcase_add_test(tc, reading_a_released_layout_is_reported);
        tcase_add_test(tc, reading_past_an_arena_tensor_is_reported);
    }
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(released_suite)
