/* Catalogue coverage at K (eval_rank_model_coverage, issue 25): the share of
 * the items that appear in at least one user's top K equals the one counted
 * from each user's recommendations by topk_items (the input's items
 * excluded, the answer competing), on a catalogue that spans several item
 * blocks; the ranks it returns are eval_rank_model's under both seen
 * policies; nothing depends on the thread count, nor on the rank count of an
 * MPI job (tests/mpi/run.sh runs this suite under mpirun -np 3: the ranks and
 * the coverage are gathered, so the intervals come out the same on every
 * rank). */
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "base/parallel.h"
#include "models/sasrec/bootstrap.h"
#include "models/sasrec/eval.h"
#include "models/sasrec/item_scores.h"
#include "models/sasrec/topk.h"
#include "tests/sasrec/fixture.h"

enum { USERS = 600, ITEMS = 5000, K = 20 };

/* USERS users of 4..13 items over ITEMS items, every 4th one's answer among its input. */
static void make_data(Dataset *ds) {
    size_t cap = 1 << 20, n = 0;
    char *text = malloc(cap);
    uint64_t x = 99;
    for (int u = 0; u < USERS; u++) {
        int len = 4 + u % 10, first = 0;
        n += (size_t)snprintf(text + n, cap - n, "u%d", u);
        for (int k = 0; k < len; k++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            int item = 1 + (int)((x >> 33) % ITEMS);
            if (k == 0) first = item;
            if (k == len - 1 && u % 4 == 0) item = first;
            n += (size_t)snprintf(text + n, cap - n, " i%d", item);
        }
        n += (size_t)snprintf(text + n, cap - n, "\n");
    }
    NnError err;
    ck_assert_msg(dataset_load_buffer("coverage.txt", text, n, NULL, NULL, ds, &err) == 0, "%s", err.msg);
    free(text);
}

static void make_model(Sasrec *s, const Dataset *ds) {
    SasrecConfig c = sasrec_default_config();
    c.n_items = ds->n_items;
    c.max_len = 8;
    c.hidden = 16;
    c.init_std = 0.5;
    sasrec_init(s, &c, 3);
}

typedef struct {
    const Sasrec *s;
    const Dataset *ds;
    uint8_t *best; /* (n_items + 1) the best place any user gave the item, K if none */
} Brute;

/* Each user's top K by topk_items, the test input (all but the last item) excluded. */
static void brute_visit(void *ctx, const SeqBatch *b, const Tensor *U) {
    Brute *br = ctx;
    int32_t *item = malloc((size_t)(b->B * K) * sizeof *item);
    int64_t *count = malloc((size_t)b->B * sizeof *count), *n_ex = malloc((size_t)b->B * sizeof *n_ex);
    const int32_t **ex = malloc((size_t)b->B * sizeof *ex);
    for (int i = 0; i < b->B; i++) {
        int64_t len;
        ex[i] = dataset_seq(br->ds, b->user[i], &len);
        n_ex[i] = len - 1;
    }
    topk_items(br->s->item_emb.weight, U->data, b->B, K, ex, n_ex, item, NULL, count);
    for (int i = 0; i < b->B; i++)
        for (int64_t p = 0; p < count[i]; p++)
            if (p < br->best[item[i * K + p]]) br->best[item[i * K + p]] = (uint8_t)p;
    free(item);
    free(count);
    free(n_ex);
    free(ex);
}

