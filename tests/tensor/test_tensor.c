/* Tensors, views and kernels against naive loops; the generator against
 * Random123's known answers; the arena's growth. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "tensor/kernels.h"
#include "base/parallel.h"
#include "tests/support.h"

START_TEST(philox_known_answers) {
    /* Random123 kat_vectors for philox4x32_10 */
    uint32_t o[4];
    philox4x32(0, 0, 0, o);
    ck_assert(o[0] == 0x6627e8d5u && o[1] == 0xe169c58du && o[2] == 0xbc57ac4cu && o[3] == 0x9b00dbd8u);
    philox4x32(UINT64_MAX, UINT64_MAX, UINT64_MAX, o);
    ck_assert(o[0] == 0x408f276du && o[1] == 0x41c83b0eu && o[2] == 0xa20bc7c6u && o[3] == 0x6d5451fdu);
    philox4x32(0x299f31d0a4093822ull, 0x0370734413198a2eull, 0x85a308d3243f6a88ull, o);
    ck_assert(o[0] == 0xd16cfe09u && o[1] == 0x94fdccebu && o[2] == 0x5001e420u && o[3] == 0x24126ea1u);
}
END_TEST

START_TEST(rng_distributions) {
    Rng r = rng_new(42, 0);
    double sum = 0, sq = 0;
    int n = 20000, below[10] = {0};
    for (int i = 0; i < n; i++) {
        double z = rng_normal(&r);
        sum += z;
        sq += z * z;
        below[rng_below(&r, 10)]++;
        double u = rng_uniform(&r);
        ck_assert(u >= 0 && u < 1);
    }
    ck_assert(fabs(sum / n) < 0.03 && fabs(sq / n - 1) < 0.05);
    for (int k = 0; k < 10; k++) ck_assert(below[k] > n / 10 - 300 && below[k] < n / 10 + 300);
    /* same seed and stream: same sequence; another stream: another one */
    Rng a = rng_new(7, 1), b = rng_new(7, 1), c = rng_new(7, 2);
    int differ = 0;
    for (int i = 0; i < 10; i++) {
        uint32_t x = rng_u32(&a);
        ck_assert(x == rng_u32(&b));
        differ |= x != rng_u32(&c);
    }
    ck_assert(differ);
}
END_TEST

START_TEST(creation_and_views) {
    real buf[24];
    for (int i = 0; i < 24; i++) buf[i] = (real)i;
    Tensor *t = tensor_from_buffer(NN_SHAPE(2, 3, 4), buf);
    ck_assert(t->numel == 24 && tensor_is_contiguous(t));
    Tensor r = tensor_reshape(t, NN_SHAPE(4, -1));
    ck_assert(r.shape[1] == 6 && r.data == t->data);
    Tensor p = tensor_permute(t, (int[]){2, 0, 1}); /* (4, 2, 3) */
    ck_assert(!tensor_is_contiguous(&p) && p.shape[0] == 4 && p.shape[2] == 3);
    ck_assert(tensor_get(&p, (int64_t[]){3, 1, 2}) == tensor_get(t, (int64_t[]){1, 2, 3}));
    Tensor n = tensor_narrow(t, 1, 1, 2); /* (2, 2, 4) starting at [0,1,0] */
    ck_assert(tensor_get(&n, (int64_t[]){1, 0, 2}) == 1 * 12 + 1 * 4 + 2);
    Tensor v = tensor_narrow(t, 2, 3, 1);
    Tensor e = tensor_expand(&v, NN_SHAPE(5, 2, 3, 7)); /* size-1 dim and a new leading dim */
    ck_assert(e.stride[0] == 0 && e.stride[3] == 0 && tensor_get(&e, (int64_t[]){4, 1, 2, 6}) == 23);
    Tensor *c = tensor_clone(&p);
    ck_assert(tensor_is_contiguous(c));
    for (int64_t i = 0; i < c->numel; i++) ck_assert(c->data[i] == p.data[tensor_offset_of(&p, i)]);
    real out[24];
    tensor_to_buffer(&p, out);
    ck_assert(memcmp(out, c->data, sizeof out) == 0);
    FILE *f = tmpfile();
    tensor_print(t, f);
    rewind(f);
    char line[256];
    ck_assert(fgets(line, sizeof line, f) && strncmp(line, "tensor(2, 3, 4) [[[0, 1, 2, 3]", 30) == 0);
    fclose(f);
    tensor_free(c);
    tensor_free(t);
}
END_TEST

