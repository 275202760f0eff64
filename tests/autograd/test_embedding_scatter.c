/* The backward of a gather of table rows (autograd/op_gather.c): every row must receive its indices'
 * gradients in index order, so the result is the serial scatter's bit for bit, at 1 and 2 threads, with
 * repeated indices, a padding id and widths across the column blocks (a guard for any split of the
 * scatter over threads). */
#include <string.h>

#include "base/parallel.h"
#include "tests/support.h"

static void check(int64_t rows, int64_t width, int64_t count, int64_t pad, uint64_t seed) {
    Tensor *table = test_param(test_randn(seed, NN_SHAPE(rows, width)));
    Tensor *dy = test_randn(seed + 1, NN_SHAPE(count, width));
    int64_t *ids = malloc((size_t)count * sizeof *ids);
    Rng r = rng_new(seed + 2, 0);
    for (int64_t k = 0; k < count; k++) ids[k] = k % 5 == 0 && k > 0 ? ids[k / 2] : (int64_t)rng_below(&r, (uint64_t)rows);
    real *want = calloc((size_t)(rows * width), sizeof *want);
    for (int64_t k = 0; k < count; k++) /* the serial scatter: index order */
        for (int64_t j = 0; ids[k] != pad && j < width; j++) want[ids[k] * width + j] += dy->data[k * width + j];
    int saved = nn_threads();
    for (int threads = 1; threads <= 2; threads++) {
        nn_set_threads(threads);
        Graph *g = graph_new();
        ag_backward_with(g, ag_embedding(g, table, ids, NN_SHAPE(count), pad), dy);
        for (int64_t i = 0; i < rows * width; i++)
            ck_assert_msg(memcmp(&table->grad->data[i], &want[i], sizeof(real)) == 0,
                          "%lld rows of %lld, %lld ids, %d threads: element %lld is %.9g, want %.9g", (long long)rows,
                          (long long)width, (long long)count, threads, (long long)i, (double)table->grad->data[i],
                          (double)want[i]);
        tensor_fill(table->grad, 0);
        graph_free(g);
    }
    nn_set_threads(saved);
    free(ids);
    free(want);
    test_free_all(2, (Tensor *[]){table, dy});
}

START_TEST(embedding_backward_keeps_the_serial_scatter_bits) {
    check(5, 4, 6, -1, 1);
    check(7, 64, 40, 0, 2);
    check(50, 64, 1460, -1, 3);      /* pos_emb at SASRec's size */
    check(12102, 64, 1460, 0, 4);    /* item_emb: past the parallel threshold */
    check(1001, 100, 3000, 3, 5);    /* two column blocks, the second short */
    check(3, 200, 700, -1, 6);       /* fewer rows than bands */
}
END_TEST

static Suite *embedding_scatter_suite(void) {
    Suite *s = suite_create("embedding_scatter");
    TCase *tc = tcase_create("scatter");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, embedding_backward_keeps_the_serial_scatter_bits);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(embedding_scatter_suite)
