/* Fused losses: binary cross-entropy on logits, cross-entropy over classes. */
#include <string.h>

#include "autograd/op_util.h"
#include "autograd/ops.h"
#include "base/error.h"
#include "tensor/kernels.h"
#include "base/parallel.h"
#include "tensor/rmath.h"

/* ---- binary cross-entropy with logits ---- */

typedef struct {
    const real *x, *t, *w; /* row-major logits, targets, weights (NULL: ones) */
    double wsum;
} BceSaved;

static void bce_backward(Graph *g, Node *n) {
    const BceSaved *s = n->saved;
    Tensor *x = n->in[0];
    real *gx = ag_grad(g, x)->data;
    real scale = s->wsum > 0 ? (real)(n->out->grad->data[0] / s->wsum) : 0;
#pragma omp parallel for schedule(static) if (x->numel > NN_PARALLEL_MIN_WORK)
    for (int64_t i = 0; i < x->numel; i++) {
        real w = s->w ? s->w[i] : 1;
        gx[i] += scale * w * (r_sigmoid(s->x[i]) - s->t[i]);
    }
}

Tensor *ag_bce_with_logits(Graph *g, Tensor *logits, const Tensor *target, const Tensor *weight) {
    NN_CHECK(tensor_same_shape(logits, target) && (!weight || tensor_same_shape(logits, weight)), "bce_with_logits",
             "logits %s, target %s and weight must have one shape", shape_str(logits->ndim, logits->shape).s,
             shape_str(target->ndim, target->shape).s);
    BceSaved *s = arena_alloc(graph_arena(g), sizeof *s);
    s->x = ag_row_major(g, logits);
    s->t = ag_row_major(g, target);
    s->w = weight ? ag_row_major(g, weight) : NULL;
    int64_t count = logits->numel, nchunks = (count + NN_REDUCE_CHUNK - 1) / NN_REDUCE_CHUNK;
    double loss = 0, wsum = 0;
    /* Fixed chunks added in order: the same sum for any thread count. */
    double *part = arena_calloc(graph_arena(g), (size_t)(2 * nchunks + 2) * sizeof *part);
#pragma omp parallel for schedule(static) if (count > NN_PARALLEL_MIN_WORK)
    for (int64_t c = 0; c < nchunks; c++) {
        int64_t i1 = (c + 1) * NN_REDUCE_CHUNK < count ? (c + 1) * NN_REDUCE_CHUNK : count;
        double l = 0, ws = 0;
        for (int64_t i = c * NN_REDUCE_CHUNK; i < i1; i++) {
            real w = s->w ? s->w[i] : 1, xi = s->x[i], ti = s->t[i];
            /* -t log sigmoid(x) - (1 - t) log(1 - sigmoid(x)), stably */
            l += w * (-ti * r_log_sigmoid(xi) - (1 - ti) * r_log_sigmoid(-xi));
            ws += w;
        }
        part[2 * c] = l;
        part[2 * c + 1] = ws;
    }
    for (int64_t c = 0; c < nchunks; c++) {
        loss += part[2 * c];
        wsum += part[2 * c + 1];
    }
    s->wsum = wsum;
    Tensor *y = ag_new(g, 0, NULL);
    y->data[0] = wsum > 0 ? (real)(loss / wsum) : 0;
    Node *n = ag_record(g, "bce_with_logits", bce_backward, y, 1, &logits);
    if (n) n->saved = s;
    return y;
}

/* ---- cross-entropy over classes ---- */

typedef struct {
    real *prob;            /* (N, C) softmax of the logits */
    const int64_t *target; /* (N) */
    int64_t ignore, count; /* ignored class id; rows that count */
} CeSaved;

static void ce_backward(Graph *g, Node *n) {
    const CeSaved *s = n->saved;
    Tensor *x = n->in[0];
    int64_t N = x->shape[0], C = x->shape[1];
    real *gx = ag_grad(g, x)->data;
    real scale = s->count ? n->out->grad->data[0] / (real)s->count : 0;
#pragma omp parallel for schedule(static) if (x->numel > NN_PARALLEL_MIN_WORK)
    for (int64_t r = 0; r < N; r++) {
        if (s->target[r] == s->ignore) continue;
        const real *p = s->prob + r * C;
        real *d = gx + r * C;
        for (int64_t j = 0; j < C; j++) d[j] += scale * p[j];
        d[s->target[r]] -= scale;
    }
}

Tensor *ag_cross_entropy(Graph *g, Tensor *logits, const int64_t *target, int64_t ignore_index) {
    NN_CHECK(logits->ndim == 2, "cross_entropy", "logits %s must be (rows, classes)",
             shape_str(logits->ndim, logits->shape).s);
    int64_t N = logits->shape[0], C = logits->shape[1];
    for (int64_t r = 0; r < N; r++)
        NN_CHECK(target[r] == ignore_index || (target[r] >= 0 && target[r] < C), "cross_entropy",
                 "target %lld of row %lld outside [0, %lld)", (long long)target[r], (long long)r, (long long)C);
    Tensor *logp = ag_new(g, 2, logits->shape);
    tensor_log_softmax(logp, logits);
    double loss = 0;
    int64_t count = 0;
    for (int64_t r = 0; r < N; r++) {
        if (target[r] == ignore_index) continue;
        loss -= logp->data[r * C + target[r]];
        count++;
    }
    Tensor *y = ag_new(g, 0, NULL);
    y->data[0] = count ? (real)(loss / (double)count) : 0;
    Node *n = ag_record(g, "cross_entropy", ce_backward, y, 1, &logits);
    if (n) {
        CeSaved *s = arena_alloc(graph_arena(g), sizeof *s);
        tensor_unary(logp, logp, UNARY_EXP, 0); /* probabilities, in place */
        s->prob = logp->data;
        int64_t *t = arena_alloc(graph_arena(g), (size_t)N * sizeof *t);
        memcpy(t, target, (size_t)N * sizeof *t);
        s->target = t;
        s->ignore = ignore_index;
        s->count = count;
        n->saved = s;
    }
    return y;
}
