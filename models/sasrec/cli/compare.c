/* sasrec compare: two models on the same evaluation rows, the paired difference of each metric. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/memory.h"
#include "io/json.h"
#include "models/sasrec/bootstrap.h"
#include "models/sasrec/cli/commands.h"
#include "models/sasrec/cli/model_dir.h"
#include "models/sasrec/cli/retrain.h"
#include "models/sasrec/eval.h"

static const char *USAGE =
    "usage: sasrec compare --data PATH --model A --model B [flags]\n"
    "Ranks the test split of --data (the data both models were trained on) under model A and model B,\n"
    "the same rows, protocol and negatives for both, and prints for each metric A, B, the paired\n"
    "difference B - A with its 95% interval (bootstrap over users) and a two-sided p-value (paired\n"
    "sign-flip test), --resamples of each from --seed. The two models must have the same item map\n"
    "(items.txt). The last line of stdout is a JSON object.";

/* compare's flags: eval's, with --resamples at least 1. */
static int compare_table(RunConfig *c, Flag *f) {
    int n = config_eval_flags(c, f);
    f[n++] = F_INT("--seed", &c->train.seed, 0, 9.2e18, "seed of the bootstrap's resamples and sign flips");
    f[n++] = F_INT("--resamples", &c->eval.resamples, 1, BOOTSTRAP_MAX_RESAMPLES,
                   "bootstrap resamples of each interval, and sign flips of each p-value");
    return n;
}

/* Takes every "--model X" and "--model=X" out of argv (the rest kept in order in rest, *n_rest of them) into
 * model[0..2); returns how many there were. A value of another flag is never taken for one. */
static int take_models(RunConfig *c, int argc, char **argv, char **rest, int *n_rest, const char *model[2]) {
    Flag flags[CONFIG_MAX_FLAGS];
    int nf = compare_table(c, flags), found = 0;
    *n_rest = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--model") == 0 && i + 1 < argc) {
            if (found < 2) model[found] = argv[i + 1];
            found++;
            i++;
            continue;
        }
        if (strncmp(a, "--model=", 8) == 0) {
            if (found < 2) model[found] = a + 8;
            found++;
            continue;
        }
        rest[(*n_rest)++] = argv[i];
        for (int k = 0; k < nf; k++) /* a flag taking a value: its value goes with it */
            if (strcmp(a, flags[k].name) == 0 && flags[k].type != FLAG_SWITCH && i + 1 < argc)
                rest[(*n_rest)++] = argv[++i];
    }
    return found;
}

/* 0 if A and B number the same items alike (their items.txt); else a message naming the first difference. */
static int same_items(const LoadedModel *a, const LoadedModel *b, const char *dir_a, const char *dir_b,
                      NnError *err) {
    if (a->vocab.n_items != b->vocab.n_items)
        return nn_fail(err, "compare: the models know different items (items.txt): %s has %lld, %s has %lld; compare "
                            "models trained on the same data", dir_a, (long long)a->vocab.n_items, dir_b,
                       (long long)b->vocab.n_items);
    for (int64_t j = 1; j <= a->vocab.n_items; j++)
        if (strcmp(a->vocab.item_ids[j], b->vocab.item_ids[j]) != 0)
            return nn_fail(err, "compare: the models number their items differently (items.txt line %lld: '%s' in %s, "
                                "'%s' in %s); compare models trained on the same data", (long long)j,
                           a->vocab.item_ids[j], dir_a, b->vocab.item_ids[j], dir_b);
    return 0;
}

/* The table: per metric A, B, B - A, its interval, p and the users for and against. */
static void print_table(const Metrics *ma, const Metrics *mb, const MetricsPaired *d) {
    printf("compare (%s, %lld users): B - A, 95%% interval by the bootstrap over users, two-sided p of the paired "
           "sign-flip test; %d resamples each, seed %llu\n", metrics_protocol_name(ma->protocol), (long long)d->users,
           d->resamples, (unsigned long long)d->seed);
    printf("  %-8s %9s %9s %10s  %-23s %8s  %s\n", "metric", "A", "B", "B - A", "95% interval", "p",
           "users B better / worse");
    for (int k = 0; k < d->n; k++)
        printf("  %-8s %9.6f %9.6f %+10.6f  [%+.6f, %+.6f] %8.4f  %lld / %lld\n", d->name[k], ma->value[k],
               mb->value[k], d->diff[k], d->lo[k], d->hi[k], d->p[k], (long long)d->better[k], (long long)d->worse[k]);
}

