/* nn/grad_sum.h: gradients summed in a fixed order whatever the grouping of
 * the contributions into processes, sparse tables by rows, and the allreduce
 * across the ranks of an MPI job. Run alone it is a job of one process; the
 * MPI build's CI runs it under `mpirun -np 2` too (CK_FORK=no), where
 * module_allreduce_grads really crosses processes. */
#include <math.h>
#include <string.h>

#include "autograd/op.h"
#include "base/dist.h"
#include "nn/grad_sum.h"
#include "tests/support.h"

#define N_ROWS 40 /* rows of the test's table */
#define WIDTH  5

/* A module with a row-sparse table (N_ROWS, WIDTH), a dense weight (3, 4) and a parameter that never
 * gets a gradient. */
static void make_module(Module *m) {
    module_init(m, 7);
    Tensor *table = module_param(m, "", "table", PARAM_TABLE, NN_SHAPE(N_ROWS, WIDTH));
    module_param(m, "", "weight", PARAM_WEIGHT, NN_SHAPE(3, 4));
    module_param(m, "", "unused", PARAM_BIAS, NN_SHAPE(2));
    tensor_set_sparse_grad(table, 1);
}

/* Contribution k into m's gradients: the table's rows k, k + 3, k + 7, ... (k = 4: the whole table, as a
 * dense gradient), the weight whole; values of mixed magnitudes, so that the order of a sum shows. */
static void contribution(Module *m, int k) {
    module_zero_grad(m);
    Tensor *table = m->params[0].value, *weight = m->params[1].value;
    Rng r = rng_new(100 + (uint64_t)k, 0);
    if (k == 4) {
        real *d = ag_grad(NULL, table)->data;
        for (int64_t i = 0; i < table->numel; i++) d[i] = (real)(rng_normal(&r) * pow(10, (double)(i % 7) - 3));
    } else {
        int64_t rows[N_ROWS], n = 0;
        for (int64_t row = k; row < N_ROWS; row += 3 + k % 2) rows[n++] = row;
        real *d = ag_grad_add_rows(NULL, table, rows, n, -1)->data;
        for (int64_t i = 0; i < n; i++)
            for (int j = 0; j < WIDTH; j++) d[rows[i] * WIDTH + j] = (real)(rng_normal(&r) * pow(10, (double)j - 2));
    }
    real *w = ag_grad(NULL, weight)->data;
    for (int i = 0; i < 12; i++) w[i] = (real)(rng_normal(&r) * pow(10, (double)(i % 5) - 2));
}

/* The fold of contributions 0..n-1 in one sum. */
static void fold_all(Module *m, GradSum *s, int n) {
    grad_sum_init(s, m);
    for (int k = 0; k < n; k++) {
        contribution(m, k);
        grad_sum_add_module(s, m, 0.1 * (k + 1));
    }
}

static int parts_equal(const GradSum *a, const GradSum *b) {
    for (int i = 0; i < a->n_params; i++) {
        size_t n = grad_sum_part_bytes(a, i);
        if (n != grad_sum_part_bytes(b, i)) return 0;
        char *x = malloc(n), *y = malloc(n);
        grad_sum_pack(a, i, x);
        grad_sum_pack(b, i, y);
        int same = memcmp(x, y, n) == 0;
        free(x);
        free(y);
        if (!same) return 0;
    }
    return a->loss == b->loss;
}

/* Six contributions dealt to 1, 2, 3 and 6 simulated ranks in contiguous blocks: each rank receives the
 * running sum packed (as grad_sum_chain sends it), adds its own in order, passes it on. */
