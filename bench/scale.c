/* bench/scale: SASRec training and evaluation negatives as the catalogue and
 * the sequences grow (issue 11), on data from sasrec gen's generator.
 *
 *   training: epoch seconds and peak RSS for catalogues of 10k, 100k, 1M, 4M
 *     items at 100k users of mean length 20 (max 50), and for a long-sequence
 *     set (20k users, mean length 150, max 200), for BCE with dense and with
 *     lazy Adam, for the sampled softmax over 256 shared negatives (lazy
 *     Adam), and for the softmax over every item (ce, Adam: its gradient
 *     reaches every row) up to 100k items;
 *   eval_negatives: seconds to draw 99 evaluation negatives per user with
 *     S3-Rec's generator and with the fast sampler;
 *   eval_pass: seconds of one validation pass of an untrained model over the
 *     catalogue sets (and the long set), sampled (answer + 99 negatives from
 *     each method) and full ranking, after an untimed warm-up pass; the pass
 *     runs over --pass-users users (20k) and "seconds" scales it to the set's
 *     users (a pass is linear in users);
 *   contention: the 10k-item BCE epoch (Adam) at --threads alone, the same
 *     beside one busy process (a child spinning at nice 0 for the whole
 *     epoch), and at one thread alone.
 *
 * Every measurement runs in its own child process, so that its peak RSS is
 * its own; the parent only forks and waits. The model's item table has the
 * catalogue's rows even where the generated sequences use fewer of them
 * ("items_seen"), as a real catalogue would. One JSON line per measurement:
 *   {"op": "train_epoch", "set", "users", "items", "items_seen", "avg_len", "max_len", "loss", "optimizer",
 *    "negatives", "epoch_s", "epoch_cpu_s" (CPU seconds of all threads), "steps", "extrapolated", "peak_rss_mib", "data_mib", "params_mib",
 *    "rss_target_mib" (data + 4 x parameters + 256)}
 *   {"op": "eval_negatives", "users", "items", "method", "seconds"} (s3rec is skipped above --s3rec-max)
 *   {"op": "eval_pass", "set", "users", "items", "protocol", "method", "pass_users", "pass_s", "seconds"}
 *   {"op": "contention", "users", "items", "threads", "busy", "epoch_s", "steps", "extrapolated"}
 * epoch_s is the median over --epochs epochs; with --max-steps, the steps of
 * one epoch are cut there and epoch_s extrapolates from them.
 *
 *   bench/scale --quick         a few minutes: 20k users, 10k and 1M items, 200 steps per epoch
 *   bench/scale                 the full grid (hours on 2 cores)
 *   bench/scale --only train|long|pass|contention|eval --items 1000000 --loss sampled --optimizer lazy-adam
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/parallel.h"
#include "base/memory.h"
#include "models/sasrec/data/sample.h"
#include "models/sasrec/data/synthetic.h"
#include "models/sasrec/eval.h"
#include "models/sasrec/step.h"
#include "models/sasrec/train.h"

typedef struct {
    int64_t users, items, steps;
    double avg_len;
    int max_len, epochs;
    LossKind loss;
    OptimizerKind opt;
    const char *set;
    int busy;    /* contention: 1 with a busy process beside the epoch */
    int64_t negatives; /* sampled and gBCE: 0 for the default (256) */
    NegScope scope;    /* sampled and gBCE: who shares the negatives */
    NegDist dist;      /* sampled: how they are drawn */
    int threads; /* 0: --threads */
} Run;

/* The resident memory now, in MiB (/proc/self/statm), for the data's share. */
static double rss_now_mib(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
        fclose(f);
    }
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

/* CPU seconds of this process (all threads): steadier than wall time on a busy machine. */
static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int generate(int64_t users, int64_t items, double avg_len, int max_len, Dataset *ds) {
    SyntheticOptions o = synthetic_default_options();
    o.n_users = users, o.n_items = items, o.max_len = max_len, o.seed = 7;
    o.len_skew = synthetic_len_skew(o.min_len, o.max_len, avg_len);
    NnError err;
    if (synthetic_generate(&o, ds, &err) == 0) return 0;
    fprintf(stderr, "bench/scale: %s\n", err.msg);
    return -1;
}

static const char *LOSS_NAMES[] = {"bce", "ce", "sampled", "gbce"};
static const char *SCOPE_NAMES[] = {"batch", "sequence", "position"};
static const char *DIST_NAMES[] = {"uniform", "pop", "in-batch", "mixed"};

