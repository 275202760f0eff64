/* Retraining (issue 25): the time split (data/timesplit.h) cuts timed data
 * into a training part (each sequence padded with 0, 0 so that the
 * leave-one-out train split covers it) and evaluation rows (the user's earlier
 * catalogue items, then the target), counting what it leaves out; data
 * without times and times that leave a part empty are refused with the
 * counts; the most-popular ranks of rows agree with eval's; the warm start
 * (warm_start.h) copies rows by raw id and refuses other shapes; and the
 * program's train --split time / --init and eval reproduce and record them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/sasrec/data/idmap.h"
#include "models/sasrec/data/popularity.h"
#include "models/sasrec/data/timesplit.h"
#include "models/sasrec/eval.h"
#include "models/sasrec/warm_start.h"
#include "tests/sasrec/fixture.h"

static char out[1 << 16], errout[1 << 16];

static TimeKey at(int64_t t) { return (TimeKey){t, 0}; }

/* catalogue before 4: a b c. Valid [4, 6): d, e new; u3's b scored. Test from 6: u1 a scored (d, e left out of
 * its history), f, x, z new, u2 c scored (x left out), u4 a and b have fewer than 2 catalogue items before them. */
static const char TIMED[] = "user,item,time\n"
                            "u1,a,1\nu1,b,2\nu1,c,3\nu1,d,4\nu1,e,5\nu1,a,6\nu1,f,7\n"
                            "u2,a,1\nu2,b,2\nu2,x,6\nu2,c,7\n"
                            "u3,b,1\nu3,c,2\nu3,a,3\nu3,b,5\n"
                            "u4,z,6\nu4,a,7\nu4,b,8\n";

static void seq_is(const Dataset *ds, const Dataset *ids, int64_t u, const char *want) {
    int64_t len;
    const int32_t *s = dataset_seq(ds, u, &len);
    char got[256] = "";
    for (int64_t k = 0; k < len; k++) {
        size_t n = strlen(got);
        snprintf(got + n, sizeof got - n, "%s%s", k ? " " : "", s[k] == 0 ? "0" : ids->item_ids[s[k]]);
    }
    ck_assert_msg(strcmp(got, want) == 0, "row %lld: \"%s\", expected \"%s\"", (long long)u, got, want);
}

static void load_timed(Dataset *all) {
    LoadOptions lo = dataset_default_options();
    lo.min_interactions = 1;
    LOAD_OK("t.csv", TIMED, &lo, all);
    ck_assert_ptr_nonnull(all->time);
}

