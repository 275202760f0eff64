/* Batches: leave-one-out splits and left padding, training negatives and the
 * epoch shuffle (models/sasrec/batch.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/sasrec/batch.h"
#include "tests/sasrec/fixture.h"

/* ---- splits, padding, training negatives ---- */

/* Users a..d with 3, 4, L+3 = 8 and 15 items, e with others; item "k" gets id k. */
static void split_data(Dataset *ds) {
    LOAD_OK("splits.txt", "a 1 2 3\nb 1 2 3 4\nc 1 2 3 4 5 6 7 8\nd 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\ne 16 17 18\n",
            NULL, ds);
    for (int i = 1; i <= 15; i++) ck_assert_int_eq(atoi(ds->item_ids[i]), i);
}

static void expect_row(const int64_t *row, int L, const int64_t *want) {
    for (int j = 0; j < L; j++)
        ck_assert_msg(row[j] == want[j], "position %d: got %lld, expected %lld", j, (long long)row[j],
                      (long long)want[j]);
}

START_TEST(splits_pad_left_and_keep_the_last_items) {
    Dataset ds;
    split_data(&ds);
    NegSampler ns;
    ck_assert_int_eq(batch_neg_prepare(&ns, &ds, 42, NULL), 0);
    SeqBatch b;
    batch_alloc(&b, 8, 5);
    int64_t users[4] = {0, 1, 2, 3};

    batch_fill(&b, &ds, SPLIT_TRAIN, users, 4, &ns, 0);
    ck_assert_int_eq(b.B, 4);
    expect_row(b.input + 0, 5, (int64_t[]){0, 0, 0, 0, 0}); /* 3 items: empty train input */
    expect_row(b.pos + 0, 5, (int64_t[]){0, 0, 0, 0, 0});
    expect_row(b.neg + 0, 5, (int64_t[]){0, 0, 0, 0, 0});
    ck_assert_int_eq(b.len[0], 0);
    expect_row(b.input + 5, 5, (int64_t[]){0, 0, 0, 0, 1});
    expect_row(b.pos + 5, 5, (int64_t[]){0, 0, 0, 0, 2});
    ck_assert_int_eq(b.len[1], 1);
    expect_row(b.input + 10, 5, (int64_t[]){1, 2, 3, 4, 5}); /* exactly L + 3: fills the row */
    expect_row(b.pos + 10, 5, (int64_t[]){2, 3, 4, 5, 6});
    expect_row(b.input + 15, 5, (int64_t[]){8, 9, 10, 11, 12}); /* longer: the last L */
    expect_row(b.pos + 15, 5, (int64_t[]){9, 10, 11, 12, 13});
    ck_assert_int_eq(b.len[3], 5);
    for (int r = 0; r < 4; r++) {
        ck_assert_int_eq(b.answer[r], 0);
        ck_assert_int_eq(b.user[r], r);
        for (int j = 0; j < 5; j++) ck_assert((b.neg[r * 5 + j] != 0) == (b.pos[r * 5 + j] != 0));
    }

    batch_fill(&b, &ds, SPLIT_VALID, users, 4, NULL, 0);
    expect_row(b.input + 0, 5, (int64_t[]){0, 0, 0, 0, 1});
    ck_assert_int_eq(b.answer[0], 2);
    expect_row(b.input + 5, 5, (int64_t[]){0, 0, 0, 1, 2});
    ck_assert_int_eq(b.answer[1], 3);
    expect_row(b.input + 10, 5, (int64_t[]){2, 3, 4, 5, 6});
    ck_assert_int_eq(b.answer[2], 7);
    expect_row(b.input + 15, 5, (int64_t[]){9, 10, 11, 12, 13});
    ck_assert_int_eq(b.answer[3], 14);
    for (int j = 0; j < 20; j++) ck_assert(b.pos[j] == 0 && b.neg[j] == 0);

    batch_fill(&b, &ds, SPLIT_TEST, users, 4, NULL, 0);
    expect_row(b.input + 0, 5, (int64_t[]){0, 0, 0, 1, 2});
    ck_assert_int_eq(b.answer[0], 3);
    expect_row(b.input + 15, 5, (int64_t[]){10, 11, 12, 13, 14});
    ck_assert_int_eq(b.answer[3], 15);
    ck_assert_int_eq(b.len[0], 2);

    int64_t two[2] = {3, 0}; /* any order, fewer rows than the capacity */
    batch_fill(&b, &ds, SPLIT_SUBMIT, two, 2, NULL, 0);
    ck_assert_int_eq(b.B, 2);
    expect_row(b.input + 0, 5, (int64_t[]){11, 12, 13, 14, 15}); /* the most recent item at L - 1 */
    expect_row(b.input + 5, 5, (int64_t[]){0, 0, 1, 2, 3});
    ck_assert_int_eq(b.len[1], 3);
    ck_assert_int_eq(b.user[0], 3);
    ck_assert_int_eq(b.answer[0], 0);
    batch_free(&b);
    batch_neg_free(&ns);
    dataset_free(&ds);
}
END_TEST

