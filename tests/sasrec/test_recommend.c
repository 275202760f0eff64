/* recommend(): the one ranking of sasrec serve and predict. The same
 * sequence gets the same items and bit-identical scores whether it is ranked
 * alone, in a batch, or through eval's pass over a data set; eval's full
 * ranking agrees with the position of the answer in it; requests without a
 * known item fall back to the popularity counts of popular.txt. And the
 * request-line reader of serve bounds what it holds. */
#include <string.h>
#include <unistd.h>

#include "base/memory.h"
#include "models/sasrec/cli/serve_input.h"
#include "models/sasrec/data/popularity.h"
#include "models/sasrec/data/synthetic.h"
#include "models/sasrec/eval.h"
#include "models/sasrec/recommend.h"
#include "models/sasrec/topk.h"
#include "tests/sasrec/fixture.h"

/* A small data set and a model with weights large enough that no two scores tie. */
static void small_model(Dataset *ds, Sasrec *s) {
    SyntheticOptions so = synthetic_default_options();
    so.n_users = test_quick() ? 40 : 200;
    so.n_items = 160;
    so.max_len = 30;
    NnError err;
    ck_assert_msg(synthetic_generate(&so, ds, &err) == 0, "%s", err.msg);
    SasrecConfig cfg = sasrec_default_config();
    cfg.n_items = ds->n_items;
    cfg.max_len = 12; /* shorter than many sequences: their last 12 items count */
    cfg.hidden = 16;
    sasrec_init(s, &cfg, 11);
    test_randomise(&s->m, 12, 0.3f);
}

/* What the old predict did: eval's pass over the users, then topk_items on each batch's vectors. */
typedef struct {
    const Dataset *ds;
    const Tensor *E;
    int64_t k;
    int32_t *item; /* (n_users, k) */
    real *score;   /* (n_users, k) */
    int64_t *count; /* (n_users) */
} Reference;

static void reference_visit(void *ctx, const SeqBatch *b, const Tensor *U) {
    Reference *r = ctx;
    const int32_t *ex[512];
    int64_t n_ex[512];
    for (int i = 0; i < b->B; i++) ex[i] = dataset_seq(r->ds, b->user[i], &n_ex[i]);
    int64_t u0 = b->user[0];
    topk_items(r->E, U->data, b->B, r->k, ex, n_ex, r->item + u0 * r->k, r->score + u0 * r->k, r->count + u0);
}

START_TEST(recommend_equals_eval_pass_on_every_user_alone_or_batched) {
    Dataset ds;
    Sasrec s;
    small_model(&ds, &s);
    int64_t U = ds.n_users, k = 7;
    Reference ref = {&ds, s.item_emb.weight, k, nn_malloc((size_t)(U * k) * sizeof(int32_t)),
                     nn_malloc((size_t)(U * k) * sizeof(real)), nn_malloc((size_t)U * sizeof(int64_t))};
    EvalOptions opt = eval_default_options();
    opt.batch = 64;
    eval_visit_users(&s, &ds, SPLIT_SUBMIT, &opt, reference_visit, &ref);
    RecRequest *req = nn_malloc((size_t)U * sizeof *req);
    RecAnswer *ans = nn_malloc((size_t)U * sizeof *ans);
    int32_t *item = nn_malloc((size_t)(U * k) * sizeof *item);
    real *score = nn_malloc((size_t)(U * k) * sizeof *score);
    for (int cap = 1; cap <= 100; cap += 99) { /* one request per pass, then passes of 100 */
        Recommender rec;
        recommender_init(&rec, &s, NULL, cap);
        for (int64_t u = 0; u < U; u++) {
            req[u] = (RecRequest){.exclude_seen = 1, .k = k};
            req[u].items = dataset_seq(&ds, u, &req[u].n_items);
            ans[u] = (RecAnswer){.item = item + u * k, .score = score + u * k};
        }
        recommend(&rec, req, ans, U);
        for (int64_t u = 0; u < U; u++) {
            ck_assert_int_eq(ans[u].from, REC_MODEL);
            ck_assert_int_eq(ans[u].count, ref.count[u]);
            ck_assert_msg(memcmp(ans[u].item, ref.item + u * k, (size_t)k * sizeof *item) == 0,
                          "user %lld (cap %d): other items", (long long)u, cap);
            ck_assert_msg(memcmp(ans[u].score, ref.score + u * k, (size_t)k * sizeof *score) == 0,
                          "user %lld (cap %d): scores differ in their bits", (long long)u, cap);
        }
        recommender_free(&rec);
    }
    free(req), free(ans), free(item), free(score), free(ref.item), free(ref.score), free(ref.count);
    sasrec_free(&s);
    dataset_free(&ds);
}
END_TEST

