/* Row-sparse gradients (tensor_set_sparse_grad): a gather lists the rows it
 * adds into, zeroing clears only those, a whole-gradient op makes every row
 * count, and the gradient itself is the dense one bit for bit. */
#include <string.h>

#include "tests/support.h"

enum { V = 10, H = 3 };

static const int64_t IDS[6] = {4, 2, 4, 0, 7, 2}; /* repeats, and the padding row 0 */

/* Backward of sum(W * embedding(table, IDS)) with padding row 0, W fixed. */
static void gather_backward(Tensor *table) {
    Graph *g = graph_new();
    Tensor *y = ag_embedding(g, table, IDS, NN_SHAPE(6), 0);
    Tensor *w = test_uniform(3, NN_SHAPE(6, H), -1, 1);
    ag_backward_with(g, y, w);
    tensor_free(w);
    graph_free(g);
}

START_TEST(a_gather_lists_its_rows_and_the_gradient_is_the_dense_one) {
    Tensor *sparse = test_param(test_randn(1, NN_SHAPE(V, H))), *dense = test_param(test_randn(1, NN_SHAPE(V, H)));
    tensor_set_sparse_grad(sparse, 1);
    gather_backward(sparse);
    gather_backward(dense);
    int64_t n;
    const int64_t *rows = ag_grad_rows(sparse, &n);
    ck_assert_msg(rows && n == 3 && rows[0] == 2 && rows[1] == 4 && rows[2] == 7, "rows listed: %lld", (long long)n);
    ck_assert(memcmp(sparse->grad->data, dense->grad->data, V * H * sizeof(real)) == 0);
    ck_assert(ag_grad_rows(dense, &n) == NULL && n == 0); /* not tracked */
    /* a second backward adds rows: the list is the union, still ascending */
    Graph *g = graph_new();
    ag_backward(g, ag_sum(g, ag_embedding(g, sparse, (int64_t[]){9, 1}, NN_SHAPE(2), 0), 0, NULL, 0));
    graph_free(g);
    rows = ag_grad_rows(sparse, &n);
    ck_assert_msg(n == 5 && rows[0] == 1 && rows[1] == 2 && rows[2] == 4 && rows[3] == 7 && rows[4] == 9, "n %lld",
                  (long long)n);
    test_free_all(1, &dense);
    tensor_free(sparse);
}
END_TEST

/* The list comes back ascending whether few rows of a large table were touched (sorted) or many (read off the
 * marks, eight at a time, with a tail): each exactly once. */
START_TEST(the_rows_come_back_ascending_few_or_many) {
    enum { BIG = 1003 };
    Tensor *t = test_param(test_randn(1, NN_SHAPE(BIG, 2)));
    tensor_set_sparse_grad(t, 1);
    for (int many = 0; many < 2; many++) {
        int64_t ids[600], m = many ? 600 : 5;
        for (int64_t i = 0; i < m; i++) /* mostly descending, with repeats */
            ids[i] = (BIG - 1 - i * 7 % BIG + (i % 3 == 0 ? 0 : 1)) % BIG;
        Graph *g = graph_new();
        ag_backward(g, ag_sum(g, ag_embedding(g, t, ids, NN_SHAPE(m), -1), 0, NULL, 0));
        graph_free(g);
        unsigned char seen[BIG] = {0};
        for (int64_t i = 0; i < m; i++) seen[ids[i]] = 1;
        int64_t n, want = 0;
        for (int64_t r = 0; r < BIG; r++) want += seen[r];
        const int64_t *rows = ag_grad_rows(t, &n);
        ck_assert_msg(rows && n == want, "%s: %lld rows listed, %lld touched", many ? "many" : "few", (long long)n,
                      (long long)want);
        for (int64_t k = 0; k < n; k++) ck_assert(seen[rows[k]] && (k == 0 || rows[k - 1] < rows[k]));
        tensor_zero_grad(t);
    }
    tensor_free(t);
}
END_TEST

START_TEST(zeroing_clears_the_listed_rows_only) {
    Tensor *t = test_param(test_randn(1, NN_SHAPE(V, H)));
    tensor_set_sparse_grad(t, 1);
    gather_backward(t);
    t->grad->data[9 * H] = 42; /* a row nothing listed: zeroing must not visit it */
    tensor_zero_grad(t);
    for (int64_t i = 0; i < 9 * H; i++) ck_assert(t->grad->data[i] == 0);
    ck_assert(t->grad->data[9 * H] == 42);
    int64_t n;
    ck_assert(ag_grad_rows(t, &n) != NULL && n == 0); /* tracked, nothing listed */
    tensor_free(t);
}
END_TEST

START_TEST(a_whole_gradient_makes_every_row_count_until_zeroed) {
    Tensor *t = test_param(test_randn(1, NN_SHAPE(V, H))), *x = test_randn(2, NN_SHAPE(4, H));
    tensor_set_sparse_grad(t, 1);
    gather_backward(t);
    Graph *g = graph_new();
    ag_backward(g, ag_sum(g, ag_linear(g, x, t, NULL), 0, NULL, 0)); /* x t^T: every row of t */
    graph_free(g);
    int64_t n;
    ck_assert(ag_grad_rows(t, &n) == NULL && n == 0);
    tensor_zero_grad(t); /* all of it */
    for (int64_t i = 0; i < V * H; i++) ck_assert(t->grad->data[i] == 0);
    gather_backward(t); /* tracked again */
    ck_assert(ag_grad_rows(t, &n) != NULL && n == 3);
    /* a gather along dim 1 is not a gather of rows: every row counts */
    tensor_zero_grad(t);
    g = graph_new();
    ag_backward(g, ag_sum(g, ag_index_select(g, t, 1, (int64_t[]){2, 0}, 2), 0, NULL, 0));
    graph_free(g);
    ck_assert(ag_grad_rows(t, &n) == NULL);
    /* marking a tensor that already has a gradient: its rows are unknown */
    tensor_set_sparse_grad(t, 1);
    ck_assert(ag_grad_rows(t, &n) == NULL);
    tensor_free(x);
    tensor_free(t);
}
END_TEST

static Suite *sparse_grad_suite(void) {
    Suite *s = suite_create("sparse_grad");
    TCase *tc = tcase_create("rows");
    tcase_add_test(tc, a_gather_lists_its_rows_and_the_gradient_is_the_dense_one);
    tcase_add_test(tc, zeroing_clears_the_listed_rows_only);
    tcase_add_test(tc, the_rows_come_back_ascending_few_or_many);
    tcase_add_test(tc, a_whole_gradient_makes_every_row_count_until_zeroed);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(sparse_grad_suite)
