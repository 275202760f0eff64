#include "models/sasrec/memory_plan.h"

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

/* Positions T and attention entries A of the batch of the n longest inputs (each user's sequence, at most L long;
 * dense: every one L long). */
static void longest_batch(const Dataset *ds, int64_t n, int64_t L, int dense, double *T, double *A) {
    if (n > ds->n_users) n = ds->n_users;
    if (dense) {
        *T = (double)n * (double)L;
        *A = (double)n * (double)L * (double)L;
        return;
    }
    int64_t *count = calloc((size_t)L + 1, sizeof *count); /* users by input length, capped at L */
    for (int64_t u = 0; u < ds->n_users; u++) {
        int64_t len;
        dataset_seq(ds, u, &len);
        count[len < L ? len : L]++;
    }
    *T = *A = 0;
    for (int64_t len = L; len >= 0 && n > 0; len--) {
        int64_t take = count[len] < n ? count[len] : n;
        *T += (double)take * (double)len;
        *A += (double)take * (double)len * (double)len;
        n -= take;
    }
    free(count);
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
        longest_batch(ds, tc->batch, mc->max_len, dense, &T, &A);
        double act = T * H * (layers * STEP_LAYER_BYTES + STEP_OUTER_BYTES) + A * heads * layers * STEP_ATTN_BYTES;
        if (tc->loss == LOSS_CE) act += 2.0 * LCE_TILE_REALS * f + T * 3 * f;
        act += T * 3 * 8.0 + (double)tc->batch * (double)mc->max_len * 3 * 8.0; /* ids and targets */
        if (cmd == PLAN_EXPLAIN) act += A * f; /* the printed (B, 1, L, L) mask */
        p.activations = act;
    }
    /* evaluation (train's validation, eval, predict, explain's evaluation batch) */
    int64_t B = cmd == PLAN_EXPLAIN ? tc->batch : eo->batch;
    double T, A;
    longest_batch(ds, B, mc->max_len, 0, &T, &A);
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
