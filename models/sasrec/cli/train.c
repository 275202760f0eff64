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
#include "models/sasrec/cli/resume.h"
#include "models/sasrec/cli/retrain.h"
#include "models/sasrec/cli/signals.h"
#include "models/sasrec/cli/stage.h"
#include "models/sasrec/data/idmap.h"
#include "models/sasrec/data/popularity.h"
#include "models/sasrec/train.h"

static const char *USAGE = "usage: sasrec train [--data PATH] [flags] [--resume]\n"
                           "Trains SASRec (on built-in synthetic data without --data), keeps the best epoch by the\n"
                           "validation metric, tests it, and writes the model folder (--out). The last line of\n"
                           "stdout is a JSON object with the test metrics. --resume continues the run a kill\n"
                           "interrupted (same flags and data) from its last finished epoch, to the same result.";

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

/* The checks before any work: the input files, --shards against the ranks, every rank the same inputs.
 * 0, or the exit code after a message. */
static int check_run(const RunConfig *c, int argc, char **argv, NnError *err) {
    if ((c->data && app_check_input("train", "--data", c->data, err)) ||
        (c->sample_file && app_check_input("train", "--sample-file", c->sample_file, err))) {
        fprintf(stderr, "sasrec %s\n", err->msg);
        return APP_EXIT_USAGE;
    }
    if (dist_size() > c->train.shards) {
        fprintf(stderr, "sasrec train: --shards %d is fewer than the %d ranks of this job; give --shards %d or more "
                "(a multiple of the rank count keeps the ranks evenly busy)\n", c->train.shards, dist_size(),
                dist_size());
        return APP_EXIT_USAGE;
    }
    /* under mpirun every rank reads its own copy of the inputs: all must be the same before any work */
    if (rank_inputs_check(c, argc, argv, err)) {
        if (dist_rank() == 0) {
            fprintf(stderr, "sasrec %s\n", err->msg);
            fflush(stderr);
        }
        char sync = 0;
        dist_bcast(&sync, 1, 0); /* rank 0's message is out before any rank ends the job */
        return APP_EXIT_DATA;
    }
    return 0;
}

/* The model folder is written whole or not at all: every file goes to a staging folder first (stage.h), in an
 * MPI job by rank 0 alone. It holds the run's identity (resume.h); with resume, a killed run's folder of the
 * same identity is taken over. 0, or the exit code after a message. */
static int begin_stage(RunConfig *c, Stage *stage, int resume, int argc, char **argv, NnError *err) {
    ResumeId id;
    const char *inputs[] = {c->data, c->sample_file};
    if (resume_id_make(&id, c, argc, argv, err)) {
        fprintf(stderr, "sasrec train: %s\n", err->msg);
        return APP_EXIT_USAGE;
    }
    int rc = app_check_outside_models("train", "--out", c->out, err) ||
             stage_begin(stage, c->out, c->force, inputs, 2, resume ? &id : NULL, err);
    if (!rc && !stage->resumed[0] && resume_id_write(stage->dir, &id, err)) {
        stage_abandon(stage);
        rc = 1;
    }
    resume_id_free(&id);
    if (rc) {
        fprintf(stderr, "sasrec %s\n", err->msg);
        return err->resource ? APP_EXIT_RESOURCES : APP_EXIT_USAGE;
    }
    if (resume && stage->resumed[0])
        fprintf(stderr, "sasrec train: resuming the run a kill left in %s\n", stage->resumed);
    else if (resume)
        fprintf(stderr, "sasrec train: note: --resume: no unfinished run of --out %s to continue; starting from the "
                        "first epoch\n", c->out);
    stage_note_leftovers(stage, "train");
    return 0;
}

/* The data, the memory plan, the evaluation negatives, the id files and the initialised model. 0, or the
 * exit code after a message (--out left as it was). */
