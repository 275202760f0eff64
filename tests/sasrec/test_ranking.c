/* Ranking in item blocks: full-ranking ranks, the most-popular baseline and
 * the top-K of predict, computed block by block (models/sasrec/item_scores.h),
 * against the same computed from every item's score at once, as before the
 * blocks: equal bit for bit, on a catalogue that spans several blocks, with
 * repeated items (answers among the input), tied scores and both seen
 * policies. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/parallel.h"
#include "models/sasrec/eval.h"
#include "models/sasrec/item_scores.h"
#include "models/sasrec/topk.h"
#include "tensor/kernels.h"
#include "tests/sasrec/fixture.h"

enum { USERS = 700, ITEMS = 2600, BATCH = 512 };

/* USERS users of 4..13 items over ITEMS items; every 4th user's last item (test answer) and every 5th user's
 * second-to-last (valid answer) repeat one of their earlier items. */
static void make_data(Dataset *ds) {
    size_t cap = 1 << 20, n = 0;
    char *text = malloc(cap);
    uint64_t x = 12345;
    for (int u = 0; u < USERS; u++) {
        int len = 4 + u % 10;
        int32_t seq[16];
        n += (size_t)snprintf(text + n, cap - n, "u%d", u);
        for (int k = 0; k < len; k++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            seq[k] = 1 + (int32_t)((x >> 33) % ITEMS);
            if (k == len - 1 && u % 4 == 0) seq[k] = seq[0];
            if (k == len - 2 && u % 5 == 0) seq[k] = seq[1];
            n += (size_t)snprintf(text + n, cap - n, " i%d", seq[k]);
        }
        n += (size_t)snprintf(text + n, cap - n, "\n");
    }
    NnError err;
    ck_assert_msg(dataset_load_buffer("ranking.txt", text, n, NULL, NULL, ds, &err) == 0, "%s", err.msg);
    free(text);
}

/* A small model over ds whose item table has tied rows: item j + 1 repeats item j for every j divisible by 7. */
static void make_model(Sasrec *s, const Dataset *ds) {
    SasrecConfig c = sasrec_default_config();
    c.n_items = ds->n_items;
    c.max_len = 8;
    c.hidden = 16;
    c.init_std = 0.3;
    sasrec_init(s, &c, 11);
    Tensor *E = s->item_emb.weight;
    for (int64_t j = 7; j < ds->n_items; j += 7) memcpy(E->data + (j + 1) * 16, E->data + j * 16, 16 * sizeof(real));
}

/* The rank of the answer from every item's score, as the evaluation computed it before blocks. */
static int64_t rank_from_all(const real *score, int64_t n, int64_t answer, const int32_t *seq, int64_t nseen,
                             SeenPolicy seen) {
    real *sc = malloc((size_t)n * sizeof *sc);
    unsigned char *skip = calloc((size_t)n, 1);
    memcpy(sc, score, (size_t)n * sizeof *sc);
    for (int64_t k = 0; k < nseen; k++) {
        if (seen == SEEN_EXCLUDE) skip[seq[k]] = 1;
        else sc[seq[k]] = 0;
    }
    skip[0] = 1;
    int64_t r = 0;
    if (skip[answer]) {
        r = n;
    } else {
        for (int64_t j = 1; j < n; j++) r += !skip[j] && j != answer && sc[j] >= sc[answer];
    }
    free(sc);
    free(skip);
    return r;
}

typedef struct {
    const Sasrec *s;
    const Dataset *ds;
    Split split;
    SeenPolicy seen;
    int64_t *rank;   /* (n_users) from every item's score */
    int64_t checked; /* top-K rows compared */
} Reference;

/* Scores every item for the batch at once (one gemm over the whole table) and ranks from them; for the submit
 * split, compares topk_items with a full sort instead. */
