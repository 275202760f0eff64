#include "models/sasrec/memory_plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "autograd/ops.h"
#include "base/memory.h"
#include "base/parallel.h"
#include "models/sasrec/eval.h"
#include "models/sasrec/item_scores.h"

/* Bytes held per computed position and hidden unit (per layer, and outside the layers: embeddings, loss) and
 * per attention entry (heads x len x len per sequence, per layer), for a training step (forward values and
 * gradients in the graph's arena) and for a forward pass without gradients. Fitted to measured peak RSS
 * (one epoch at hidden 64 and 128, max-len 50 and 200, threads 1) with the arena's doubling blocks included,
 * then rounded up. */
#define STEP_LAYER_BYTES    224.0 /* 208 fitted, + 16: GELU keeps its erf for the backward (4H reals) */
#define STEP_OUTER_BYTES    48.0
#define STEP_ATTN_BYTES     6.0
#define FORWARD_LAYER_BYTES 84.0
#define FORWARD_OUTER_BYTES 16.0
#define FORWARD_ATTN_BYTES  4.0
/* The sampled losses (--loss sampled, gbce) hold (T x K) matrices in the step's arena: the negatives'
 * logits, their gradient, and sampled softmax's probabilities; reals per (position, negative), fitted to
 * measured peak RSS at 256 to 65,536 negatives (docs/sasrec.md, section 5). Per negative and hidden unit:
 * the gathered rows, their gradient and the item table's gradient rows. */
#define SAMPLED_TK_REALS 3.0
#define GBCE_TK_REALS    2.0
#define SHARED_KH_REALS  3.0
/* The program, its buffers and the thread stacks, before any of the above. */
#define BASE_BYTES (8.0 * 1048576)

/* The input length of user u, at most L: of its evaluation input (the whole sequence), or of its training
 * input (less the validation and test items and the last target: len - 3). */
static double input_len(const Dataset *ds, int64_t u, int64_t L, int training) {
    int64_t len;
    dataset_seq(ds, u, &len);
    if (training) len = len > 3 ? len - 3 : 0;
    return (double)(len < L ? len : L);
}

/* Positions *T and attention entries *A (len x len per sequence, per head) a batch of n users may hold.
 * dense: n x L and n x L x L. Shuffled (training inputs): the expected largest sum of n random users over an
 * epoch's batches (the mean plus sqrt(2 ln batches) standard deviations), at most the n longest's. In order (evaluation): the largest over the batches of n
 * consecutive users, exactly. */
static void batch_size(const Dataset *ds, int64_t n, int64_t L, int dense, int shuffled, double *T, double *A) {
    if (n > ds->n_users) n = ds->n_users;
    if (n < 1) n = 1;
    *T = *A = 0;
    if (dense) {
        *T = (double)n * (double)L;
        *A = *T * (double)L;
        return;
    }
    if (!shuffled) {
        for (int64_t start = 0; start < ds->n_users; start += n) {
            double t = 0, a = 0;
            for (int64_t u = start; u < ds->n_users && u < start + n; u++) {
                double x = input_len(ds, u, L, 0);
                t += x;
                a += x * x;
            }
            if (t > *T) *T = t;
            if (a > *A) *A = a;
        }
        return;
    }
    double s1 = 0, s2 = 0, q1 = 0, q2 = 0, U = (double)ds->n_users, m = (double)n;
    int64_t *count = calloc((size_t)L + 1, sizeof *count); /* users by input length */
    for (int64_t u = 0; u < ds->n_users; u++) {
        double x = input_len(ds, u, L, 1);
        count[(int64_t)x]++;
        s1 += x, s2 += x * x, q1 += x * x, q2 += x * x * x * x;
    }
    double fpc = U > 1 ? (U - m) / (U - 1) : 0; /* drawn without replacement */
    double mt = s1 / U, vt = s2 / U - mt * mt, ma = q1 / U, va = q2 / U - ma * ma;
    /* the expected largest of an epoch's ceil(U / n) batches: sqrt(2 ln batches) standard deviations above the mean */
    double batches = ceil(U / m), z = batches > 2 ? sqrt(2 * log(batches)) : 1;
    double t = m * mt + z * sqrt(m * (vt > 0 ? vt : 0) * fpc), a = m * ma + z * sqrt(m * (va > 0 ? va : 0) * fpc);
    double wt = 0, wa = 0; /* the n longest */
    for (int64_t len = L, left = n; len >= 0 && left > 0; len--) {
        int64_t take = count[len] < left ? count[len] : left;
        wt += (double)take * (double)len;
        wa += (double)take * (double)len * (double)len;
        left -= take;
    }
    free(count);
    *T = t < wt ? t : wt;
    *A = a < wa ? a : wa;
}

/* Values one block keeps per position, in units of H, relative to the measured block (the SASRec block 4 H
 * wide: 12 H around the attention, 2 H per unit of feed-forward width); LiGR adds the two gates (sigmoid,
 * product) and the SwiGLU's third product and dropout. Scales the fitted *_LAYER_BYTES. */
