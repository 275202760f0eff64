/* Gradient checks of the products, the shape ops and the selections on the
 * double build: element by element on small shapes with broadcast batches,
 * transposed and sliced operands and repeated indices; along random
 * directions at 1 and 2 threads past every threshold of gemm (K past one kc
 * step of 256, N past one nc block of 2048, threads splitting rows or
 * columns, packed and in-place panels, transposed B moved in blocks), of the
 * batched product loop and of the parallel copies and gathers (32768).
 * The elementwise ops are in grad_elementwise.c, the fused ones in
 * grad_fused.c and grad_attention.c. */
#include <math.h>
#include <string.h>

#include "tests/support.h"

/* ---- products ---- */

typedef struct {
    int ta, tb; /* operands given transposed (stored as (K, M) / (N, K)) */
} MatmulCase;

static Tensor *f_matmul(Graph *g, Tensor *const *in, void *ctx) {
    const MatmulCase *c = ctx;
    Tensor *a = c->ta ? ag_transpose(g, in[0], -1, -2) : in[0];
    Tensor *b = c->tb ? ag_transpose(g, in[1], -1, -2) : in[1];
    return ag_matmul(g, a, b);
}

START_TEST(grad_matmul) {
    struct {
        int na, nb;
        int64_t a[3], b[3];
        MatmulCase c;
    } cases[] = {
        {2, 2, {3, 4}, {4, 5}, {0, 0}},       {3, 3, {2, 3, 4}, {2, 4, 5}, {0, 0}}, /* batched */
        {3, 2, {2, 3, 4}, {4, 5}, {0, 0}},    {2, 3, {3, 4}, {2, 4, 5}, {0, 0}},    /* broadcast batch */
        {3, 3, {2, 1, 4}, {1, 4, 5}, {0, 0}}, /* size-1 batch dims broadcast both ways */
        {2, 2, {4, 3}, {5, 4}, {1, 1}},       {3, 2, {2, 4, 3}, {4, 5}, {1, 0}}, /* transposed views */
        {3, 2, {2, 3, 4}, {5, 4}, {0, 1}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        Tensor *in[2] = {test_param(test_randn(30 + k, cases[k].na, cases[k].a)),
                         test_param(test_randn(40 + k, cases[k].nb, cases[k].b))};
        test_gradcheck("matmul", f_matmul, &cases[k].c, 2, in);
        test_free_all(2, in);
    }
}
END_TEST

START_TEST(grad_matmul_large) {
    struct {
        const char *what;
        int na, nb;
        int64_t a[3], b[3];
        MatmulCase c;
    } cases[] = {
        /* one product of 210 rows over K 300 (two kc steps); b's gradient in one long-K product */
        {"matmul (3, 70, 300) @ (300, 45)", 3, 2, {3, 70, 300}, {300, 45}, {0, 0}},
        /* 8 products in parallel, each serial inside */
        {"matmul (8, 40, 30) @ (8, 30, 50)", 3, 3, {8, 40, 30}, {8, 30, 50}, {0, 0}},
        /* threads split 500 rows */
        {"matmul (500, 64) @ (64, 600)", 2, 2, {500, 64}, {64, 600}, {0, 0}},
        /* threads split 2100 columns, two nc blocks */
        {"matmul (12, 300) @ (300, 2100)", 2, 2, {12, 300}, {300, 2100}, {0, 0}},
        /* both transposed: A packed from columns 1600 bytes apart, B moved through registers in blocks */
        {"matmul (200, 300)^T @ (150, 200)^T", 2, 2, {300, 200}, {150, 300}, {1, 1}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        Tensor *in[2] = {test_param(test_uniform(45 + k, cases[k].na, cases[k].a, -1, 1)),
                         test_param(test_uniform(55 + k, cases[k].nb, cases[k].b, -1, 1))};
        test_directional_threads(cases[k].what, f_matmul, &cases[k].c, 2, in, 0);
        test_free_all(2, in);
    }
}
END_TEST

START_TEST(grad_matmul_empty_inner_dim) {
    /* K = 0: the product is zero, and so are both gradients */
    MatmulCase c = {0, 0};
    Tensor *in[2] = {test_param(tensor_zeros(NN_SHAPE(3, 0))), test_param(tensor_zeros(NN_SHAPE(0, 4)))};
    Graph *g = graph_new();
    Tensor *y = f_matmul(g, in, &c);
    for (int64_t i = 0; i < y->numel; i++) ck_assert(y->data[i] == 0);
    ag_backward(g, ag_sum(g, y, 0, NULL, 0));
    ck_assert(in[0]->grad->numel == 0 && in[1]->grad->numel == 0);
    graph_free(g);
    test_free_all(2, in);
}
END_TEST

/* variant 0: x as given; 1: no bias; 2: x transposed; 3: x the columns from 2 on of a wider input */
static Tensor *f_linear(Graph *g, Tensor *const *in, void *ctx) {
    int variant = *(int *)ctx, in_dim = (int)in[1]->shape[1];
    Tensor *x = variant == 2   ? ag_transpose(g, in[0], 0, 1)
                : variant == 3 ? ag_narrow(g, in[0], 1, 2, in_dim)
                               : in[0];
    return ag_linear(g, x, in[1], variant == 1 ? NULL : in[2]);
}

START_TEST(grad_linear) {
    for (int variant = 0; variant < 4; variant++) {
        Tensor *in[3] = {test_param(variant == 3 ? test_randn(50, NN_SHAPE(6, 9)) : test_randn(50, NN_SHAPE(2, 3, 4))),
                         test_param(test_randn(51, NN_SHAPE(5, 4))), test_param(test_randn(52, NN_SHAPE(5)))};
        test_gradcheck("linear", f_linear, &variant, 3, in);
        test_free_all(3, in);
    }
    /* SASRec's projections: 12800 rows of 64 (800 under valgrind), the input also transposed and as 64
     * of 68 columns */
    int64_t rows = test_quick() ? 800 : 12800;
    const char *names[] = {"linear (12800, 64)", "", "linear (x transposed)", "linear (x a column slice)"};
    for (int variant = 0; variant < 4; variant += variant ? 1 : 2) {
        int64_t shape[2] = {variant == 2 ? 64 : rows, variant == 2 ? rows : variant == 3 ? 68 : 64};
        Tensor *in[3] = {test_param(test_uniform(53, 2, shape, -1, 1)), test_param(test_uniform(54, NN_SHAPE(64, 64), -1, 1)),
                         test_param(test_uniform(55, NN_SHAPE(64), -1, 1))};
        test_directional_threads(names[variant], f_linear, &variant, 3, in, 0);
        test_free_all(3, in);
    }
}
END_TEST

/* ---- shape ---- */

static Tensor *f_shape(Graph *g, Tensor *const *in, void *ctx) {
    Tensor *x = in[0]; /* (2, 3, 4) */
    switch (*(int *)ctx) {
    case 0: return ag_reshape(g, x, NN_SHAPE(4, -1));
    case 1: return ag_reshape(g, ag_transpose(g, x, 0, 2), NN_SHAPE(12, 2)); /* copies: not contiguous */
    case 2: return ag_permute(g, x, (int[]){1, 2, 0});
    case 3: return ag_transpose(g, x, 0, 1);
    case 4: return ag_narrow(g, x, 2, 1, 2);
    case 5: return ag_expand(g, ag_narrow(g, x, 1, 0, 1), NN_SHAPE(5, 2, 3, 4));
    case 6: return ag_contiguous(g, ag_permute(g, x, (int[]){2, 0, 1}));
    default: /* x used twice through overlapping views: row 1 gets both gradients */
        return ag_concat(g, 2, (Tensor *[]){ag_narrow(g, x, 1, 0, 2), ag_narrow(g, x, 1, 1, 2)}, 1);
    }
}

START_TEST(grad_shape_ops) {
    const char *names[] = {"reshape", "reshape(copy)", "permute",    "transpose",
                           "narrow",  "expand",        "contiguous", "concat(overlap)"};
    for (int v = 0; v < 8; v++) {
        Tensor *x = test_param(test_randn(60 + v, NN_SHAPE(2, 3, 4)));
        test_gradcheck(names[v], f_shape, &v, 1, &x);
        tensor_free(x);
    }
}
END_TEST

static Tensor *f_concat(Graph *g, Tensor *const *in, void *ctx) {
    int dim = *(int *)ctx;
    Tensor *b = dim == 0 ? in[1] : ag_transpose(g, in[1], 0, 1);
    return ag_concat(g, 3, (Tensor *[]){in[0], b, in[0]}, dim);
}

START_TEST(grad_concat) {
    /* dim 0: (3,3) ++ (2,3) ++ (3,3); dim 1: (3,3) ++ (2,3)^T ++ (3,3), a non-contiguous part */
    for (int dim = 0; dim < 2; dim++) {
        Tensor *in[2] = {test_param(test_randn(70, NN_SHAPE(3, 3))), test_param(test_randn(71, NN_SHAPE(2, 3)))};
        test_gradcheck("concat", f_concat, &dim, 2, in);
        test_free_all(2, in);
    }
}
END_TEST

/* Past 32768 elements: x (130, 300) through each shape op, most on its transpose (strided copies). */
static Tensor *f_shape_large(Graph *g, Tensor *const *in, void *ctx) {
    Tensor *x = in[0], *t = ag_transpose(g, x, 0, 1);
    switch (*(int *)ctx) {
    case 0: return ag_contiguous(g, t);
    case 1: return ag_reshape(g, t, NN_SHAPE(600, 65));
    case 2: return ag_narrow(g, t, 0, 10, 250);
    case 3: return ag_expand(g, ag_narrow(g, x, 0, 3, 1), NN_SHAPE(200, 300));
    default: return ag_concat(g, 2, (Tensor *[]){t, ag_narrow(g, t, 1, 5, 100)}, 1);
    }
}

START_TEST(grad_shape_ops_large) {
    const char *names[] = {"contiguous (large)", "reshape (large)", "narrow (large)", "expand (large)",
                           "concat (large)"};
    for (int v = 0; v < 5; v++) {
        Tensor *x = test_param(test_randn(75, NN_SHAPE(130, 300)));
        test_directional_threads(names[v], f_shape_large, &v, 1, &x, 0);
        tensor_free(x);
    }
}
END_TEST

/* ---- selection ---- */

static Tensor *f_masked_fill(Graph *g, Tensor *const *in, void *ctx) {
    return ag_masked_fill(g, in[0], (const Tensor *)ctx, -3);
}

/* where and masked_fill share their forward kernel with their backward: a
 * gradient check alone cannot see both scaled alike, so the values are checked too. */
START_TEST(grad_masked_fill) {
    real m[] = {1, 0, 0, 1, 0};
    Tensor mask = tensor_wrap(m, NN_SHAPE(5)); /* broadcast over rows */
    Tensor *x = test_param(test_randn(100, NN_SHAPE(3, 5)));
    test_gradcheck("masked_fill", f_masked_fill, &mask, 1, &x);
    Graph *g = graph_new();
    Tensor *y = f_masked_fill(g, &x, &mask);
    for (int64_t i = 0; i < y->numel; i++) ck_assert(y->data[i] == (m[i % 5] ? -3 : x->data[i]));
    graph_free(g);
    tensor_free(x);
}
END_TEST

static Tensor *f_where(Graph *g, Tensor *const *in, void *ctx) {
    return ag_where(g, (const Tensor *)ctx, in[0], in[1]);
}

START_TEST(grad_where) {
    real c[] = {1, 0, 1, 1, 0, 0};
    Tensor cond = tensor_wrap(c, NN_SHAPE(2, 1, 3)); /* (2, 1, 3) with a (4, 3) and b (3): all broadcast */
    Tensor *in[2] = {test_param(test_randn(110, NN_SHAPE(4, 3))), test_param(test_randn(111, NN_SHAPE(3)))};
    test_gradcheck("where", f_where, &cond, 2, in);
    Graph *g = graph_new();
    Tensor *y = f_where(g, in, &cond); /* (2, 4, 3) */
    for (int64_t i = 0; i < y->numel; i++) {
        int64_t b = i / 12, r = i / 3 % 4, j = i % 3;
        ck_assert(y->data[i] == (c[b * 3 + j] ? in[0]->data[r * 3 + j] : in[1]->data[j]));
    }
    graph_free(g);
    test_free_all(2, in);
}
END_TEST

/* where's condition made in a function that returns before backward, as masks made by a helper are */
__attribute__((noinline)) static Tensor *where_with_local_condition(Graph *g, Tensor *a, Tensor *b) {
    real c[3] = {1, 0, 1};
    Tensor cond = tensor_wrap(c, NN_SHAPE(3));
    return ag_where(g, &cond, a, b);
}

/* Reuses the stack where that function's locals were (a condition of all zeros, a shape of junk). */
__attribute__((noinline)) static void overwrite_stack(void) {
    volatile unsigned char junk[4096];
    for (int i = 0; i < 4096; i++) junk[i] = 0;
    (void)junk[0];
}

START_TEST(where_keeps_its_condition_until_backward) {
    Tensor *in[2] = {test_param(test_randn(112, NN_SHAPE(2, 3))), test_param(test_randn(113, NN_SHAPE(2, 3)))};
    Graph *g = graph_new();
    Tensor *y = where_with_local_condition(g, in[0], in[1]);
    overwrite_stack();
    ag_backward(g, ag_sum(g, y, 0, NULL, 0));
    for (int i = 0; i < 6; i++) {
        ck_assert(in[0]->grad->data[i] == (i % 3 != 1));
        ck_assert(in[1]->grad->data[i] == (i % 3 == 1));
    }
    graph_free(g);
    test_free_all(2, in);
}
END_TEST

static Tensor *f_index_select(Graph *g, Tensor *const *in, void *ctx) {
    const int64_t idx[] = {2, 0, 2, 2, 1}; /* repeated */
    int dim = *(int *)ctx;
    return ag_index_select(g, in[0], dim, idx, 5);
}

START_TEST(grad_index_select) {
    for (int dim = 0; dim < 3; dim++) {
        Tensor *x = test_param(test_randn(120 + dim, NN_SHAPE(3, 3, 3)));
        test_gradcheck("index_select", f_index_select, &dim, 1, &x);
        tensor_free(x);
    }
}
END_TEST

static Tensor *f_embedding(Graph *g, Tensor *const *in, void *ctx) {
    (void)ctx;
    const int64_t ids[] = {3, 1, 3, 0, 3, 1}; /* (2, 3), repeated */
    return ag_embedding(g, in[0], ids, NN_SHAPE(2, 3), -1);
}

START_TEST(grad_embedding) {
    Tensor *t = test_param(test_randn(130, NN_SHAPE(5, 4)));
    test_gradcheck("embedding", f_embedding, NULL, 1, &t);
    tensor_free(t);
}
END_TEST

/* The embedding of ids (ndim, shape) with padding id 0, zero at padded positions: the padding row
 * reaches the output but gets no gradient by definition, so the check must not see it. */
static Tensor *embed_unpadded(Graph *g, Tensor *table, const int64_t *ids, int ndim, const int64_t *shape) {
    int64_t n = shape_numel(ndim, shape), full[TENSOR_MAX_DIMS];
    memcpy(full, shape, (size_t)ndim * sizeof *full);
    full[ndim] = 1;
    Tensor *keep = ag_new(g, ndim + 1, full);
    for (int64_t i = 0; i < n; i++) keep->data[i] = ids[i] != 0;
    return ag_mul(g, ag_embedding(g, table, ids, ndim, shape, 0), keep);
}

/* A linear writing its input's gradient through a reshape of a permute whose
 * base (a select of a permuted view) gets a fresh gradient that the permute
 * makes strided: grad_view cannot hand that to the matmul, so the base's fresh
 * gradient must be zeroed before the permute's backward adds into it. */
static Tensor *f_view_of_fresh(Graph *g, Tensor *const *in, void *ctx) {
    (void)ctx;
    Tensor *y = ag_select(g, ag_permute(g, in[0], (int[]){0, 2, 1}), 0, 1); /* (4, 3), strides (1, 4) */
    Tensor *r = ag_reshape(g, ag_permute(g, y, (int[]){1, 0}), NN_SHAPE(3, 4)); /* contiguous */
    return ag_linear(g, r, in[1], NULL);
}

START_TEST(grad_view_of_fresh_strided_gradient) {
    Tensor *in[2] = {test_param(test_randn(70, NN_SHAPE(2, 3, 4))), test_param(test_randn(71, NN_SHAPE(5, 4)))};
    test_gradcheck("linear(reshape(permute(select(permute))))", f_view_of_fresh, NULL, 2, in);
    /* Again on an arena that held NaNs: a fresh gradient is not zeroed memory. d sum(r w^T) / d
     * x[1][b][c] = sum_j w[j][c], since r[b][c] = x[1][b][c]; x[0] gets none. */
    for (int k = 0; k < 2; k++)
        if (in[k]->grad) tensor_fill(in[k]->grad, 0);
    Graph *g = graph_new();
    Tensor *dirt = ag_new(g, NN_SHAPE(60000));
    tensor_fill(dirt, NAN);
    graph_reset(g);
    ag_backward(g, ag_sum(g, f_view_of_fresh(g, in, NULL), 0, NULL, 0));
    for (int64_t i = 0; i < 24; i++) {
        double want = 0;
        for (int j = 0; i >= 12 && j < 5; j++) want += in[1]->data[j * 4 + i % 4];
        ck_assert_msg(fabs(in[0]->grad->data[i] - want) < 1e-12, "dx[%lld] = %g, expected %g", (long long)i,
                      (double)in[0]->grad->data[i], want);
    }
    graph_free(g);
    test_free_all(2, in);
}
END_TEST

/* Past the parallel thresholds: where and masked_fill on (300, 130) with broadcast operands (the
 * condition made here goes before backward); index_select of 60 repeated indices from (40, 50, 30)
 * along each dim (blocks of 64 columns along dim 0); embedding rows of 200 (four blocks of columns)
 * and SASRec's (256, 50) ids of rows of 64, with padding id 0. */
static Tensor *f_select_large(Graph *g, Tensor *const *in, void *ctx) {
    real cond[300], mask[130];
    static int64_t idx[60], ids[256 * 50];
    for (int i = 0; i < 300; i++) cond[i] = i % 3 == 0;
    for (int i = 0; i < 130; i++) mask[i] = i % 4 == 1;
    for (int i = 0; i < 60; i++) idx[i] = (i * 7) % 30;
    for (int i = 0; i < 256 * 50; i++) ids[i] = i % 11 == 0 ? 0 : (i * 37) % 1000;
    Tensor c = tensor_wrap(cond, NN_SHAPE(300, 1)), m = tensor_wrap(mask, NN_SHAPE(1, 130));
    int v = *(int *)ctx;
    switch (v) {
    case 0: return ag_where(g, &c, in[0], ag_narrow(g, in[0], 0, 7, 1));
    case 1: return ag_masked_fill(g, in[0], &m, 2);
    case 2: case 3: case 4: return ag_index_select(g, in[0], v - 2, idx, 60);
    case 5: return embed_unpadded(g, in[0], ids, NN_SHAPE(300));
    default: return embed_unpadded(g, in[0], ids, NN_SHAPE(test_quick() ? 8 : 256, 50));
    }
}

START_TEST(grad_select_large) {
    const char *names[] = {"where (large)", "masked_fill (large)", "index_select dim 0 (large)",
                           "index_select dim 1 (large)", "index_select dim 2 (large)", "embedding (rows of 200)",
                           "embedding (SASRec's ids)"};
    for (int v = 0; v < 7; v++) {
        Tensor *x = test_param(v <= 1   ? test_randn(135, NN_SHAPE(300, 130))
                               : v <= 4 ? test_randn(136, NN_SHAPE(40, 50, 30))
                               : v == 5 ? test_randn(137, NN_SHAPE(1000, 200))
                                        : test_randn(138, NN_SHAPE(1000, 64)));
        test_directional_threads(names[v], f_select_large, &v, 1, &x, 0);
        tensor_free(x);
    }
}
END_TEST

START_TEST(embedding_padding_row_gets_no_gradient) {
    Tensor *t = test_param(test_randn(131, NN_SHAPE(4, 3)));
    Graph *g = graph_new();
    const int64_t ids[] = {0, 2, 0, 1};
    Tensor *y = ag_embedding(g, t, ids, NN_SHAPE(4), 0);
    ag_backward(g, ag_sum(g, y, 0, NULL, 0));
    for (int j = 0; j < 3; j++) {
        ck_assert(t->grad->data[0 * 3 + j] == 0); /* padding row */
        ck_assert(t->grad->data[1 * 3 + j] == 1);
        ck_assert(t->grad->data[3 * 3 + j] == 0); /* unused row */
    }
    graph_free(g);
    tensor_free(t);
}
END_TEST

static Suite *grad_ops_suite(void) {
    Suite *s = suite_create("grad_ops");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, grad_matmul);
    tcase_add_test(tc, grad_matmul_large);
    tcase_add_test(tc, grad_matmul_empty_inner_dim);
    tcase_add_test(tc, grad_linear);
    tcase_add_test(tc, grad_shape_ops);
    tcase_add_test(tc, grad_concat);
    tcase_add_test(tc, grad_view_of_fresh_strided_gradient);
    tcase_add_test(tc, grad_shape_ops_large);
    tcase_add_test(tc, grad_masked_fill);
    tcase_add_test(tc, grad_where);
    tcase_add_test(tc, where_keeps_its_condition_until_backward);
    tcase_add_test(tc, grad_index_select);
    tcase_add_test(tc, grad_embedding);
    tcase_add_test(tc, grad_select_large);
    tcase_add_test(tc, embedding_padding_row_gets_no_gradient);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(grad_ops_suite)
