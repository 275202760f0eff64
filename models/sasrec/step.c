#include "models/sasrec/step.h"

#include <math.h>
#include <stdlib.h>

#include "base/dist.h"
#include "nn/grad_sum.h"
#include "nn/loss.h"

/* The training loss of b at the rows of its tokens, and the real targets it has. NULL when there are none. */
static Tensor *batch_loss(Sasrec *s, Graph *g, const SeqBatch *b, const TrainConfig *tc, int64_t *targets) {
    Tokens t = sasrec_tokens(g, b->input, b->len, b->B, b->L, !tc->dense);
    int64_t *pos = sasrec_gather(g, &t, b->pos); /* (T) */
    Negatives neg = {.neg = sasrec_gather(g, &t, b->neg), .shared = b->shared, .n_shared = b->n_shared,
                     .log_q = b->log_q, .drawn = b->drawn, .n_drawn = b->n_drawn, .per_position = b->per_position};
    if (tc->loss == LOSS_GBCE)
        neg.beta = loss_gbce_beta(b->n_drawn ? b->n_drawn : b->n_shared, s->cfg.n_items, tc->gbce_t);
    *targets = 0;
    for (int64_t k = 0; k < t.T; k++) *targets += pos[k] != 0;
    if (*targets == 0) return NULL;
    Tensor *F = sasrec_forward(s, g, &t); /* (T, H) */
    Tensor *loss = sasrec_loss(s, g, F, &t, pos, &neg, tc->loss);
    module_trace(&s->m, "loss", loss);
    return loss;
}

/* Clip, Adam, zero: the update from the gradients in s's parameters. */
static void update(Sasrec *s, Adam *opt, const TrainConfig *tc) {
    if (tc->clip > 0) clip_grad_norm(&s->m, tc->clip);
    adam_step(opt);
    module_zero_grad(&s->m);
}

/* Users [begin, end) of b as a batch of their own (views into b's arrays; the negatives too, as drawn for the
 * whole batch). */
static SeqBatch shard_of(const SeqBatch *b, int64_t begin, int64_t end) {
    SeqBatch v = *b;
    v.B = v.cap = (int)(end - begin);
    v.input += begin * b->L;
    v.pos += begin * b->L;
    v.neg += begin * b->L;
    v.len += begin;
    v.answer += begin;
    v.user += begin;
    if (v.drawn) v.drawn += begin * (b->per_position ? b->L : 1) * b->n_drawn;
    return v;
}

/* The sharded step: shard k of K holds b's users dist_share(B, k, K); this rank runs the shards
 * dist_share(K, rank, size), each into zeroed gradients with its own dropout stream, its loss scaled by
 * its share of the batch's targets (so the shards' sum is the batch's mean); the gradients and losses
 * are summed in shard order across ranks (grad_sum_chain), and every rank takes the same update. */
static StepResult step_sharded(Sasrec *s, Adam *opt, Graph *g, const SeqBatch *b, const TrainConfig *tc) {
    int K = tc->shards, rank = dist_rank(), size = dist_size();
    NN_CHECK(K >= size, "sasrec_step", "%d shards cannot be dealt to %d ranks", K, size);
    StepResult r = {0, 0};
    for (int64_t k = 0; k < (int64_t)b->B * b->L; k++) r.targets += b->pos[k] != 0;
    if (r.targets == 0) return r; /* every rank sees the same batch: all skip it */
    int64_t first, end;
    dist_share(K, rank, size, &first, &end);
    /* rank 0 starts the chain, so folding its shards at once is the same sum; others keep each shard apart */
    int n_mine = rank == 0 ? 1 : (int)(end - first);
    GradSum *mine = nn_calloc((size_t)(n_mine ? n_mine : 1), sizeof *mine), total;
    for (int i = 0; i < n_mine; i++) grad_sum_init(&mine[i], &s->m);
    grad_sum_init(&total, &s->m);
    for (int64_t k = first; k < end; k++) {
        int64_t u0, u1, targets;
        dist_share(b->B, (int)k, K, &u0, &u1);
        SeqBatch shard = shard_of(b, u0, u1);
        module_dropout_stream(&s->m, (uint64_t)opt->step, (uint64_t)k);
        Tensor *loss = batch_loss(s, g, &shard, tc, &targets);
        double value = 0;
        if (loss) {
            loss = ag_mul_scalar(g, loss, (real)((double)targets / (double)r.targets));
            value = loss->data[0];
            if (isfinite(value)) ag_backward(g, loss); /* a non-finite one makes the sum non-finite: no update */
        }
        grad_sum_add_module(&mine[rank == 0 ? 0 : k - first], &s->m, value);
        module_zero_grad(&s->m);
        graph_reset(g);
    }
    grad_sum_chain(&total, mine, n_mine);
    r.loss = total.loss;
    if (isfinite(r.loss)) {
        grad_sum_to_module(&total, &s->m);
        update(s, opt, tc);
    }
    for (int i = 0; i < n_mine; i++) grad_sum_free(&mine[i]);
    free(mine);
    grad_sum_free(&total);
    return r;
}

StepResult sasrec_step(Sasrec *s, Adam *opt, Graph *g, const SeqBatch *b, const TrainConfig *tc) {
    if (tc->shards > 1 || dist_size() > 1) return step_sharded(s, opt, g, b, tc);
    StepResult r = {0, 0};
    Tensor *loss = batch_loss(s, g, b, tc, &r.targets);
    if (loss) {
        r.loss = loss->data[0];
        if (isfinite(r.loss)) {
            ag_backward(g, loss);
            update(s, opt, tc);
        }
    }
    graph_reset(g);
    return r;
}
