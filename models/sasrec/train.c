#include "models/sasrec/train.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/progress.h"
#include "models/sasrec/curve.h"
#include "models/sasrec/step.h"
#include "nn/checkpoint.h"

TrainConfig train_default_config(void) {
    return (TrainConfig){.batch = 256,
                         .epochs = 200,
                         .patience = 10,
                         .seed = 42,
                         .lr = 1e-3,
                         .weight_decay = 0,
                         .clip = 0,
                         .loss = LOSS_BCE,
                         .negatives = 256,
                         .neg_dist = NEG_UNIFORM,
                         .gbce_t = 0.75,
                         .optimizer = OPT_ADAM,
                         .dense = 0,
                         .shards = 1,
                         .stop = NULL};
}

int train_shares_negatives(LossKind loss) { return loss == LOSS_SAMPLED || loss == LOSS_GBCE; }

int train_negatives(NegSampler *ns, const Dataset *ds, const TrainConfig *tc, NnError *err) {
    if (batch_neg_prepare(ns, ds, tc->seed, err)) return -1;
    if (train_shares_negatives(tc->loss)) {
        batch_neg_share(ns, tc->negatives, tc->neg_dist);
        batch_neg_scope(ns, tc->neg_scope);
    }
    return 0;
}

void train_fill(SeqBatch *b, const Dataset *ds, const NegSampler *ns, const int64_t *users, int n, int epoch,
                int64_t index) {
    batch_fill(b, ds, SPLIT_TRAIN, users, n, ns, epoch);
    if (ns->n_shared) batch_draw_shared(b, ns, epoch, index);
}

AdamConfig train_adam_config(const TrainConfig *tc) {
    AdamConfig ac = adam_defaults();
    ac.lr = (real)tc->lr; /* at float precision, as the seed */
    ac.weight_decay = (real)tc->weight_decay;
    ac.lazy = tc->optimizer == OPT_LAZY_ADAM;
    return ac;
}

/* Copies every parameter into (or out of) one flat buffer. */
static void snapshot(Module *m, real *buf, int restore) {
    for (int i = 0; i < m->n_params; i++) {
        Tensor *p = m->params[i].value;
        if (restore)
            memcpy(p->data, buf, (size_t)p->numel * sizeof(real));
        else
            memcpy(buf, p->data, (size_t)p->numel * sizeof(real));
        buf += p->numel;
    }
}

static int stop_requested(const TrainConfig *tc) { return tc->stop && atomic_load(tc->stop); }

/* One epoch of training steps: the mean batch loss, or the first non-finite one with *bad_batch set;
 * *stopped set when tc->stop ended it after a step. */
static double train_epoch(Sasrec *s, Adam *opt, Graph *g, SeqBatch *b, const Dataset *ds, const NegSampler *ns,
                          const TrainConfig *tc, int epoch, int *bad_batch, int *stopped) {
    int64_t n = ds->n_users, nb = tc->batch, nbatches = (n + nb - 1) / nb;
    int64_t *perm = nn_malloc((size_t)n * sizeof *perm);
    batch_shuffle(tc->seed, epoch, n, perm);
    double total = 0;
    int64_t counted = 0;
    Progress bar;
    char name[64], extra[32];
    snprintf(name, sizeof name, "epoch %d/%d", epoch + 1, tc->epochs);
    progress_start(&bar, name, "batches", nbatches);
    module_train(&s->m, 1);
    for (int64_t k = 0; k < nbatches; k++) {
        int rows = (int)(n - k * nb < nb ? n - k * nb : nb);
        train_fill(b, ds, ns, perm + k * nb, rows, epoch, k);
        StepResult r = sasrec_step(s, opt, g, b, tc);
        if (r.targets == 0) continue; /* users with 3 interactions only: nothing to learn from */
        if (!isfinite(r.loss)) {
            *bad_batch = (int)k;
            free(perm);
            return r.loss;
        }
        total += r.loss;
        counted++;
        snprintf(extra, sizeof extra, "loss %.4f", total / (double)counted);
        progress_update(&bar, k + 1, extra);
        if (stop_requested(tc)) {
            *stopped = 1;
            break;
        }
    }
    progress_end(&bar);
    free(perm);
    return counted ? total / (double)counted : 0;
}

/* dir/name into buf (aborts if it does not fit). */
static const char *out_path(char *buf, size_t size, const char *dir, const char *name) {
    int n = snprintf(buf, size, "%s/%s", dir, name);
    NN_CHECK(n >= 0 && (size_t)n < size, "train_run", "path too long: %s/%s", dir, name);
    return buf;
}

static int write_log(FILE *log, int epoch, double loss, double train_s, double eval_s, const Metrics *m, int improved,
                     int counter) {
    fprintf(log, "{\"epoch\": %d, \"loss\": %.6f, \"train_s\": %.3f, \"eval_s\": %.3f, \"valid\": {", epoch, loss,
            train_s, eval_s);
    metrics_write_json(m, log);
    fprintf(log, "}, \"improved\": %s, \"es_counter\": %d}\n", improved ? "true" : "false", counter);
    return fflush(log);
}

