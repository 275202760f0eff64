/* Losses, composed from autograd ops. Each returns a scalar tensor. */
#ifndef NN_NN_LOSS_H
#define NN_NN_LOSS_H

#include "autograd/ops.h"

/* The SASRec loss: sum_t mask_t [-log sigmoid(pos_t) - log(1 - sigmoid(neg_t))] / sum_t mask_t,
 * computed stably (log-sigmoid). pos, neg, mask share one shape; mask may be NULL (all ones). */
Tensor *loss_bce_pos_neg(Graph *g, Tensor *pos_logits, Tensor *neg_logits, const Tensor *mask);
/* Cross-entropy over classes: logits (N, C), target[n_target] (n_target == N); mean over rows whose target
 * is not ignore_index. For N-d logits, class weights or label smoothing: ag_cross_entropy_nd (autograd/ops.h). */
Tensor *loss_cross_entropy(Graph *g, Tensor *logits, const int64_t *target, int64_t n_target, int64_t ignore_index);
/* Cross-entropy over the classes of x w^T (x (N, H), w (C, H)), target[n_target] (n_target == N), computed
 * in tiles without storing the (N, C) logits (ag_linear_cross_entropy). */
Tensor *loss_linear_cross_entropy(Graph *g, Tensor *x, Tensor *w, const int64_t *target, int64_t n_target,
                                  int64_t ignore_index);
/* Sampled softmax over K candidates shared by the rows (ag_sampled_softmax):
 * pos_logits (R), neg_logits (R, K), target[n_target] (n_target == R), neg_ids[n_neg]
 * (n_neg == K); targets 0 (padding) carry no loss.
 * log_q (V) is the log of each id's sampling probability, looked up for the
 * targets and the candidates (the log-Q correction); NULL for uniform
 * candidates, where the correction is a constant and cancels. */
Tensor *loss_sampled_softmax(Graph *g, Tensor *pos_logits, Tensor *neg_logits, const int64_t *target,
                             int64_t n_target, const int64_t *neg_ids, int64_t n_neg, const real *log_q);
/* gSASRec's generalised BCE over K shared candidates (ag_gbce); counts as for loss_sampled_softmax;
 * targets 0 carry no loss. */
Tensor *loss_gbce(Graph *g, Tensor *pos_logits, Tensor *neg_logits, const int64_t *target, int64_t n_target,
                  const int64_t *neg_ids, int64_t n_neg, double beta);
/* Sampled softmax (log-Q corrected by log_q (C), NULL: uniform draws) or, with gbce, gBCE with exponent
 * beta, of each row of x (R, H) against its target's row of w (C, H) and its group's k candidates
 * ids (n_groups, k); offsets (n_groups + 1) delimit each group's rows, NULL: one group per row. Targets
 * 0 (padding) carry no loss; a candidate equal to a row's target is left out of that row. The (R, k)
 * logits are never stored (ag_sampled_rows). */
Tensor *loss_sampled_rows(Graph *g, Tensor *x, Tensor *w, const int64_t *target, int64_t n_target,
                          const int64_t *ids, int64_t n_groups, int64_t k, const int64_t *offsets, const real *log_q,
                          int gbce, double beta);
/* gSASRec's exponent beta = alpha (t (1 - 1/alpha) + 1/alpha) = 1 + t (alpha - 1) for k uniform
 * negatives among n_items items, alpha = k / (n_items - 1): t = 0 is BCE, t = 1 calibrates fully. */
double loss_gbce_beta(int64_t k, int64_t n_items, double t);
/* Mean squared error: mean((pred - target)^2); target has pred's shape or broadcasts to it (aborts when
 * broadcasting would enlarge pred, as (B, 1) against (B) would to (B, B)). */
Tensor *loss_mse(Graph *g, Tensor *pred, Tensor *target);

#endif