START_TEST(training_negatives_avoid_the_sequence_and_are_reproducible) {
    /* 11 items; users with most of them, so rejection happens often */
    Dataset ds;
    LOAD_OK("n.txt", "a 1 2 3 4 5 6 7 8\nb 9 10 1 2 3 4 5 6 7\nc 1 2 3\nd 4 5 6 7 8 9 10 1 2 3 4 5 6 7 8\ne 11 1 2\n",
            NULL, &ds);
    NegSampler ns, ns2;
    ck_assert_int_eq(batch_neg_prepare(&ns, &ds, 42, NULL), 0);
    ck_assert_int_eq(batch_neg_prepare(&ns2, &ds, 43, NULL), 0);
    SeqBatch b1, b2;
    batch_alloc(&b1, 4, 12);
    batch_alloc(&b2, 4, 12);
    int64_t order1[4] = {0, 1, 2, 3}, order2[4] = {3, 2, 1, 0};
    int differs_epoch = 0, differs_seed = 0;
    for (int epoch = 0; epoch < 20; epoch++) {
        batch_fill(&b1, &ds, SPLIT_TRAIN, order1, 4, &ns, epoch);
        batch_fill(&b2, &ds, SPLIT_TRAIN, order2, 4, &ns, epoch); /* another batch composition */
        for (int r = 0; r < 4; r++) {
            int64_t len;
            const int32_t *s = dataset_seq(&ds, r, &len);
            for (int j = 0; j < 12; j++) {
                int64_t neg = b1.neg[r * 12 + j];
                ck_assert_int_eq(neg, b2.neg[(3 - r) * 12 + j]);
                if (!b1.pos[r * 12 + j]) continue;
                ck_assert(neg >= 1 && neg <= ds.n_items);
                for (int64_t k = 0; k < len; k++)
                    ck_assert_msg(s[k] != neg, "negative %lld is in the sequence", (long long)neg);
            }
        }
        if (epoch > 0) { /* redraw of epoch 0 and of seed 43 */
            int64_t u = 0, len;
            dataset_seq(&ds, u, &len);
            for (int64_t t = 1; t < len - 2; t++) {
                differs_epoch |= batch_neg_draw(&ns, 0, u, t) != batch_neg_draw(&ns, epoch, u, t);
                differs_seed |= batch_neg_draw(&ns, epoch, u, t) != batch_neg_draw(&ns2, epoch, u, t);
                ck_assert_int_eq(batch_neg_draw(&ns, epoch, u, t), batch_neg_draw(&ns, epoch, u, t));
            }
        }
    }
    ck_assert(differs_epoch && differs_seed);
    /* max_len does not change a position's negative */
    SeqBatch b3;
    batch_alloc(&b3, 1, 3);
    int64_t d = 3;
    batch_fill(&b3, &ds, SPLIT_TRAIN, &d, 1, &ns, 5);
    batch_fill(&b1, &ds, SPLIT_TRAIN, order1, 4, &ns, 5);
    for (int j = 0; j < 3; j++) ck_assert_int_eq(b3.neg[j], b1.neg[3 * 12 + 9 + j]);
    ck_assert(batch_neg_in_seq(&ns, 2, 3) && !batch_neg_in_seq(&ns, 2, 4) && !batch_neg_in_seq(&ns, 2, 10));
    batch_free(&b1);
    batch_free(&b2);
    batch_free(&b3);
    batch_neg_free(&ns);
    batch_neg_free(&ns2);
    dataset_free(&ds);
}
END_TEST

