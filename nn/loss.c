#include "nn/loss.h"

#include <string.h>

#include "base/error.h"

Tensor *loss_bce_pos_neg(Graph *g, Tensor *pos_logits, Tensor *neg_logits, const Tensor *mask) {
    Tensor *ones = ag_new(g, pos_logits->ndim, pos_logits->shape);
    Tensor *zeros = ag_zeros(g, pos_logits->ndim, pos_logits->shape);
    tensor_fill(ones, 1);
    /* Both terms are divided by sum(mask), so their sum is the SASRec loss. */
    return ag_add(g, ag_bce_with_logits(g, pos_logits, ones, mask), ag_bce_with_logits(g, neg_logits, zeros, mask));
}

Tensor *loss_cross_entropy(Graph *g, Tensor *logits, const int64_t *target, int64_t n_target, int64_t ignore_index) {
    return ag_cross_entropy(g, logits, target, n_target, ignore_index);
}

Tensor *loss_linear_cross_entropy(Graph *g, Tensor *x, Tensor *w, const int64_t *target, int64_t n_target,
                                  int64_t ignore_index) {
    return ag_linear_cross_entropy(g, x, w, target, n_target, ignore_index);
}

Tensor *loss_sampled_softmax(Graph *g, Tensor *pos_logits, Tensor *neg_logits, const int64_t *target,
                             int64_t n_target, const int64_t *neg_ids, int64_t n_neg, const real *log_q) {
    real *pos_logq = NULL, *neg_logq = NULL;
    NN_CHECK(pos_logits->ndim == 1 && neg_logits->ndim == 2 && n_target == pos_logits->shape[0] &&
                 n_neg == neg_logits->shape[1], "loss_sampled_softmax",
             "%lld targets and %lld candidate ids for positive logits %s and candidate logits %s: expected (R) and "
             "(R, K) logits with R targets and K ids", (long long)n_target, (long long)n_neg,
             shape_str(pos_logits->ndim, pos_logits->shape).s, shape_str(neg_logits->ndim, neg_logits->shape).s);
    if (log_q) {
        int64_t R = neg_logits->shape[0], K = neg_logits->shape[1];
        pos_logq = arena_alloc(graph_arena(g), (size_t)(R ? R : 1) * sizeof *pos_logq);
        neg_logq = arena_alloc(graph_arena(g), (size_t)(K ? K : 1) * sizeof *neg_logq);
        for (int64_t r = 0; r < R; r++) pos_logq[r] = target[r] ? log_q[target[r]] : 0;
        for (int64_t k = 0; k < K; k++) neg_logq[k] = log_q[neg_ids[k]];
    }
    return ag_sampled_softmax(g, pos_logits, neg_logits, target, n_target, neg_ids, n_neg, 0, pos_logq, neg_logq);
}

Tensor *loss_gbce(Graph *g, Tensor *pos_logits, Tensor *neg_logits, const int64_t *target, int64_t n_target,
                  const int64_t *neg_ids, int64_t n_neg, double beta) {
    return ag_gbce(g, pos_logits, neg_logits, target, n_target, neg_ids, n_neg, 0, (real)beta);
}

Tensor *loss_sampled_rows(Graph *g, Tensor *x, Tensor *w, const int64_t *target, int64_t n_target,
                          const int64_t *ids, int64_t n_groups, int64_t k, const int64_t *offsets, const real *log_q,
                          int gbce, double beta) {
    SampledRowsOptions o = {.target = target, .n_target = n_target, .ignore = 0, .ids = ids, .n_groups = n_groups,
                            .k = k, .offsets = offsets, .log_q = log_q, .gbce = gbce, .beta = (real)beta};
    return ag_sampled_rows(g, x, w, &o);
}

double loss_gbce_beta(int64_t k, int64_t n_items, double t) {
    NN_CHECK(k >= 1 && n_items >= 2 && t >= 0 && t <= 1, "loss_gbce_beta",
             "%lld negatives among %lld items with t %g: expected k >= 1, at least 2 items, t in [0, 1]", (long long)k,
             (long long)n_items, t);
    double alpha = (double)k / (double)(n_items - 1);
    return alpha * (t * (1 - 1 / alpha) + 1 / alpha);
}

Tensor *loss_mse(Graph *g, Tensor *pred, Tensor *target) {
    int64_t shape[TENSOR_MAX_DIMS];
    int nd = shape_broadcast("loss_mse", pred->ndim, pred->shape, target->ndim, target->shape, shape);
    NN_CHECK(shape_equal(nd, shape, pred->ndim, pred->shape), "loss_mse",
             "prediction %s and target %s broadcast to %s, not to the prediction's shape, so the mean would be over "
             "every pair: give the target the prediction's shape (or one that broadcasts to it), e.g. reshape one "
             "of them", shape_str(pred->ndim, pred->shape).s, shape_str(target->ndim, target->shape).s,
             shape_str(nd, shape).s);
    Tensor *d = ag_sub(g, pred, target);
    return ag_mean(g, ag_mul(g, d, d), 0, NULL, 0);
}
