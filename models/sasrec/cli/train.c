/* sasrec train */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/dist.h"
#include "base/memory.h"
#include "io/tempfiles.h"
#include "models/sasrec/cli/commands.h"
#include "models/sasrec/cli/common.h"
#include "models/sasrec/cli/rank_inputs.h"
#include "models/sasrec/cli/retrain.h"
#include "models/sasrec/cli/signals.h"
#include "models/sasrec/cli/stage.h"
#include "models/sasrec/data/idmap.h"
#include "models/sasrec/data/popularity.h"
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
           metrics_get(&r->popular, k10), metrics_get(&r->popular, n10), memory_peak_rss_mib());
}

/* Why the run ended without a model, as one line with what became of --out. */
static int report_failure(const RunConfig *c, TrainStatus st, NnError *err) {
    int code = st == TRAIN_NOT_FINITE ? APP_EXIT_NOT_FINITE
               : st == TRAIN_STOPPED  ? signals_exit_code()
                                      : APP_EXIT_DATA;
    if (st == TRAIN_STOPPED) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        nn_fail(err, "%s by %s", msg, signals_name());
    }
    size_t n = strlen(err->msg);
    snprintf(err->msg + n, sizeof err->msg - n, "; --out %s was left as it was", c->out);
    return app_fail("train", err, code);
}

static Stage *oom_stage;   /* the run's staging (rank 0), for out_of_memory; NULL before and after */
static const char *oom_out; /* --out */

/* A failed allocation during the run (ulimit -v, RLIMIT_DATA, a full machine without overcommit), on any
 * thread: the staging folder goes, --out stays as it was, and the job ends with exit 4 (not an abort). */
static void out_of_memory(size_t bytes) {
    static atomic_flag once = ATOMIC_FLAG_INIT;
    if (atomic_flag_test_and_set(&once))
        for (;;) pause(); /* another thread is ending the process */
    fprintf(stderr, "sasrec train: out of memory allocating %zu bytes during the run; --out %s was left as it was; "
            "lower --batch, --max-len, --negatives or --eval-batch, or raise the memory limit\n", bytes,
            oom_out ? oom_out : "");
    tempfiles_remove_all(); /* files being written into the staging folder, and the folder */
    if (oom_stage) stage_abandon(oom_stage); /* and --out itself if this run made it */
    if (dist_size() > 1) {
        fprintf(stderr, "sasrec train: rank %d of %d failed (exit %d); ending the job\n", dist_rank(), dist_size(),
                APP_EXIT_RESOURCES);
        dist_abort(APP_EXIT_RESOURCES);
    }
    _exit(APP_EXIT_RESOURCES);
}