static void reference_visit(void *ctx, const SeqBatch *b, const Tensor *U) {
    Reference *r = ctx;
    const Tensor *E = r->s->item_emb.weight;
    int64_t N1 = E->shape[0], H = E->shape[1], B = b->B, K = 25;
    real *all = malloc((size_t)(B * N1) * sizeof *all);
    gemm(B, N1, H, U->data, H, 1, E->data, 1, H, 0, all, N1);
    if (r->split != SPLIT_SUBMIT) {
        for (int64_t i = 0; i < B; i++) {
            int64_t len;
            const int32_t *seq = dataset_seq(r->ds, b->user[i], &len);
            int64_t nseen = len - (r->split == SPLIT_VALID ? 2 : 1);
            r->rank[b->user[i]] = rank_from_all(all + i * N1, N1, b->answer[i], seq, nseen, r->seen);
        }
        free(all);
        return;
    }
    const int32_t **ex = malloc((size_t)B * sizeof *ex);
    int64_t *nex = malloc((size_t)B * sizeof *nex), *count = malloc((size_t)B * sizeof *count);
    int32_t *item = malloc((size_t)(B * K) * sizeof *item);
    real *score = malloc((size_t)(B * K) * sizeof *score);
    for (int64_t i = 0; i < B; i++) ex[i] = dataset_seq(r->ds, b->user[i], &nex[i]);
    topk_items(E, U->data, B, K, ex, nex, item, score, count);
    for (int64_t i = 0; i < B; i++) { /* the expected list: best score first, ties by the lower item */
        real *sc = all + i * N1;
        for (int64_t k = 0; k < nex[i]; k++) sc[ex[i][k]] = -INFINITY;
        int64_t best_prev = -1;
        ck_assert_int_eq(count[i], K);
        for (int64_t k = 0; k < K; k++) {
            int64_t best = -1;
            for (int64_t j = 1; j < N1; j++) {
                if (sc[j] == -INFINITY) continue;
                int after_prev = best_prev < 0 || sc[j] < sc[best_prev] || (sc[j] == sc[best_prev] && j > best_prev);
                if (after_prev && (best < 0 || sc[j] > sc[best])) best = j;
            }
            ck_assert_msg(item[i * K + k] == best && score[i * K + k] == sc[best], "user %lld rank %lld: item %d, expected %lld",
                          (long long)b->user[i], (long long)k, item[i * K + k], (long long)best);
            best_prev = best;
        }
        r->checked++;
    }
    free(ex);
    free(nex);
    free(count);
    free(item);
    free(score);
    free(all);
}

START_TEST(full_ranking_in_blocks_equals_ranking_every_score) {
    Dataset ds;
    Sasrec s;
    make_data(&ds);
    make_model(&s, &ds);
    ck_assert_msg(item_scores_block(BATCH) < ds.n_items / 2, "the catalogue must span several blocks");
    EvalOptions opt = eval_default_options();
    opt.protocol = PROTOCOL_FULL;
    opt.batch = BATCH;
    int64_t *got = malloc(USERS * sizeof *got), *want = malloc(USERS * sizeof *want);
    int64_t misses = 0, ties = 0;
    for (Split split = SPLIT_VALID; split <= SPLIT_TEST; split++)
        for (SeenPolicy seen = SEEN_EXCLUDE; seen <= SEEN_ZERO; seen++) {
            opt.seen = seen;
            eval_rank_model(&s, &ds, split, &opt, got);
            Reference r = {&s, &ds, split, seen, want, 0};
            eval_visit_users(&s, &ds, split, &opt, reference_visit, &r);
            for (int64_t u = 0; u < USERS; u++) {
                ck_assert_msg(got[u] == want[u], "split %d, seen %d, user %lld: rank %lld, expected %lld", split, seen,
                              (long long)u, (long long)got[u], (long long)want[u]);
                misses += got[u] == ds.n_items + 1;
            }
            /* and the most-popular baseline, ranked without scoring each user */
            eval_rank_popular(&ds, split, &opt, got);
            real *pop = calloc((size_t)ds.n_items + 1, sizeof *pop);
            for (int64_t u = 0; u < USERS; u++) {
                int64_t len;
                const int32_t *seq = dataset_seq(&ds, u, &len);
                for (int64_t k = 0; k + 2 < len; k++) pop[seq[k]] += 1;
            }
            for (int64_t j = 1; j <= ds.n_items; j++) {
                uint32_t w[4];
                philox4x32(0x907, 0, (uint64_t)j, w);
                pop[j] += (real)(0.5 * rng_word_to_unit(w[0]));
            }
            for (int64_t u = 0; u < USERS; u++) {
                int64_t len;
                const int32_t *seq = dataset_seq(&ds, u, &len);
                int64_t nseen = len - (split == SPLIT_VALID ? 2 : 1);
                int64_t w = rank_from_all(pop, ds.n_items + 1, seq[nseen], seq, nseen, seen);
                ck_assert_msg(got[u] == w, "popular, split %d, seen %d, user %lld: rank %lld, expected %lld", split,
                              seen, (long long)u, (long long)got[u], (long long)w);
            }
            free(pop);
        }
    /* the cases the test is about did occur: answers excluded as seen, and tied scores (rows 7k, 7k + 1) */
    ck_assert_msg(misses > 50, "only %lld answers among the input", (long long)misses);
    for (int64_t j = 7; j < ds.n_items; j += 7) ties++;
    ck_assert(ties > 100);
    free(got);
    free(want);
    sasrec_free(&s);
    dataset_free(&ds);
}
END_TEST