START_TEST(training_negatives_refuse_a_user_with_every_item) {
    Dataset ds;
    LOAD_OK("all.txt", "a 1 2 3\nb 3 1 2 1\n", NULL, &ds);
    NegSampler ns;
    NnError err;
    ck_assert_int_eq(batch_neg_prepare(&ns, &ds, 1, &err), -1);
    ck_assert_msg(strstr(err.msg, "user \"a\" interacted with every one of the 3 items"), "%s", err.msg);
    ck_assert_ptr_null(ns.uniq);
    dataset_free(&ds);
}
END_TEST

/* Shared negatives: a pure function of (seed, epoch, batch index), within 1..n_items, per-target
 * negatives left 0; popularity draws follow 1 + the training counts, with their log-probabilities. */
START_TEST(shared_negatives_are_reproducible_and_follow_their_law) {
    Dataset ds;
    /* training parts s[:-2]: a 7 times, b, e and f once, x, y, c, d never */
    LOAD_OK("sh.txt", "u1 a a a b x y\nu2 a a a a c d\nu3 e f e f\n", NULL, &ds);
    NegSampler ns;
    ck_assert_int_eq(batch_neg_prepare(&ns, &ds, 9, NULL), 0);
    batch_neg_share(&ns, 4000, NEG_POP);
    SeqBatch b1, b2;
    batch_alloc(&b1, 3, 5);
    batch_alloc(&b2, 3, 5);
    int64_t users[3] = {0, 1, 2};
    batch_fill(&b1, &ds, SPLIT_TRAIN, users, 3, &ns, 0);
    for (int i = 0; i < 15; i++) ck_assert_int_eq(b1.neg[i], 0);
    batch_draw_shared(&b1, &ns, 2, 7);
    batch_draw_shared(&b2, &ns, 2, 7);
    ck_assert_int_eq(b1.n_shared, 4000);
    ck_assert_mem_eq(b1.shared, b2.shared, 4000 * sizeof *b1.shared);
    batch_draw_shared(&b2, &ns, 2, 8); /* another batch */
    ck_assert(memcmp(b1.shared, b2.shared, 4000 * sizeof *b1.shared) != 0);
    batch_draw_shared(&b2, &ns, 3, 7); /* another epoch */
    ck_assert(memcmp(b1.shared, b2.shared, 4000 * sizeof *b1.shared) != 0);
    int32_t a = dataset_item_id(&ds, "a", 1), c = dataset_item_id(&ds, "c", 1);
    int64_t count_a = 0, count_c = 0, weights = 0;
    for (int64_t j = 1; j <= ds.n_items; j++) weights += ns.cum[j] - ns.cum[j - 1];
    for (int i = 0; i < 4000; i++) {
        ck_assert(b1.shared[i] >= 1 && b1.shared[i] <= ds.n_items);
        count_a += b1.shared[i] == a, count_c += b1.shared[i] == c;
    }
    ck_assert_int_eq(weights, ds.n_items + 10); /* 1 each, plus the 10 training occurrences */
    ck_assert_msg(fabs((double)b1.log_q[a] - log(8.0 / (double)weights)) < 1e-6, "log q(a) %g", (double)b1.log_q[a]);
    ck_assert_msg(count_a > 4000 * 8 / weights * 0.85 && count_a < 4000 * 8 / weights * 1.15, "a drawn %lld times",
                  (long long)count_a);
    ck_assert_msg(count_c > 4000 / weights * 0.7 && count_c < 4000 / weights * 1.3, "c drawn %lld times",
                  (long long)count_c);
    batch_free(&b1);
    batch_free(&b2);
    batch_neg_free(&ns);
    dataset_free(&ds);
}
END_TEST

/* Negatives drawn per position and per sequence: K for each real target (0 at padding) or each sequence,
 * keyed by (seed, epoch, user, position) and not by the batch the user is in (uniform draws); in-batch
 * draws are the batch's targets, with log q their share of them; mixed draws K/2 uniformly. */
