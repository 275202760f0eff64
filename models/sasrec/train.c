#include "models/sasrec/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "models/sasrec/cli/curve.h"
#include "nn/checkpoint.h"
#include "base/parallel.h"

double train_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double train_peak_rss_mib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    double kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kb = atof(line + 6);
    fclose(f);
    return kb < 0 ? -1 : kb / 1024;
}

static void progress(int epoch, int epochs, int64_t done, int64_t total, double loss, double started) {
    double el = train_now() - started, eta = done ? el / (double)done * (double)(total - done) : 0;
    int width = 30, filled = total ? (int)(width * done / total) : width;
    fprintf(stderr, "\repoch %d/%d [%.*s%*s] %lld/%lld loss %.4f ETA %02d:%02d ", epoch + 1, epochs, filled,
            "##############################", width - filled, "", (long long)done, (long long)total, loss,
            (int)eta / 60, (int)eta % 60);
    fflush(stderr);
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

/* One epoch of training steps: the mean batch loss, or NaN with *bad_batch set. */
static double train_epoch(Sasrec *s, Adam *opt, Graph *g, SeqBatch *b, const Dataset *ds, const NegSampler *ns,
                          const RunConfig *c, int epoch, int show, int *bad_batch) {
    int64_t n = ds->n_users, nb = c->batch, nbatches = (n + nb - 1) / nb;
    int64_t *perm = nn_malloc((size_t)n * sizeof *perm);
    batch_shuffle((uint64_t)c->seed, epoch, n, perm);
    double total = 0, started = train_now();
    int64_t counted = 0;
    module_train(&s->m, 1);
    for (int64_t k = 0; k < nbatches; k++) {
        int rows = (int)(n - k * nb < nb ? n - k * nb : nb);
        batch_fill(b, ds, SPLIT_TRAIN, perm + k * nb, rows, ns, epoch);
        Tokens t = sasrec_tokens(g, b->input, b->len, rows, c->max_len, !c->dense);
        int64_t *pos = sasrec_gather(g, &t, b->pos), *neg = sasrec_gather(g, &t, b->neg);
        int64_t targets = 0;
        for (int64_t r = 0; r < t.T; r++) targets += pos[r] != 0;
        if (targets == 0) { /* users with 3 interactions only: nothing to learn from */
            graph_reset(g);
            continue;
        }
        Tensor *F = sasrec_forward(s, g, &t);
        Tensor *loss = sasrec_loss(s, g, F, &t, pos, neg, (LossKind)c->loss);
        double value = loss->data[0];
        if (!isfinite(value)) {
            *bad_batch = (int)k;
            graph_reset(g);
            free(perm);
            return NAN;
        }
        ag_backward(g, loss);
        if (c->clip > 0) clip_grad_norm(&s->m, c->clip);
        adam_step(opt);
        module_zero_grad(&s->m);
        graph_reset(g);
        total += value;
        counted++;
        if (show) progress(epoch, (int)c->epochs, k + 1, nbatches, total / (double)counted, started);
    }
    if (show) fputc('\n', stderr);
    free(perm);
    return counted ? total / (double)counted : 0;
}

static int write_log(FILE *log, int epoch, double loss, double train_s, double eval_s, const Metrics *m, int improved,
                     int counter) {
    fprintf(log, "{\"epoch\": %d, \"loss\": %.6f, \"train_s\": %.3f, \"eval_s\": %.3f, \"valid\": {", epoch, loss,
            train_s, eval_s);
    metrics_write_json(m, log);
    fprintf(log, "}, \"improved\": %s, \"es_counter\": %d}\n", improved ? "true" : "false", counter);
    return fflush(log);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    if (n == 0) return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

TrainStatus train_run(Sasrec *s, const Dataset *ds, const RunConfig *c, const EvalOptions *eval, FILE *report,
                      TrainResult *res, NnError *err) {
    memset(res, 0, sizeof *res);
    res->best_epoch = -1;
    TrainStatus status = TRAIN_OK;
    char path[4096], log_path[4096], curve_path[4096];
    config_path(path, sizeof path, c->out, MODEL_FILE);
    config_path(log_path, sizeof log_path, c->out, LOG_FILE);
    config_path(curve_path, sizeof curve_path, c->out, CURVE_FILE);
    FILE *log = fopen(log_path, "w");
    if (!log) {
        nn_fail(err, "%s: cannot write the training log", log_path);
        return TRAIN_ERROR;
    }

    NegSampler ns;
    if (batch_neg_prepare(&ns, ds, (uint64_t)c->seed, err)) {
        fclose(log);
        return TRAIN_ERROR;
    }
    AdamConfig ac = adam_defaults();
    ac.lr = (real)c->lr;
    ac.weight_decay = (real)c->weight_decay;
    Adam *opt = adam_new(&s->m, ac);
    Graph *g = graph_new();
    EvalOptions ev = *eval;
    ev.graph = g; /* one arena for training steps and evaluation passes */
    eval = &ev;
    SeqBatch b;
    batch_alloc(&b, (int)(c->batch < ds->n_users ? c->batch : ds->n_users), (int)c->max_len);
    real *best = nn_malloc((size_t)module_num_params(&s->m) * sizeof(real));
    double *losses = nn_calloc((size_t)c->epochs, sizeof *losses),
           *scores = nn_calloc((size_t)c->epochs, sizeof *scores);
    double *train_s = nn_calloc((size_t)c->epochs, sizeof *train_s),
           *eval_s = nn_calloc((size_t)c->epochs, sizeof *eval_s);
    const char *monitor = metrics_monitor(eval->protocol);
    int show = isatty(fileno(stderr)), counter = 0;

    for (int epoch = 0; epoch < c->epochs; epoch++) {
        double t0 = train_now();
        int bad = -1;
        double loss = train_epoch(s, opt, g, &b, ds, &ns, c, epoch, show, &bad);
        double t1 = train_now();
        if (!isfinite(loss)) {
            nn_fail(err,
                    "the training loss became %s in epoch %d, batch %d; stopping (%s holds the best epoch so far, %d)",
                    isnan(loss) ? "NaN" : "infinite", epoch, bad, path, res->best_epoch);
            status = TRAIN_NOT_FINITE;
            break;
        }
        Metrics m = eval_model(s, ds, SPLIT_VALID, eval);
        double t2 = train_now(), score = metrics_get(&m, monitor);
        int improved = res->best_epoch < 0 || score > res->best_valid;
        if (improved) {
            res->best_valid = score;
            res->best_epoch = epoch;
            counter = 0;
            snapshot(&s->m, best, 0);
            if (checkpoint_save(path, &s->m, NULL, 0, NULL, NULL, err)) {
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
        if (write_log(log, epoch, loss, t1 - t0, t2 - t1, &m, improved, counter)) {
            nn_fail(err, "%s: write failed", log_path);
            status = TRAIN_ERROR;
            break;
        }
        if (report) {
            fprintf(report, "epoch %d: loss %.4f, valid %s %.4f%s, %.1f s + %.1f s\n", epoch, loss, monitor, score,
                    improved ? " (best)" : "", t1 - t0, t2 - t1);
            fflush(report);
        }
        if (curve_write_svg(curve_path, epoch + 1, losses, scores, monitor, res->best_epoch, err)) {
            status = TRAIN_ERROR;
            break;
        }
        if (counter >= c->patience) {
            res->early_stopped = 1;
            break;
        }
    }
    if (status == TRAIN_OK && res->best_epoch >= 0) {
        snapshot(&s->m, best, 1);
        res->test = eval_model(s, ds, SPLIT_TEST, eval);
        res->popular = eval_popular(ds, SPLIT_TEST, eval);
    }
    if (fclose(log) && status == TRAIN_OK) {
        nn_fail(err, "%s: write failed", log_path);
        status = TRAIN_ERROR;
    }
    res->train_median = median(train_s, res->epochs_run);
    res->eval_median = median(eval_s, res->epochs_run);
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