START_TEST(eval_full_rank_is_the_answers_place_in_the_recommendations) {
    Dataset ds;
    Sasrec s;
    small_model(&ds, &s);
    int64_t U = ds.n_users, N = ds.n_items;
    int64_t *rank = nn_malloc((size_t)U * sizeof *rank);
    EvalOptions opt = eval_default_options();
    opt.protocol = PROTOCOL_FULL;
    eval_rank_model(&s, &ds, SPLIT_TEST, &opt, rank);
    Recommender rec;
    recommender_init(&rec, &s, NULL, 32);
    int32_t *item = nn_malloc((size_t)N * sizeof *item);
    real *score = nn_malloc((size_t)N * sizeof *score);
    int64_t checked = 0;
    for (int64_t u = 0; u < U; u++) {
        int64_t len;
        const int32_t *seq = dataset_seq(&ds, u, &len);
        RecRequest q = {.items = seq, .n_items = len - 1, .exclude_seen = 1, .k = N}; /* the test split's input */
        RecAnswer a = {.item = item, .score = score};
        recommend(&rec, &q, &a, 1);
        int64_t at = -1;
        for (int64_t j = 0; j < a.count; j++)
            if (item[j] == seq[len - 1]) at = j;
        if (at < 0) { /* the answer is among the input: excluded, a miss ranked past every item */
            ck_assert_int_eq(rank[u], N + 1);
            continue;
        }
        ck_assert_msg(at == rank[u], "user %lld: eval ranks the answer %lld, serve places it at %lld", (long long)u,
                      (long long)rank[u], (long long)at);
        checked++;
    }
    ck_assert(checked > U / 2);
    recommender_free(&rec);
    free(item), free(score), free(rank);
    sasrec_free(&s);
    dataset_free(&ds);
}
END_TEST

START_TEST(no_known_item_gets_the_most_popular_unless_there_are_no_counts) {
    Dataset ds;
    Sasrec s;
    small_model(&ds, &s);
    int64_t N = ds.n_items;
    int64_t *count = nn_malloc((size_t)(N + 1) * sizeof *count);
    popularity_count(&ds, count);
    int32_t *order = nn_malloc((size_t)N * sizeof *order);
    popularity_order(count, N, order);
    for (int64_t j = 1; j < N; j++) /* by count, equal counts by lower id */
        ck_assert(count[order[j - 1]] > count[order[j]] ||
                  (count[order[j - 1]] == count[order[j]] && order[j - 1] < order[j]));
    Recommender rec;
    recommender_init(&rec, &s, count, 4);
    int32_t item[5], exclude[] = {order[1], order[3], order[1]};
    real score[5];
    RecRequest q = {.exclude = exclude, .n_exclude = 3, .k = 5};
    RecAnswer a = {.item = item, .score = score};
    recommend(&rec, &q, &a, 1);
    ck_assert_int_eq(a.from, REC_POPULAR);
    ck_assert_int_eq(a.count, 5);
    int32_t want[] = {order[0], order[2], order[4], order[5], order[6]};
    for (int j = 0; j < 5; j++) {
        ck_assert_int_eq(item[j], want[j]);
        ck_assert(score[j] == (real)count[want[j]]);
    }
    recommender_free(&rec);
    recommender_init(&rec, &s, NULL, 4);
    recommend(&rec, &q, &a, 1);
    ck_assert_int_eq(a.from, REC_NO_FALLBACK);
    ck_assert_int_eq(a.count, 0);
    recommender_free(&rec);
    free(order);
    free(count);
    sasrec_free(&s);
    dataset_free(&ds);
}
END_TEST

