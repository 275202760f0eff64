#include "models/sasrec/step.h"

#include <math.h>

#include "autograd/profile.h"
#include "base/dist.h"
#include "models/sasrec/step_sharded.h"
#include "nn/loss.h"

Tensor *step_loss(Sasrec *s, Graph *g, const SeqBatch *b, const TrainConfig *tc, int64_t *targets) {
    Tokens t = sasrec_tokens(g, b->input, b->len, b->B, b->L, !tc->dense);
    int64_t *pos = sasrec_gather(g, &t, b->pos); /* (T) */
    Negatives neg = {.neg = sasrec_gather(g, &t, b->neg), .shared = b->shared, .n_shared = b->n_shared,
                     .log_q = b->log_q, .drawn = b->drawn, .n_drawn = b->n_drawn, .per_position = b->per_position};
    if (tc->loss == LOSS_GBCE)
        neg.beta = loss_gbce_beta(b->n_drawn ? b->n_drawn : b->n_shared, s->cfg.n_items, tc->gbce_t);
    *targets = 0;
    for (int64_t k = 0; k < t.T; k++) *targets += pos[k] != 0;
    profile_mark(graph_profile(g), "ids, layout and targets", 0, 0);
    if (*targets == 0) return NULL;
    Tensor *F = sasrec_forward(s, g, &t); /* (T, H) */
    Tensor *loss = sasrec_loss(s, g, F, &t, pos, &neg, tc->loss);
    graph_trace(g, "loss", loss);
    return loss;
}

/* Clip, then Adam and the zeroing in one pass (adam_step_zero_grad): the update from the gradients in s's
 * parameters; each a row of g's profile, if any, with its dense sweep's cost over the P parameters (Adam: p, g,
 * m, v read, p, m, v written, about 12 FLOPs each, then g zeroed; lazy Adam touches fewer). */
void step_update(Sasrec *s, Adam *opt, Graph *g, const TrainConfig *tc) {
    Profile *p = graph_profile(g);
    double P = p ? (double)module_num_params(&s->m) : 0, r = (double)sizeof(real);
    if (tc->clip > 0) clip_grad_norm(&s->m, tc->clip);
    profile_mark(p, "clip_grad_norm", tc->clip > 0 ? 4 * P : 0, tc->clip > 0 ? 3 * P * r : 0);
    adam_step_zero_grad(opt);
    profile_mark(p, "adam", 12 * P, 8 * P * r); /* the zeroing included */
}

StepResult sasrec_step(Sasrec *s, Adam *opt, Graph *g, const SeqBatch *b, const TrainConfig *tc) {
    if (tc->shards > 1 || dist_size() > 1) return step_sharded(s, opt, g, b, tc);
    StepResult r = {0, 0};
    Tensor *loss = step_loss(s, g, b, tc, &r.targets);
    if (loss) {
        r.loss = loss->data[0];
        if (isfinite(r.loss)) {
            ag_backward(g, loss);
            step_update(s, opt, g, tc);
        }
    }
    graph_reset(g);
    profile_mark(graph_profile(g), "graph_reset", 0, 0);
    return r;
}
