#include "models/sasrec/step_sharded.h"

#include <math.h>
#include <stdlib.h>

#include "base/dist.h"
#include "base/memory.h"
#include "nn/grad_sum.h"

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

StepResult step_sharded(Sasrec *s, Adam *opt, Graph *g, const SeqBatch *b, const TrainConfig *tc) {
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
        Tensor *loss = step_loss(s, g, &shard, tc, &targets);
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
        step_update(s, opt, g, tc);
    }
    for (int i = 0; i < n_mine; i++) grad_sum_free(&mine[i]);
    free(mine);
    grad_sum_free(&total);
    return r;
}