START_TEST(drawn_negatives_depend_on_the_user_and_position_not_the_batch) {
    Dataset ds;
    LOAD_OK("dr.txt", "u1 a b c d e f g\nu2 a c e g i\nu3 b d f h j k l m\n", NULL, &ds);
    NegSampler ns;
    ck_assert_int_eq(batch_neg_prepare(&ns, &ds, 5, NULL), 0);
    enum { K = 6, L = 4 };
    SeqBatch b1, b2;
    batch_alloc(&b1, 3, L);
    batch_alloc(&b2, 3, L);
    int64_t all[3] = {0, 1, 2}, two[2] = {2, 0};
    for (int scope = NEG_SCOPE_SEQUENCE; scope <= NEG_SCOPE_POSITION; scope++) {
        int per = scope == NEG_SCOPE_POSITION, cells = per ? L * K : K;
        batch_neg_share(&ns, K, NEG_UNIFORM);
        batch_neg_scope(&ns, (NegScope)scope);
        batch_fill(&b1, &ds, SPLIT_TRAIN, all, 3, &ns, 1);
        batch_draw_shared(&b1, &ns, 1, 0);
        batch_fill(&b2, &ds, SPLIT_TRAIN, two, 2, &ns, 1);
        batch_draw_shared(&b2, &ns, 1, 5);
        ck_assert(b1.n_drawn == K && b1.per_position == per && b1.log_q == NULL);
        ck_assert_mem_eq(b1.drawn + 2 * cells, b2.drawn, (size_t)cells * sizeof *b1.drawn); /* user u3 */
        ck_assert_mem_eq(b1.drawn, b2.drawn + cells, (size_t)cells * sizeof *b1.drawn);     /* user u1 */
        for (int r = 0; r < 3; r++)
            for (int j = 0; j < (per ? L : 1); j++)
                for (int k = 0; k < K; k++) {
                    int32_t d = b1.drawn[(r * (per ? L : 1) + j) * K + k];
                    int real_target = !per || b1.pos[r * L + j] != 0;
                    ck_assert(real_target ? d >= 1 && d <= ds.n_items : d == 0);
                }
        batch_draw_shared(&b2, &ns, 2, 5); /* another epoch */
        ck_assert(memcmp(b1.drawn + 2 * cells, b2.drawn, (size_t)cells * sizeof *b1.drawn) != 0);
        batch_neg_share(&ns, K, NEG_IN_BATCH);
        batch_draw_shared(&b1, &ns, 1, 0);
        int64_t targets = 0, a = dataset_item_id(&ds, "d", 1);
        for (int i = 0; i < 3 * L; i++) targets += b1.pos[i] != 0;
        double share_a = 0;
        for (int i = 0; i < 3 * L; i++) share_a += b1.pos[i] == a;
        ck_assert_msg(fabs((double)b1.log_q[a] - log(share_a / (double)targets)) < 1e-6, "log q %g",
                      (double)b1.log_q[a]);
        for (int i = 0; i < 3 * cells; i++) {
            int found = b1.drawn[i] == 0;
            for (int j = 0; j < 3 * L && !found; j++) found = b1.pos[j] == b1.drawn[i];
            ck_assert_msg(found, "in-batch draw %d is no target of the batch", (int)b1.drawn[i]);
        }
        batch_neg_share(&ns, K, NEG_MIXED);
        batch_draw_shared(&b1, &ns, 1, 0);
        ck_assert_msg(fabs((double)b1.log_q[a] - log(0.5 / (double)ds.n_items + 0.5 * share_a / (double)targets)) <
                          1e-6, "mixed log q %g", (double)b1.log_q[a]);
        batch_neg_share(&ns, K, NEG_UNIFORM);
    }
    batch_free(&b1);
    batch_free(&b2);
    batch_neg_free(&ns);
    dataset_free(&ds);
}
END_TEST

/* log q of the in-batch and mixed draws at every item, exactly as computed from the batch's targets alone: q(j)
 * = u / N + (1 - u) count(j) / targets, log q or 0 where q is 0; compared bit for bit. */
static void expect_log_q(const SeqBatch *b, const Dataset *ds, double u) {
    int64_t N = ds->n_items, n = 0;
    double *count = calloc((size_t)N + 1, sizeof *count);
    for (int64_t i = 0; i < (int64_t)b->B * b->L; i++)
        if (b->pos[i]) count[b->pos[i]]++, n++;
    for (int64_t j = 0; j <= N; j++) {
        double q = u / (double)N + (n ? (1 - u) * count[j] / (double)n : 0);
        real want = q > 0 ? (real)log(q) : 0;
        ck_assert_msg(b->log_q[j] == want, "item %lld: log q %.9g, want %.9g", (long long)j, (double)b->log_q[j],
                      (double)want);
    }
    free(count);
}

