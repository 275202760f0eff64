#include "models/sasrec/step.h"

#include <math.h>

#include "base/dist.h"
#include "models/sasrec/step_sharded.h"
#include "nn/loss.h"

Tensor *step_loss(Sasrec *s, Graph *g, const SeqBatch *b, const TrainConfig *tc, int64_t *targets) {
    Tokens t = sasrec_tokens(g, b->input, b->len, b->B, b->L, !tc->dense);
    int64_t *pos = sasrec_gather(g, &t, b->pos); /* (T) */
    Negatives neg = {.neg = sasrec_gather(g, &t, b->neg), .shared = b->shared, .n_shared = b->n_shared,
                     .log_q = b->log_q};
    if (tc->loss == LOSS_GBCE) neg.beta = loss_gbce_beta(b->n_shared, s->cfg.n_items, tc->gbce_t);
    *targets = 0;
    for (int64_t k = 0; k < t.T; k++) *targets += pos[k] != 0;
    if (*targets == 0) return NULL;
    Tensor *F = sasrec_forward(s, g, &t); /* (T, H) */
    Tensor *loss = sasrec_loss(s, g, F, &t, pos, &neg, tc->loss);
    graph_trace(g, "loss", loss);
    return loss;
}

void step_update(Sasrec *s, Adam *opt, const TrainConfig *tc) {
    if (tc->clip > 0) clip_grad_norm(&s->m, tc->clip);
    adam_step(opt);
    module_zero_grad(&s->m);
}

StepResult sasrec_step(Sasrec *s, Adam *opt, Graph *g, const SeqBatch *b, const TrainConfig *tc) {
    if (tc->shards > 1 || dist_size() > 1) return step_sharded(s, opt, g, b, tc);
    StepResult r = {0, 0};
    Tensor *loss = step_loss(s, g, b, tc, &r.targets);
    if (loss) {
        r.loss = loss->data[0];
        if (isfinite(r.loss)) {
            ag_backward(g, loss);
            step_update(s, opt, tc);
        }
    }
    graph_reset(g);
    return r;
}