static void reshape_non_contiguous(void) {
    Tensor *t = tensor_zeros(NN_SHAPE(2, 3));
    Tensor p = tensor_transpose(t, 0, 1);
    tensor_reshape(&p, NN_SHAPE(6)); /* aborts */
}

START_TEST(misuse_aborts_reshape) { reshape_non_contiguous(); }
END_TEST

START_TEST(misuse_aborts_broadcast) {
    Tensor *a = tensor_zeros(NN_SHAPE(2, 3)), *b = tensor_zeros(NN_SHAPE(4)), *o = tensor_zeros(NN_SHAPE(2, 3));
    tensor_binary(o, a, b, BINARY_ADD); /* aborts: (2, 3) and (4) do not broadcast */
}
END_TEST

static void matmul_inner_mismatch(void) {
    Tensor *a = tensor_zeros(NN_SHAPE(2, 3)), *b = tensor_zeros(NN_SHAPE(4, 5)), *o = tensor_zeros(NN_SHAPE(2, 5));
    tensor_matmul(o, a, b, 0);
}

static void matmul_output_mismatch(void) {
    Tensor *a = tensor_zeros(NN_SHAPE(2, 3)), *b = tensor_zeros(NN_SHAPE(3, 4)), *o = tensor_zeros(NN_SHAPE(2, 5));
    tensor_matmul(o, a, b, 0);
}

/* Each shape in a message has its own text: one buffer shared by two shapes printed one of them twice. */
START_TEST(matmul_mismatch_names_both_shapes) {
    char msg[512];
    ck_assert(test_abort_message(matmul_inner_mismatch, msg, sizeof msg));
    ck_assert_msg(strstr(msg, "nn: matmul: cannot multiply (2, 3) by (4, 5)"), "message: %s", msg);
    ck_assert(test_abort_message(matmul_output_mismatch, msg, sizeof msg));
    ck_assert_msg(strstr(msg, "nn: matmul: output (2, 5), expected contiguous (2, 4) for (2, 3) @ (3, 4)"),
                  "message: %s", msg);
}
END_TEST

START_TEST(shape_str_has_room_for_every_dim) {
    const int64_t big = INT64_MIN;
    ck_assert_str_eq(shape_str(0, NULL).s, "()");
    ck_assert_str_eq(shape_str(NN_SHAPE(2, 3)).s, "(2, 3)");
    ShapeStr s = shape_str(NN_SHAPE(big, big, big, big, big, big));
    ck_assert_int_eq(strlen(s.s), 6 * 20 + 5 * 2 + 2); /* whole, not cut */
    ck_assert(s.s[strlen(s.s) - 1] == ')');
    s = shape_str(NN_SHAPE(big, big, big, big, big, big, big, big)); /* more dims than a tensor holds: cut */
    ck_assert_int_eq(strlen(s.s), SHAPE_STR_MAX - 1);
    ck_assert_str_eq(s.s + SHAPE_STR_MAX - 4, "...");
}
END_TEST

START_TEST(binary_broadcast_and_strides) {
    Tensor *a = test_randn(1, NN_SHAPE(3, 1, 4)), *b = test_randn(2, NN_SHAPE(5, 4));
    Tensor *o = tensor_zeros(NN_SHAPE(3, 5, 4));
    tensor_binary(o, a, b, BINARY_MUL);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 5; j++)
            for (int k = 0; k < 4; k++)
                ck_assert(o->data[(i * 5 + j) * 4 + k] == a->data[i * 4 + k] * b->data[j * 4 + k]);
    /* a strided output: write into a transposed view */
    Tensor *d = tensor_zeros(NN_SHAPE(4, 5));
    Tensor dt = tensor_transpose(d, 0, 1); /* (5, 4) */
    tensor_binary(&dt, b, b, BINARY_SUB);
    for (int i = 0; i < 20; i++) ck_assert(d->data[i] == 0);
    tensor_binary(&dt, b, b, BINARY_ADD);
    ck_assert(d->data[1 * 5 + 2] == 2 * b->data[2 * 4 + 1]);
    real c[] = {1, 0, 1};
    Tensor cond = tensor_wrap(c, NN_SHAPE(3, 1, 1));
    tensor_where(o, &cond, a, b);
    ck_assert(o->data[0] == a->data[0] && o->data[20] == b->data[0] && o->data[40 + 5] == a->data[8 + 1]);
    test_free_all(4, (Tensor *[]){a, b, o, d});
}
END_TEST

