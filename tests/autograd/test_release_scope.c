/* graph_mark / graph_release: inference that holds one layer's intermediates at a time. What a scope made is
 * released (and refused if used afterwards, in every build); what was made before it stays valid; the kept
 * tensor comes back with the same values; with gradients on, or a mark released twice, it aborts. */
#include <string.h>

#include "tests/support.h"

/* y = relu(x W + 0.5): three tensors of x's rows made inside a scope. */
static Tensor *layer(Graph *g, Tensor *x, Tensor *w) { return ag_relu(g, ag_add_scalar(g, ag_matmul(g, x, w), 0.5)); }

START_TEST(a_released_scope_keeps_one_copy_and_gives_back_the_rest) {
    Graph *g = graph_new();
    Tensor *w = test_randn(1, NN_SHAPE(64, 64)), *x0 = test_randn(2, NN_SHAPE(256, 64));
    int grad = ag_set_grad_enabled(0);
    Tensor *x = ag_mul_scalar(g, x0, 1); /* made before the scope: stays valid */
    size_t before = arena_used(graph_arena(g));
    Tensor *plain = layer(g, layer(g, x, w), w); /* the same work without a scope, for the values */
    real *want = malloc((size_t)plain->numel * sizeof(real));
    memcpy(want, plain->data, (size_t)plain->numel * sizeof(real));
    size_t held = arena_used(graph_arena(g)) - before;

    GraphMark mark = graph_mark(g);
    Tensor *y = graph_release(g, mark, layer(g, layer(g, x, w), w));
    size_t kept = arena_used(graph_arena(g)) - before - held;
    ck_assert_msg(kept * 3 <= held, "the scope kept %zu bytes of the %zu its work made", kept, held);
    ck_assert(memcmp(y->data, want, (size_t)y->numel * sizeof(real)) == 0);
    Tensor *z = ag_add(g, y, x); /* both usable afterwards */
    ck_assert(z->data[0] == y->data[0] + x->data[0]);

    GraphMark outer = graph_mark(g); /* nested scopes: the inner one closes first */
    GraphMark inner = graph_mark(g);
    Tensor *a = graph_release(g, inner, layer(g, y, w));
    Tensor *b = graph_release(g, outer, a);
    ck_assert(b->numel == y->numel && b->data[5] == tensor_get(layer(g, y, w), (int64_t[]){0, 5}));
    ag_set_grad_enabled(grad);
    free(want);
    tensor_free(w);
    tensor_free(x0);
    graph_free(g);
}
END_TEST

static Graph *scope_g;
static Tensor *inside(void) {
    scope_g = graph_new();
    Tensor *w = test_randn(1, NN_SHAPE(8, 8)), *x0 = test_randn(2, NN_SHAPE(4, 8));
    ag_set_grad_enabled(0);
    GraphMark m = graph_mark(scope_g);
    Tensor *t = layer(scope_g, x0, w);
    graph_release(scope_g, m, NULL);
    return t;
}
static void op_after_release(void) { ag_add_scalar(scope_g, inside(), 1); }
static void get_after_release(void) { (void)tensor_get(inside(), (int64_t[]){0, 0}); }
static void release_with_gradients_on(void) {
    Graph *g = graph_new();
    ag_set_grad_enabled(1);
    GraphMark m = graph_mark(g);
    graph_release(g, m, NULL);
}
static void release_twice(void) {
    Graph *g = graph_new();
    ag_set_grad_enabled(0);
    GraphMark m = graph_mark(g);
    graph_release(g, m, NULL);
    graph_release(g, m, NULL);
}

START_TEST(misuse_of_a_scope_is_refused) {
    test_assert_aborts("an op on a tensor of a released scope", op_after_release, "nn: add_scalar:",
                       "graph_release", NULL);
    test_assert_aborts("tensor_get on a tensor of a released scope", get_after_release, "tensor_get",
                       "graph_release", NULL);
    test_assert_aborts("graph_release with gradients on", release_with_gradients_on, "graph_release",
                       "gradients are on", "ag_set_grad_enabled(0)", NULL);
    test_assert_aborts("a mark released twice", release_twice, "arena_release_to", "closed already", NULL);
}
END_TEST

static Suite *release_scope_suite(void) {
    Suite *s = suite_create("release_scope");
    TCase *tc = tcase_create("release_scope");
    tcase_add_test(tc, a_released_scope_keeps_one_copy_and_gives_back_the_rest);
    if (!arena_poisons()) /* under AddressSanitizer the stale read is reported first (test_released) */
        tcase_add_test(tc, misuse_of_a_scope_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(release_scope_suite)