int app_train(int argc, char **argv) {
    RunConfig c = config_defaults();
    int rc = app_parse("train", USAGE, argc, argv, &c, config_train_flags);
    if (rc != APP_CONTINUE) return rc;
    NnError err;
    if ((c.data && app_check_input("train", "--data", c.data, &err)) ||
        (c.sample_file && app_check_input("train", "--sample-file", c.sample_file, &err))) {
        fprintf(stderr, "sasrec %s\n", err.msg);
        return APP_EXIT_USAGE;
    }
    if (dist_size() > c.train.shards) {
        fprintf(stderr, "sasrec train: --shards %d is fewer than the %d ranks of this job; give --shards %d or more "
                "(a multiple of the rank count keeps the ranks evenly busy)\n", c.train.shards, dist_size(),
                dist_size());
        return APP_EXIT_USAGE;
    }
    /* under mpirun every rank reads its own copy of the inputs: all must be the same before any work */
    if (rank_inputs_check(&c, argc, argv, &err)) {
        if (dist_rank() == 0) {
            fprintf(stderr, "sasrec %s\n", err.msg);
            fflush(stderr);
        }
        char sync = 0;
        dist_bcast(&sync, 1, 0); /* rank 0's message is out before any rank ends the job */
        return APP_EXIT_DATA;
    }
    /* the model folder is written whole or not at all: every file goes to a staging folder first (stage.h);
     * in an MPI job by rank 0 alone, the others never touch --out */
    int lead = dist_rank() == 0;
    Stage stage;
    const char *inputs[] = {c.data, c.sample_file};
    Retrain rt = {0}; /* --init is checked before any work */
    if (app_warm_start_load(&c, &rt, &err) || (lead && (app_check_outside_models("train", "--out", c.out, &err) ||
                                                        stage_begin(&stage, c.out, c.force, inputs, 2, &err)))) {
        fprintf(stderr, "sasrec %s\n", err.msg);
        app_retrain_free(&rt);
        return err.resource ? APP_EXIT_RESOURCES : APP_EXIT_USAGE;
    }
    if (lead) stage_note_leftovers(&stage, "train");
    oom_out = c.out;
    oom_stage = lead ? &stage : NULL;
    nn_set_out_of_memory(out_of_memory);
    double started = clock_seconds();
    Dataset ds = {0};
    SampleSet samples = {0};
    Sasrec s = {0};
    int code = APP_EXIT_DATA;
    TrainStatus st = TRAIN_ERROR;
    c.train.stop = signals_stop_flag();
    if (app_train_data(&c, &ds, &rt, &err)) goto fail;
    SasrecConfig *mc = &c.model;
    mc->n_items = ds.n_items;
    if (app_plan(PLAN_TRAIN, &c, mc, &ds, &err)) { /* before the evaluation negatives: they can take long */
        report_failure(&c, TRAIN_ERROR, &err); /* prints the estimate; the exit code is the plan's */
        code = APP_EXIT_USAGE;
        goto abandon;
    }
    if (c.eval.protocol == PROTOCOL_SAMPLE && app_samples(&c, &ds, &samples, &err)) goto fail;
    /* parameters, gradients and two Adam moments, mostly the item table */
    double gib = 4.0 * sizeof(real) *
                 (double)((ds.n_items + 1 + mc->max_len) * mc->hidden + mc->layers * 12 * mc->hidden * mc->hidden) /
                 (1 << 30);
    if (gib > 16) {
        nn_fail_resource(&err,
                         "a model of --hidden %lld over %lld items and %d layers needs %.1f GiB for its weights, "
                         "gradients and Adam moments; use a smaller --hidden",
                         (long long)mc->hidden, (long long)ds.n_items, mc->layers, gib);
        goto fail;
    }
    if (lead && (idmap_write(stage.dir, &ds, &err) || popularity_write(stage.dir, &ds, &err))) goto fail;
    if (app_init_model(&c, &s, &rt, &ds, &err)) goto fail; /* sasrec_init, then --init's weights */
    printf("model: %lld parameters, %s step, %d threads", (long long)module_num_params(&s.m),
           c.train.dense ? "dense" : "length-aware", c.threads);
    if (c.train.shards > 1 || dist_size() > 1) printf(", %d shards on %d ranks", c.train.shards, dist_size());
    printf("\n");
    fflush(stdout);
    c.eval.samples = &samples;
    TrainResult res;
    if (atomic_load(c.train.stop)) { /* a signal while the data loaded */
        st = TRAIN_STOPPED;
        nn_fail(&err, "stopped before training");
        code = report_failure(&c, st, &err);
        goto abandon;
    }
    st = train_run(&s, &ds, &c.train, &c.eval, lead ? stage.dir : NULL, stdout, &res, &err);
    if (st != TRAIN_OK) {
        code = report_failure(&c, st, &err);
        goto abandon;
    }
    if (lead && (stage_finish(&stage, &c, &err) || stage_swap(&stage, &err))) goto fail;
    if (lead && stage.kept[0])
        fprintf(stderr, "sasrec train: note: the previous contents of %s are kept whole as %s\n", stage.target,
                stage.kept);
    print_summary(&c, &res, clock_seconds() - started);
    code = 0;
    goto done;
fail:
    code = report_failure(&c, TRAIN_ERROR, &err);
abandon:
    if (lead) stage_abandon(&stage);
done:
    nn_set_out_of_memory(NULL);
    oom_stage = NULL;
    sasrec_free(&s);
    sample_free(&samples);
    dataset_free(&ds);
    app_retrain_free(&rt);
    return code;
}
