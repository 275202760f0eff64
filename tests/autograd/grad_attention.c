/* Gradient checks of the fused attention op on the double build, through
 * every path it has: sequences shorter and longer than a block of queries
 * (ATTN_BLOCK 16: lengths 1, 17, 20, 33, 50), dense left-padded batches and
 * packed ones (empty sequences too), causal or not, -10000 or -inf masking,
 * padding keys and holes among the keys, fully masked rows, and dropout on
 * the probabilities. Small shapes element by element; SASRec's own (B 256,
 * L 50, H 64, 2 heads) along random directions at 1 and 2 threads. */
#include <stdio.h>
#include <string.h>

#include "tests/support.h"

/* (layout: sequences, offsets, key_valid, causal), (spec: heads, mask, dropout, training), dropout seed */
typedef struct {
    SeqLayout layout;
    AttentionSpec spec;
    uint64_t drop_seed;
} AttnCase;

/* q, k, v are column slices of one (rows, 3H) input: non-contiguous rows whose
 * gradients land straight in the input's */
static Tensor *f_attention(Graph *g, Tensor *const *in, void *ctx) {
    AttnCase *c = ctx;
    int64_t H = in[0]->shape[1] / 3;
    Rng r = rng_new(c->drop_seed, 3);
    AttentionSpec spec = c->spec;
    spec.rng = &r;
    return ag_attention(g, ag_narrow(g, in[0], 1, 0, H), ag_narrow(g, in[0], 1, H, H), ag_narrow(g, in[0], 1, 2 * H, H),
                        &c->layout, &spec);
}

/* q, k, v three leaves of their own: the gradients are added to each (not the stacked store) */
static Tensor *f_attention_leaves(Graph *g, Tensor *const *in, void *ctx) {
    AttnCase *c = ctx;
    return ag_attention(g, in[0], in[1], in[2], &c->layout, &c->spec);
}

START_TEST(grad_attention_other_inputs) {
    int64_t off[] = {0, 5, 10, 15};
    unsigned char valid[15] = {1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0};
    AttnCase c = {{3, off, valid, 1}, {2, MASK_MINUS_10000, 0, 0, NULL}, 0};
    Tensor *in[3];
    for (int i = 0; i < 3; i++) in[i] = test_param(test_randn(230 + i, NN_SHAPE(15, 4)));
    test_gradcheck("attention of three leaves", f_attention_leaves, &c, 3, in);
    test_free_all(3, in);
}
END_TEST

START_TEST(grad_attention) {
    /* 3 sequences of 5 rows, left-padded with 0, 2 and 5 (all) padding keys */
    int64_t dense_off[] = {0, 5, 10, 15}, var_off[] = {0, 1, 4, 9};
    unsigned char valid[15] = {1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0};
    unsigned char holes[9] = {1, 0, 1, 1, 0, 1, 0, 1, 1};
    AttnCase cases[] = {
        {{3, dense_off, valid, 1}, {2, MASK_MINUS_10000, 0, 0, NULL}, 0},   /* SASRec dense: causal + padding */
        {{3, var_off, NULL, 1}, {2, MASK_MINUS_10000, 0, 0, NULL}, 0},      /* length-aware: packed, causal */
        {{3, var_off, holes, 0}, {1, MASK_NEG_INF, 0, 0, NULL}, 0},         /* -inf, not causal, holes */
        {{3, dense_off, valid, 1}, {2, MASK_NEG_INF, 0, 0, NULL}, 0},       /* -inf: padded rows see themselves */
        {{3, dense_off, valid, 1}, {2, MASK_MINUS_10000, 0.3, 1, NULL}, 5}, /* dropout on the probabilities */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t rows = cases[c].layout.offsets[3];
        Tensor *x = test_param(test_randn(190 + c, NN_SHAPE(rows, 3 * 4)));
        test_gradcheck("attention", f_attention, &cases[c], 1, &x);
        tensor_free(x);
    }
}
END_TEST

/* Left padding of a dense (B, L) batch with len[b] real items each: key_valid (B * L). */
static void left_padded(int64_t B, int64_t L, const int64_t *len, unsigned char *key_valid) {
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < L; t++) key_valid[b * L + t] = t >= L - len[b];
}