START_TEST(fold_is_the_same_for_any_rank_count) {
    Module m;
    make_module(&m);
    GradSum whole;
    fold_all(&m, &whole, 6);
    const int counts[] = {1, 2, 3, 6};
    for (int c = 0; c < 4; c++) {
        int ranks = counts[c];
        GradSum running;
        grad_sum_init(&running, &m);
        for (int r = 0; r < ranks; r++) {
            GradSum received;
            grad_sum_init(&received, &m);
            for (int i = 0; i < m.n_params && r > 0; i++) { /* the message from rank r - 1 */
                size_t n = grad_sum_part_bytes(&running, i);
                void *buf = malloc(n);
                grad_sum_pack(&running, i, buf);
                grad_sum_unpack(&received, i, buf, n);
                free(buf);
            }
            received.loss = running.loss;
            int64_t first, end;
            dist_share(6, r, ranks, &first, &end);
            GradSum *mine = calloc((size_t)(end - first), sizeof *mine);
            for (int64_t k = first; k < end; k++) { /* kept apart, as a rank other than the first keeps them */
                grad_sum_init(&mine[k - first], &m);
                contribution(&m, (int)k);
                grad_sum_add_module(&mine[k - first], &m, 0.1 * (double)(k + 1));
            }
            for (int64_t k = first; k < end; k++) grad_sum_add(&received, &mine[k - first]);
            for (int64_t k = first; k < end; k++) grad_sum_free(&mine[k - first]);
            free(mine);
            grad_sum_free(&running);
            running = received;
        }
        ck_assert_msg(parts_equal(&running, &whole), "%d ranks: the sum differs from one process's", ranks);
        grad_sum_free(&running);
    }
    grad_sum_free(&whole);
    module_free(&m);
}
END_TEST

/* A table's rows summed as rows give the dense sum's values, and only a dense contribution makes the
 * part dense; a parameter without gradients stays without. */
START_TEST(rows_sum_as_the_dense_tables_would) {
    Module m;
    make_module(&m);
    real dense[N_ROWS * WIDTH] = {0};
    for (int upto = 1; upto <= 6; upto++) {
        GradSum s;
        fold_all(&m, &s, upto);
        memset(dense, 0, sizeof dense);
        for (int k = 0; k < upto; k++) {
            contribution(&m, k);
            const real *g = m.params[0].value->grad->data;
            for (int i = 0; i < N_ROWS * WIDTH; i++) dense[i] = dense[i] + g[i];
        }
        ck_assert_int_eq(s.part[0].kind, upto >= 5 ? GRAD_DENSE : GRAD_ROWS);
        ck_assert_int_eq(s.part[1].kind, GRAD_DENSE);
        ck_assert_int_eq(s.part[2].kind, GRAD_NONE);
        grad_sum_to_module(&s, &m);
        const real *got = m.params[0].value->grad->data;
        for (int i = 0; i < N_ROWS * WIDTH; i++) ck_assert_msg(got[i] == dense[i], "%d contributions, element %d: %g, "
                                                               "expected %g", upto, i, (double)got[i], (double)dense[i]);
        int64_t n;
        const int64_t *rows = ag_grad_rows(m.params[0].value, &n);
        if (upto < 5) { /* the union of the rows, listed for zeroing, clipping and lazy Adam */
            ck_assert_ptr_nonnull(rows);
            int64_t expect = 0;
            for (int row = 0; row < N_ROWS; row++) {
                int used = 0;
                for (int k = 0; k < upto; k++) used |= row >= k && (row - k) % (3 + k % 2) == 0;
                expect += used;
            }
            ck_assert_int_eq(n, expect);
            for (int64_t i = 1; i < n; i++) ck_assert(rows[i - 1] < rows[i]);
        } else {
            ck_assert_ptr_null(rows); /* any row may be non-zero */
        }
        ck_assert_ptr_null(m.params[2].value->grad);
        ck_assert(fabs(s.loss - 0.05 * upto * (upto + 1)) < 1e-12);
        grad_sum_free(&s);
    }
    module_free(&m);
}
END_TEST

/* The allreduce across the job's ranks: rank r contributes contribution(r); every rank ends with the
 * fold over ranks 0, 1, ... in order, bit for bit (one process: its own gradients unchanged). */
START_TEST(allreduce_sums_the_ranks_in_rank_order) {
    Module m;
    make_module(&m);
    int size = dist_size();
    GradSum expect;
    fold_all(&m, &expect, size);
    contribution(&m, dist_rank());
    module_allreduce_grads(&m);
    GradSum got;
    grad_sum_init(&got, &m);
    grad_sum_add_module(&got, &m, 0);
    expect.loss = 0;
    ck_assert_msg(parts_equal(&got, &expect), "rank %d of %d: the allreduce differs from the ordered sum",
                  dist_rank(), size);
    grad_sum_free(&got);
    grad_sum_free(&expect);
    module_free(&m);
}
END_TEST

/* The ordered chain with several contributions per rank: ranks get 1, 2, ... contributions, the
 * contributions numbered across ranks; the total equals the fold over all of them in one process. */