static void print_json(const char *dir_a, const char *dir_b, const Metrics *ma, const Metrics *mb,
                       const MetricsPaired *d, double seconds) {
    printf("{\"model_a\": ");
    json_write_string(stdout, dir_a, strlen(dir_a), NULL);
    printf(", \"model_b\": ");
    json_write_string(stdout, dir_b, strlen(dir_b), NULL);
    printf(", \"difference\": \"B - A\", \"protocol\": \"%s\", \"users\": %lld", metrics_protocol_name(ma->protocol),
           (long long)d->users);
    for (int k = 0; k < d->n; k++)
        printf(", \"%s_a\": %.6f, \"%s_b\": %.6f, \"%s_diff\": %.6f, \"%s_diff_ci\": [%.6f, %.6f], \"%s_p\": %.6f",
               d->name[k], ma->value[k], d->name[k], mb->value[k], d->name[k], d->diff[k], d->name[k], d->lo[k],
               d->hi[k], d->name[k], d->p[k]);
    printf(", \"test\": \"sign-flip\", \"resamples\": %d, \"seed\": %llu, \"seconds\": %.2f}\n", d->resamples,
           (unsigned long long)d->seed, seconds);
}

/* Ranks the rows under both models, refuses non-finite scores, prints the comparison. */
static int compare(const RunConfig *c, LoadedModel lm[2], const char *dir[2], const Dataset *ds, double started,
                   NnError *err) {
    int64_t n = ds->n_users, *rank[2];
    Metrics m[2];
    for (int k = 0; k < 2; k++) {
        rank[k] = nn_malloc((size_t)(n ? n : 1) * sizeof *rank[k]);
        eval_rank_model(&lm[k].model, ds, SPLIT_TEST, &c->eval, rank[k]);
        m[k] = metrics_from_ranks(c->eval.protocol, rank[k], n);
    }
    int bad = m[0].nonfinite ? 0 : m[1].nonfinite ? 1 : -1;
    if (bad < 0) {
        int64_t *user = c->split == SPLIT_KIND_TIME ? bootstrap_row_users(ds->user_ids, n) : NULL; /* rows by user */
        MetricsPaired d = bootstrap_paired(c->eval.protocol, rank[0], rank[1], user, n, c->eval.resamples,
                                           c->train.seed);
        free(user);
        print_table(&m[0], &m[1], &d);
        print_json(dir[0], dir[1], &m[0], &m[1], &d, clock_seconds() - started);
    } else {
        nn_fail(err, "model %s gives NaN or infinite scores for %lld of %lld users; its metrics would mean nothing "
                     "(retrain it)", dir[bad], (long long)m[bad].nonfinite, (long long)n);
    }
    free(rank[0]);
    free(rank[1]);
    return bad < 0 ? 0 : -1;
}

/* The rows both models are scored on must be the same: a model trained with --split time is scored on its
 * split's test rows (as eval does), so both must carry the same split. 0, or -1 with a message. */
static int same_split(const RunConfig ck[2], const char *dir[2], NnError *err) {
    int same = ck[0].split == ck[1].split;
    if (same && ck[0].split == SPLIT_KIND_TIME)
        same = strcmp(ck[0].valid_from, ck[1].valid_from) == 0 && strcmp(ck[0].test_from, ck[1].test_from) == 0;
    if (same) return 0;
    char a[96], b[96];
    for (int k = 0; k < 2; k++)
        snprintf(k ? b : a, sizeof a, ck[k].split == SPLIT_KIND_TIME ? "--split time, valid from %s, test from %s"
                                                                      : "leave-one-out%s%s",
                 ck[k].split == SPLIT_KIND_TIME ? ck[k].valid_from : "",
                 ck[k].split == SPLIT_KIND_TIME ? ck[k].test_from : "");
    return nn_fail(err, "compare: the models were trained on different splits (%s: %s; %s: %s), so they would not be "
                        "scored on the same rows; compare models trained with the same --split", dir[0], a, dir[1], b);
}

/* Checks the two folders and the inputs, then loads both models (ck[k] each model's settings): 0, or the exit
 * code after printing the message, nothing left loaded. */