START_TEST(popular_txt_round_trips_and_refuses_bad_lines) {
    Dataset ds;
    LOAD_OK("d.txt", "u1 a b c d\nu2 b c d e\nu3 a a b\n", NULL, &ds);
    NnError err;
    ck_assert_msg(popularity_write(fixture_dir, &ds, &err) == 0, "%s", err.msg);
    char path[256], text[256];
    snprintf(path, sizeof path, "%s/%s", fixture_dir, POPULARITY_FILE);
    FILE *f = fopen(path, "rb");
    size_t n = fread(text, 1, sizeof text, f);
    fclose(f);
    /* items a b c d e; training parts: u1 a b, u2 b c, u3 a */
    ck_assert_int_eq((int)n, 10);
    ck_assert(memcmp(text, "2\n2\n1\n0\n0\n", 10) == 0);
    int64_t count[6];
    ck_assert(popularity_read_buffer("p", text, n, 5, count, &err) == 0);
    ck_assert(count[0] == 0 && count[1] == 2 && count[3] == 1 && count[5] == 0);
    const char *bad[] = {"2\n2\n1\n0\n", "2\n2\n1\n0\n0\n7\n", "2\n-2\n1\n0\n0\n", "2\n2x\n1\n0\n0\n",
                         "2\n99999999999999999999\n1\n0\n0\n"};
    const char *why[] = {"holds 4 counts", "more lines than", "line 2: expected a whole number", "line 2",
                         "line 2"};
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(popularity_read_buffer("p", bad[i], strlen(bad[i]), 5, count, &err), -1);
        ck_assert_msg(strstr(err.msg, why[i]), "%d: %s", i, err.msg);
    }
    dataset_free(&ds);
}
END_TEST

START_TEST(serve_input_skips_oversize_lines_in_their_place) {
    int fd[2];
    ck_assert(pipe(fd) == 0);
    /* 16-byte lines at most: a 40-byte line in the middle, CRLF, an empty line, a last line without its LF */
    const char *text = "{\"items\":[]}\r\n0123456789012345678901234567890123456789\n\nshort\nlast";
    ck_assert(write(fd[1], text, strlen(text)) == (ssize_t)strlen(text));
    close(fd[1]);
    ServeInput in;
    serve_input_init(&in, fd[0], 16);
    LineStatus want[] = {LINE_OK, LINE_OVERSIZE, LINE_OK, LINE_OK, LINE_OK, LINE_EOF};
    const char *lines[] = {"{\"items\":[]}", NULL, "", "short", "last"};
    for (int i = 0; i < 6; i++) {
        const char *line;
        size_t len;
        LineStatus st;
        while ((st = serve_input_take(&in, &line, &len)) == LINE_NONE) serve_input_fill(&in, -1);
        ck_assert_msg(st == want[i], "line %d: status %d, expected %d", i, st, want[i]);
        if (st == LINE_OK) ck_assert(len == strlen(lines[i]) && memcmp(line, lines[i], len) == 0);
        ck_assert(in.end - in.start <= 16 + SERVE_INPUT_CHUNK);
    }
    serve_input_free(&in);
    close(fd[0]);
}
END_TEST

static Suite *recommend_suite(void) {
    Suite *s = suite_create("recommend");
    TCase *tc = fixture_tcase("recommend");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, recommend_equals_eval_pass_on_every_user_alone_or_batched);
    tcase_add_test(tc, eval_full_rank_is_the_answers_place_in_the_recommendations);
    tcase_add_test(tc, no_known_item_gets_the_most_popular_unless_there_are_no_counts);
    tcase_add_test(tc, popular_txt_round_trips_and_refuses_bad_lines);
    tcase_add_test(tc, serve_input_skips_oversize_lines_in_their_place);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(recommend_suite)
