#include "base/memory.h"
#include "models/sasrec/train.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/dist.h"
#include "base/progress.h"
#include "models/sasrec/curve.h"
#include "models/sasrec/step.h"
#include "models/sasrec/train_resume.h"
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
                         .stop = NULL,
                         .resumable = 0,
                         .resume = 0};
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

/* Copies every parameter into (or out of) the best weights. */
static void snapshot(Module *m, Tensor **best, int restore) {
    for (int i = 0; i < m->n_params; i++) {
        Tensor *p = m->params[i].value;
        if (restore)
            memcpy(p->data, best[i]->data, (size_t)p->numel * sizeof(real));
        else
            memcpy(best[i]->data, p->data, (size_t)p->numel * sizeof(real));
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
    double total = 0, bad_loss = 0;
    int64_t counted = 0;
    Progress bar;
    char name[64], extra[32];
    snprintf(name, sizeof name, "epoch %d/%d", epoch + 1, tc->epochs);
    progress_start(&bar, name, "batches", nbatches);
    module_train(&s->m, 1);
    Profile *p = tc->profile;
    if (p) graph_set_profile(g, p);
    for (int64_t k = 0; k < nbatches; k++) {
        int rows = (int)(n - k * nb < nb ? n - k * nb : nb);
        if (p) profile_start(p);
        train_fill(b, ds, ns, perm + k * nb, rows, epoch, k);
        profile_mark(p, "batch fill (negatives too)", 0, 0);
        StepResult r = sasrec_step(s, opt, g, b, tc);
        if (p) profile_stop(p);
        if (r.targets == 0) continue; /* users with 3 interactions only: nothing to learn from */
        if (!isfinite(r.loss)) {
            *bad_batch = (int)k;
            bad_loss = r.loss;
            break;
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
    if (p) graph_set_profile(g, NULL);
    free(perm);
    if (*bad_batch >= 0) return bad_loss; /* the bar left as it stood */
    progress_end(&bar);
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

/* One training run: its inputs, what it owns, and the state one epoch leaves for the next (p). */
typedef struct {
    Sasrec *s;
    const Dataset *ds;
    const TrainConfig *tc;
    EvalOptions ev;
    const char *dir; /* NULL (the ranks of an MPI job but the first): no files */
    FILE *report, *log;
    char model_path[4096], log_path[4096], curve_path[4096], resume_path[4096];
    NegSampler ns;
    Adam *opt;
    Graph *g;
    SeqBatch b;
    const char *monitor;
    TrainProgress p;
} Run;

/* What one epoch gave. */
typedef struct {
    int epoch, improved;
    double loss, score, t0, t1, t2;
    Metrics m;
} Epoch;

/* Opens the training log: new, or (resuming) as it was, to be cut to the state's length. */
static int open_log(Run *r, NnError *err) {
    out_path(r->model_path, sizeof r->model_path, r->dir, TRAIN_MODEL_FILE);
    out_path(r->log_path, sizeof r->log_path, r->dir, TRAIN_LOG_FILE);
    out_path(r->curve_path, sizeof r->curve_path, r->dir, TRAIN_CURVE_FILE);
    out_path(r->resume_path, sizeof r->resume_path, r->dir, TRAIN_RESUME_FILE);
    /* never through a link (O_NOFOLLOW), never blocking on a FIFO (O_NONBLOCK) */
    int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | (r->tc->resume ? 0 : O_TRUNC);
    int log_fd = open(r->log_path, flags, 0666);
    r->log = log_fd < 0 ? NULL : fdopen(log_fd, "w");
    if (r->log) return 0;
    nn_fail_os(err, errno, "%s: cannot write the training log", r->log_path);
    if (log_fd >= 0) close(log_fd);
    return -1;
}

/* Loads the state of the last finished epoch (--resume) on rank 0 and gives it to every rank; the log is
 * cut to the length it had then. -1 and a message if the state cannot be read. */
static int resume(Run *r, NnError *err) {
    int loaded = r->dir ? train_resume_load(r->resume_path, &r->s->m, r->opt, &r->p, err) : 0;
    if (dist_size() > 1) {
        dist_bcast(&loaded, sizeof loaded, 0);
        if (loaded == 1) train_resume_share(&r->s->m, r->opt, &r->p);
        if (loaded < 0 && !r->dir) nn_fail(err, "rank 0 could not read the resumable state");
    }
    if (loaded < 0) return -1;
    if (!r->log) return 0;
    off_t keep = loaded ? (off_t)r->p.log_bytes : 0;
    struct stat st;
    if (fstat(fileno(r->log), &st) == 0 && st.st_size < keep)
        return nn_fail(err, "%s holds %lld bytes, fewer than the %lld of the state to resume from: it was changed "
                            "after the run was killed; start the run again without --resume",
                       r->log_path, (long long)st.st_size, (long long)keep);
    if (ftruncate(fileno(r->log), keep) != 0 || fseeko(r->log, keep, SEEK_SET) != 0)
        return nn_fail_os(err, errno, "%s: cannot cut the training log to the state's %lld bytes", r->log_path,
                          (long long)keep);
    return 0;
}

static void run_free(Run *r) {
    if (r->p.best)
        for (int i = 0; i < r->s->m.n_params; i++) tensor_free(r->p.best[i]);
    free(r->p.best);
    free(r->p.losses);
    free(r->p.scores);
    free(r->p.train_s);
    free(r->p.eval_s);
    batch_free(&r->b);
    graph_free(r->g);
    adam_free(r->opt);
    batch_neg_free(&r->ns);
}

/* Everything the loop needs, and the state to resume from when tc->resume; -1 and a message otherwise. */
static int run_open(Run *r, Sasrec *s, const Dataset *ds, const TrainConfig *tc, const EvalOptions *eval,
                    const char *dir, FILE *report, TrainResult *res, NnError *err) {
    memset(res, 0, sizeof *res);
    res->best_epoch = -1;
    *r = (Run){.s = s, .ds = ds, .tc = tc, .ev = *eval, .dir = dir, .report = report};
    if (dir && open_log(r, err)) return -1;
    if (train_negatives(&r->ns, ds, tc, err)) {
        if (r->log) fclose(r->log);
        return -1;
    }
    r->opt = adam_new(&s->m, train_adam_config(tc));
    r->g = graph_new();
    r->ev.graph = r->g;      /* one arena for training steps and evaluation passes */
    r->ev.distributed = 1;   /* in an MPI job every rank runs this loop: each ranks its share of the users */
    batch_alloc(&r->b, (int)(tc->batch < ds->n_users ? tc->batch : ds->n_users), (int)s->cfg.max_len);
    r->monitor = metrics_monitor(r->ev.protocol);
    TrainProgress *p = &r->p;
    *p = (TrainProgress){.res = res, .cap = tc->epochs};
    p->best = nn_calloc((size_t)s->m.n_params, sizeof *p->best);
    for (int i = 0; i < s->m.n_params; i++) p->best[i] = tensor_zeros(s->m.params[i].value->ndim,
                                                                      s->m.params[i].value->shape);
    p->losses = nn_calloc((size_t)tc->epochs, sizeof *p->losses);
    p->scores = nn_calloc((size_t)tc->epochs, sizeof *p->scores);
    p->train_s = nn_calloc((size_t)tc->epochs, sizeof *p->train_s);
    p->eval_s = nn_calloc((size_t)tc->epochs, sizeof *p->eval_s);
    if (tc->resume && resume(r, err)) {
        if (r->log) fclose(r->log);
        run_free(r);
        return -1;
    }
    return 0;
}

/* epoch: one pass of training steps over the shuffled users. */
static TrainStatus run_epoch(Run *r, Epoch *e, NnError *err) {
    int bad = -1, stopped = 0;
    e->t0 = clock_seconds();
    e->loss = train_epoch(r->s, r->opt, r->g, &r->b, r->ds, &r->ns, r->tc, e->epoch, &bad, &stopped);
    e->t1 = clock_seconds();
    int best = r->p.res->best_epoch;
    if (!isfinite(e->loss)) {
        nn_fail(err, "the training loss became %s in epoch %d, batch %d; stopping (the best epoch so far: %d)",
                isnan(e->loss) ? "NaN" : "infinite", e->epoch, bad, best);
        return TRAIN_NOT_FINITE;
    }
    if (stopped) {
        nn_fail(err, "stopped in epoch %d (the best epoch so far: %d)", e->epoch, best);
        return TRAIN_STOPPED;
    }
    return TRAIN_OK;
}

/* evaluate: the validation metrics, and whether they improve on the best epoch's. */
static TrainStatus run_evaluate(Run *r, Epoch *e, NnError *err) {
    e->m = eval_model(r->s, r->tc->valid_rows ? r->tc->valid_rows : r->ds, r->tc->valid_rows ? SPLIT_TEST : SPLIT_VALID,
                      &r->ev);
    if (e->m.nonfinite) {
        nn_fail(err,
                "the validation scores of %lld users became NaN or infinite in epoch %d; stopping (the best "
                "epoch so far: %d)",
                (long long)e->m.nonfinite, e->epoch, r->p.res->best_epoch);
        return TRAIN_NOT_FINITE;
    }
    e->t2 = clock_seconds();
    e->score = metrics_get(&e->m, r->monitor);
    e->improved = r->p.res->best_epoch < 0 || e->score > r->p.res->best_valid;
    return TRAIN_OK;
}

/* The best weights so far, kept in memory and written as the model file. */
static TrainStatus keep_best(Run *r, const Epoch *e, NnError *err) {
    TrainResult *res = r->p.res;
    if (!e->improved) {
        r->p.counter++;
        return TRAIN_OK;
    }
    res->best_valid = e->score;
    res->best_epoch = e->epoch;
    r->p.counter = 0;
    snapshot(&r->s->m, r->p.best, 0);
    if (r->dir && checkpoint_save(r->model_path, &r->s->m, NULL, 0, NULL, NULL, err)) return TRAIN_ERROR;
    return TRAIN_OK;
}

/* record: the best weights, the epoch's numbers, the log line, the report line, the curve, early stopping, and
 * (tc->resumable) the state to resume from. */
static TrainStatus run_record(Run *r, const Epoch *e, NnError *err) {
    TrainProgress *p = &r->p;
    TrainResult *res = p->res;
    if (keep_best(r, e, err)) return TRAIN_ERROR;
    int epoch = e->epoch;
    double train_s = e->t1 - e->t0, eval_s = e->t2 - e->t1;
    p->losses[epoch] = e->loss;
    p->scores[epoch] = e->score;
    res->epochs_run = epoch + 1;
    if (epoch == 0) res->first_loss = e->loss;
    res->last_loss = e->loss;
    res->train_seconds += train_s;
    res->eval_seconds += eval_s;
    p->train_s[epoch] = train_s;
    p->eval_s[epoch] = eval_s;
    if (r->log && write_log(r->log, epoch, e->loss, train_s, eval_s, &e->m, e->improved, p->counter)) {
        nn_fail_os(err, errno ? errno : EIO, "%s: write failed", r->log_path);
        return TRAIN_ERROR;
    }
    if (r->report) {
        fprintf(r->report, "epoch %d: loss %.4f, valid %s %.4f%s, %.1f s + %.1f s\n", epoch, e->loss, r->monitor,
                e->score, e->improved ? " (best)" : "", train_s, eval_s);
        fflush(r->report);
    }
    if (r->dir && curve_write_svg(r->curve_path, epoch + 1, p->losses, p->scores, r->monitor, res->best_epoch, err))
        return TRAIN_ERROR;
    res->early_stopped = p->counter >= r->tc->patience;
    if (r->log && r->tc->resumable) {
        p->log_bytes = ftello(r->log);
        if (train_resume_save(r->resume_path, &r->s->m, r->opt, p, err)) return TRAIN_ERROR;
    }
    return TRAIN_OK;
}

/* stop?: a signal that arrived during the validation pass (early stopping ends the loop by itself). */
static TrainStatus run_stop(const Run *r, const Epoch *e, NnError *err) {
    if (r->p.res->early_stopped || !stop_requested(r->tc)) return TRAIN_OK;
    nn_fail(err, "stopped after epoch %d (the best epoch so far: %d)", e->epoch, r->p.res->best_epoch);
    return TRAIN_STOPPED;
}

/* The best weights back in the model, tested. */
static TrainStatus run_test(Run *r, NnError *err) {
    TrainResult *res = r->p.res;
    if (res->best_epoch < 0) return TRAIN_OK;
    snapshot(&r->s->m, r->p.best, 1);
    res->test = eval_model(r->s, r->tc->test_rows ? r->tc->test_rows : r->ds, SPLIT_TEST, &r->ev);
    res->popular = r->tc->test_rows ? *r->tc->test_popular : eval_popular(r->ds, SPLIT_TEST, &r->ev);
    if (!res->test.nonfinite) return TRAIN_OK;
    nn_fail(err, "the test scores of %lld users are NaN or infinite", (long long)res->test.nonfinite);
    return TRAIN_NOT_FINITE;
}

static TrainStatus run_close(Run *r, TrainStatus status, NnError *err) {
    errno = 0;
    if (r->log && fclose(r->log) && status == TRAIN_OK) {
        nn_fail_os(err, errno ? errno : EIO, "%s: write failed", r->log_path);
        status = TRAIN_ERROR;
    }
    TrainResult *res = r->p.res;
    res->train_median = clock_median(r->p.train_s, res->epochs_run);
    res->eval_median = clock_median(r->p.eval_s, res->epochs_run);
    run_free(r);
    return status;
}

TrainStatus train_run(Sasrec *s, const Dataset *ds, const TrainConfig *tc, const EvalOptions *eval, const char *dir,
                      FILE *report, TrainResult *res, NnError *err) {
    Run r;
    if (run_open(&r, s, ds, tc, eval, dir, report, res, err)) return TRAIN_ERROR;
    TrainStatus status = TRAIN_OK;
    while (status == TRAIN_OK && res->epochs_run < tc->epochs && !res->early_stopped) {
        Epoch e = {.epoch = res->epochs_run};
        status = run_epoch(&r, &e, err);
        if (status == TRAIN_OK) status = run_evaluate(&r, &e, err);
        if (status == TRAIN_OK) status = run_record(&r, &e, err);
        if (status == TRAIN_OK) status = run_stop(&r, &e, err);
    }
    if (status == TRAIN_OK) status = run_test(&r, err);
    return run_close(&r, status, err);
}