static double layer_scale(const SasrecConfig *mc) {
    double m = (double)mc->ff_mult;
    return (mc->block == BLOCK_LIGR ? 18 + 5 * m : 12 + 2 * m) / (12 + 2 * SASREC_FFN_FACTOR);
}

/* Parameters of one block (docs/sasrec.md, section 3.2). */
static double block_params(const SasrecConfig *mc) {
    double H = (double)mc->hidden, m = (double)mc->ff_mult;
    if (mc->block == BLOCK_LIGR) return (6 + 3 * m) * H * H + 10 * H; /* attention, 2 gates, SwiGLU; 2 LayerNorms */
    return (4 + 2 * m) * H * H + (9 + m) * H;                          /* attention, fc1, fc2; 2 LayerNorms */
}

/* Negatives drawn per position or per sequence (ag_sampled_rows): the batch's drawn ids (int32, dense
 * (B, L, K) or (B, K)), their gather to the tokens and the op's copy (int64, T x K or B x K each), the
 * backward's block of logit gradients (SAMPLED_ROWS_TILE_REALS), one K-wide row of logits per thread, the
 * in-batch urn and log q table, and per-row saved values. No (T x K) logits are held. */
static double drawn_bytes(const TrainConfig *tc, const SasrecConfig *mc, double T, double f) {
    double K = (double)tc->negatives, B = (double)tc->batch, L = (double)mc->max_len;
    double per = tc->neg_scope == NEG_SCOPE_POSITION, ids = per ? T * K : B * K;
    double tile = K + 1 < SAMPLED_ROWS_TILE_REALS ? SAMPLED_ROWS_TILE_REALS : K + 1;
    /* per sequence: each thread's gathered (K, H) panel, corrections and logits, and the (T, K) gradients the
     * forward keeps when they fit (SAMPLED_ROWS_STORE_REALS) */
    double H = (double)mc->hidden, groups = per ? 0 : K * (H + 1 + L) * f * (double)nn_threads();
    double kept = !per && T * K <= SAMPLED_ROWS_STORE_REALS ? T * (K + 1 + H) * f : 0;
    return (per ? B * L : B) * K * 4 + 2 * ids * 8 + tile * f + K * f * (double)nn_threads() + B * L * 8 +
           ((double)mc->n_items + 1) * (f + 8) + T * (f + 8 * 3) + groups + kept;
}

MemoryPlan memory_plan(PlanCommand cmd, const SasrecConfig *mc, const TrainConfig *tc, const EvalOptions *eo,
                       const Dataset *ds, int64_t k) {
    MemoryPlan p = {0};
    double H = (double)mc->hidden, layers = (double)mc->layers, heads = (double)mc->heads, f = sizeof(real);
    double n_params = ((double)mc->n_items + 1 + (double)mc->max_len) * H + layers * block_params(mc) + 2 * H;
    double step_layer = STEP_LAYER_BYTES * layer_scale(mc), forward_layer = FORWARD_LAYER_BYTES * layer_scale(mc);
    p.params = n_params * f;
    int training = cmd == PLAN_TRAIN || cmd == PLAN_EXPLAIN;
    if (training) {
        /* gradients, two moments, and train's best-epoch snapshot */
        p.optimizer = (cmd == PLAN_TRAIN ? 4 : 3) * n_params * f;
        double T, A;
        int dense = tc->dense || cmd == PLAN_EXPLAIN;
        batch_size(ds, tc->batch, mc->max_len, dense, 1, &T, &A);
        double act = T * H * (layers * step_layer + STEP_OUTER_BYTES) + A * heads * layers * STEP_ATTN_BYTES;
        if (tc->loss == LOSS_CE) act += 2.0 * LCE_TILE_REALS * f + T * 3 * f;
        if (train_shares_negatives(tc->loss) && tc->neg_scope != NEG_SCOPE_BATCH)
            act += drawn_bytes(tc, mc, T, f);
        else if (train_shares_negatives(tc->loss)) { /* every position against the batch's K negatives */
            double K = (double)tc->negatives;
            act += (tc->loss == LOSS_SAMPLED ? SAMPLED_TK_REALS : GBCE_TK_REALS) * T * K * f;
            act += SHARED_KH_REALS * K * H * f + K * 3 * 8.0; /* their embeddings, gradient rows; ids */
        }
        act += T * 3 * 8.0 + (double)tc->batch * (double)mc->max_len * 3 * 8.0; /* ids and targets */
        if (cmd == PLAN_EXPLAIN) act += A * f; /* the printed (B, 1, L, L) mask */
        p.activations = act;
    }
    /* evaluation (train's validation, eval, predict, explain's evaluation batch) */
    int64_t B = cmd == PLAN_EXPLAIN ? tc->batch : eo->batch;
    double T, A;
    batch_size(ds, B, mc->max_len, 0, 0, &T, &A);
    double ev = T * H * (layers * forward_layer + FORWARD_OUTER_BYTES) + A * heads * layers * FORWARD_ATTN_BYTES;
    ev += (double)B * (double)mc->max_len * 3 * 8.0;
    ev += (double)B * (double)item_scores_block(B) * f;                        /* a block of full-ranking scores */
    if (eo->protocol == PROTOCOL_SAMPLE) ev += (double)ds->n_users * 100 * 4; /* the negatives */
    if (cmd == PLAN_PREDICT) ev += (double)B * (double)k * (f + 4 + 8);
    /* a pass ranks units of B / threads users in parallel, each thread in its own graph (eval.h), with one
     * transposed copy of the item table for full ranking (at most EVAL_COPY_MAX bytes) */
    double threads = (double)nn_threads(), first = ev / threads, table = ((double)mc->n_items + 1) * H * f;
    if (eo->protocol == PROTOCOL_FULL) ev += table < EVAL_COPY_MAX ? table : EVAL_COPY_MAX;
    p.eval = ev;
    /* train's steps share one graph arena with the first thread's units of a pass: its peak is the larger of
     * the two; the other threads' graphs and the table copy come on top */
    double arena = cmd != PLAN_TRAIN ? p.activations + p.eval
                                     : (p.activations > first ? p.activations : first) + (ev - first);
    p.total = BASE_BYTES + p.params + p.optimizer + arena;
    p.dominant = "parameters";
    p.advice = "--hidden (the item table is (items + 1) x hidden)";
    double top = p.params;
    if (p.optimizer > top) {
        top = p.optimizer;
        p.dominant = "optimizer state";
    }
    if (p.activations > top) {
        top = p.activations;
        p.dominant = "activations of one training step";
        p.advice = tc->dense && cmd != PLAN_EXPLAIN     ? "--batch or --max-len, or drop --dense"
                   : train_shares_negatives(tc->loss) ? "--negatives, --batch or --max-len"
                                                      : "--batch or --max-len";
    }
    if (p.eval > top) {
        p.dominant = "evaluation buffers";
        p.advice = cmd == PLAN_EXPLAIN ? "--batch or --max-len" : "--eval-batch or --max-len";
    }
    return p;
}

