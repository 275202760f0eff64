/* Fused losses: binary cross-entropy on logits, cross-entropy over classes. */
#include <math.h>
#include <string.h>

#include "autograd/op.h"
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

typedef struct {
    const BceSaved *s;
    real scale; /* backward: dloss / wsum */
    real *gx;   /* backward: (count) */
    double *part; /* forward: per chunk of NN_REDUCE_CHUNK, loss and weight sums */
    int64_t count;
} BceLoop;

static void bce_grad_range(void *ctx, NnChunk c) {
    const BceLoop *l = ctx;
    const BceSaved *s = l->s;
    for (int64_t i = c.begin; i < c.end; i++) {
        real w = s->w ? s->w[i] : 1;
        l->gx[i] += l->scale * w * (r_sigmoid(s->x[i]) - s->t[i]);
    }
}

static void bce_backward(Graph *g, Node *n) {
    const BceSaved *s = n->saved;
    Tensor *x = n->in[0];
    BceLoop l = {s, s->wsum > 0 ? (real)(n->out->grad->data[0] / s->wsum) : 0, ag_grad(g, x)->data, NULL, x->numel};
    nn_parallel_elements(x->numel, 1, bce_grad_range, &l);
}

/* -t log sigmoid(x) - (1 - t) log(1 - sigmoid(x)), stably. For a target of 1 or 0 (SASRec's) one log is
 * multiplied by 0: while it is finite (x not +inf, -inf or NaN respectively) the product is -0, and
 * subtracting it leaves the other term's bits as they are (log sigmoid is never +0), so it is skipped. */
static real bce_term(real x, real t) {
    if (t == 1 && x < INFINITY) return -r_log_sigmoid(x);
    if (t == 0 && x > -INFINITY) return -r_log_sigmoid(-x);
    return -t * r_log_sigmoid(x) - (1 - t) * r_log_sigmoid(-x);
}

/* Loss and weight sums of chunks [begin, end) of NN_REDUCE_CHUNK elements. */
static void bce_chunks(void *ctx, NnChunk ch) {
    const BceLoop *l = ctx;
    const BceSaved *s = l->s;
    for (int64_t c = ch.begin; c < ch.end; c++) {
        int64_t i1 = (c + 1) * NN_REDUCE_CHUNK < l->count ? (c + 1) * NN_REDUCE_CHUNK : l->count;
        double loss = 0, ws = 0;
        for (int64_t i = c * NN_REDUCE_CHUNK; i < i1; i++) {
            real w = s->w ? s->w[i] : 1, xi = s->x[i], ti = s->t[i];
            loss += w * bce_term(xi, ti);
            ws += w;
        }
        l->part[2 * c] = loss;
        l->part[2 * c + 1] = ws;
    }
}

Tensor *ag_bce_with_logits(Graph *g, Tensor *logits, const Tensor *target, const Tensor *weight) {
    AG_CHECK_INPUTS(g, "bce_with_logits", logits, target, weight);
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
    BceLoop l = {s, 0, NULL, part, count};
    nn_parallel_for(nchunks, NN_REDUCE_CHUNK, bce_chunks, &l);
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

typedef struct {
    const CeSaved *s;
    real *gx; /* (N, C) */
    int64_t C;
    real scale; /* dloss / rows that count */
} CeLoop;

static void ce_grad_rows(void *ctx, NnChunk c) {
    const CeLoop *l = ctx;
    const CeSaved *s = l->s;
    int64_t C = l->C;
    for (int64_t r = c.begin; r < c.end; r++) {
        if (s->target[r] == s->ignore) continue;
        const real *p = s->prob + r * C;
        real *d = l->gx + r * C;
        for (int64_t j = 0; j < C; j++) d[j] += l->scale * p[j];
        d[s->target[r]] -= l->scale;
    }
}

static void ce_backward(Graph *g, Node *n) {
    const CeSaved *s = n->saved;
    Tensor *x = n->in[0];
    int64_t N = x->shape[0], C = x->shape[1];
    CeLoop l = {s, ag_grad(g, x)->data, C, s->count ? n->out->grad->data[0] / (real)s->count : 0};
    nn_parallel_for(N, C, ce_grad_rows, &l);
}

Tensor *ag_cross_entropy(Graph *g, Tensor *logits, const int64_t *target, int64_t n_target, int64_t ignore_index) {
    AG_CHECK_INPUTS(g, "cross_entropy", logits);
    NN_CHECK(logits->ndim == 2, "cross_entropy", "logits %s must be (rows, classes)",
             shape_str(logits->ndim, logits->shape).s);
    int64_t N = logits->shape[0], C = logits->shape[1];
    NN_CHECK(n_target == N, "cross_entropy", "%lld targets for logits %s: pass one target per row (%lld)",
             (long long)n_target, shape_str(logits->ndim, logits->shape).s, (long long)N);
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