START_TEST(chain_with_uneven_shares_equals_one_fold) {
    Module m;
    make_module(&m);
    int rank = dist_rank(), size = dist_size(), first = rank * (rank + 1) / 2, total_n = size * (size + 1) / 2;
    GradSum expect, total, *mine = calloc((size_t)rank + 1, sizeof *mine);
    fold_all(&m, &expect, total_n);
    for (int k = 0; k <= rank; k++) {
        grad_sum_init(&mine[k], &m);
        contribution(&m, first + k);
        grad_sum_add_module(&mine[k], &m, 0.1 * (first + k + 1));
    }
    grad_sum_init(&total, &m);
    grad_sum_chain(&total, mine, rank + 1);
    ck_assert_msg(parts_equal(&total, &expect), "rank %d of %d: the chain differs from one fold", rank, size);
    for (int k = 0; k <= rank; k++) grad_sum_free(&mine[k]);
    free(mine);
    grad_sum_free(&total);
    grad_sum_free(&expect);
    module_free(&m);
}
END_TEST

/* The dropout streams of module_dropout_stream depend on (seed, step, part) only. */
START_TEST(dropout_stream_is_a_function_of_step_and_part) {
    Module a, b;
    module_init(&a, 11);
    module_init(&b, 11);
    rng_u64(&b.dropout_rng); /* b's generator has moved on */
    module_dropout_stream(&a, 5, 2);
    module_dropout_stream(&b, 5, 2);
    ck_assert_uint_eq(rng_u64(&a.dropout_rng), rng_u64(&b.dropout_rng));
    module_dropout_stream(&a, 5, 3);
    module_dropout_stream(&b, 6, 2);
    uint64_t x = rng_u64(&a.dropout_rng), y = rng_u64(&b.dropout_rng);
    module_dropout_stream(&a, 5, 2);
    ck_assert(x != y && x != rng_u64(&a.dropout_rng));
    module_free(&a);
    module_free(&b);
}
END_TEST

START_TEST(shares_are_contiguous_and_cover_everything) {
    for (int64_t n = 0; n < 20; n++)
        for (int size = 1; size <= 7; size++) {
            int64_t next = 0;
            for (int r = 0; r < size; r++) {
                int64_t b, e;
                dist_share(n, r, size, &b, &e);
                ck_assert_int_eq(b, next);
                ck_assert(e - b == n / size || e - b == n / size + 1);
                next = e;
            }
            ck_assert_int_eq(next, n);
        }
}
END_TEST

static void unpack_garbage(void) {
    Module m;
    make_module(&m);
    GradSum s;
    grad_sum_init(&s, &m);
    int64_t header[3] = {GRAD_ROWS, N_ROWS + 1, (N_ROWS + 1) * WIDTH}; /* more rows than the table has */
    grad_sum_unpack(&s, 0, header, sizeof header);
}

START_TEST(unpack_refuses_a_part_that_does_not_fit) {
    char msg[512];
    ck_assert(test_abort_message(unpack_garbage, msg, sizeof msg));
    ck_assert_msg(strstr(msg, "grad_sum_unpack: part 0: kind 2, 41 rows"), "message: %s", msg);
}
END_TEST

static Suite *grad_sum_suite(void) {
    Suite *s = suite_create("grad_sum");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, fold_is_the_same_for_any_rank_count);
    tcase_add_test(tc, rows_sum_as_the_dense_tables_would);
    tcase_add_test(tc, allreduce_sums_the_ranks_in_rank_order);
    tcase_add_test(tc, chain_with_uneven_shares_equals_one_fold);
    tcase_add_test(tc, dropout_stream_is_a_function_of_step_and_part);
    tcase_add_test(tc, shares_are_contiguous_and_cover_everything);
    if (test_forking() && dist_size() == 1) tcase_add_test(tc, unpack_refuses_a_part_that_does_not_fit);
    suite_add_tcase(s, tc);
    return s;
}

/* Its own main: the suite joins the MPI job first (a job of one process without MPI). */
int main(int argc, char **argv) {
    dist_init(&argc, &argv);
    SRunner *sr = srunner_create(grad_sum_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (failed && dist_size() > 1) dist_abort(EXIT_FAILURE);
    dist_finalize();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
