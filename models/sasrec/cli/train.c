/* sasrec train */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/peak_rss.h"
#include "models/sasrec/cli/commands.h"
#include "models/sasrec/cli/common.h"
#include "models/sasrec/data/idmap.h"
#include "models/sasrec/train.h"

static const char *USAGE = "usage: sasrec train [--data PATH] [flags]\n"
                           "Trains SASRec (on built-in synthetic data without --data), keeps the best epoch by the\n"
                           "validation metric, tests it, and writes the model folder (--out). The last line of\n"
                           "stdout is a JSON object with the test metrics.";

static void print_summary(const RunConfig *c, const TrainResult *r, double seconds) {
    const char *k10 = "HR@10", *n10 = "NDCG@10";
    printf("test (%s, best epoch %d of %d): %s %.4f, %s %.4f; most popular: %s %.4f, %s %.4f\n",
           metrics_protocol_name(c->eval.protocol), r->best_epoch, r->epochs_run, k10, metrics_get(&r->test, k10), n10,
           metrics_get(&r->test, n10), k10, metrics_get(&r->popular, k10), n10, metrics_get(&r->popular, n10));
    printf("{");
    metrics_write_json(&r->test, stdout);
    printf(", \"protocol\": \"%s\", \"epochs\": %d, \"best_epoch\": %d, \"early_stopped\": %s, \"first_loss\": %.6f, "
           "\"last_loss\": %.6f, \"train_s_per_epoch\": %.3f, \"eval_s_per_epoch\": %.3f, \"seconds\": %.1f, "
           "\"popular_HR@10\": %.6f, \"popular_NDCG@10\": %.6f, \"peak_rss_mib\": %.1f}\n",
           metrics_protocol_name(c->eval.protocol), r->epochs_run, r->best_epoch, r->early_stopped ? "true" : "false",
           r->first_loss, r->last_loss, r->train_seconds / r->epochs_run, r->eval_seconds / r->epochs_run, seconds,
           metrics_get(&r->popular, k10), metrics_get(&r->popular, n10), peak_rss_mib());
}

int app_train(int argc, char **argv) {
    RunConfig c = config_defaults();
    int created = 0;
    int rc = app_parse("train", USAGE, argc, argv, &c, config_train_flags);
    if (rc != APP_CONTINUE) return rc;
    NnError err;
    if ((c.data && app_check_input("train", "--data", c.data, &err)) ||
        (c.sample_file && app_check_input("train", "--sample-file", c.sample_file, &err)) ||
        app_prepare_dir("train", "--out", c.out, &created, &err)) {
        fprintf(stderr, "sasrec %s\n", err.msg);
        return 2;
    }
    double started = clock_seconds();
    Dataset ds = {0};
    SampleSet samples = {0};
    Sasrec s = {0};
    int code = 1;
    if (app_load_data(&c, NULL, DATASET_MIN_INTERACTIONS, &ds, &err)) goto fail;
    char summary[512];
    dataset_summary(&ds, summary, sizeof summary);
    printf("data: %s\n", summary);
    SasrecConfig *mc = &c.model;
    mc->n_items = ds.n_items;
    if (app_plan(PLAN_TRAIN, &c, mc, &ds, &err)) {
        code = 2;
        goto fail;
    }
    if (c.eval.protocol == PROTOCOL_SAMPLE && app_samples(&c, &ds, &samples, &err)) goto fail;
    if (idmap_write(c.out, &ds, &err) || config_write(c.out, &c, &err)) goto fail;
    /* parameters, gradients and two Adam moments, mostly the item table */
    double gib = 4.0 * sizeof(real) *
                 (double)((ds.n_items + 1 + mc->max_len) * mc->hidden + mc->layers * 12 * mc->hidden * mc->hidden) /
                 (1 << 30);
    if (gib > 16) {
        nn_fail(&err,
                "a model of --hidden %lld over %lld items and %d layers needs %.1f GiB for its weights, "
                "gradients and Adam moments; use a smaller --hidden",
                (long long)mc->hidden, (long long)ds.n_items, mc->layers, gib);
        goto fail;
    }
    sasrec_init(&s, mc, c.train.seed);
    printf("model: %lld parameters, %s step, %d threads\n", (long long)module_num_params(&s.m),
           c.train.dense ? "dense" : "length-aware", c.threads);
    fflush(stdout);
    c.eval.samples = &samples;
    TrainResult res;
    TrainStatus st = train_run(&s, &ds, &c.train, &c.eval, c.out, stdout, &res, &err);
    if (st != TRAIN_OK) {
        code = st == TRAIN_NOT_FINITE ? 3 : 1;
        goto fail;
    }
    print_summary(&c, &res, clock_seconds() - started);
    code = 0;
    goto done;
fail:
    app_fail("train", &err, code);
    if (created) rmdir(c.out); /* a folder this run made and left empty goes again (a non-empty one stays) */
done:
    sasrec_free(&s);
    sample_free(&samples);
    dataset_free(&ds);
    return code;
}