TrainStatus train_run(Sasrec *s, const Dataset *ds, const TrainConfig *tc, const EvalOptions *eval, const char *dir,
                      FILE *report, TrainResult *res, NnError *err) {
    memset(res, 0, sizeof *res);
    res->best_epoch = -1;
    TrainStatus status = TRAIN_OK;
    char path[4096], log_path[4096], curve_path[4096];
    FILE *log = NULL; /* dir NULL (the ranks of an MPI job but the first): no files */
    if (dir) {
        out_path(path, sizeof path, dir, TRAIN_MODEL_FILE);
        out_path(log_path, sizeof log_path, dir, TRAIN_LOG_FILE);
        out_path(curve_path, sizeof curve_path, dir, TRAIN_CURVE_FILE);
        /* never through a link (O_NOFOLLOW), never blocking on a FIFO (O_NONBLOCK) */
        int log_fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0666);
        log = log_fd < 0 ? NULL : fdopen(log_fd, "w");
        if (!log) {
            nn_fail_os(err, errno, "%s: cannot write the training log", log_path);
            if (log_fd >= 0) close(log_fd);
            return TRAIN_ERROR;
        }
    }

    NegSampler ns;
    if (train_negatives(&ns, ds, tc, err)) {
        if (log) fclose(log);
        return TRAIN_ERROR;
    }
    Adam *opt = adam_new(&s->m, train_adam_config(tc));
    Graph *g = graph_new();
    EvalOptions ev = *eval;
    ev.graph = g; /* one arena for training steps and evaluation passes */
    ev.distributed = 1; /* in an MPI job every rank runs this loop: each ranks its share of the users */
    eval = &ev;
    SeqBatch b;
    batch_alloc(&b, (int)(tc->batch < ds->n_users ? tc->batch : ds->n_users), (int)s->cfg.max_len);
    real *best = nn_malloc((size_t)module_num_params(&s->m) * sizeof(real));
    double *losses = nn_calloc((size_t)tc->epochs, sizeof *losses),
           *scores = nn_calloc((size_t)tc->epochs, sizeof *scores);
    double *train_s = nn_calloc((size_t)tc->epochs, sizeof *train_s),
           *eval_s = nn_calloc((size_t)tc->epochs, sizeof *eval_s);
    const char *monitor = metrics_monitor(eval->protocol);
    int counter = 0;

    for (int epoch = 0; epoch < tc->epochs; epoch++) {
        double t0 = clock_seconds();
        int bad = -1, stopped = 0;
        double loss = train_epoch(s, opt, g, &b, ds, &ns, tc, epoch, &bad, &stopped);
        double t1 = clock_seconds();
        if (!isfinite(loss)) {
            nn_fail(err, "the training loss became %s in epoch %d, batch %d; stopping (the best epoch so far: %d)",
                    isnan(loss) ? "NaN" : "infinite", epoch, bad, res->best_epoch);
            status = TRAIN_NOT_FINITE;
            break;
        }
        if (stopped) {
            nn_fail(err, "stopped in epoch %d (the best epoch so far: %d)", epoch, res->best_epoch);
            status = TRAIN_STOPPED;
            break;
        }
        Metrics m = eval_model(s, ds, SPLIT_VALID, eval);
        if (m.nonfinite) {
            nn_fail(err,
                    "the validation scores of %lld users became NaN or infinite in epoch %d; stopping (the best "
                    "epoch so far: %d)",
                    (long long)m.nonfinite, epoch, res->best_epoch);
            status = TRAIN_NOT_FINITE;
            break;
        }
        double t2 = clock_seconds(), score = metrics_get(&m, monitor);
        int improved = res->best_epoch < 0 || score > res->best_valid;
        if (improved) {
            res->best_valid = score;
            res->best_epoch = epoch;
            counter = 0;
            snapshot(&s->m, best, 0);
            if (dir && checkpoint_save(path, &s->m, NULL, 0, NULL, NULL, err)) {
                status = TRAIN_ERROR;
                break;
            }
        } else {
            counter++;
        }
        losses[epoch] = loss;
        scores[epoch] = score;
        res->epochs_run = epoch + 1;
        if (epoch == 0) res->first_loss = loss;
        res->last_loss = loss;
        res->train_seconds += t1 - t0;
        res->eval_seconds += t2 - t1;
        train_s[epoch] = t1 - t0;
        eval_s[epoch] = t2 - t1;
        if (log && write_log(log, epoch, loss, t1 - t0, t2 - t1, &m, improved, counter)) {
            nn_fail_os(err, errno ? errno : EIO, "%s: write failed", log_path);
            status = TRAIN_ERROR;
            break;
        }
        if (report) {
            fprintf(report, "epoch %d: loss %.4f, valid %s %.4f%s, %.1f s + %.1f s\n", epoch, loss, monitor, score,
                    improved ? " (best)" : "", t1 - t0, t2 - t1);
            fflush(report);
        }
        if (dir && curve_write_svg(curve_path, epoch + 1, losses, scores, monitor, res->best_epoch, err)) {
            status = TRAIN_ERROR;
            break;
        }
        if (counter >= tc->patience) {
            res->early_stopped = 1;
            break;
        }
        if (stop_requested(tc)) { /* arrived during the validation pass */
            nn_fail(err, "stopped after epoch %d (the best epoch so far: %d)", epoch, res->best_epoch);
            status = TRAIN_STOPPED;
            break;
        }
    }
    if (status == TRAIN_OK && res->best_epoch >= 0) {
        snapshot(&s->m, best, 1);
        res->test = eval_model(s, ds, SPLIT_TEST, eval);
        res->popular = eval_popular(ds, SPLIT_TEST, eval);
        if (res->test.nonfinite) {
            nn_fail(err, "the test scores of %lld users are NaN or infinite", (long long)res->test.nonfinite);
            status = TRAIN_NOT_FINITE;
        }
    }
    errno = 0;
    if (log && fclose(log) && status == TRAIN_OK) {
        nn_fail_os(err, errno ? errno : EIO, "%s: write failed", log_path);
        status = TRAIN_ERROR;
    }
    res->train_median = clock_median(train_s, res->epochs_run);
    res->eval_median = clock_median(eval_s, res->epochs_run);
    free(train_s);
    free(eval_s);
    free(best);
    free(losses);
    free(scores);
    batch_free(&b);
    graph_free(g);
    adam_free(opt);
    batch_neg_free(&ns);
    return status;
}
