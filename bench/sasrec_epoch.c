/* bench/sasrec_epoch: seconds per SASRec training epoch and per evaluation
 * pass (sampled and full ranking) on a data file, and the peak resident
 * memory, with the seed's defaults. Compare with
 *   /usr/bin/python3 ../shared/peer/sasrec_torch.py --data FILE --sample FILE \
 *       --threads 2 --blas-threads 1 --max-epochs-timing 3
 * One JSON line per measurement: {"op", "seconds" (median over epochs or
 * passes), "runs", "threads", ...}; the last line has "peak_rss_mib".
 *
 * --profile adds, after them, the profile of every training step of the run
 * summed op by op (autograd/profile.h): what an epoch is made of, where
 * `sasrec explain --profile` shows one step.
 *
 * Built with make MPI=1 it runs under mpirun (build/mpi/bench/sasrec_epoch):
 * the lines then also give "ranks", "shards" and, for training, the bytes
 * each rank sent per step (the gradient chain and broadcast); rank 0 prints. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/clock.h"
#include "base/dist.h"
#include "base/memory.h"
#include "models/sasrec/cli/common.h"
#include "models/sasrec/cli/flags.h"
#include "models/sasrec/train.h"

/* train's flags and --profile. */
static int epoch_flags(RunConfig *c, Flag *f) {
    int n = config_train_flags(c, f);
    f[n++] = F_SWITCH("--profile", &c->profile, "print the time, FLOPs and bytes of every op of the training "
                                                  "steps, summed over the run");
    return n;
}

int main(int argc, char **argv) {
    dist_init(&argc, &argv);
    if (dist_rank() > 0 && !freopen("/dev/null", "w", stdout)) return 4; /* rank 0 prints */
    static const char *const beauty = "../shared/data/beauty/Beauty.txt";
    RunConfig c = config_defaults();
    c.data = beauty;
    c.train.epochs = 3;
    c.out = "build/bench_sasrec";
    int rc = app_parse("bench/sasrec_epoch",
                       "usage: bench/sasrec_epoch [--data PATH] [--sample-file PATH] [--epochs N] "
                       "[--profile] [train flags]\nTimes --epochs training epochs and as many evaluation passes.",
                       argc - 1, argv + 1, &c, epoch_flags);
    if (rc != APP_CONTINUE) return rc;
    /* Beauty's own negatives for the sampled pass, given after the flags: a preset that evaluates by full
     * ranking (frontier) is not to be told that a --sample-file nobody typed goes with --eval sample; other
     * data gets generated ones */
    if (!c.sample_file && strcmp(c.data, beauty) == 0) c.sample_file = "../shared/data/beauty/Beauty_sample.txt";
    NnError err;
    if (app_check_input("bench", "--data", c.data, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    if (dist_rank() == 0 && mkdir(c.out, 0777) != 0 && errno != EEXIST) { /* a scratch folder for train_run's files */
        fprintf(stderr, "bench: --out %s: %s\n", c.out, strerror(errno));
        return 2;
    }
    Dataset ds = {0};
    SampleSet samples = {0};
    if (app_load_data(&c, NULL, DATASET_MIN_INTERACTIONS, &ds, &err) || app_samples(&c, &ds, &samples, &err))
        return app_fail("bench", &err, 1);
    c.model.n_items = ds.n_items;
    Sasrec s;
    sasrec_init(&s, &c.model, c.train.seed);
    /* training epochs through the real loop, patience high enough not to stop */
    c.train.patience = c.train.epochs + 1;
    EvalOptions sample = c.eval, full = c.eval;
    sample.protocol = PROTOCOL_SAMPLE;
    sample.samples = &samples;
    full.protocol = PROTOCOL_FULL;
    Graph *g = graph_new(); /* one arena for all the passes below, as train_run has for its own */
    sample.graph = full.graph = g;
    sample.distributed = full.distributed = 1; /* in an MPI job each rank ranks its share */
    c.train.profile = c.profile ? profile_new() : NULL;
    TrainResult res;
    if (train_run(&s, &ds, &c.train, &sample, dist_rank() == 0 ? c.out : NULL, dist_rank() == 0 ? stderr : NULL, &res,
                  &err) != TRAIN_OK) {
        app_fail("bench", &err, 1);
        dist_abort(1);
    }
    /* bytes each rank sent per step, gathered to every rank */
    int size = dist_size();
    int64_t steps = res.epochs_run * ((ds.n_users + c.train.batch - 1) / c.train.batch);
    uint64_t mine = dist_bytes_sent(), *sent = malloc((size_t)size * sizeof *sent);
    size_t *counts = malloc((size_t)size * sizeof *counts);
    for (int r = 0; r < size; r++) counts[r] = sizeof *sent;
    dist_allgather(&mine, sent, counts);
    int n = c.train.epochs;
    double *ts = malloc((size_t)n * sizeof *ts), *tf = malloc((size_t)n * sizeof *tf);
    for (int k = 0; k < n; k++) {
        double t0 = clock_seconds();
        eval_model(&s, &ds, SPLIT_VALID, &sample);
        double t1 = clock_seconds();
        eval_model(&s, &ds, SPLIT_VALID, &full);
        tf[k] = clock_seconds() - t1;
        ts[k] = t1 - t0;
    }
    printf("{\"op\": \"train_epoch\", \"seconds\": %.3f, \"runs\": %d, \"threads\": %d, \"ranks\": %d, "
           "\"shards\": %d, \"bytes_sent_per_step\": [",
           res.train_median, res.epochs_run, c.threads, size, c.train.shards);
    for (int r = 0; r < size; r++) printf("%s%.0f", r ? ", " : "", (double)sent[r] / (double)(steps ? steps : 1));
    printf("]}\n");
    printf("{\"op\": \"eval_sample\", \"seconds\": %.3f, \"runs\": %d, \"threads\": %d, \"ranks\": %d}\n",
           clock_median(ts, n), n, c.threads, size);
    printf("{\"op\": \"eval_full\", \"seconds\": %.3f, \"runs\": %d, \"threads\": %d, \"ranks\": %d}\n",
           clock_median(tf, n), n, c.threads, size);
    printf("{\"op\": \"peak_rss\", \"peak_rss_mib\": %.1f}\n", memory_peak_rss_mib());
    if (c.train.profile) {
        printf("profile of the training steps of %d epochs (%lld steps, %d threads, wall time)\n", res.epochs_run,
               (long long)steps, c.threads);
        profile_print(c.train.profile, stdout);
        profile_free(c.train.profile);
    }
    free(ts);
    free(tf);
    free(sent);
    free(counts);
    graph_free(g);
    sasrec_free(&s);
    sample_free(&samples);
    dataset_free(&ds);
    dist_finalize();
    return 0;
}