START_TEST(grad_attention_past_one_block) {
    /* dense: L 20 (a block of 16 and one of 4), lengths 20, 9 and 0; packed: 20, 17, 1 and an empty one */
    int64_t L = 20, dense_len[3] = {20, 9, 0}, dense_off[4] = {0, 20, 40, 60}, packed_off[5] = {0, 20, 37, 38, 38};
    unsigned char valid[60], holes[38];
    left_padded(3, L, dense_len, valid);
    for (int i = 0; i < 38; i++) holes[i] = i % 7 != 3;
    AttnCase cases[] = {
        {{3, dense_off, valid, 1}, {2, MASK_MINUS_10000, 0, 0, NULL}, 0},     /* SASRec dense, -10000 */
        {{3, dense_off, valid, 1}, {2, MASK_NEG_INF, 0, 0, NULL}, 0},         /* -inf */
        {{3, dense_off, valid, 0}, {2, MASK_MINUS_10000, 0, 0, NULL}, 0},     /* not causal, -10000 */
        {{3, dense_off, valid, 1}, {2, MASK_MINUS_10000, 0.3, 1, NULL}, 7},   /* dropout */
        {{4, packed_off, NULL, 1}, {2, MASK_MINUS_10000, 0, 0, NULL}, 0},     /* length-aware */
        {{4, packed_off, NULL, 1}, {2, MASK_MINUS_10000, 0.2, 1, NULL}, 8},   /* length-aware with dropout */
        {{4, packed_off, holes, 0}, {2, MASK_NEG_INF, 0, 0, NULL}, 0},        /* holes, -inf, not causal */
        {{4, packed_off, holes, 1}, {2, MASK_MINUS_10000, 0.25, 1, NULL}, 9}, /* holes, -10000, causal, dropout */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t rows = cases[c].layout.offsets[cases[c].layout.n_seq];
        Tensor *x = test_param(test_randn(200 + c, NN_SHAPE(rows, 3 * 4)));
        test_gradcheck("attention (two blocks)", f_attention, &cases[c], 1, &x);
        tensor_free(x);
    }
}
END_TEST

START_TEST(grad_attention_three_blocks) {
    /* one sequence of 33 queries (16 + 16 + 1), causal, one head of 3 */
    int64_t off[2] = {0, 33};
    AttnCase c = {{1, off, NULL, 1}, {1, MASK_MINUS_10000, 0.1, 1, NULL}, 4};
    Tensor *x = test_param(test_randn(210, NN_SHAPE(33, 3 * 3)));
    test_gradcheck("attention (three blocks)", f_attention, &c, 1, &x);
    tensor_free(x);
}
END_TEST

/* ---- SASRec's sizes ---- */

START_TEST(grad_attention_sasrec_size) {
    TestBatch sb = test_batch(test_quick() ? 8 : 256, 50, 1000, 31);
    SeqLayout dense = {sb.B, sb.dense_off, sb.key_valid, 1}, packed = {sb.B, sb.packed_off, NULL, 1};
    AttnCase cases[] = {
        {dense, {2, MASK_MINUS_10000, 0, 0, NULL}, 0},    /* the seed's dense step */
        {dense, {2, MASK_MINUS_10000, 0.5, 1, NULL}, 11}, /* with its attention dropout */
        {dense, {2, MASK_NEG_INF, 0, 0, NULL}, 0},        /* -inf */
        {packed, {2, MASK_MINUS_10000, 0, 0, NULL}, 0},   /* length-aware */
        {packed, {2, MASK_MINUS_10000, 0.5, 1, NULL}, 12}, /* length-aware with dropout */
    };
    const char *names[] = {"dense", "dense, dropout", "dense, -inf", "packed", "packed, dropout"};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t rows = cases[c].layout.offsets[sb.B];
        Tensor *x = test_param(test_uniform(220 + c, NN_SHAPE(rows, 3 * 64), -1, 1));
        char what[96];
        snprintf(what, sizeof what, "attention (B %lld, L 50, H 64, %s)", (long long)sb.B, names[c]);
        test_directional_threads(what, f_attention, &cases[c], 1, &x, 0);
        tensor_free(x);
    }
    test_batch_free(&sb);
}
END_TEST

static Suite *grad_attention_suite(void) {
    Suite *s = suite_create("grad_attention");
    TCase *tc = tcase_create("attention");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, grad_attention);
    tcase_add_test(tc, grad_attention_other_inputs);
    tcase_add_test(tc, grad_attention_past_one_block);
    tcase_add_test(tc, grad_attention_three_blocks);
    tcase_add_test(tc, grad_attention_sasrec_size);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(grad_attention_suite)
