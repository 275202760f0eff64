#include "models/sasrec/step.h"

#include <math.h>

#include "nn/loss.h"

StepResult sasrec_step(Sasrec *s, Adam *opt, Graph *g, const SeqBatch *b, const TrainConfig *tc) {
    StepResult r = {0, 0};
    Tokens t = sasrec_tokens(g, b->input, b->len, b->B, b->L, !tc->dense);
    int64_t *pos = sasrec_gather(g, &t, b->pos); /* (T) */
    Negatives neg = {.neg = sasrec_gather(g, &t, b->neg), .shared = b->shared, .n_shared = b->n_shared,
                     .log_q = b->log_q};
    if (tc->loss == LOSS_GBCE) neg.beta = loss_gbce_beta(b->n_shared, s->cfg.n_items, tc->gbce_t);
    for (int64_t k = 0; k < t.T; k++) r.targets += pos[k] != 0;
    if (r.targets > 0) {
        Tensor *F = sasrec_forward(s, g, &t); /* (T, H) */
        Tensor *loss = sasrec_loss(s, g, F, &t, pos, &neg, tc->loss);
        module_trace(&s->m, "loss", loss);
        r.loss = loss->data[0];
        if (isfinite(r.loss)) {
            ag_backward(g, loss);
            if (tc->clip > 0) clip_grad_norm(&s->m, tc->clip);
            adam_step(opt);
            module_zero_grad(&s->m);
        }
    }
    graph_reset(g);
    return r;
}