/* sum over axes by the definition */
static double naive_sum(const Tensor *x, unsigned axes, const int64_t *out_index) {
    double acc = 0;
    for (int64_t i = 0; i < x->numel; i++) {
        int64_t rest = i, match = 1;
        for (int d = x->ndim - 1; d >= 0; d--) {
            int64_t k = rest % x->shape[d];
            rest /= x->shape[d];
            if (!((axes >> d) & 1u) && k != out_index[d]) match = 0;
        }
        if (match) acc += x->data[tensor_offset_of(x, i)];
    }
    return acc;
}

START_TEST(reduce_matches_definition) {
    Tensor *base = test_randn(3, NN_SHAPE(3, 4, 5));
    Tensor views[2] = {*base, tensor_permute(base, (int[]){2, 0, 1})};
    views[0].flags = 0;
    for (int v = 0; v < 2; v++) {
        Tensor *x = &views[v];
        for (unsigned axes = 1; axes < 8; axes++) {
            int64_t shape[3];
            for (int d = 0; d < 3; d++) shape[d] = (axes >> d) & 1u ? 1 : x->shape[d];
            Tensor *o = tensor_zeros(3, shape), *m = tensor_zeros(3, shape);
            tensor_reduce(o, x, axes, REDUCE_SUM, 0);
            tensor_reduce(m, x, axes, REDUCE_MAX, 0);
            for (int64_t i = 0; i < o->numel; i++) {
                int64_t idx[3], rest = i;
                for (int d = 2; d >= 0; d--) idx[d] = rest % shape[d], rest /= shape[d];
                ck_assert(fabs(o->data[i] - naive_sum(x, axes, idx)) < 1e-4);
                ck_assert(m->data[i] <= 6 && m->data[i] > -6);
            }
            tensor_reduce(o, x, axes, REDUCE_SUM, 1); /* accumulate doubles it */
            for (int64_t i = 0; i < o->numel; i++) {
                int64_t idx[3], rest = i;
                for (int d = 2; d >= 0; d--) idx[d] = rest % shape[d], rest /= shape[d];
                ck_assert(fabs(o->data[i] - 2 * naive_sum(x, axes, idx)) < 1e-4);
            }
            tensor_free(o);
            tensor_free(m);
        }
    }
    tensor_free(base);
}
END_TEST

/* A sum over rows of contiguous columns (a bias's gradient: sum_to (R, C) -> (C)) is each column's chain of
 * double additions in row order, rounded once, added to what was there with accumulate: bit for bit, past
 * one block of columns and for rows further apart than the columns (a narrowed view). */
START_TEST(column_sums_are_each_columns_sum_in_row_order) {
    const int64_t R = 1001, C = 70, ld = 75;
    Tensor *base = test_randn(5, NN_SHAPE(R, ld));
    Tensor x = tensor_narrow(base, 1, 2, C);
    Tensor *o = tensor_full(NN_SHAPE(C), (real)0.25);
    real *want = malloc((size_t)C * sizeof *want);
    for (int pass = 0; pass < 2; pass++) { /* accumulate, then store */
        for (int64_t j = 0; j < C; j++) {
            double acc = 0;
            for (int64_t r = 0; r < R; r++) acc += (double)x.data[r * ld + j];
            want[j] = (real)(pass == 0 ? o->data[j] + acc : acc);
        }
        tensor_sum_to(o, &x, pass == 0);
        ck_assert_msg(memcmp(o->data, want, (size_t)C * sizeof *want) == 0, "pass %d: a column sum differs", pass);
    }
    free(want);
    tensor_free(o);
    tensor_free(base);
}
END_TEST

START_TEST(big_sum_is_chunked_and_accurate) {
    int64_t n = 3 * NN_REDUCE_CHUNK + 17;
    Tensor *x = tensor_full(NN_SHAPE(n), (real)0.1);
    Tensor *o = tensor_zeros(NN_SHAPE(1));
    tensor_reduce(o, x, 1, REDUCE_MEAN, 0);
    ck_assert(fabs(o->data[0] - 0.1) < 1e-7);
    tensor_free(x);
    tensor_free(o);
}
END_TEST

START_TEST(softmax_rows) {
    Tensor *x = test_randn(4, NN_SHAPE(3, 7)), *y = tensor_zeros(NN_SHAPE(3, 7)), *l = tensor_zeros(NN_SHAPE(3, 7));
    x->data[0] = 80; /* large values must not overflow */
    tensor_softmax(y, x);
    tensor_log_softmax(l, x);
    for (int r = 0; r < 3; r++) {
        double s = 0;
        for (int j = 0; j < 7; j++) {
            s += y->data[r * 7 + j];
            ck_assert(fabs(log(y->data[r * 7 + j] + 1e-30) - l->data[r * 7 + j]) < 1e-3 || y->data[r * 7 + j] < 1e-30);
        }
        ck_assert(fabs(s - 1) < 1e-6);
    }
    test_free_all(3, (Tensor *[]){x, y, l});
}
END_TEST

