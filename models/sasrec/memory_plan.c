#include "models/sasrec/memory_plan.h"

#include <math.h>
#include <stdlib.h>

#include "autograd/ops.h"
#include "base/memory.h"
#include "models/sasrec/item_scores.h"

/* Bytes held per computed position and hidden unit (per layer, and outside the layers: embeddings, loss) and
 * per attention entry (heads x len x len per sequence, per layer), for a training step (forward values and
 * gradients in the graph's arena) and for a forward pass without gradients. Fitted to measured peak RSS
 * (one epoch at hidden 64 and 128, max-len 50 and 200, threads 1) with the arena's doubling blocks included,
 * then rounded up. */
#define STEP_LAYER_BYTES    208.0
#define STEP_OUTER_BYTES    48.0
#define STEP_ATTN_BYTES     6.0
#define FORWARD_LAYER_BYTES 84.0
#define FORWARD_OUTER_BYTES 16.0
#define FORWARD_ATTN_BYTES  4.0
/* The program, its buffers and the thread stacks, before any of the above. */
#define BASE_BYTES (8.0 * 1048576)

/* The input length of user u, at most L. */
static double input_len(const Dataset *ds, int64_t u, int64_t L) {
    int64_t len;
    dataset_seq(ds, u, &len);
    return (double)(len < L ? len : L);
}

/* Positions *T and attention entries *A (len x len per sequence, per head) a batch of n users may hold.
 * dense: n x L and n x L x L. Shuffled (training): the mean over n users plus 5 standard deviations of the sum of
 * n random users, at most the n longest's. In order (evaluation): the largest over the batches of n
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
                double x = input_len(ds, u, L);
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
        double x = input_len(ds, u, L);
        count[(int64_t)x]++;
        s1 += x, s2 += x * x, q1 += x * x, q2 += x * x * x * x;
    }
    double fpc = U > 1 ? (U - m) / (U - 1) : 0; /* drawn without replacement */
    double mt = s1 / U, vt = s2 / U - mt * mt, ma = q1 / U, va = q2 / U - ma * ma;
    double t = m * mt + 5 * sqrt(m * (vt > 0 ? vt : 0) * fpc), a = m * ma + 5 * sqrt(m * (va > 0 ? va : 0) * fpc);
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

MemoryPlan memory_plan(PlanCommand cmd, const SasrecConfig *mc, const TrainConfig *tc, const EvalOptions *eo,
                       const Dataset *ds, int64_t k) {
    MemoryPlan p = {0};
    double H = (double)mc->hidden, layers = (double)mc->layers, heads = (double)mc->heads, f = sizeof(real);
    double n_params = ((double)mc->n_items + 1 + (double)mc->max_len) * H + layers * (12 * H * H + 13 * H) + 2 * H;
    p.params = n_params * f;
    int training = cmd == PLAN_TRAIN || cmd == PLAN_EXPLAIN;
    if (training) {
        /* gradients, two moments, and train's best-epoch snapshot */
        p.optimizer = (cmd == PLAN_TRAIN ? 4 : 3) * n_params * f;
        double T, A;
        int dense = tc->dense || cmd == PLAN_EXPLAIN;
        batch_size(ds, tc->batch, mc->max_len, dense, 1, &T, &A);
        double act = T * H * (layers * STEP_LAYER_BYTES + STEP_OUTER_BYTES) + A * heads * layers * STEP_ATTN_BYTES;
        if (tc->loss == LOSS_CE) act += 2.0 * LCE_TILE_REALS * f + T * 3 * f;
        act += T * 3 * 8.0 + (double)tc->batch * (double)mc->max_len * 3 * 8.0; /* ids and targets */
        if (cmd == PLAN_EXPLAIN) act += A * f; /* the printed (B, 1, L, L) mask */
        p.activations = act;
    }
    /* evaluation (train's validation, eval, predict, explain's evaluation batch) */
    int64_t B = cmd == PLAN_EXPLAIN ? tc->batch : eo->batch;
    double T, A;
    batch_size(ds, B, mc->max_len, 0, 0, &T, &A);
    double ev = T * H * (layers * FORWARD_LAYER_BYTES + FORWARD_OUTER_BYTES) + A * heads * layers * FORWARD_ATTN_BYTES;
    ev += (double)B * (double)mc->max_len * 3 * 8.0;
    ev += (double)B * (double)item_scores_block(B) * f;                        /* a block of full-ranking scores */
    if (eo->protocol == PROTOCOL_SAMPLE) ev += (double)ds->n_users * 100 * 4; /* the negatives */
    if (cmd == PLAN_PREDICT) ev += (double)B * (double)k * (f + 4 + 8);
    p.eval = ev;
    /* train's steps and evaluation passes share one graph arena: its peak is the larger of the two */
    double arena = cmd != PLAN_TRAIN ? p.activations + p.eval : p.activations > p.eval ? p.activations : p.eval;
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
        p.advice = tc->dense && cmd != PLAN_EXPLAIN ? "--batch or --max-len, or drop --dense" : "--batch or --max-len";
    }
    if (p.eval > top) {
        p.dominant = "evaluation buffers";
        p.advice = cmd == PLAN_EXPLAIN ? "--batch or --max-len" : "--eval-batch or --max-len";
    }
    return p;
}

int memory_plan_check(const MemoryPlan *plan, NnError *err) {
    char what[128];
    int64_t avail = memory_available(what, sizeof what);
    if (avail < 0 || plan->total <= (double)avail) return 0;
    double mib = 1048576.0;
    return nn_fail(err,
                   "this run needs about %.0f MiB (parameters %.0f, optimizer state %.0f, training step %.0f, "
                   "evaluation %.0f), more than the %.0f MiB available (%s); most of it is the %s: lower %s",
                   plan->total / mib, plan->params / mib, plan->optimizer / mib, plan->activations / mib,
                   plan->eval / mib, (double)avail / mib, what, plan->dominant, plan->advice);
}
