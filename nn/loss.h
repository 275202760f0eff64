/* Losses, composed from autograd ops. Each returns a scalar tensor. */
#ifndef NN_NN_LOSS_H
#define NN_NN_LOSS_H

#include "autograd/ops.h"

/* The SASRec loss: sum_t mask_t [-log sigmoid(pos_t) - log(1 - sigmoid(neg_t))] / sum_t mask_t,
 * computed stably (log-sigmoid). pos, neg, mask share one shape; mask may be NULL (all ones). */
Tensor *loss_bce_pos_neg(Graph *g, Tensor *pos_logits, Tensor *neg_logits, const Tensor *mask);
/* Cross-entropy over classes: logits (N, C), target[N]; mean over rows whose target is not ignore_index.
 * For N-d logits, class weights or label smoothing: ag_cross_entropy_nd (autograd/ops.h). */
Tensor *loss_cross_entropy(Graph *g, Tensor *logits, const int64_t *target, int64_t ignore_index);
/* Cross-entropy over the classes of x w^T (x (N, H), w (C, H)), computed in
 * tiles without storing the (N, C) logits (ag_linear_cross_entropy). */
Tensor *loss_linear_cross_entropy(Graph *g, Tensor *x, Tensor *w, const int64_t *target, int64_t ignore_index);
/* Mean squared error: mean((pred - target)^2); target broadcasts to pred. */
Tensor *loss_mse(Graph *g, Tensor *pred, Tensor *target);

#endif
