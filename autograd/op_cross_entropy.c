/* Cross-entropy over N-d logits, as torch.nn.functional.cross_entropy with
 * class indices: classes along any dim, ignore_index, per-class weights and
 * label smoothing, mean reduction.
 *
 * Logits are seen as (outer, C, inner) around the class dim: each of the
 * outer * inner positions has its C scores inner apart and one target. With
 * w the class weights (ones by default), eps the smoothing and lse the
 * log-sum-exp of a position's scores, a position with target t adds
 *     (1 - eps) w[t] (lse - x[t]) + eps / C sum_c w[c] (lse - x[c])
 * to the numerator and w[t] to the denominator; the loss is their quotient
 * (0 when every target is ignored). Its gradient at score c of a counted
 * position is (p[c] Q - q[c]) / denominator, with p = softmax, q[c] =
 * (1 - eps) w[t] [c == t] + eps w[c] / C and Q = sum_c q[c]. */
#include <math.h>
#include <string.h>

#include "autograd/op.h"
#include "autograd/ops.h"
#include "base/error.h"
#include "base/parallel.h"
#include "tensor/rmath.h"

#define CE_CHUNK 256 /* positions per partial sum: sums are added in chunk order */

typedef struct {
    const real *x;         /* (outer, C, inner) row-major logits */
    real *lse;             /* (outer * inner) log-sum-exp of each position */
    const int64_t *target; /* (outer * inner) */
    const real *w;         /* (C) class weights (a copy), or NULL for ones */
    int64_t outer, C, inner, ignore;
    real eps;     /* label smoothing */
    double wsum;  /* sum of w over the classes */
    double denom; /* sum of w[target] over the counted positions */
} CeNdSaved;

CrossEntropyOptions cross_entropy_default_options(void) {
    return (CrossEntropyOptions){.ignore_index = -100, .label_smoothing = 0, .weight = NULL};
}

/* First score of position p, and the log-sum-exp of its scores (s apart). */
static const real *position_scores(const CeNdSaved *s, int64_t p) {
    return s->x + (p / s->inner) * s->C * s->inner + p % s->inner;
}

static real log_sum_exp(const real *x, int64_t n, int64_t s) {
    real m = -INFINITY;
    for (int64_t c = 0; c < n; c++) m = x[c * s] > m ? x[c * s] : m;
    if (m == -INFINITY) return m;
    double sum = 0;
    for (int64_t c = 0; c < n; c++) sum += r_exp(x[c * s] - m);
    return m + (real)log(sum);
}

typedef struct {
    CeNdSaved *s;
    real *gx;     /* backward: the logits' gradient */
    real scale;   /* backward: d loss / denominator */
    double *part; /* forward: (chunks, 3) partial sums */
} CeLoop;

/* Items = positions: each adds into its own C gradient elements. */
static void ce_backward_positions(void *ctx, NnChunk ch) {
    const CeLoop *l = ctx;
    const CeNdSaved *s = l->s;
    real *gx = l->gx, scale = l->scale, eps = s->eps, per_class = eps / (real)s->C;
    int64_t st = s->inner;
    for (int64_t p = ch.begin; p < ch.end; p++) {
        int64_t t = s->target[p];
        if (t == s->ignore) continue;
        const real *x = position_scores(s, p);
        real *d = gx + (x - s->x);
        real wt = s->w ? s->w[t] : 1, Q = (1 - eps) * wt + per_class * (real)s->wsum;
        for (int64_t c = 0; c < s->C; c++) {
            real q = per_class * (s->w ? s->w[c] : 1);
            d[c * st] += scale * (r_exp(x[c * st] - s->lse[p]) * Q - q);
        }
        d[t * st] -= scale * (1 - eps) * wt;
    }
}

static void ce_nd_backward(Graph *g, Node *n) {
    CeNdSaved *s = n->saved;
    if (s->denom == 0) return;
    CeLoop l = {s, ag_grad(g, n->in[0])->data, (real)(n->out->grad->data[0] / s->denom), NULL};
    nn_parallel_for(s->outer * s->inner, s->C * NN_ROW_WORK, ce_backward_positions, &l);
}

/* Items = chunks of CE_CHUNK positions: each fills its positions' lse and its own partial sums. */
static void ce_forward_chunks(void *ctx, NnChunk ch) {
    const CeLoop *l = ctx;
    CeNdSaved *s = l->s;
    const int64_t *t = s->target;
    int64_t positions = s->outer * s->inner, st = s->inner;
    for (int64_t k = ch.begin; k < ch.end; k++) {
        double nll = 0, smooth = 0, den = 0;
        for (int64_t p = k * CE_CHUNK; p < positions && p < (k + 1) * CE_CHUNK; p++) {
            const real *x = position_scores(s, p);
            real lse = s->lse[p] = log_sum_exp(x, s->C, st);
            if (t[p] == s->ignore) continue;
            double wt = s->w ? s->w[t[p]] : 1;
            nll += wt * (double)(lse - x[t[p] * st]);
            den += wt;
            if (s->eps > 0)
                for (int64_t c = 0; c < s->C; c++) smooth += (s->w ? s->w[c] : 1) * (double)(lse - x[c * st]);
        }
        l->part[3 * k] = nll;
        l->part[3 * k + 1] = smooth;
        l->part[3 * k + 2] = den;
    }
}