/* This process's virtual size and resident set in bytes (/proc/self/statm); -1 when unknown. */
static void process_size(double *virt, double *resident) {
    *virt = *resident = -1;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return;
    unsigned long long size, rss;
    double page = (double)sysconf(_SC_PAGESIZE);
    if (fscanf(f, "%llu %llu", &size, &rss) == 2) *virt = (double)size * page, *resident = (double)rss * page;
    fclose(f);
}

/* What the address-space and data-segment limits (ulimit -v, RLIMIT_DATA) leave for a plan's total, which
 * counts what is resident now: the limit less the address space held but not resident (thread stacks,
 * malloc's reserved arenas, mapped libraries); -1 without a limit. what names the limit. */
static double rlimit_left(char *what, size_t size) {
    static const struct {
        int resource;
        const char *name;
    } limits[] = {{RLIMIT_AS, "the address-space limit (ulimit -v)"}, {RLIMIT_DATA, "the data-segment limit (ulimit -d)"}};
    double left = -1, virt, resident;
    process_size(&virt, &resident);
    for (int i = 0; i < 2; i++) {
        struct rlimit rl;
        if (getrlimit(limits[i].resource, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) continue;
        double limit = (double)rl.rlim_cur, held = virt > resident && resident >= 0 ? virt - resident : 0;
        double l = limit > held ? limit - held : 0;
        if (left < 0 || l < left) {
            left = l;
            snprintf(what, size, "%s of %.0f MiB, %.0f MiB of it held by the process but not in use", limits[i].name,
                     limit / 1048576.0, held / 1048576.0);
        }
    }
    return left;
}

int memory_plan_check(const MemoryPlan *plan, NnError *err) {
    char what[160], limit_what[160];
    int64_t avail = memory_available(what, sizeof what);
    double left = getenv(MEMORY_LIMIT_ENV) ? -1 : rlimit_left(limit_what, sizeof limit_what);
    if (left >= 0 && (avail < 0 || left < (double)avail)) {
        avail = (int64_t)left;
        snprintf(what, sizeof what, "%s", limit_what);
    }
    if (avail < 0 || plan->total <= (double)avail) return 0;
    double mib = 1048576.0;
    return nn_fail(err,
                   "this run needs about %.0f MiB (parameters %.0f, optimizer state %.0f, training step %.0f, "
                   "evaluation %.0f), more than the %.0f MiB available (%s); most of it is the %s: lower %s",
                   plan->total / mib, plan->params / mib, plan->optimizer / mib, plan->activations / mib,
                   plan->eval / mib, (double)avail / mib, what, plan->dominant, plan->advice);
}
