/* Losses over K candidates shared by every row, the negatives of one batch:
 * sampled softmax with the log-Q correction, and gSASRec's generalised BCE.
 *
 * Row r scores its own positive pos[r] and the shared candidates neg[r, k]. A
 * candidate equal to the row's target (an accidental hit) is left out of that
 * row; a row whose target is `ignore` carries no loss. Each row is computed by
 * one thread into its own slot and the rows are added in order, so the result
 * does not depend on the thread count. */
#include <math.h>
#include <string.h>

#include "autograd/op.h"
#include "autograd/ops.h"
#include "base/error.h"
#include "base/parallel.h"
#include "base/simd.h"
#include "tensor/rmath.h"

#define LANES 16 /* the row loops below keep 16 running sums or maxima, so that they vectorize */

typedef struct {
    const real *pos, *neg;           /* (R), (R, K) logits, row-major */
    const int64_t *target, *ids;     /* (R) each row's target, (K) the candidates */
    const real *pos_logq, *neg_logq; /* (R), (K) log-Q corrections; NULL: none */
    int64_t R, K, ignore, count;     /* count: rows whose target is not ignore */
    real beta;                       /* gBCE: the exponent of the positive's probability */
    real *prob;                      /* (R, K) sampled softmax: each candidate's probability (0 for a hit) */
    real *prob_pos;                  /* (R) sampled softmax: the positive's probability */
} Shared;

/* Copies the inputs the backward pass needs into g's arena and checks the shapes. */
static Shared shared_inputs(Graph *g, const char *op, Tensor *pos, Tensor *neg, const int64_t *target,
                            int64_t n_target, const int64_t *ids, int64_t n_ids, int64_t ignore, const real *pos_logq,
                            const real *neg_logq) {
    NN_CHECK(pos->ndim == 1 && neg->ndim == 2 && neg->shape[0] == pos->shape[0], op,
             "positive logits %s and candidate logits %s must be (rows) and (rows, candidates)",
             shape_str(pos->ndim, pos->shape).s, shape_str(neg->ndim, neg->shape).s);
    NN_CHECK(n_target == pos->shape[0] && n_ids == neg->shape[1], op,
             "%lld targets and %lld candidate ids for positive logits %s and candidate logits %s: pass one target "
             "per row (%lld) and one id per candidate column (%lld)",
             (long long)n_target, (long long)n_ids, shape_str(pos->ndim, pos->shape).s,
             shape_str(neg->ndim, neg->shape).s, (long long)pos->shape[0], (long long)neg->shape[1]);
    Arena *a = graph_arena(g);
    Shared s = {.pos = ag_row_major(g, pos), .neg = ag_row_major(g, neg), .R = pos->shape[0], .K = neg->shape[1],
                .ignore = ignore};
    size_t R = (size_t)s.R, K = (size_t)s.K;
    int64_t *t = arena_alloc(a, (R ? R : 1) * sizeof *t), *c = arena_alloc(a, (K ? K : 1) * sizeof *c);
    memcpy(t, target, R * sizeof *t);
    memcpy(c, ids, K * sizeof *c);
    s.target = t, s.ids = c;
    if (pos_logq) s.pos_logq = memcpy(arena_alloc(a, (R ? R : 1) * sizeof(real)), pos_logq, R * sizeof(real));
    if (neg_logq) s.neg_logq = memcpy(arena_alloc(a, (K ? K : 1) * sizeof(real)), neg_logq, K * sizeof(real));
    for (int64_t r = 0; r < s.R; r++) s.count += t[r] != ignore;
    return s;
}

/* The mean of row_loss over the counted rows, added in row order, as a scalar in g's arena. */
static Tensor *mean_of_rows(Graph *g, const double *row_loss, const Shared *s) {
    double total = 0;
    for (int64_t r = 0; r < s->R; r++) total += row_loss[r];
    Tensor *y = ag_new(g, 0, NULL);
    y->data[0] = s->count ? (real)(total / (double)s->count) : 0;
    return y;
}

