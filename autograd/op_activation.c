/* Elementwise activations and limits: clamp, abs, softplus, silu, and
 * minimum / maximum of two tensors with broadcasting. Each forward reads its
 * input in row-major order (a copy when the input is a strided view) and keeps
 * those values for the backward, which sits next to it. */
#include "autograd/op.h"
#include "autograd/ops.h"
#include "base/error.h"
#include "base/parallel.h"
#include "base/simd.h"
#include "tensor/rmath.h"

typedef enum { ACT_CLAMP, ACT_ABS, ACT_SOFTPLUS, ACT_SILU } ActOp;

static const char *const act_names[] = {"clamp", "abs", "softplus", "silu"};

/* y[i] = f(x[i]) for i in [i0, i1); a, b are the op's scalars (clamp: lo, hi; softplus: beta, threshold). */
NN_VECTORIZE static void act_forward(ActOp op, real a, real b, const real *x, real *y, int64_t i0, int64_t i1) {
    switch (op) {
    case ACT_CLAMP: /* NaN passes through, as in torch */
        for (int64_t i = i0; i < i1; i++) y[i] = x[i] < a ? a : x[i] > b ? b : x[i];
        break;
    case ACT_ABS:
        for (int64_t i = i0; i < i1; i++) y[i] = R_FABS(x[i]);
        break;
    case ACT_SOFTPLUS: /* log(1 + e^(beta x)) / beta; x itself where beta x > threshold */
        for (int64_t i = i0; i < i1; i++) y[i] = a * x[i] > b ? x[i] : R_LOG1P(r_exp(a * x[i])) / a;
        break;
    case ACT_SILU:
        for (int64_t i = i0; i < i1; i++) y[i] = x[i] * r_sigmoid(x[i]);
        break;
    }
}

/* gx[i] += dy[i] * f'(x[i]) */
NN_VECTORIZE static void act_backward_range(ActOp op, real a, real b, const real *x, const real *dy, real *gx,
                                            int64_t i0, int64_t i1) {
    switch (op) {
    case ACT_CLAMP: /* 1 on [lo, hi] including its ends, as torch */
        for (int64_t i = i0; i < i1; i++) gx[i] += x[i] >= a && x[i] <= b ? dy[i] : 0;
        break;
    case ACT_ABS: /* sign(x); 0 at 0 */
        for (int64_t i = i0; i < i1; i++) gx[i] += x[i] > 0 ? dy[i] : x[i] < 0 ? -dy[i] : 0;
        break;
    case ACT_SOFTPLUS:
        for (int64_t i = i0; i < i1; i++) gx[i] += a * x[i] > b ? dy[i] : dy[i] * r_sigmoid(a * x[i]);
        break;
    case ACT_SILU:
        for (int64_t i = i0; i < i1; i++) {
            real s = r_sigmoid(x[i]);
            gx[i] += dy[i] * s * (1 + x[i] * (1 - s));
        }
        break;
    }
}

/* Element loops (nn_parallel_elements): forward, backward, and minimum/maximum's share of dy. */
typedef struct {
    ActOp op;
    real a, b; /* the op's parameters; minimum/maximum: a = sign */
    const real *x, *other, *dy; /* x: the input (minmax: the operand whose share is taken, or a) */
    real *out;                  /* y, or a gradient */
} ActLoop;

static void act_forward_chunk(void *ctx, NnChunk c) {
    const ActLoop *l = ctx;
    act_forward(l->op, l->a, l->b, l->x, l->out, c.begin, c.end);
}

static void act_backward_chunk(void *ctx, NnChunk c) {
    const ActLoop *l = ctx;
    act_backward_range(l->op, l->a, l->b, l->x, l->dy, l->out, c.begin, c.end);
}

static void act_backward(Graph *g, Node *n) {
    const real *x = n->saved, *dy = n->out->grad->data;
    ActLoop l = {(ActOp)n->i[0], n->f[0], n->f[1], x, NULL, dy, ag_grad(g, n->in[0])->data};
    nn_parallel_elements(n->out->numel, 1, act_backward_chunk, &l);
}

static Tensor *activation(Graph *g, Tensor *x, ActOp op, real a, real b) {
    ag_check_input(g, act_names[op], x);
    const real *xv = ag_row_major(g, x);
    Tensor *y = ag_new(g, x->ndim, x->shape);
    ActLoop l = {op, a, b, xv, NULL, NULL, y->data};
    nn_parallel_elements(x->numel, 1, act_forward_chunk, &l);
    Node *n = ag_record(g, act_names[op], act_backward, y, 1, &x);
    if (n) {
        n->i[0] = op;
        n->f[0] = a;
        n->f[1] = b;
        n->saved = (void *)xv;
    }
    return y;
}