static int load_models(RunConfig ck[2], const char *dir[2], LoadedModel lm[2]) {
    NnError err;
    for (int k = 0; k < 2; k++)
        if (app_check_model_dir("compare", dir[k], &err)) goto usage;
    if ((ck[0].data && app_check_input("compare", "--data", ck[0].data, &err)) ||
        (ck[0].sample_file && app_check_input("compare", "--sample-file", ck[0].sample_file, &err)))
        goto usage;
    for (int k = 0; k < 2; k++) {
        ck[k].model_dir = dir[k];
        if (app_load_model(&ck[k], &lm[k], &err)) {
            if (k) app_free_model(&lm[0]);
            return app_fail("compare", &err, APP_EXIT_DATA);
        }
        app_note_legacy("compare", &ck[k], &lm[k]);
    }
    if (app_check_data_for_model("compare", &ck[0], &err) || app_check_data_for_model("compare", &ck[1], &err) ||
        same_split(ck, dir, &err) || same_items(&lm[0], &lm[1], dir[0], dir[1], &err)) {
        app_free_model(&lm[0]);
        app_free_model(&lm[1]);
        goto usage;
    }
    return 0;
usage:
    fprintf(stderr, "sasrec %s\n", err.msg);
    return APP_EXIT_USAGE;
}

/* The data, its summary, both models' memory plans and the negatives, then the comparison. */
static int run(RunConfig ck[2], LoadedModel lm[2], const char *dir[2], double started, NnError *err) {
    Dataset ds = {0};
    TimeSplit ts = {0};
    SampleSet samples = {0};
    int code = APP_EXIT_DATA;
    if (ck[0].split == SPLIT_KIND_TIME) { /* both models' split (same_split): ds holds its test rows */
        if (app_eval_time_split(&ck[0], &lm[0].vocab, &ts, err)) goto done;
        ds = ts.test;
        memset(&ts.test, 0, sizeof ts.test);
        printf("A: %s\nB: %s\n", dir[0], dir[1]);
    } else {
        if (app_load_data(&ck[0], &lm[0].vocab, DATASET_MIN_INTERACTIONS, &ds, err)) goto done;
        char summary[512];
        dataset_summary(&ds, summary, sizeof summary);
        printf("data: %s\nA: %s\nB: %s\n", summary, dir[0], dir[1]);
    }
    for (int k = 0; k < 2; k++)
        if (app_plan(PLAN_EVAL, &ck[k], &lm[k].model.cfg, &ds, err)) {
            code = APP_EXIT_USAGE;
            goto done;
        }
    if (ck[0].eval.protocol == PROTOCOL_SAMPLE && app_samples(&ck[0], &ds, &samples, err)) goto done;
    ck[0].eval.samples = &samples;
    if (compare(&ck[0], lm, dir, &ds, started, err) == 0) code = 0;
done:
    sample_free(&samples);
    dataset_free(&ds);
    timesplit_free(&ts);
    return code;
}

int app_compare(int argc, char **argv) {
    RunConfig c = config_defaults();
    char **rest = nn_malloc((size_t)(argc + 1) * sizeof *rest);
    const char *dir[2] = {NULL, NULL};
    int n_rest, found = take_models(&c, argc, argv, rest, &n_rest, dir);
    int rc = app_parse("compare", USAGE, n_rest, rest, &c, compare_table);
    free(rest);
    if (rc != APP_CONTINUE) return rc;
    if (found != 2) {
        fprintf(stderr, "sasrec compare: give exactly two model folders, --model A --model B (got %d --model)\n",
                found);
        return APP_EXIT_USAGE;
    }
    NnError err;
    RunConfig ck[2] = {c, c};
    LoadedModel lm[2];
    double started = clock_seconds();
    int code = load_models(ck, dir, lm);
    if (code) return code;
    if (ck[0].model_protocol != ck[1].model_protocol) { /* no one protocol: the flag's, and a word about it */
        ck[0].model_protocol = -1;
        if (!app_eval_given(argc, argv))
            fprintf(stderr, "sasrec compare: the two models were selected by different protocols; ranking both by "
                            "%s (the default): --eval to choose\n", metrics_protocol_name(ck[0].eval.protocol));
    }
    app_model_protocol("compare", argc, argv, &ck[0]);
    ck[1].eval.protocol = ck[0].eval.protocol;
    code = run(ck, lm, dir, started, &err);
    if (code) code = app_fail("compare", &err, code);
    app_free_model(&lm[0]);
    app_free_model(&lm[1]);
    return code;
}
