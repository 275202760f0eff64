/* graph_reset releases every tensor, node and layout of a step at once, and
 * the next step reuses the memory. In sanitizer builds (make sanitize) the
 * released memory is poisoned, so a use after the reset is reported by
 * AddressSanitizer instead of silently reading the next step's values; each
 * case below makes that mistake in a forked child and checks the report. In
 * every build, each tensor carries its arena's generation, and an op, backward
 * or an accessor given a released one aborts naming the op. */
#include <string.h>
#include <sys/wait.h>

#include "autograd/op.h"
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

/* What the checks guard against, in every build: after a reset the next
 * step's tensors take the released memory, so a stale pointer reads them. A
 * step that repeats the last one starts 64 bytes further on, so that a kept
 * header pointer finds no live header at its address (and its stamp fails). */
START_TEST(released_memory_is_reused_by_the_next_step) {
    Graph *g = graph_new();
    Tensor *x = ag_zeros(g, NN_SHAPE(4, 5));
    unsigned char *old = (unsigned char *)x->data;
    uint64_t gen = x->gen;
    graph_reset(g);
    Tensor *y = ag_new(g, NN_SHAPE(4, 5));
    ck_assert_ptr_eq((void *)y->data, (void *)(old + 64));
    ck_assert_ptr_ne((void *)y, (void *)x);
    ck_assert(y->gen != gen && y->gen == arena_generation(graph_arena(g)));
    graph_free(g);
}
END_TEST

/* ---- the same mistakes in the normal build: refused with the op's name ---- */

static Graph *stale_g;
static Tensor *stale_a; /* an owned leaf (2, 3) of 1s */

/* y = a * 2 made in a graph, then the graph is reset and a next step runs. */
static Tensor *stale_tensor(void) {
    stale_g = graph_new();
    stale_a = test_param(tensor_ones(NN_SHAPE(2, 3)));
    Tensor *y = ag_mul_scalar(stale_g, stale_a, 2);
    graph_reset(stale_g);
    Tensor *next = ag_mul_scalar(stale_g, stale_a, 50); /* the next step writes over y's memory */
    (void)next;
    return y;
}

static void get_after_reset(void) {
    Tensor *y = stale_tensor();
    printf("%g\n", (double)tensor_get(y, (int64_t[]){0, 0}));
}

static void add_after_reset(void) {
    Tensor *y = stale_tensor();
    ag_add(stale_g, y, stale_a);
}

static void backward_after_reset(void) {
    Tensor *loss = ag_sum(stale_g, ag_mul_scalar(stale_g, stale_a, 3), 0, NULL, 0);
    graph_reset(stale_g);
    ag_backward(stale_g, loss);
}

static void backward_setup_then_reset(void) {
    stale_g = graph_new();
    stale_a = test_param(tensor_ones(NN_SHAPE(2, 3)));
    backward_after_reset();
}

static void copy_after_reset(void) {
    Tensor *y = stale_tensor();
    Tensor *c = tensor_clone(y);
    tensor_free(c);
}

static void view_after_reset(void) {
    Tensor *y = stale_tensor();
    Tensor v = tensor_reshape(y, NN_SHAPE(6));
    ag_sum(stale_g, ag_view_header(stale_g, &v), 0, NULL, 0);
}

START_TEST(a_tensor_read_after_reset_is_refused) {
    test_assert_aborts("tensor_get after reset", get_after_reset, "tensor_get", "graph_reset", "tensor_clone", NULL);
    test_assert_aborts("tensor_clone after reset", copy_after_reset, "graph_reset", NULL);
}
END_TEST

START_TEST(an_op_on_a_tensor_of_a_reset_graph_is_refused) {
    test_assert_aborts("add after reset", add_after_reset, "nn: add:", "graph_reset", NULL);
    test_assert_aborts("a view of a released tensor", view_after_reset, "graph_reset", NULL);
}
END_TEST

START_TEST(backward_through_a_reset_graph_is_refused) {
    test_assert_aborts("backward after reset", backward_setup_then_reset, "nn: backward:", "graph_reset", NULL);
}
END_TEST

/* Tensors of another graph that is still alive are not refused. */
START_TEST(tensors_of_another_live_graph_are_accepted) {
    Graph *g1 = graph_new(), *g2 = graph_new();
    Tensor *a = test_param(tensor_ones(NN_SHAPE(3)));
    Tensor *x = ag_mul_scalar(g1, a, 2);
    graph_reset(g2);
    Tensor *y = ag_add(g2, x, a);
    ag_backward(g2, ag_sum(g2, y, 0, NULL, 0));
    ck_assert(a->grad->data[0] == 3);
    tensor_free(a);
    graph_free(g1);
    graph_free(g2);
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
    if (!arena_poisons()) { /* under AddressSanitizer the stale read is reported first, as tested below */
        tcase_add_test(tc, a_tensor_read_after_reset_is_refused);
        tcase_add_test(tc, an_op_on_a_tensor_of_a_reset_graph_is_refused);
        tcase_add_test(tc, backward_through_a_reset_graph_is_refused);
    }
    tcase_add_test(tc, tensors_of_another_live_graph_are_accepted);
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