/* The index of name in names (n of them), or -1. */
static int name_index(const char *name, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (!strcmp(name, names[i])) return i;
    return -1;
}
static int threads = 2; /* set in each child: the parent runs no parallel region before forking */

/* The busy process of a contention run: one CPU-bound loop until it is killed. */
static void spin(void) {
    volatile uint64_t x = 0;
    for (;;) x++;
}

static int train_child(const Run *r) {
    nn_set_threads(r->threads ? r->threads : threads);
    double before = rss_now_mib();
    Dataset ds;
    if (generate(r->users, r->items, r->avg_len, r->max_len, &ds)) return 1;
    double data_mib = rss_now_mib() - before;
    TrainConfig tc = train_default_config();
    tc.loss = r->loss;
    tc.optimizer = r->opt;
    if (r->negatives) tc.negatives = r->negatives;
    tc.neg_scope = r->scope, tc.neg_dist = r->dist;
    SasrecConfig mc = sasrec_default_config();
    mc.n_items = r->items > ds.n_items ? r->items : ds.n_items;
    mc.max_len = r->max_len;
    Sasrec s;
    sasrec_init(&s, &mc, tc.seed);
    NegSampler ns;
    NnError err;
    if (train_negatives(&ns, &ds, &tc, &err)) {
        fprintf(stderr, "bench/scale: %s\n", err.msg);
        return 1;
    }
    Adam *opt = adam_new(&s.m, train_adam_config(&tc));
    Graph *g = graph_new();
    SeqBatch b;
    batch_alloc(&b, (int)tc.batch, r->max_len);
    int64_t n = ds.n_users, nb = tc.batch, nbatches = (n + nb - 1) / nb;
    int64_t steps = r->steps > 0 && r->steps < nbatches ? r->steps : nbatches;
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    double *ts = malloc((size_t)r->epochs * sizeof *ts), *cs = malloc((size_t)r->epochs * sizeof *cs);
    module_train(&s.m, 1);
    int contention = !strcmp(r->set, "contention");
    pid_t spinner = contention && r->busy ? fork() : 0;
    if (spinner < 0) {
        perror("bench/scale: fork of the busy process");
        return 1;
    }
    if (spinner == 0 && contention && r->busy) spin(); /* the child never returns */
    for (int e = 0; e < r->epochs; e++) {
        batch_shuffle(tc.seed, e, n, perm);
        double t0 = clock_seconds(), c0 = cpu_seconds();
        for (int64_t k = 0; k < steps; k++) {
            int rows = (int)(n - k * nb < nb ? n - k * nb : nb);
            train_fill(&b, &ds, &ns, perm + k * nb, rows, e, k);
            sasrec_step(&s, opt, g, &b, &tc);
        }
        ts[e] = (clock_seconds() - t0) * (double)nbatches / (double)steps;
        cs[e] = (cpu_seconds() - c0) * (double)nbatches / (double)steps;
    }
    if (spinner > 0) {
        kill(spinner, SIGKILL);
        waitpid(spinner, NULL, 0);
    }
    double params_mib = (double)module_num_params(&s.m) * sizeof(real) / 1048576.0;
    if (contention) {
        printf("{\"op\": \"contention\", \"users\": %lld, \"items\": %lld, \"loss\": \"%s\", \"threads\": %d, "
               "\"busy\": %s, \"epoch_s\": %.3f, \"epoch_cpu_s\": %.3f, \"steps\": %lld, \"extrapolated\": %s}\n",
               (long long)r->users, (long long)mc.n_items, LOSS_NAMES[r->loss], nn_threads(), r->busy ? "true" : "false",
               clock_median(ts, r->epochs), clock_median(cs, r->epochs), (long long)steps,
               steps < nbatches ? "true" : "false");
    } else {
        printf("{\"op\": \"train_epoch\", \"set\": \"%s\", \"users\": %lld, \"items\": %lld, \"items_seen\": %lld, "
               "\"avg_len\": %.1f, \"max_len\": %d, \"loss\": \"%s\", \"optimizer\": \"%s\", \"negatives\": %lld, "
               "\"neg_scope\": \"%s\", \"neg_dist\": \"%s\", \"epoch_s\": %.3f, \"epoch_cpu_s\": %.3f, \"steps\": %lld, \"extrapolated\": %s, \"threads\": %d, \"peak_rss_mib\": %.1f, "
               "\"data_mib\": %.1f, \"params_mib\": %.1f, \"rss_target_mib\": %.1f}\n",
               r->set, (long long)r->users, (long long)mc.n_items, (long long)ds.n_items,
               (double)ds.n_interactions / (double)ds.n_users, r->max_len, LOSS_NAMES[r->loss],
               r->opt == OPT_LAZY_ADAM ? "lazy-adam" : "adam",
               (long long)(r->loss == LOSS_CE ? mc.n_items : train_shares_negatives(r->loss) ? tc.negatives : 1),
               SCOPE_NAMES[tc.neg_scope], DIST_NAMES[tc.neg_dist], clock_median(ts, r->epochs),
               clock_median(cs, r->epochs), (long long)steps, steps < nbatches ? "true" : "false", nn_threads(), memory_peak_rss_mib(), data_mib, params_mib,
               data_mib + 4 * params_mib + 256);
    }
    fflush(stdout);
    free(perm), free(ts), free(cs);
    batch_free(&b);
    graph_free(g);
    adam_free(opt);
    batch_neg_free(&ns);
    sasrec_free(&s);
    dataset_free(&ds);
    return 0;
}