/* rng_fill_u32 hands out the words n calls of rng_u32 would, from a fresh cursor or one part-way into a block,
 * for lengths that end inside a block, and leaves the cursor where those calls would. */
START_TEST(rng_fill_equals_single_words) {
    for (int skip = 0; skip < 6; skip++)
        for (int64_t n = 0; n < 40; n += 3) {
            Rng a = rng_new(99, 5), b = rng_new(99, 5);
            for (int k = 0; k < skip; k++) ck_assert(rng_u32(&a) == rng_u32(&b));
            uint32_t words[40];
            rng_fill_u32(&a, words, n);
            for (int64_t i = 0; i < n; i++)
                ck_assert_msg(words[i] == rng_u32(&b), "skip %d, n %lld, word %lld", skip, (long long)n, (long long)i);
            for (int k = 0; k < 9; k++) ck_assert(rng_u32(&a) == rng_u32(&b));
        }
}
END_TEST

/* The vectorized blocks (AVX-512, AVX2, or the scalar loop, as the CPU allows) give philox4x32's words. */
START_TEST(philox_blocks_equal_single_blocks) {
    enum { N = 29 }; /* vector steps of 16 and 8 blocks (AVX-512) or 4 (AVX2), then a scalar tail */
    uint32_t blocks[4 * N], one[4];
    philox4x32_blocks(0x0123456789abcdefull, 77, UINT64_MAX - 10, N, blocks); /* the counter wraps */
    for (int b = 0; b < N; b++) {
        philox4x32(0x0123456789abcdefull, 77, UINT64_MAX - 10 + (uint64_t)b, one);
        ck_assert_msg(memcmp(one, blocks + 4 * b, sizeof one) == 0, "block %d", b);
    }
}
END_TEST

START_TEST(matmul_batched_broadcast_transposed) {
    Tensor *a = test_randn(5, NN_SHAPE(2, 1, 3, 4)), *b = test_randn(6, NN_SHAPE(5, 6, 4)); /* b used transposed */
    Tensor bt = tensor_transpose(b, -1, -2);                                                /* (5, 4, 6) */
    Tensor *o = tensor_zeros(NN_SHAPE(2, 5, 3, 6));
    tensor_matmul(o, a, &bt, 0);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 5; j++)
            for (int m = 0; m < 3; m++)
                for (int n = 0; n < 6; n++) {
                    double acc = 0;
                    for (int k = 0; k < 4; k++) acc += a->data[(i * 3 + m) * 4 + k] * b->data[(j * 6 + n) * 4 + k];
                    ck_assert(fabs(o->data[((i * 5 + j) * 3 + m) * 6 + n] - acc) < 1e-5);
                }
    test_free_all(3, (Tensor *[]){a, b, o});
}
END_TEST

START_TEST(arena_grows_and_settles) {
    Arena *a = arena_new(4096);
    for (int i = 0; i < 100; i++) memset(arena_alloc(a, 1000), 1, 1000);
    size_t hw = arena_high_water(a);
    ck_assert(hw >= 100 * 1000 && arena_reserved(a) >= hw);
    arena_reset(a);
    /* one block of the high-water size and the 128 bytes a reset may skip (arena.c) */
    ck_assert(arena_used(a) == 0 && arena_reserved(a) == hw + 128);
    for (int step = 0; step < 4; step++) { /* the same step again needs no new block, at every start offset */
        for (int i = 0; i < 100; i++) arena_alloc(a, 1000);
        ck_assert(arena_reserved(a) == hw + 128);
        arena_reset(a);
    }
    ck_assert(((uintptr_t)arena_alloc(a, 3) & 63) == 0);
    arena_free(a);
}
END_TEST

/* ---- shape arithmetic that would overflow: refused with the shapes ---- */

static void zeros_2p31_squared(void) { tensor_zeros(NN_SHAPE((int64_t)1 << 31, (int64_t)1 << 31)); }
static void zeros_2p40_squared(void) { tensor_zeros(NN_SHAPE((int64_t)1 << 40, (int64_t)1 << 40)); }
static void narrow_past_int64_max(void) {
    Tensor *a = tensor_zeros(NN_SHAPE(2, 3));
    tensor_narrow(a, 1, 1, INT64_MAX);
}
static void ag_narrow_past_int64_max(void) {
    Graph *g = graph_new();
    ag_narrow(g, ag_zeros(g, NN_SHAPE(2, 3)), 1, 1, INT64_MAX);
}
static void reshape_overflowing(void) {
    Tensor *a = tensor_zeros(NN_SHAPE(4));
    tensor_reshape(a, NN_SHAPE((int64_t)1 << 32, (int64_t)1 << 32, 0));
}

