#include "nn/loss.h"

#include <string.h>

Tensor *loss_bce_pos_neg(Graph *g, Tensor *pos_logits, Tensor *neg_logits, const Tensor *mask) {
    Tensor *ones = ag_new(g, pos_logits->ndim, pos_logits->shape);
    Tensor *zeros = ag_zeros(g, pos_logits->ndim, pos_logits->shape);
    tensor_fill(ones, 1);
    /* Both terms are divided by sum(mask), so their sum is the SASRec loss. */
    return ag_add(g, ag_bce_with_logits(g, pos_logits, ones, mask), ag_bce_with_logits(g, neg_logits, zeros, mask));
}

Tensor *loss_cross_entropy(Graph *g, Tensor *logits, const int64_t *target, int64_t ignore_index) {
    return ag_cross_entropy(g, logits, target, ignore_index);
}

Tensor *loss_linear_cross_entropy(Graph *g, Tensor *x, Tensor *w, const int64_t *target, int64_t ignore_index) {
    return ag_linear_cross_entropy(g, x, w, target, ignore_index);
}

Tensor *loss_mse(Graph *g, Tensor *pred, Tensor *target) {
    Tensor *d = ag_sub(g, pred, target);
    return ag_mean(g, ag_mul(g, d, d), 0, NULL, 0);
}
