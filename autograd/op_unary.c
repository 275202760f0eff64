/* More elementwise functions of one tensor, as torch names them: sin, cos,
 * leaky_relu, elu, log1p, sign, erf, softsign. Each forward reads its input in
 * row-major order (a copy when the input is a strided view) and keeps those
 * values for the backward, which sits next to it. */
#include <math.h>

#include "autograd/op.h"
#include "autograd/ops.h"
#include "base/error.h"
#include "base/parallel.h"
#include "tensor/rmath.h"

#ifdef NN_DOUBLE
#define R_SIN sin
#define R_COS cos
#else
#define R_SIN sinf
#define R_COS cosf
#endif

typedef enum { UN_SIN, UN_COS, UN_LEAKY_RELU, UN_ELU, UN_LOG1P, UN_SIGN, UN_ERF, UN_SOFTSIGN } UnaryOp;

static const char *const unary_names[] = {"sin", "cos", "leaky_relu", "elu", "log1p", "sign", "erf", "softsign"};

/* y[i] = f(x[i]) for i in [i0, i1); a is the op's scalar (leaky_relu: slope; elu: alpha). */
static void unary_forward(UnaryOp op, real a, const real *x, real *y, int64_t i0, int64_t i1) {
    switch (op) {
    case UN_SIN:
        for (int64_t i = i0; i < i1; i++) y[i] = R_SIN(x[i]);
        break;
    case UN_COS:
        for (int64_t i = i0; i < i1; i++) y[i] = R_COS(x[i]);
        break;
    case UN_LEAKY_RELU:
        for (int64_t i = i0; i < i1; i++) y[i] = x[i] > 0 ? x[i] : a * x[i];
        break;
    case UN_ELU: /* alpha (e^x - 1) below 0 */
        for (int64_t i = i0; i < i1; i++) y[i] = x[i] > 0 ? x[i] : a * (R_EXP(x[i]) - 1);
        break;
    case UN_LOG1P:
        for (int64_t i = i0; i < i1; i++) y[i] = R_LOG1P(x[i]);
        break;
    case UN_SIGN: /* NaN stays NaN, as torch.sign */
        for (int64_t i = i0; i < i1; i++) y[i] = x[i] > 0 ? 1 : x[i] < 0 ? -1 : x[i] == 0 ? 0 : x[i];
        break;
    case UN_ERF:
        for (int64_t i = i0; i < i1; i++) y[i] = R_ERF(x[i]);
        break;
    case UN_SOFTSIGN:
        for (int64_t i = i0; i < i1; i++) y[i] = x[i] / (1 + R_FABS(x[i]));
        break;
    }
}

/* gx[i] += dy[i] * f'(x[i]) */
static void unary_backward_range(UnaryOp op, real a, const real *x, const real *dy, real *gx, int64_t i0, int64_t i1) {
    switch (op) {
    case UN_SIN:
        for (int64_t i = i0; i < i1; i++) gx[i] += dy[i] * R_COS(x[i]);
        break;
    case UN_COS:
        for (int64_t i = i0; i < i1; i++) gx[i] -= dy[i] * R_SIN(x[i]);
        break;
    case UN_LEAKY_RELU: /* the slope at 0, as torch */
        for (int64_t i = i0; i < i1; i++) gx[i] += x[i] > 0 ? dy[i] : a * dy[i];
        break;
    case UN_ELU: /* alpha e^x at and below 0, as torch */
        for (int64_t i = i0; i < i1; i++) gx[i] += x[i] > 0 ? dy[i] : dy[i] * a * R_EXP(x[i]);
        break;
    case UN_LOG1P:
        for (int64_t i = i0; i < i1; i++) gx[i] += dy[i] / (1 + x[i]);
        break;
    case UN_SIGN: /* never recorded (unary): its gradient is zero everywhere, as torch's */
        break;
    case UN_ERF: /* 2 / sqrt(pi) e^(-x^2) */
        for (int64_t i = i0; i < i1; i++) gx[i] += dy[i] * (real)1.12837916709551257390 * R_EXP(-x[i] * x[i]);
        break;
    case UN_SOFTSIGN: /* 1 / (1 + |x|)^2 */
        for (int64_t i = i0; i < i1; i++) {
            real d = 1 + R_FABS(x[i]);
            gx[i] += dy[i] / (d * d);
        }
        break;
    }
}

typedef struct {
    UnaryOp op;
    real a;
    const real *x, *dy; /* the input (row-major), the output's gradient */
    real *out;          /* y, or x's gradient */
} UnaryLoop;

static void unary_forward_chunk(void *ctx, NnChunk c) {
    const UnaryLoop *l = ctx;
    unary_forward(l->op, l->a, l->x, l->out, c.begin, c.end);
}

static void unary_backward_chunk(void *ctx, NnChunk c) {
    const UnaryLoop *l = ctx;
    unary_backward_range(l->op, l->a, l->x, l->dy, l->out, c.begin, c.end);
}

static void unary_backward(Graph *g, Node *n) {
    UnaryLoop l = {(UnaryOp)n->i[0], n->f[0], n->saved, n->out->grad->data, ag_grad(g, n->in[0])->data};
    nn_parallel_elements(n->out->numel, 4, unary_backward_chunk, &l);
}

static Tensor *unary(Graph *g, Tensor *x, UnaryOp op, real a) {
    const real *xv = ag_row_major(g, x);
    Tensor *y = ag_new(g, x->ndim, x->shape);
    UnaryLoop l = {op, a, xv, NULL, y->data};
    nn_parallel_elements(x->numel, 4, unary_forward_chunk, &l);
    if (op == UN_SIGN) { /* no gradient: a constant, whose input is checked all the same */
        ag_check_input(g, unary_names[op], x);
        return y;
    }
    Node *n = ag_record(g, unary_names[op], unary_backward, y, 1, &x);
    if (n) {
        n->i[0] = op;
        n->f[0] = a;
        n->saved = (void *)xv;
    }
    return y;
}

Tensor *ag_sin(Graph *g, Tensor *x) { return unary(g, x, UN_SIN, 0); }
Tensor *ag_cos(Graph *g, Tensor *x) { return unary(g, x, UN_COS, 0); }
Tensor *ag_leaky_relu(Graph *g, Tensor *x, real negative_slope) {
    NN_CHECK(isfinite(negative_slope), "leaky_relu", "negative_slope %g is not finite", (double)negative_slope);
    return unary(g, x, UN_LEAKY_RELU, negative_slope);
}
Tensor *ag_elu(Graph *g, Tensor *x, real alpha) {
    NN_CHECK(isfinite(alpha), "elu", "alpha %g is not finite", (double)alpha);
    return unary(g, x, UN_ELU, alpha);
}
Tensor *ag_log1p(Graph *g, Tensor *x) { return unary(g, x, UN_LOG1P, 0); }
Tensor *ag_sign(Graph *g, Tensor *x) { return unary(g, x, UN_SIGN, 0); }
Tensor *ag_erf(Graph *g, Tensor *x) { return unary(g, x, UN_ERF, 0); }
Tensor *ag_softsign(Graph *g, Tensor *x) { return unary(g, x, UN_SOFTSIGN, 0); }
