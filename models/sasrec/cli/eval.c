/* sasrec eval */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/memory.h"
#include "models/sasrec/bootstrap.h"
#include "models/sasrec/cli/commands.h"
#include "models/sasrec/cli/model_dir.h"
#include "models/sasrec/cli/retrain.h"
#include "models/sasrec/eval.h"

static const char *USAGE =
    "usage: sasrec eval --model DIR [--data PATH] [flags]\n"
    "Evaluates a trained model on the test split (each user's last item) of --data, which must\n"
    "be the data the model was trained on (without it: the built-in synthetic data, for a model\n"
    "trained on it; any other model asks for --data). Each metric comes with its 95% interval\n"
    "(bootstrap over users, --resamples from --seed); full ranking adds catalogue coverage at 5, 10\n"
    "and 20. The last line of stdout is a JSON object.";

/* eval's flags: config_eval_flags and the intervals'. */
static int eval_table(RunConfig *c, Flag *f) {
    int n = config_eval_flags(c, f);
    f[n++] = F_INT("--seed", &c->train.seed, 0, 9.2e18, "seed of the bootstrap's resamples");
    f[n++] = F_INT("--resamples", &c->eval.resamples, 0, BOOTSTRAP_MAX_RESAMPLES,
                   "bootstrap resamples of each metric's 95% interval (0: no intervals)");
    return n;
}

/* The human-readable table: each metric, its interval, then the coverage. */
static void print_table(const Metrics *m, const MetricsInterval *ci, const EvalCoverage *cov) {
    if (ci)
        printf("test (%s, %lld users): 95%% intervals by the bootstrap over users, %d resamples, seed %llu\n",
               metrics_protocol_name(m->protocol), (long long)m->users, ci->resamples, (unsigned long long)ci->seed);
    for (int k = 0; k < m->n; k++) {
        printf("  %-12s %.6f", m->name[k], m->value[k]);
        if (ci) printf("  [%.6f, %.6f]", ci->lo[k], ci->hi[k]);
        printf("\n");
    }
    for (int k = 0; cov && k < cov->n; k++)
        printf("  coverage@%-3d %.6f  (items in at least one user's top %d, of %lld)\n", cov->k[k], cov->value[k],
               cov->k[k], (long long)cov->items);
}

/* eval's JSON line: the metrics, protocol, users and seconds as always, then the intervals and the coverage. */
static void print_json(const Metrics *m, const MetricsInterval *ci, const EvalCoverage *cov, double seconds) {
    printf("{");
    metrics_write_json(m, stdout);
    printf(", \"protocol\": \"%s\", \"users\": %lld, \"seconds\": %.2f", metrics_protocol_name(m->protocol),
           (long long)m->users, seconds);
    for (int k = 0; ci && k < ci->n; k++) printf(", \"%s_ci\": [%.6f, %.6f]", ci->name[k], ci->lo[k], ci->hi[k]);
    if (ci) printf(", \"ci_resamples\": %d, \"ci_seed\": %llu", ci->resamples, (unsigned long long)ci->seed);
    if (cov) {
        printf(", ");
        eval_coverage_write_json(cov, stdout);
    }
    printf("}\n");
}

/* Ranks the test split, then prints the metrics, their intervals and (full ranking) the coverage. */
static int evaluate(const RunConfig *c, LoadedModel *lm, const Dataset *ds, double started, NnError *err) {
    int64_t *rank = nn_malloc((size_t)(ds->n_users ? ds->n_users : 1) * sizeof *rank);
    EvalCoverage cov;
    int full = c->eval.protocol == PROTOCOL_FULL;
    if (full)
        eval_rank_model_coverage(&lm->model, ds, SPLIT_TEST, &c->eval, rank, &cov);
    else
        eval_rank_model(&lm->model, ds, SPLIT_TEST, &c->eval, rank);
    Metrics m = metrics_from_ranks(c->eval.protocol, rank, ds->n_users);
    if (m.nonfinite) { /* NaN compares false: such scores would rank as hits */
        free(rank);
        return nn_fail(err, "the model gives NaN or infinite scores for %lld of %lld users; its metrics would mean "
                            "nothing (retrain it)", (long long)m.nonfinite, (long long)m.users);
    }
    MetricsInterval ci = {0};
    if (c->eval.resamples > 0) { /* --split time: several rows per user, resampled together */
        int64_t *user = c->split == SPLIT_KIND_TIME ? bootstrap_row_users(ds->user_ids, ds->n_users) : NULL;
        ci = bootstrap_interval(c->eval.protocol, rank, user, ds->n_users, c->eval.resamples, c->train.seed);
        free(user);
    }
    free(rank);
    print_table(&m, c->eval.resamples > 0 ? &ci : NULL, full ? &cov : NULL);
    print_json(&m, c->eval.resamples > 0 ? &ci : NULL, full ? &cov : NULL, clock_seconds() - started);
    return 0;
}

int app_eval(int argc, char **argv) {
    RunConfig c = config_defaults();
    int rc = app_parse("eval", USAGE, argc, argv, &c, eval_table);
    if (rc != APP_CONTINUE) return rc;
    NnError err;
    if (!c.model_dir) {
        fprintf(stderr, "sasrec eval: --model DIR is required (a folder written by sasrec train)\n");
        return APP_EXIT_USAGE;
    }
    if (app_check_model_dir("eval", c.model_dir, &err) || (c.data && app_check_input("eval", "--data", c.data, &err)) ||
        (c.sample_file && app_check_input("eval", "--sample-file", c.sample_file, &err))) {
        fprintf(stderr, "sasrec %s\n", err.msg);
        return APP_EXIT_USAGE;
    }
    double started = clock_seconds();
    LoadedModel lm;
    Dataset ds = {0};
    TimeSplit ts = {0};
    SampleSet samples = {0};
    int code = 1;
    if (app_load_model(&c, &lm, &err)) return app_fail("eval", &err, APP_EXIT_DATA);
    app_note_legacy("eval", &c, &lm);
    app_model_protocol("eval", argc, argv, &c);
    if (app_check_data_for_model("eval", &c, &err)) {
        fprintf(stderr, "sasrec %s\n", err.msg);
        app_free_model(&lm);
        return APP_EXIT_USAGE;
    }
    if (c.split == SPLIT_KIND_TIME) { /* the model's split, from its config.json: ds holds the test rows */
        if (app_eval_time_split(&c, &lm.vocab, &ts, &err)) goto fail;
        ds = ts.test;
        memset(&ts.test, 0, sizeof ts.test);
    } else {
        if (app_load_data(&c, &lm.vocab, DATASET_MIN_INTERACTIONS, &ds, &err)) goto fail;
        char summary[512];
        dataset_summary(&ds, summary, sizeof summary);
        printf("data: %s\n", summary);
    }
    if (app_plan(PLAN_EVAL, &c, &lm.model.cfg, &ds, &err)) {
        code = APP_EXIT_USAGE;
        goto fail;
    }
    if (c.eval.protocol == PROTOCOL_SAMPLE && app_samples(&c, &ds, &samples, &err)) goto fail;
    c.eval.samples = &samples;
    if (evaluate(&c, &lm, &ds, started, &err)) goto fail;
    code = 0;
    goto done;
fail:
    code = app_fail("eval", &err, code);
done:
    sample_free(&samples);
    dataset_free(&ds);
    timesplit_free(&ts);
    app_free_model(&lm);
    return code;
}
