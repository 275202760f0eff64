/* adam_step_zero_grad is adam_step followed by module_zero_grad, bit for bit:
 * the weights, the moments, the gradients (all zero after) and the rows the
 * next backward lists, for lazy and dense Adam, AdamW, at 1 and 2 threads, on
 * a module with a row-sparse table (many rows gathered, then few), a tracked
 * table that a product reached as a whole, a dense weight of several pieces
 * and a parameter no step reaches. */
#include <string.h>

#include "base/parallel.h"
#include "nn/optim.h"
#include "tests/support.h"

enum { V = 5000, E = 16, WR = 300, WC = 70, S = 50 };

typedef struct {
    Module m;
    Tensor *table, *whole, *w, *idle;
} Net;

static void net_init(Net *n) {
    module_init(&n->m, 1);
    n->table = module_param(&n->m, "", "table", PARAM_TABLE, NN_SHAPE(V, E));
    n->whole = module_param(&n->m, "", "whole", PARAM_TABLE, NN_SHAPE(S, E));
    n->w = module_param(&n->m, "", "w", PARAM_WEIGHT, NN_SHAPE(WR, WC));
    n->idle = module_param(&n->m, "", "idle", PARAM_BIAS, NN_SHAPE(7));
    test_randomise(&n->m, 5, 0.5);
    tensor_set_sparse_grad(n->table, 1);
    tensor_set_sparse_grad(n->whole, 1);
}

/* One backward: the table gathered at `count` ids of the step's draw, the whole table through a product, w
 * through another; idle is left out. */
static void backward(Net *n, int step, int64_t count) {
    int64_t ids[600];
    Rng r = rng_new(100 + (uint64_t)step, 0);
    for (int64_t k = 0; k < count; k++) ids[k] = (int64_t)rng_below(&r, V);
    Graph *g = graph_new();
    Tensor *c1 = test_uniform(7 + (uint64_t)step, NN_SHAPE(count, E), -1, 1);
    Tensor *x = test_uniform(8 + (uint64_t)step, NN_SHAPE(4, S), -1, 1);
    Tensor *y = test_uniform(9 + (uint64_t)step, NN_SHAPE(3, WR), -1, 1);
    Tensor *a = ag_sum(g, ag_mul(g, ag_embedding(g, n->table, ids, NN_SHAPE(count), 0), c1), 0, NULL, 0);
    Tensor *b = ag_sum(g, ag_matmul(g, x, n->whole), 0, NULL, 0);
    Tensor *c = ag_sum(g, ag_mul(g, ag_matmul(g, y, n->w), ag_matmul(g, y, n->w)), 0, NULL, 0);
    ag_backward(g, ag_add(g, ag_add(g, a, b), c));
    graph_free(g);
    test_free_all(3, (Tensor *[]){c1, x, y});
}

static void same_bits(const char *what, const Tensor *a, const Tensor *b) {
    ck_assert_msg((a == NULL) == (b == NULL), "%s: one has it, the other not", what);
    if (a) ck_assert_msg(memcmp(a->data, b->data, (size_t)a->numel * sizeof(real)) == 0, "%s differs", what);
}

static void same_rows(const char *what, Tensor *a, Tensor *b) {
    int64_t na, nb;
    const int64_t *ra = ag_grad_rows(a, &na), *rb = ag_grad_rows(b, &nb);
    ck_assert_msg((ra == NULL) == (rb == NULL) && na == nb, "%s: %lld rows listed against %lld", what, (long long)nb,
                  (long long)na);
    if (na) ck_assert_msg(memcmp(ra, rb, (size_t)na * sizeof *ra) == 0, "%s: other rows listed", what);
}

/* One assertion per tensor (Check records every passing one). */
static void all_zero(const char *what, const Tensor *t) {
    int64_t k = 0;
    while (t && k < t->numel && t->data[k] == 0) k++;
    ck_assert_msg(!t || k == t->numel, "%s: element %lld is not zero", what, (long long)k);
}

static void compare(int lazy, int decoupled, int threads) {
    nn_set_threads(threads);
    Net a, b;
    net_init(&a);
    net_init(&b);
    AdamConfig ac = adam_defaults();
    ac.lr = 0.01;
    ac.lazy = lazy;
    ac.decoupled = decoupled;
    ac.weight_decay = decoupled ? 0.1 : 0;
    Adam *oa = adam_new(&a.m, ac), *ob = adam_new(&b.m, ac);
    const int64_t counts[4] = {600, 600, 20, 300}; /* many rows (read off the marks), then few (sorted) */
    for (int step = 0; step < 4; step++) {
        backward(&a, step, counts[step]);
        backward(&b, step, counts[step]);
        same_rows("table's rows before the step", a.table, b.table);
        adam_step(oa);
        module_zero_grad(&a.m);
        adam_step_zero_grad(ob);
        for (int i = 0; i < a.m.n_params; i++) {
            Tensor *pa = a.m.params[i].value, *pb = b.m.params[i].value;
            same_bits(a.m.params[i].name, pa, pb);
            same_bits("first moment", oa->m[i], ob->m[i]);
            same_bits("second moment", oa->v[i], ob->v[i]);
            same_bits("gradient", pa->grad, pb->grad);
            all_zero("gradient after the step", pb->grad);
            same_rows("rows after the step", pa, pb);
        }
    }
    adam_free(oa);
    adam_free(ob);
    module_free(&a.m);
    module_free(&b.m);
}

START_TEST(the_fused_step_is_a_step_then_zeroing) {
    int saved = nn_threads();
    for (int lazy = 0; lazy < 2; lazy++)
        for (int decoupled = 0; decoupled < 2; decoupled++)
            for (int threads = 1; threads <= 2; threads++) compare(lazy, decoupled, threads);
    nn_set_threads(saved);
}
END_TEST

static Suite *adam_zero_grad_suite(void) {
    Suite *s = suite_create("adam_zero_grad");
    TCase *tc = tcase_create("adam_zero_grad");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, the_fused_step_is_a_step_then_zeroing);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(adam_zero_grad_suite)