static int eval_child(int64_t users, int64_t items, double s3rec_max) {
    nn_set_threads(threads);
    Dataset ds;
    if (generate(users, items, 20, 50, &ds)) return 1;
    for (int m = SAMPLE_S3REC; m <= SAMPLE_FAST; m++) {
        double cost = (double)ds.n_users * (double)ds.n_items;
        if (m == SAMPLE_S3REC && cost > s3rec_max) {
            printf("{\"op\": \"eval_negatives\", \"users\": %lld, \"items\": %lld, \"method\": \"s3rec\", "
                   "\"seconds\": null, \"skipped\": \"users x items %.3g > --s3rec-max %.3g\"}\n",
                   (long long)ds.n_users, (long long)ds.n_items, cost, s3rec_max);
            continue;
        }
        SampleSet out;
        NnError err;
        double t0 = clock_seconds();
        int rc = m == SAMPLE_S3REC ? sample_generate(&ds, 99, SAMPLE_DEFAULT_SEED, &out, &err)
                                   : sample_generate_fast(&ds, 99, SAMPLE_DEFAULT_SEED, &out, &err);
        double t = clock_seconds() - t0;
        if (rc) {
            fprintf(stderr, "bench/scale: %s\n", err.msg);
            dataset_free(&ds);
            return 1;
        }
        printf("{\"op\": \"eval_negatives\", \"users\": %lld, \"items\": %lld, \"method\": \"%s\", \"seconds\": "
               "%.3f, \"threads\": %d}\n",
               (long long)ds.n_users, (long long)ds.n_items, sample_method_name((SampleMethod)m), t, nn_threads());
        fflush(stdout);
        sample_free(&out);
    }
    dataset_free(&ds);
    return 0;
}

typedef struct {
    const char *set;
    int64_t users, pass_users, items;
    double avg_len, s3rec_max;
    int max_len;
} PassArg;

/* One validation pass of an untrained model over p->pass_users users: sampled with each method's negatives
 * (s3rec only up to --s3rec-max) and full ranking, "seconds" scaled to p->users. */
static int pass_child(const PassArg *p) {
    nn_set_threads(threads);
    Dataset ds;
    if (generate(p->pass_users, p->items, p->avg_len, p->max_len, &ds)) return 1;
    SasrecConfig mc = sasrec_default_config();
    mc.n_items = p->items > ds.n_items ? p->items : ds.n_items;
    mc.max_len = p->max_len;
    Sasrec s;
    sasrec_init(&s, &mc, 42);
    int64_t *rank = malloc((size_t)ds.n_users * sizeof *rank);
    int failed = 0;
    /* one graph for every pass, warmed by an untimed full-ranking pass: as in training, where the passes reuse
     * the steps' arena, a timed pass finds its memory mapped (a first pass of 2000 long sequences spends more
     * time in page faults than in arithmetic) */
    Graph *g = graph_new();
    EvalOptions warm = eval_default_options();
    warm.protocol = PROTOCOL_FULL, warm.graph = g;
    eval_rank_model(&s, &ds, SPLIT_VALID, &warm, rank);
    for (int m = SAMPLE_S3REC; m <= SAMPLE_FAST + 1 && !failed; m++) { /* SAMPLE_FAST + 1: full ranking */
        EvalOptions opt = eval_default_options();
        opt.graph = g;
        SampleSet neg = {0};
        NnError err;
        if (m <= SAMPLE_FAST) {
            if (m == SAMPLE_S3REC && (double)ds.n_users * (double)ds.n_items > p->s3rec_max) continue;
            int rc = m == SAMPLE_S3REC ? sample_generate(&ds, 99, SAMPLE_DEFAULT_SEED, &neg, &err)
                                       : sample_generate_fast(&ds, 99, SAMPLE_DEFAULT_SEED, &neg, &err);
            if (rc) {
                fprintf(stderr, "bench/scale: %s\n", err.msg);
                failed = 1;
                break;
            }
            opt.samples = &neg;
        } else {
            opt.protocol = PROTOCOL_FULL;
        }
        double t0 = clock_seconds();
        eval_rank_model(&s, &ds, SPLIT_VALID, &opt, rank);
        double t = clock_seconds() - t0;
        printf("{\"op\": \"eval_pass\", \"set\": \"%s\", \"users\": %lld, \"items\": %lld, \"max_len\": %d, "
               "\"protocol\": \"%s\", \"method\": %s, \"pass_users\": %lld, \"pass_s\": %.3f, \"seconds\": %.3f, "
               "\"extrapolated\": %s, \"threads\": %d}\n",
               p->set, (long long)p->users, (long long)mc.n_items, p->max_len, m <= SAMPLE_FAST ? "sample" : "full",
               m == SAMPLE_S3REC ? "\"s3rec\"" : m == SAMPLE_FAST ? "\"fast\"" : "null", (long long)ds.n_users, t,
               t * (double)p->users / (double)ds.n_users, p->users > ds.n_users ? "true" : "false", nn_threads());
        fflush(stdout);
        if (m <= SAMPLE_FAST) sample_free(&neg);
    }
    free(rank);
    graph_free(g);
    sasrec_free(&s);
    dataset_free(&ds);
    return failed;
}