Tensor *ag_cross_entropy_nd(Graph *g, Tensor *logits, int class_dim, const int64_t *target, int64_t n_target,
                            const CrossEntropyOptions *opt) {
    AG_CHECK_INPUTS(g, "cross_entropy_nd", logits);
    CrossEntropyOptions o = opt ? *opt : cross_entropy_default_options();
    NN_CHECK(logits->ndim >= 1, "cross_entropy_nd", "logits must have a class dim, got a scalar");
    int cd = tensor_dim("cross_entropy_nd", logits->ndim, class_dim);
    NN_CHECK(o.label_smoothing >= 0 && o.label_smoothing <= 1, "cross_entropy_nd", "label_smoothing %g outside [0, 1]",
             (double)o.label_smoothing);
    CeNdSaved *s = arena_calloc(graph_arena(g), sizeof *s);
    DimSplit split = ag_dim_split(logits, cd);
    s->outer = split.outer;
    s->C = split.size;
    s->inner = split.inner;
    NN_CHECK(!o.weight || (o.weight->ndim == 1 && o.weight->shape[0] == s->C), "cross_entropy_nd",
             "weight %s must be (%lld), one per class of logits %s",
             o.weight ? shape_str(o.weight->ndim, o.weight->shape).s : "", (long long)s->C,
             shape_str(logits->ndim, logits->shape).s);
    int64_t positions = s->outer * s->inner;
    NN_CHECK(n_target == positions, "cross_entropy_nd",
             "%lld targets for logits %s with classes along dim %d: expected %lld, one per position (the logits' "
             "shape without dim %d); is the class dim right? (1 for torch's (N, C, ...), -1 for (..., C))",
             (long long)n_target, shape_str(logits->ndim, logits->shape).s, cd, (long long)positions, cd);
    for (int64_t p = 0; p < positions; p++)
        NN_CHECK(target[p] == o.ignore_index || (target[p] >= 0 && target[p] < s->C), "cross_entropy_nd",
                 "target %lld at position %lld outside [0, %lld) (logits %s, classes along dim %d)",
                 (long long)target[p], (long long)p, (long long)s->C, shape_str(logits->ndim, logits->shape).s, cd);
    s->x = ag_row_major(g, logits);
    if (o.weight) { /* copied: the caller may release its weights before the backward */
        real *w = arena_alloc(graph_arena(g), (size_t)s->C * sizeof *w);
        tensor_to_buffer(o.weight, w);
        s->w = w;
    }
    s->eps = o.label_smoothing;
    s->ignore = o.ignore_index;
    s->wsum = (double)s->C;
    if (s->w) {
        s->wsum = 0;
        for (int64_t c = 0; c < s->C; c++) s->wsum += s->w[c];
    }
    s->lse = arena_alloc(graph_arena(g), (size_t)(positions ? positions : 1) * sizeof *s->lse);
    int64_t *t = arena_alloc(graph_arena(g), (size_t)(positions ? positions : 1) * sizeof *t);
    memcpy(t, target, (size_t)positions * sizeof *t);
    s->target = t;

    /* partial sums per chunk of positions: (nll, smoothing term, denominator), added in order */
    int64_t nchunks = (positions + CE_CHUNK - 1) / CE_CHUNK;
    double *part = arena_calloc(graph_arena(g), (size_t)(3 * nchunks + 3) * sizeof *part);
    CeLoop l = {s, NULL, 0, part};
    nn_parallel_for(nchunks, CE_CHUNK * s->C * NN_ROW_WORK, ce_forward_chunks, &l);
    double nll = 0, smooth = 0;
    for (int64_t k = 0; k < nchunks; k++) {
        nll += part[3 * k];
        smooth += part[3 * k + 1];
        s->denom += part[3 * k + 2];
    }
    Tensor *y = ag_new(g, 0, NULL);
    double eps = (double)s->eps;
    y->data[0] = s->denom != 0 ? (real)(((1 - eps) * nll + eps / (double)s->C * smooth) / s->denom) : 0;
    Node *n = ag_record(g, "cross_entropy", ce_nd_backward, y, 1, &logits);
    if (n) n->saved = s;
    return y;
}