/* A loop over the rows of one of the ops below: fn(s, r, ...) for rows r that carry a loss. */
typedef struct {
    const Shared *s;
    real scale;       /* backward: d loss / d y over the count */
    real *gpos, *gneg; /* backward: the gradients, or NULL */
    double *row_loss;  /* forward: (R) */
} RowLoop;

/* ---- sampled softmax ---- */

/* Row r: the candidates' corrected logits b_k (-inf for a hit) and the positive's a; their
 * softmax into prob (row r) and *p_pos; returns -log of the positive's probability. */
NN_VECTORIZE static double sampled_row(const Shared *s, int64_t r, real *p_pos) {
    const real *b = s->neg + r * s->K, *lq = s->neg_logq;
    const int64_t *ids = s->ids, t = s->target[r], K = s->K;
    real *p = s->prob + r * s->K;
    real a = s->pos[r] - (s->pos_logq ? s->pos_logq[r] : 0);
    for (int64_t k = 0; k < K; k++) p[k] = ids[k] == t ? -INFINITY : b[k] - (lq ? lq[k] : 0);
    real mx = r_lane_max(p, K);
    mx = a > mx ? a : mx;
    for (int64_t k = 0; k < K; k++) p[k] = r_exp(p[k] - mx); /* exp(-inf) = 0: a hit gets no weight */
    real e_pos = r_exp(a - mx), sum = r_lane_sum(p, K) + e_pos, inv = 1 / sum;
    for (int64_t k = 0; k < K; k++) p[k] *= inv;
    *p_pos = e_pos * inv;
    return (double)mx + log((double)sum) - (double)a; /* log-sum-exp - a */
}

static void sampled_forward_rows(void *ctx, NnChunk c) {
    const RowLoop *l = ctx;
    const Shared *s = l->s;
    for (int64_t r = c.begin; r < c.end; r++)
        l->row_loss[r] = s->target[r] == s->ignore ? 0 : sampled_row(s, r, &s->prob_pos[r]);
}

static void sampled_backward_rows(void *ctx, NnChunk c) {
    const RowLoop *l = ctx;
    const Shared *s = l->s;
    int64_t K = s->K;
    for (int64_t r = c.begin; r < c.end; r++) {
        if (s->target[r] == s->ignore) continue;
        if (l->gpos) l->gpos[r] += l->scale * (s->prob_pos[r] - 1);
        if (l->gneg) {
            const real *p = s->prob + r * K;
            real *d = l->gneg + r * K;
            for (int64_t k = 0; k < K; k++) d[k] += l->scale * p[k];
        }
    }
}

/* d loss / d pos[r] = (p_pos - 1) / count, d loss / d neg[r, k] = p_k / count. */
static void sampled_backward(Graph *g, Node *n) {
    const Shared *s = n->saved;
    real scale = s->count ? n->out->grad->data[0] / (real)s->count : 0;
    real *gpos = n->in[0]->requires_grad ? ag_grad(g, n->in[0])->data : NULL;
    real *gneg = n->in[1]->requires_grad ? ag_grad(g, n->in[1])->data : NULL;
    RowLoop l = {s, scale, gpos, gneg, NULL};
    nn_parallel_for(s->R, s->K, sampled_backward_rows, &l);
}

Tensor *ag_sampled_softmax(Graph *g, Tensor *pos, Tensor *neg, const int64_t *target, int64_t n_target,
                           const int64_t *neg_ids, int64_t n_neg, int64_t ignore, const real *pos_logq,
                           const real *neg_logq) {
    AG_CHECK_INPUTS(g, "sampled_softmax", pos, neg);
    Shared *s = arena_alloc(graph_arena(g), sizeof *s);
    *s = shared_inputs(g, "sampled_softmax", pos, neg, target, n_target, neg_ids, n_neg, ignore, pos_logq, neg_logq);
    int64_t R = s->R, K = s->K;
    s->prob = arena_alloc(graph_arena(g), (size_t)(R * K > 0 ? R * K : 1) * sizeof(real));
    s->prob_pos = arena_alloc(graph_arena(g), (size_t)(R ? R : 1) * sizeof(real));
    double *row_loss = arena_alloc(graph_arena(g), (size_t)(R ? R : 1) * sizeof *row_loss);
    RowLoop l = {s, 0, NULL, NULL, row_loss};
    nn_parallel_for(R, K, sampled_forward_rows, &l);
    Tensor *y = mean_of_rows(g, row_loss, s);
    Node *n = ag_record(g, "sampled_softmax", sampled_backward, y, 2, (Tensor *[]){pos, neg});
    if (n) n->saved = s;
    return y;
}