/* Runs f(arg) in a child process; returns its exit status. */
static int in_child(int (*f)(const void *), const void *arg) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) _exit(f(arg));
    int status = 0;
    if (waitpid(pid, &status, 0) < 0) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

typedef struct {
    int64_t users, items;
    double s3rec_max;
} EvalArg;

static int train_thunk(const void *a) { return train_child(a); }
static int pass_thunk(const void *a) { return pass_child(a); }
static int eval_thunk(const void *a) {
    const EvalArg *e = a;
    return eval_child(e->users, e->items, e->s3rec_max);
}

static const char *USAGE =
    "usage: bench/scale [--quick] [--only train|long|pass|contention|eval] [--items N] [--users N]\n"
    "                   [--loss bce|sampled|ce] [--optimizer adam|lazy-adam] [--epochs N] [--max-steps N]\n"
    "                   [--pass-users N] [--s3rec-max X] [--threads N]\n"
    "                   [--negatives K] [--neg-scope batch|sequence|position] [--neg-dist uniform|pop|in-batch|mixed]\n"
    "(the frontier preset's loss: --loss sampled --negatives 768 --neg-scope sequence --neg-dist mixed)\n"
    "Epoch seconds and peak RSS as the catalogue grows, evaluation passes, an epoch beside a busy process,\n"
    "and evaluation-negative seconds (JSON lines).";