static int prepare(RunConfig *c, const Stage *stage, Retrain *rt, Dataset *ds, SampleSet *samples, Sasrec *s,
                   NnError *err) {
    if (app_train_data(c, ds, rt, err)) return report_failure(c, TRAIN_ERROR, err);
    SasrecConfig *mc = &c->model;
    mc->n_items = ds->n_items;
    if (app_plan(PLAN_TRAIN, c, mc, ds, err)) { /* before the evaluation negatives: they can take long */
        report_failure(c, TRAIN_ERROR, err);    /* prints the estimate; the exit code is the plan's */
        return APP_EXIT_USAGE;
    }
    if (c->eval.protocol == PROTOCOL_SAMPLE && app_samples(c, ds, samples, err))
        return report_failure(c, TRAIN_ERROR, err);
    /* parameters, gradients and two Adam moments, mostly the item table */
    double gib = 4.0 * sizeof(real) *
                 (double)((ds->n_items + 1 + mc->max_len) * mc->hidden + mc->layers * 12 * mc->hidden * mc->hidden) /
                 (1 << 30);
    if (gib > 16) {
        nn_fail_resource(err,
                         "a model of --hidden %lld over %lld items and %d layers needs %.1f GiB for its weights, "
                         "gradients and Adam moments; use a smaller --hidden",
                         (long long)mc->hidden, (long long)ds->n_items, mc->layers, gib);
        return report_failure(c, TRAIN_ERROR, err);
    }
    if (stage && (idmap_write(stage->dir, ds, err) || popularity_write(stage->dir, ds, err)))
        return report_failure(c, TRAIN_ERROR, err);
    if (app_init_model(c, s, rt, ds, err)) return report_failure(c, TRAIN_ERROR, err); /* sasrec_init, then --init's weights */
    printf("model: %lld parameters, %s step, %d threads", (long long)module_num_params(&s->m),
           c->train.dense ? "dense" : "length-aware", c->threads);
    if (c->train.shards > 1 || dist_size() > 1) printf(", %d shards on %d ranks", c->train.shards, dist_size());
    printf("\n");
    fflush(stdout);
    c->eval.samples = samples;
    return 0;
}

/* The training run and the model folder put in place; 0, or the exit code after a message. */
static int run(RunConfig *c, Stage *stage, Dataset *ds, Sasrec *s, double started, NnError *err) {
    TrainResult res;
    if (atomic_load(c->train.stop)) { /* a signal while the data loaded */
        nn_fail(err, "stopped before training");
        return report_failure(c, TRAIN_STOPPED, err);
    }
    TrainStatus st = train_run(s, ds, &c->train, &c->eval, stage ? stage->dir : NULL, stdout, &res, err);
    if (st != TRAIN_OK) return report_failure(c, st, err);
    if (stage && (stage_finish(stage, c, err) || stage_swap(stage, err))) return report_failure(c, TRAIN_ERROR, err);
    if (stage && stage->kept[0])
        fprintf(stderr, "sasrec train: note: the previous contents of %s are kept whole as %s\n", stage->target,
                stage->kept);
    print_summary(c, &res, clock_seconds() - started);
    return 0;
}

int app_train(int argc, char **argv) {
    int resume = resume_take_flag(&argc, argv);
    RunConfig c = config_defaults();
    int code = app_parse("train", USAGE, argc, argv, &c, config_train_flags);
    if (code != APP_CONTINUE) return code;
    NnError err;
    if ((code = check_run(&c, argc, argv, &err)) != 0) return code;
    Retrain rt = {0}; /* --init is checked before any work */
    if (app_warm_start_load(&c, &rt, &err)) {
        fprintf(stderr, "sasrec %s\n", err.msg);
        app_retrain_free(&rt);
        return err.resource ? APP_EXIT_RESOURCES : APP_EXIT_USAGE;
    }
    int lead = dist_rank() == 0;
    Stage stage;
    if (lead && (code = begin_stage(&c, &stage, resume, argc, argv, &err)) != 0) {
        app_retrain_free(&rt);
        return code;
    }
    oom_out = c.out;
    oom_stage = lead ? &stage : NULL;
    nn_set_out_of_memory(out_of_memory);
    double started = clock_seconds();
    Dataset ds = {0};
    SampleSet samples = {0};
    Sasrec s = {0};
    c.train.stop = signals_stop_flag();
    c.train.resumable = 1; /* the state after every epoch, in the staging folder */
    c.train.resume = resume;
    code = prepare(&c, oom_stage, &rt, &ds, &samples, &s, &err);
    if (code == 0) code = run(&c, oom_stage, &ds, &s, started, &err);
    if (code != 0 && lead) stage_abandon(&stage);
    nn_set_out_of_memory(NULL);
    oom_stage = NULL;
    sasrec_free(&s);
    sample_free(&samples);
    dataset_free(&ds);
    app_retrain_free(&rt);
    return code;
}