Tensor *ag_clamp(Graph *g, Tensor *x, real lo, real hi) {
    AG_CHECK_INPUTS(g, "clamp", x);
    NN_CHECK(!(lo > hi), "clamp", "lower bound %g above upper bound %g", (double)lo, (double)hi);
    return activation(g, x, ACT_CLAMP, lo, hi);
}
Tensor *ag_abs(Graph *g, Tensor *x) { return activation(g, x, ACT_ABS, 0, 0); }
Tensor *ag_softplus(Graph *g, Tensor *x, real beta, real threshold) {
    AG_CHECK_INPUTS(g, "softplus", x);
    NN_CHECK(beta > 0, "softplus", "beta must be positive, got %g", (double)beta);
    return activation(g, x, ACT_SOFTPLUS, beta, threshold);
}
Tensor *ag_silu(Graph *g, Tensor *x) { return activation(g, x, ACT_SILU, 0, 0); }

/* ---- minimum and maximum ---- */

typedef struct {
    const real *a, *b; /* row-major values of both operands broadcast to the output's shape */
} MinMaxSaved;

/* y = max(a, b) (sign 1) or min(a, b) (sign -1); NaN in either gives NaN, as torch. */
NN_VECTORIZE static void minmax_forward(real sign, const real *a, const real *b, real *y, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) y[i] = sign * a[i] > sign * b[i] || a[i] != a[i] ? a[i] : b[i];
}

/* d (the output's shape): dy where this operand wins, dy / 2 on ties (torch splits them), else 0. */
NN_VECTORIZE static void minmax_share(real sign, const real *mine, const real *other, const real *dy, real *d,
                                      int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++)
        d[i] = sign * mine[i] > sign * other[i] ? dy[i] : mine[i] == other[i] ? dy[i] / 2 : 0;
}

static void minmax_forward_chunk(void *ctx, NnChunk c) {
    const ActLoop *l = ctx;
    minmax_forward(l->a, l->x, l->other, l->out, c.begin, c.end);
}

static void minmax_share_chunk(void *ctx, NnChunk c) {
    const ActLoop *l = ctx;
    minmax_share(l->a, l->x, l->other, l->dy, l->out, c.begin, c.end);
}

static void minmax_backward(Graph *g, Node *n) {
    const MinMaxSaved *s = n->saved;
    Tensor *dy = n->out->grad;
    real sign = n->f[0];
    for (int k = 0; k < 2; k++) {
        if (!n->in[k]->requires_grad) continue;
        Tensor *d = ag_new(g, dy->ndim, dy->shape);
        ActLoop l = {0, sign, 0, k ? s->b : s->a, k ? s->a : s->b, dy->data, d->data};
        nn_parallel_elements(dy->numel, 1, minmax_share_chunk, &l);
        ag_accumulate(g, n->in[k], d);
    }
}

static Tensor *minmax(Graph *g, Tensor *a, Tensor *b, real sign, const char *name) {
    AG_CHECK_INPUTS(g, name, a, b);
    int64_t shape[TENSOR_MAX_DIMS];
    int nd = shape_broadcast(name, a->ndim, a->shape, b->ndim, b->shape, shape);
    Tensor ea = tensor_expand(a, nd, shape), eb = tensor_expand(b, nd, shape);
    MinMaxSaved *s = arena_alloc(graph_arena(g), sizeof *s);
    s->a = ag_row_major(g, &ea);
    s->b = ag_row_major(g, &eb);
    Tensor *y = ag_new(g, nd, shape);
    ActLoop l = {0, sign, 0, s->a, s->b, NULL, y->data};
    nn_parallel_elements(y->numel, 1, minmax_forward_chunk, &l);
    Node *n = ag_record(g, name, minmax_backward, y, 2, (Tensor *[]){a, b});
    if (n) {
        n->f[0] = sign;
        n->saved = s;
    }
    return y;
}

Tensor *ag_maximum(Graph *g, Tensor *a, Tensor *b) { return minmax(g, a, b, 1, "maximum"); }
Tensor *ag_minimum(Graph *g, Tensor *a, Tensor *b) { return minmax(g, a, b, -1, "minimum"); }