/* ---- gBCE ---- */

/* Row r: beta softplus(-pos) + the sum of softplus(neg_k) over the candidates that are not hits. */
NN_VECTORIZE static double gbce_row(const Shared *s, int64_t r) {
    const real *b = s->neg + r * s->K;
    const int64_t *ids = s->ids, t = s->target[r], K = s->K;
    real lane[LANES] = {0}, sum = 0;
    int64_t k = 0;
    for (; k + LANES <= K; k += LANES)
        for (int l = 0; l < LANES; l++) lane[l] += ids[k + l] == t ? 0 : r_softplus(b[k + l]);
    for (int l = 0; l < LANES; l++) sum += lane[l];
    for (; k < K; k++) sum += ids[k] == t ? 0 : r_softplus(b[k]);
    return (double)s->beta * (double)r_softplus(-s->pos[r]) + (double)sum;
}

/* d loss / d pos[r] = beta (sigmoid(pos) - 1) / count, d loss / d neg[r, k] = sigmoid(neg) / count. */
NN_VECTORIZE static void gbce_row_backward(const Shared *s, int64_t r, real scale, real *gpos, real *gneg) {
    const int64_t *ids = s->ids, t = s->target[r], K = s->K;
    if (gpos) gpos[r] += scale * s->beta * (r_sigmoid(s->pos[r]) - 1);
    if (!gneg) return;
    const real *b = s->neg + r * K;
    real *d = gneg + r * K;
    for (int64_t k = 0; k < K; k++) d[k] += ids[k] == t ? 0 : scale / (1 + r_exp(-b[k]));
}

static void gbce_forward_rows(void *ctx, NnChunk c) {
    const RowLoop *l = ctx;
    for (int64_t r = c.begin; r < c.end; r++) l->row_loss[r] = l->s->target[r] == l->s->ignore ? 0 : gbce_row(l->s, r);
}

static void gbce_backward_rows(void *ctx, NnChunk c) {
    const RowLoop *l = ctx;
    for (int64_t r = c.begin; r < c.end; r++)
        if (l->s->target[r] != l->s->ignore) gbce_row_backward(l->s, r, l->scale, l->gpos, l->gneg);
}

static void gbce_backward(Graph *g, Node *n) {
    const Shared *s = n->saved;
    real scale = s->count ? n->out->grad->data[0] / (real)s->count : 0;
    real *gpos = n->in[0]->requires_grad ? ag_grad(g, n->in[0])->data : NULL;
    real *gneg = n->in[1]->requires_grad ? ag_grad(g, n->in[1])->data : NULL;
    RowLoop l = {s, scale, gpos, gneg, NULL};
    nn_parallel_for(s->R, s->K, gbce_backward_rows, &l);
}

Tensor *ag_gbce(Graph *g, Tensor *pos, Tensor *neg, const int64_t *target, int64_t n_target, const int64_t *neg_ids,
                int64_t n_neg, int64_t ignore, real beta) {
    AG_CHECK_INPUTS(g, "gbce", pos, neg);
    Shared *s = arena_alloc(graph_arena(g), sizeof *s);
    *s = shared_inputs(g, "gbce", pos, neg, target, n_target, neg_ids, n_neg, ignore, NULL, NULL);
    s->beta = beta;
    int64_t R = s->R;
    double *row_loss = arena_alloc(graph_arena(g), (size_t)(R ? R : 1) * sizeof *row_loss);
    RowLoop l = {s, 0, NULL, NULL, row_loss};
    nn_parallel_for(R, s->K, gbce_forward_rows, &l);
    Tensor *y = mean_of_rows(g, row_loss, s);
    Node *n = ag_record(g, "gbce", gbce_backward, y, 2, (Tensor *[]){pos, neg});
    if (n) n->saved = s;
    return y;
}