int main(int argc, char **argv) {
    int quick = 0, epochs = 1;
    const char *only = NULL, *loss = NULL, *optimizer = NULL;
    int64_t one_items = 0, users = 0, max_steps = 0, pass_users = 20000, negatives = 0;
    int scope = NEG_SCOPE_BATCH, dist = NEG_UNIFORM;
    double s3rec_max = 4e9;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            quick = 1;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            puts(USAGE);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "bench/scale: %s needs a value\n%s\n", a, USAGE);
            return 2;
        }
        i++;
        if (!strcmp(a, "--only")) only = v;
        else if (!strcmp(a, "--items")) one_items = atoll(v);
        else if (!strcmp(a, "--users")) users = atoll(v);
        else if (!strcmp(a, "--loss")) loss = v;
        else if (!strcmp(a, "--optimizer")) optimizer = v;
        else if (!strcmp(a, "--epochs")) epochs = atoi(v);
        else if (!strcmp(a, "--max-steps")) max_steps = atoll(v);
        else if (!strcmp(a, "--s3rec-max")) s3rec_max = atof(v);
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--pass-users")) pass_users = atoll(v);
        else if (!strcmp(a, "--negatives")) negatives = atoll(v);
        else if (!strcmp(a, "--neg-scope")) scope = name_index(v, SCOPE_NAMES, 3);
        else if (!strcmp(a, "--neg-dist")) dist = name_index(v, DIST_NAMES, 4);
        else {
            fprintf(stderr, "bench/scale: unknown flag '%s'\n%s\n", a, USAGE);
            return 2;
        }
    }
    if (epochs < 1 || threads < 1 || pass_users < 1 || negatives < 0 || scope < 0 || dist < 0 ||
        (only && strcmp(only, "train") && strcmp(only, "long") && strcmp(only, "pass") && strcmp(only, "contention") &&
         strcmp(only, "eval"))) {
        fprintf(stderr, "bench/scale: bad --epochs, --threads, --pass-users, --negatives, --neg-scope, --neg-dist or --only\n%s\n", USAGE);
        return 2;
    }
    if (quick) {
        users = users ? users : 20000;
        max_steps = max_steps ? max_steps : 200;
    }
    int64_t grid_items[] = {10000, 100000, 1000000, 4000000}, quick_items[] = {10000, 1000000};
    const int64_t *items = quick ? quick_items : grid_items;
    int n_items = quick ? 2 : 4;
    if (one_items) items = &one_items, n_items = 1;
    /* (loss, optimizer): BCE dense and lazy, sampled(256) lazy, ce dense; dense Adam stops at 1M items (4M: 4 GiB
     * of moments), ce at 100k (its logits grow with the catalogue: 1M items is hours an epoch here) */
    struct {
        LossKind loss;
        OptimizerKind opt;
    } kinds[] = {{LOSS_BCE, OPT_ADAM}, {LOSS_BCE, OPT_LAZY_ADAM}, {LOSS_SAMPLED, OPT_LAZY_ADAM}, {LOSS_CE, OPT_ADAM}};
    int failed = 0;
    for (int set = 0; set < 2; set++) {
        if (only && strcmp(only, set ? "long" : "train")) continue;
        for (int i = 0; i < (set ? 1 : n_items); i++)
            for (int k = 0; k < 4; k++) {
                if (loss && strcmp(loss, LOSS_NAMES[kinds[k].loss])) continue;
                if (optimizer && strcmp(optimizer, kinds[k].opt == OPT_ADAM ? "adam" : "lazy-adam")) continue;
                Run r = {.users = users ? users : (set ? 20000 : 100000),
                         .items = set ? (one_items ? one_items : 100000) : items[i],
                         .avg_len = set ? 150 : 20,
                         .max_len = set ? 200 : 50,
                         .epochs = epochs,
                         .steps = max_steps,
                         .loss = kinds[k].loss,
                         .opt = kinds[k].opt,
                         .set = set ? "long" : "catalogue",
                         .negatives = negatives,
                         .scope = (NegScope)scope,
                         .dist = (NegDist)dist};
                if (quick && set) r.users = users / 5 > 1000 ? users / 5 : 1000;
                if (!one_items && r.opt == OPT_ADAM && r.items > 1000000) continue;
                if (!one_items && r.loss == LOSS_CE && (set || r.items > 100000)) continue;
                failed |= in_child(train_thunk, &r) != 0;
            }
    }
    if (!only || !strcmp(only, "pass")) {
        for (int set = 0; set < 2; set++)
            for (int i = 0; i < (set ? 1 : n_items); i++) {
                PassArg p = {.set = set ? "long" : "catalogue",
                             .users = users ? users : (set ? 20000 : 100000),
                             .items = set ? (one_items ? one_items : 100000) : items[i],
                             .avg_len = set ? 150 : 20,
                             .max_len = set ? 200 : 50,
                             .s3rec_max = s3rec_max};
                p.pass_users = p.users < pass_users ? p.users : pass_users;
                failed |= in_child(pass_thunk, &p) != 0;
            }
    }
    if (!only || !strcmp(only, "contention")) {
        /* alone, beside a busy process, and at one thread alone: the 10k-item BCE epoch */
        for (int c = 0; c < 3; c++) {
            Run r = {.users = users ? users : 100000, .items = one_items ? one_items : 10000, .avg_len = 20,
                     .max_len = 50, .epochs = epochs > 3 ? epochs : 3, .steps = max_steps, .loss = LOSS_BCE,
                     .opt = OPT_ADAM, .set = "contention", .busy = c == 1, .threads = c == 2 ? 1 : threads};
            failed |= in_child(train_thunk, &r) != 0;
        }
    }
    if (!only || !strcmp(only, "eval")) {
        EvalArg grid[] = {{users ? users : 100000, 10000, s3rec_max},
                          {users ? users : 100000, 1000000, s3rec_max},
                          {quick ? 200000 : 1000000, 1000000, s3rec_max}};
        for (int i = 0; i < 3; i++) {
            if (one_items) grid[i].items = one_items;
            failed |= in_child(eval_thunk, &grid[i]) != 0;
        }
    }
    return failed;
}