START_TEST(the_time_split_trains_before_and_scores_each_later_interaction) {
    Dataset all;
    load_timed(&all);
    TimeSplit ts;
    NnError err;
    ck_assert_msg(timesplit_build("t.csv", &all, at(4), at(6), NULL, &ts, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(ts.train.n_users, 3);
    ck_assert_int_eq(ts.train.n_items, 3);
    ck_assert_int_eq(ts.train_interactions, 8);
    seq_is(&ts.train, &ts.train, 0, "a b c 0 0");
    seq_is(&ts.train, &ts.train, 1, "a b 0 0");
    seq_is(&ts.train, &ts.train, 2, "b c a 0 0");
    ck_assert_int_eq(ts.valid_part.events, 3);
    ck_assert_int_eq(ts.valid_part.new_items, 2);
    ck_assert_int_eq(ts.valid_part.short_history, 0);
    ck_assert_int_eq(ts.valid.n_users, 1);
    seq_is(&ts.valid, &ts.train, 0, "b c a b");
    ck_assert_int_eq(ts.test_part.events, 7);
    ck_assert_int_eq(ts.test_part.new_items, 3);
    ck_assert_int_eq(ts.test_part.short_history, 2);
    ck_assert_int_eq(ts.test.n_users, 2);
    seq_is(&ts.test, &ts.train, 0, "a b c a");
    seq_is(&ts.test, &ts.train, 1, "a b c");
    ck_assert_str_eq(ts.test.user_ids[0], "u1");
    ck_assert_str_eq(ts.test.user_ids[1], "u2");
    /* the popularity of the training part is its real interactions, the padding aside */
    int64_t count[4];
    popularity_count(&ts.train, count);
    ck_assert(count[1] == 3 && count[2] == 3 && count[3] == 2);
    /* a model's catalogue (its items.txt) keeps the model's ids, and y (never seen) is in it */
    Dataset cat = {0};
    ck_assert(idmap_read_items_buffer("items.txt", "c\na\nb\ny\n", 8, &cat, &err) == 0);
    TimeSplit te;
    ck_assert_msg(timesplit_build("t.csv", &all, at(4), at(6), &cat, &te, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(te.test.n_items, 4);
    ck_assert_int_eq(te.test_part.new_items, 3);
    ck_assert_int_eq(te.test.n_users, 2);
    seq_is(&te.test, &cat, 0, "a b c a");
    ck_assert_int_eq(dataset_seq(&te.test, 0, &(int64_t){0})[0], 2); /* a is the model's item 2 */
    timesplit_free(&te);
    dataset_free(&cat);
    timesplit_free(&ts);
    dataset_free(&all);
}
END_TEST

START_TEST(a_split_without_times_or_with_an_empty_part_is_refused_with_the_counts) {
    Dataset all;
    TimeSplit ts;
    NnError err;
    LOAD_OK("s.txt", "u1 a b c\nu2 a c b\n", NULL, &all);
    ck_assert(timesplit_build("s.txt", &all, at(4), at(6), NULL, &ts, &err) == -1);
    ck_assert_msg(strstr(err.msg, "--split time needs the time of each interaction") && strstr(err.msg, "seq") &&
                      strstr(err.msg, "csv"), "%s", err.msg);
    dataset_free(&all);
    load_timed(&all);
    ck_assert(timesplit_build("t.csv", &all, at(4), at(100), NULL, &ts, &err) == -1);
    ck_assert_msg(strstr(err.msg, "no interaction falls in the test period") &&
                      strstr(err.msg, "18 interactions, from time 1 to 8: 8 before --valid-from, 10 in the "
                                      "validation period, 0 at or after --test-from") &&
                      strstr(err.msg, "earlier --test-from"), "%s", err.msg);
    ck_assert(timesplit_build("t.csv", &all, at(0), at(6), NULL, &ts, &err) == -1);
    ck_assert_msg(strstr(err.msg, "no interaction is before --valid-from") && strstr(err.msg, "later --valid-from"),
                  "%s", err.msg);
    dataset_free(&all);
    LOAD_OK("n.csv", "user,item,time\nu1,a,1\nu1,b,2\nu1,c,3\nu1,z,9\n", NULL, &all);
    ck_assert(timesplit_build("n.csv", &all, at(3), at(9), NULL, &ts, &err) == -1); /* z: a new item */
    ck_assert_msg(strstr(err.msg, "none of the 1 test interactions can be scored: 1 are of items the training part "
                                  "does not hold, 0 have fewer than 2 earlier"), "%s", err.msg);
    dataset_free(&all);
}
END_TEST

/* Most-popular ranks of rows, counted elsewhere, are eval's ranks when the rows are the data itself. */
START_TEST(popular_ranks_of_rows_agree_with_eval) {
    Dataset ds;
    fixture_tiny_csv();
    NnError err;
    ck_assert(dataset_load(fixture_path("tiny.csv"), NULL, NULL, &ds, &err) == 0);
    int64_t *count = malloc((size_t)(ds.n_items + 1) * sizeof *count), rank[60], want[60];
    popularity_count(&ds, count);
    EvalOptions eo = eval_default_options();
    eo.protocol = PROTOCOL_FULL;
    for (int zero = 0; zero < 2; zero++) {
        eo.seen = zero ? SEEN_ZERO : SEEN_EXCLUDE;
        eval_rank_popular(&ds, SPLIT_TEST, &eo, want);
        popularity_rank_rows(count, &ds, zero, rank);
        for (int u = 0; u < 60; u++) ck_assert_msg(rank[u] == want[u], "user %d: %lld vs %lld", u, (long long)rank[u],
                                                     (long long)want[u]);
    }
    free(count);
    dataset_free(&ds);
}
END_TEST

START_TEST(the_warm_start_keeps_known_rows_and_refuses_other_shapes) {
    Dataset pv = {0}, ds;
    NnError err;
    ck_assert(idmap_read_items_buffer("items.txt", "a\nb\nc\n", 6, &pv, &err) == 0);
    LOAD_OK("n.txt", "u1 c x a\nu2 x y c\n", NULL, &ds); /* c=1 x=2 a=3 y=4 */
    SasrecConfig pc = sasrec_default_config(), cc = pc;
    pc.hidden = cc.hidden = 8;
    pc.n_items = 3;
    cc.n_items = ds.n_items;
    Sasrec parent, child, fresh;
    sasrec_init(&parent, &pc, 1);
    sasrec_init(&child, &cc, 2);
    sasrec_init(&fresh, &cc, 2);
    int64_t kept;
    ck_assert_msg(warm_start_check(&pc, &cc, &err) == 0, "%s", err.msg);
    ck_assert_msg(warm_start_apply(&child, &parent, &pv, &ds, &kept, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(kept, 2);
    const real *P = parent.item_emb.weight->data, *C = child.item_emb.weight->data, *F = fresh.item_emb.weight->data;
    ck_assert(memcmp(C + 1 * 8, P + 3 * 8, 8 * sizeof *C) == 0); /* c */
    ck_assert(memcmp(C + 3 * 8, P + 1 * 8, 8 * sizeof *C) == 0); /* a */
    ck_assert(memcmp(C + 2 * 8, F + 2 * 8, 8 * sizeof *C) == 0); /* x: new, as the seed made it */
    ck_assert(memcmp(C + 4 * 8, F + 4 * 8, 8 * sizeof *C) == 0); /* y */
    ck_assert(memcmp(child.pos_emb.weight->data, parent.pos_emb.weight->data,
                     (size_t)parent.pos_emb.weight->numel * sizeof(real)) == 0);
    SasrecConfig other = cc;
    other.hidden = 16;
    other.layers = 1;
    ck_assert(warm_start_check(&pc, &other, &err) == -1);
    ck_assert_msg(strstr(err.msg, "2 settings") && strstr(err.msg, "--hidden 8 (the parent) vs 16") &&
                      strstr(err.msg, "--layers 2 (the parent) vs 1"), "%s", err.msg);
    sasrec_free(&parent);
    sasrec_free(&child);
    sasrec_free(&fresh);
    dataset_free(&ds);
    dataset_free(&pv);
}
END_TEST

/* ---- the program ---- */

static int run(const char *args) { return fixture_run("", args, out, sizeof out, errout, sizeof errout); }

/* The value of "key" in the last JSON line of out, as text. */
static void last_value(const char *key, char *buf, size_t size) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *line = strrchr(out, '{'), *p = line ? strstr(line, pat) : NULL;
    ck_assert_msg(p != NULL, "no %s in %s", key, out);
    p += strlen(pat);
    size_t n = strcspn(p, ",}");
    ck_assert(n < size);
    memcpy(buf, p, n);
    buf[n] = '\0';
}

#define TINY_FLAGS "--hidden 8 --heads 1 --layers 1 --max-len 8 --epochs 2 --threads 1"

START_TEST(train_and_eval_by_time_agree_and_record_the_split) {
    fixture_tiny_csv(); /* every user at times 1000..1007 */
    int code = run("train --data {}/tiny.csv --split time --valid-from 1005 --test-from 1006 " TINY_FLAGS
                   " --out {}/m");
    ck_assert_msg(code == 2 && strstr(errout, "add --eval full"), "exit %d: %s", code, errout);
    code = run("train --data {}/tiny.csv --split time --test-from 1006 --eval full " TINY_FLAGS " --out {}/m");
    ck_assert_msg(code == 2 && strstr(errout, "needs --valid-from"), "exit %d: %s", code, errout);
    code = run("train --data {}/tiny.csv --test-from 1006 " TINY_FLAGS " --out {}/m");
    ck_assert_msg(code == 2 && strstr(errout, "--test-from goes with --split time"), "exit %d: %s", code, errout);
    code = run("train --data {}/tiny.csv --split time --valid-from 1005 --test-from 1006 --eval full " TINY_FLAGS
               " --out {}/m");
    ck_assert_msg(code == 0, "exit %d: %s", code, errout);
    ck_assert_msg(strstr(out, "time split: train 300 interactions of 60 users") &&
                      strstr(out, "test: 120 interactions, "), "%s", out);
    char ndcg[32], hr[32], pop[32], cfg[8192];
    last_value("NDCG@10", ndcg, sizeof ndcg);
    last_value("HR@20", hr, sizeof hr);
    last_value("popular_NDCG@10", pop, sizeof pop);
    slurp(fixture_path("m/config.json"), cfg, sizeof cfg);
    ck_assert_msg(strstr(cfg, "\"split\": \"time\"") && strstr(cfg, "\"valid_from\": \"1005\"") &&
                      strstr(cfg, "\"test_from\": \"1006\""), "%s", cfg);
    code = run("eval --model {}/m --data {}/tiny.csv --threads 2");
    ck_assert_msg(code == 0, "exit %d: %s", code, errout);
    char ndcg2[32], hr2[32];
    last_value("NDCG@10", ndcg2, sizeof ndcg2);
    last_value("HR@20", hr2, sizeof hr2);
    ck_assert_msg(strcmp(ndcg, ndcg2) == 0 && strcmp(hr, hr2) == 0, "train %s %s, eval %s %s", ndcg, hr, ndcg2, hr2);
    ck_assert_msg(strstr(errout, "the model's protocol, full"), "%s", errout); /* config.json's "eval" */
    ck_assert(run("eval --model {}/m --data {}/tiny.csv --eval sample") == 0); /* the split overrules the flag */
    ck_assert_msg(strstr(out, "every test row ranks every item"), "%s", out);
    /* compare scores the split's rows, full ranking (a model against itself: difference 0 on each of the rows),
     * and refuses a model of another split */
    code = run("compare --model {}/m --model {}/m --data {}/tiny.csv --threads 1");
    ck_assert_msg(code == 0 && strstr(out, "compare (full, ") && strstr(out, "\"NDCG@10_diff\": 0.000000"),
                  "exit %d: %s %s", code, out, errout);
    code = run("train --data {}/tiny.csv " TINY_FLAGS " --out {}/loo");
    ck_assert_msg(code == 0, "exit %d: %s", code, errout);
    code = run("compare --model {}/m --model {}/loo --data {}/tiny.csv --threads 1");
    ck_assert_msg(code == 2 && strstr(errout, "trained on different splits") && strstr(errout, "leave-one-out"),
                  "exit %d: %s", code, errout);
    /* data without times */
    fixture_tiny_seq();
    code = run("train --data {}/tiny.txt --split time --valid-from 1005 --test-from 1006 --eval full " TINY_FLAGS
               " --out {}/s");
    ck_assert_msg(code == 1 && strstr(errout, "--split time needs the time of each interaction, and seq data has "
                                              "none"), "exit %d: %s", code, errout);
    ck_assert_int_eq(fixture_count_entries("s"), 0);
}
END_TEST

START_TEST(init_starts_from_a_parent_and_records_its_digest) {
    fixture_tiny_csv();
    int code = run("train --data {}/tiny.csv " TINY_FLAGS " --out {}/p");
    ck_assert_msg(code == 0, "exit %d: %s", code, errout);
    code = run("train --data {}/tiny.csv --hidden 16 --heads 1 --layers 2 --max-len 8 --epochs 1 --init {}/p "
               "--out {}/w");
    ck_assert_msg(code == 2 && strstr(errout, "--hidden 8 (the parent) vs 16") &&
                      strstr(errout, "--layers 1 (the parent) vs 2"), "exit %d: %s", code, errout);
    ck_assert_int_eq(fixture_count_entries("w"), 0);
    code = run("train --data {}/tiny.csv " TINY_FLAGS " --init {}/p --out {}/w");
    ck_assert_msg(code == 0, "exit %d: %s", code, errout);
    ck_assert_msg(strstr(out, "138 of 138 items keep their rows, 0 new"), "%s", out); /* the same data */
    char pc[8192], wc[8192];
    slurp(fixture_path("p/config.json"), pc, sizeof pc);
    slurp(fixture_path("w/config.json"), wc, sizeof wc);
    const char *m = strstr(pc, "\"model_sha256\": \"");
    ck_assert(m != NULL);
    char want[128];
    snprintf(want, sizeof want, "\"parent_model_sha256\": \"%.64s\"", m + strlen("\"model_sha256\": \""));
    ck_assert_msg(strstr(wc, want), "%s lacks %s", wc, want);
}
END_TEST

static Suite *retrain_suite(void) {
    Suite *s = suite_create("retrain");
    TCase *tc = fixture_tcase("retrain");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, the_time_split_trains_before_and_scores_each_later_interaction);
    tcase_add_test(tc, a_split_without_times_or_with_an_empty_part_is_refused_with_the_counts);
    tcase_add_test(tc, popular_ranks_of_rows_agree_with_eval);
    tcase_add_test(tc, the_warm_start_keeps_known_rows_and_refuses_other_shapes);
    tcase_add_test(tc, train_and_eval_by_time_agree_and_record_the_split);
    tcase_add_test(tc, init_starts_from_a_parent_and_records_its_digest);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(retrain_suite)