/* tensor_copy of contiguous tensors: apart, in chunks side by side at 1 and 2 threads (every element, none
 * past the end); overlapping (two views of one buffer, either way), as memmove. */
START_TEST(copy_apart_in_chunks_and_overlapping_as_memmove) {
    enum { N = 100003 }; /* past the size a loop splits at, and not whole chunks */
    int before = nn_threads();
    real *buf = malloc((N + 2) * sizeof(real)), *ref = malloc((N + 2) * sizeof(real));
    ck_assert(buf && ref);
    for (int threads = 1; threads <= 2; threads++) {
        nn_set_threads(threads);
        Tensor *src = test_randn(7, NN_SHAPE(N)), *dst = tensor_full(NN_SHAPE(N + 1), -1);
        Tensor head = tensor_wrap(dst->data, 1, (int64_t[]){N});
        tensor_copy(&head, src);
        ck_assert(memcmp(dst->data, src->data, N * sizeof(real)) == 0);
        ck_assert(dst->data[N] == -1);
        for (int shift = -1; shift <= 1; shift += 2) {
            for (int i = 0; i < N + 2; i++) buf[i] = ref[i] = (real)i;
            Tensor a = tensor_wrap(buf + 1, 1, (int64_t[]){N}), b = tensor_wrap(buf + 1 + shift, 1, (int64_t[]){N});
            tensor_copy(&b, &a);
            memmove(ref + 1 + shift, ref + 1, N * sizeof(real));
            ck_assert(memcmp(buf, ref, (N + 2) * sizeof(real)) == 0);
        }
        tensor_free(src);
        tensor_free(dst);
    }
    free(buf);
    free(ref);
    nn_set_threads(before);
}
END_TEST

START_TEST(shape_arithmetic_that_overflows_is_refused) {
    test_assert_aborts("zeros (2^31, 2^31)", zeros_2p31_squared, "nn: tensor:", "shape (2147483648, 2147483648)",
                       "more than any allocation can hold", NULL);
    test_assert_aborts("zeros (2^40, 2^40)", zeros_2p40_squared, "nn: shape:", "(1099511627776, 1099511627776)",
                       "more elements than an int64_t counts", NULL);
    test_assert_aborts("narrow (2, 3) at 1 for INT64_MAX", narrow_past_int64_max, "nn: narrow:",
                       "length 9223372036854775807 out of bounds for dim 1 of shape (2, 3)", NULL);
    test_assert_aborts("ag_narrow (2, 3) at 1 for INT64_MAX", ag_narrow_past_int64_max, "nn: narrow:",
                       "of shape (2, 3)", NULL);
    test_assert_aborts("reshape to (2^32, 2^32, 0)", reshape_overflowing, "nn: reshape:",
                       "cannot view shape (4) as (4294967296, 4294967296, 0)", NULL);
}
END_TEST

static Suite *tensor_suite(void) {
    Suite *s = suite_create("tensor");
    TCase *tc = tcase_create("tensor");
    tcase_add_test(tc, philox_known_answers);
    tcase_add_test(tc, rng_distributions);
    tcase_add_test(tc, rng_fill_equals_single_words);
    tcase_add_test(tc, creation_and_views);
    tcase_add_test(tc, binary_broadcast_and_strides);
    tcase_add_test(tc, reduce_matches_definition);
    tcase_add_test(tc, column_sums_are_each_columns_sum_in_row_order);
    tcase_add_test(tc, big_sum_is_chunked_and_accurate);
    tcase_add_test(tc, softmax_rows);
    tcase_add_test(tc, matmul_batched_broadcast_transposed);
    tcase_add_test(tc, philox_blocks_equal_single_blocks);
    tcase_add_test(tc, arena_grows_and_settles);
    tcase_add_test(tc, shape_arithmetic_that_overflows_is_refused);
    tcase_add_test(tc, copy_apart_in_chunks_and_overlapping_as_memmove);
    tcase_add_test(tc, shape_str_has_room_for_every_dim);
    if (test_forking()) {
        tcase_add_test_raise_signal(tc, misuse_aborts_reshape, SIGABRT);
        tcase_add_test_raise_signal(tc, misuse_aborts_broadcast, SIGABRT);
        tcase_add_test(tc, matmul_mismatch_names_both_shapes);
    }
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(tensor_suite)