START_TEST(topk_items_in_blocks_equals_sorting_every_score) {
    Dataset ds;
    Sasrec s;
    make_data(&ds);
    make_model(&s, &ds);
    EvalOptions opt = eval_default_options();
    opt.batch = BATCH;
    Reference r = {&s, &ds, SPLIT_SUBMIT, SEEN_EXCLUDE, NULL, 0};
    eval_visit_users(&s, &ds, SPLIT_SUBMIT, &opt, reference_visit, &r);
    ck_assert_int_eq(r.checked, USERS);
    sasrec_free(&s);
    dataset_free(&ds);
}
END_TEST

START_TEST(topk_items_returns_fewer_when_few_items_are_left) {
    /* 5 items, a user who has 2 of them (one twice): 3 left for k = 4; padding (row 0, the best) never */
    real e[6 * 2] = {9, 9, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0}, u[2] = {1, 0};
    Tensor E = tensor_wrap(e, NN_SHAPE(6, 2));
    const int32_t seen[3] = {5, 2, 5};
    const int32_t *ex[1] = {seen};
    int64_t nex[1] = {3}, count[1];
    int32_t item[4];
    real score[4];
    topk_items(&E, u, 1, 4, ex, nex, item, score, count);
    ck_assert_int_eq(count[0], 3);
    ck_assert(item[0] == 4 && item[1] == 3 && item[2] == 1);
    ck_assert(score[0] == 4 && score[2] == 1);
}
END_TEST

/* Ranks (sampled, full, full with coverage) of split under opt with n threads: into rank (3 * USERS), cov. */
static void rank_all(Sasrec *s, const Dataset *ds, const SampleSet *smp, EvalOptions opt, int threads, int64_t *rank,
                     EvalCoverage *cov) {
    int before = nn_threads();
    nn_set_threads(threads);
    opt.protocol = PROTOCOL_SAMPLE;
    opt.samples = smp;
    eval_rank_model(s, ds, SPLIT_TEST, &opt, rank);
    opt.protocol = PROTOCOL_FULL;
    eval_rank_model(s, ds, SPLIT_TEST, &opt, rank + USERS);
    eval_rank_model_coverage(s, ds, SPLIT_TEST, &opt, rank + 2 * USERS, cov);
    nn_set_threads(before);
}

START_TEST(ranks_are_the_same_for_any_threads_and_batch) {
    /* a pass ranks its users in units that depend on the thread count and the batch; each rank may not */
    Dataset ds;
    Sasrec s;
    SampleSet smp;
    NnError err;
    make_data(&ds);
    make_model(&s, &ds);
    ck_assert_msg(sample_generate(&ds, 99, 5, &smp, &err) == 0, "%s", err.msg);
    EvalOptions opt = eval_default_options();
    int64_t *want = malloc(3 * USERS * sizeof *want), *got = malloc(3 * USERS * sizeof *got);
    EvalCoverage cw, cg;
    opt.batch = BATCH;
    rank_all(&s, &ds, &smp, opt, 1, want, &cw);
    const int threads[] = {2, 3, 1, 2}, batch[] = {BATCH, BATCH, 37, 1};
    for (int k = 0; k < 4; k++) {
        opt.batch = batch[k];
        rank_all(&s, &ds, &smp, opt, threads[k], got, &cg);
        for (int64_t i = 0; i < 3 * USERS; i++)
            ck_assert_msg(got[i] == want[i], "threads %d, batch %d, row %lld: rank %lld, expected %lld", threads[k],
                          batch[k], (long long)i, (long long)got[i], (long long)want[i]);
        for (int c = 0; c < cw.n; c++) ck_assert(cg.value[c] == cw.value[c]);
    }
    free(want);
    free(got);
    sample_free(&smp);
    sasrec_free(&s);
    dataset_free(&ds);
}
END_TEST