START_TEST(coverage_is_that_of_each_users_recommendations) {
    Dataset ds;
    Sasrec s;
    make_data(&ds);
    make_model(&s, &ds);
    ck_assert_msg(ds.n_items > 2 * item_scores_block(512), "the catalogue must span several blocks");
    EvalOptions opt = eval_default_options();
    opt.protocol = PROTOCOL_FULL;
    Brute br = {&s, &ds, malloc((size_t)ds.n_items + 1)};
    memset(br.best, K, (size_t)ds.n_items + 1);
    eval_visit_users(&s, &ds, SPLIT_TEST, &opt, brute_visit, &br);
    int64_t *rank = malloc((size_t)ds.n_users * sizeof *rank), *want = malloc((size_t)ds.n_users * sizeof *want);
    EvalCoverage cov, cov1;
    eval_rank_model_coverage(&s, &ds, SPLIT_TEST, &opt, rank, &cov);
    ck_assert_int_eq(cov.n, 3);
    ck_assert_int_eq(cov.items, ds.n_items);
    for (int c = 0; c < cov.n; c++) {
        int64_t hit = 0;
        for (int64_t j = 1; j <= ds.n_items; j++) hit += br.best[j] < cov.k[c];
        ck_assert_msg(cov.value[c] == (double)hit / (double)ds.n_items, "coverage@%d %g, brute force %g", cov.k[c],
                      cov.value[c], (double)hit / (double)ds.n_items);
        ck_assert_msg(hit > cov.k[c], "coverage@%d counts only %lld items", cov.k[c], (long long)hit);
    }
    ck_assert(cov.value[0] < cov.value[1] && cov.value[1] < cov.value[2]);
    for (int seen = 0; seen < 2; seen++) { /* the ranks are eval_rank_model's */
        opt.seen = seen ? SEEN_ZERO : SEEN_EXCLUDE;
        eval_rank_model(&s, &ds, SPLIT_TEST, &opt, want);
        eval_rank_model_coverage(&s, &ds, SPLIT_TEST, &opt, rank, &cov1);
        ck_assert_msg(memcmp(rank, want, (size_t)ds.n_users * sizeof *rank) == 0, "ranks differ (seen policy %d)",
                      seen);
    }
    /* the thread count changes nothing */
    opt.seen = SEEN_EXCLUDE;
    int threads = nn_threads();
    nn_set_threads(threads == 1 ? 2 : 1);
    eval_rank_model_coverage(&s, &ds, SPLIT_TEST, &opt, rank, &cov1);
    nn_set_threads(threads);
    ck_assert(memcmp(cov.value, cov1.value, sizeof cov.value) == 0);
    free(rank);
    free(want);
    free(br.best);
    sasrec_free(&s);
    dataset_free(&ds);
}
END_TEST

START_TEST(an_mpi_job_gives_what_one_process_gives) {
    Dataset ds;
    Sasrec s;
    make_data(&ds);
    make_model(&s, &ds);
    EvalOptions opt = eval_default_options();
    opt.protocol = PROTOCOL_FULL;
    opt.batch = 64; /* several batches per rank */
    int64_t *one = malloc((size_t)ds.n_users * sizeof *one), *job = malloc((size_t)ds.n_users * sizeof *job);
    EvalCoverage c1, cj;
    eval_rank_model_coverage(&s, &ds, SPLIT_TEST, &opt, one, &c1);
    opt.distributed = 1;
    eval_rank_model_coverage(&s, &ds, SPLIT_TEST, &opt, job, &cj);
    ck_assert_msg(memcmp(one, job, (size_t)ds.n_users * sizeof *one) == 0, "rank %d of %d: other ranks", dist_rank(),
                  dist_size());
    ck_assert_msg(memcmp(c1.value, cj.value, sizeof c1.value) == 0, "rank %d of %d: other coverage", dist_rank(),
                  dist_size());
    MetricsInterval i1 = bootstrap_interval(PROTOCOL_FULL, one, NULL, ds.n_users, 200, 42);
    MetricsInterval ij = bootstrap_interval(PROTOCOL_FULL, job, NULL, ds.n_users, 200, 42);
    ck_assert(memcmp(i1.lo, ij.lo, sizeof i1.lo) == 0 && memcmp(i1.hi, ij.hi, sizeof i1.hi) == 0);
    free(one);
    free(job);
    sasrec_free(&s);
    dataset_free(&ds);
}
END_TEST

static void coverage_of_sampled(void) {
    Dataset ds;
    Sasrec s;
    make_data(&ds);
    make_model(&s, &ds);
    EvalOptions opt = eval_default_options();
    int64_t rank[USERS];
    EvalCoverage cov;
    eval_rank_model_coverage(&s, &ds, SPLIT_TEST, &opt, rank, &cov);
}

START_TEST(coverage_under_the_sampled_protocol_aborts) {
    test_assert_aborts("coverage, sampled protocol", coverage_of_sampled, "eval_rank_model_coverage",
                       "full ranking", NULL);
}
END_TEST

static Suite *coverage_suite(void) {
    Suite *s = suite_create("coverage");
    TCase *tc = fixture_tcase("coverage");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, coverage_is_that_of_each_users_recommendations);
    tcase_add_test(tc, an_mpi_job_gives_what_one_process_gives);
    if (test_forking() && dist_size() == 1) tcase_add_test(tc, coverage_under_the_sampled_protocol_aborts);
    suite_add_tcase(s, tc);
    return s;
}

/* Its own main: the suite joins the MPI job first (a job of one process without MPI). */
int main(int argc, char **argv) {
    dist_init(&argc, &argv);
    SRunner *sr = srunner_create(coverage_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (failed && dist_size() > 1) dist_abort(EXIT_FAILURE);
    dist_finalize();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