/* The table of log q is kept between batches, with only the targets of each batch set: batch after batch (the
 * last batch's targets put back, in-batch and mixed in turn, another sampler's catalogue) it is the table
 * computed from scratch. */
START_TEST(in_batch_log_q_follows_each_batch_exactly) {
    Dataset ds, small;
    LOAD_OK("lq.txt", "u1 a b c d e f g\nu2 a c e g i\nu3 b d f h j k l m\nu4 n o p q r s\nu5 m n o a b\n"
            "u6 t s r q p\n", NULL, &ds);
    LOAD_OK("lq2.txt", "v1 a b c d\nv2 b c d e\n", NULL, &small);
    NegSampler ns, ns2;
    ck_assert_int_eq(batch_neg_prepare(&ns, &ds, 5, NULL), 0);
    ck_assert_int_eq(batch_neg_prepare(&ns2, &small, 5, NULL), 0);
    enum { K = 6, L = 5 };
    SeqBatch b;
    batch_alloc(&b, 4, L);
    const int64_t users[3][3] = {{0, 1, 2}, {3, 4, 5}, {2, 5, 0}};
    const NegDist dists[7] = {NEG_IN_BATCH, NEG_MIXED, NEG_MIXED, NEG_UNIFORM, NEG_MIXED, NEG_IN_BATCH, NEG_IN_BATCH};
    for (int round = 0; round < 7; round++) {
        NegDist dist = dists[round];
        batch_neg_share(&ns, K, dist);
        batch_neg_scope(&ns, NEG_SCOPE_SEQUENCE);
        batch_fill(&b, &ds, SPLIT_TRAIN, users[round % 3], round == 4 ? 2 : 3, &ns, 0);
        batch_draw_shared(&b, &ns, 0, round);
        if (dist == NEG_UNIFORM)
            ck_assert(b.log_q == NULL);
        else
            expect_log_q(&b, &ds, dist == NEG_MIXED ? (double)(K / 2) / K : 0);
        if (round == 5) { /* a batch of another catalogue between, through the same SeqBatch */
            batch_neg_share(&ns2, K, NEG_MIXED);
            batch_fill(&b, &small, SPLIT_TRAIN, (int64_t[]){1, 0}, 2, &ns2, 0);
            batch_draw_shared(&b, &ns2, 0, 0);
            expect_log_q(&b, &small, (double)(K / 2) / K);
        }
    }
    batch_free(&b);
    batch_neg_free(&ns);
    batch_neg_free(&ns2);
    dataset_free(&ds);
    dataset_free(&small);
}
END_TEST

START_TEST(epoch_shuffle_is_a_reproducible_permutation) {
    int64_t n = 1000, a[1000], b[1000], c[1000];
    batch_shuffle(42, 3, n, a);
    batch_shuffle(42, 3, n, b);
    batch_shuffle(42, 4, n, c);
    char seen[1000] = {0};
    int same_as_next = 0, moved = 0;
    for (int64_t i = 0; i < n; i++) {
        ck_assert(a[i] >= 0 && a[i] < n && !seen[a[i]]);
        seen[a[i]] = 1;
        ck_assert_int_eq(a[i], b[i]);
        same_as_next += a[i] == c[i];
        moved += a[i] != i;
    }
    ck_assert_int_lt(same_as_next, 20);
    ck_assert_int_gt(moved, 900);
    batch_shuffle(42, 0, 0, a); /* nothing to do */
}
END_TEST

static Suite *batch_suite(void) {
    Suite *s = suite_create("batch");
    TCase *tc = fixture_tcase("batch");
    tcase_add_test(tc, splits_pad_left_and_keep_the_last_items);
    tcase_add_test(tc, training_negatives_avoid_the_sequence_and_are_reproducible);
    tcase_add_test(tc, training_negatives_refuse_a_user_with_every_item);
    tcase_add_test(tc, epoch_shuffle_is_a_reproducible_permutation);
    tcase_add_test(tc, shared_negatives_are_reproducible_and_follow_their_law);
    tcase_add_test(tc, drawn_negatives_depend_on_the_user_and_position_not_the_batch);
    tcase_add_test(tc, in_batch_log_q_follows_each_batch_exactly);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(batch_suite)