START_TEST(a_nonfinite_score_leaves_every_row_unranked_but_the_paddings) {
    Dataset ds;
    Sasrec s;
    make_data(&ds);
    make_model(&s, &ds);
    EvalOptions opt = eval_default_options();
    opt.protocol = PROTOCOL_FULL;
    int64_t *want = malloc(USERS * sizeof *want), *got = malloc(USERS * sizeof *got);
    real *E = s.item_emb.weight->data;
    for (SeenPolicy seen = SEEN_EXCLUDE; seen <= SEEN_ZERO; seen++) {
        opt.seen = seen;
        eval_rank_model(&s, &ds, SPLIT_TEST, &opt, want);
        E[0] = NAN; /* the padding's score is never ranked nor checked */
        eval_rank_model(&s, &ds, SPLIT_TEST, &opt, got);
        for (int64_t u = 0; u < USERS; u++) ck_assert_int_eq(got[u], want[u]);
        E[0] = 0;
        for (int64_t item = 1; item <= ds.n_items; item += ds.n_items - 1) { /* the first tile's and the last's */
            real keep = E[item * 16];
            E[item * 16] = INFINITY; /* an infinite score in every row, the answer's input or not */
            eval_rank_model(&s, &ds, SPLIT_TEST, &opt, got);
            for (int64_t u = 0; u < USERS; u++) ck_assert_int_eq(got[u], -1);
            E[item * 16] = keep;
        }
    }
    free(want);
    free(got);
    sasrec_free(&s);
    dataset_free(&ds);
}
END_TEST

/* The metrics alone (eval_model) stop ranking a row once it is past every cutoff: the same values as the metrics
 * of the exact ranks, for both splits and seen policies, 1 and 2 threads; and where a score may be non-finite (an
 * infinite item, or one so long that its scores overflow) no row stops early, so the same rows are left unranked. */
START_TEST(metrics_stop_ranking_past_the_cutoffs_with_the_same_values) {
    Dataset ds;
    Sasrec s;
    make_data(&ds);
    make_model(&s, &ds);
    EvalOptions opt = eval_default_options();
    opt.protocol = PROTOCOL_FULL;
    opt.batch = BATCH;
    int64_t *rank = malloc(USERS * sizeof *rank), near = 0;
    real *E = s.item_emb.weight->data;
    for (int c = 0; c < 3; c++) {
        if (c == 1) E[ds.n_items * 16] = INFINITY;
        if (c == 2) {
            E[ds.n_items * 16] = E[(ds.n_items - 1) * 16];
            for (int h = 0; h < 16; h++) /* finite, but its scores overflow in most rows */
                E[5 * 16 + h] = (h % 2 ? 1 : -1) * (sizeof(real) == sizeof(float) ? (real)3e38 : (real)1.7e308);
        }
        for (int threads = 1; threads <= 2; threads++)
            for (Split split = SPLIT_VALID; split <= SPLIT_TEST; split++)
                for (SeenPolicy seen = SEEN_EXCLUDE; seen <= SEEN_ZERO; seen++) {
                    int before = nn_threads();
                    nn_set_threads(threads);
                    opt.seen = seen;
                    eval_rank_model(&s, &ds, split, &opt, rank);
                    Metrics want = metrics_from_ranks(PROTOCOL_FULL, rank, USERS), got = eval_model(&s, &ds, split, &opt);
                    nn_set_threads(before);
                    for (int64_t u = 0; c == 0 && u < USERS; u++) near += rank[u] >= 5 && rank[u] < 20;
                    ck_assert_int_eq(got.nonfinite, want.nonfinite);
                    ck_assert_int_eq(got.users, want.users);
                    for (int k = 0; k < want.n; k++)
                        ck_assert_msg(got.value[k] == want.value[k], "case %d, %d threads, split %d, seen %d: %s %.9f, "
                                      "expected %.9f", c, threads, split, seen, want.name[k], got.value[k], want.value[k]);
                    if (c > 0) ck_assert_msg(want.nonfinite > 0, "case %d: no row was left unranked", c);
                }
    }
    ck_assert_msg(near > 10, "only %lld ranks between the cutoffs 5 and 20", (long long)near);
    free(rank);
    sasrec_free(&s);
    dataset_free(&ds);
}
END_TEST

static Suite *ranking_suite(void) {
    Suite *s = suite_create("ranking");
    TCase *tc = tcase_create("blocks");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, full_ranking_in_blocks_equals_ranking_every_score);
    tcase_add_test(tc, topk_items_in_blocks_equals_sorting_every_score);
    tcase_add_test(tc, topk_items_returns_fewer_when_few_items_are_left);
    tcase_add_test(tc, ranks_are_the_same_for_any_threads_and_batch);
    tcase_add_test(tc, a_nonfinite_score_leaves_every_row_unranked_but_the_paddings);
    tcase_add_test(tc, metrics_stop_ranking_past_the_cutoffs_with_the_same_values);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(ranking_suite)
