/* Elementwise ops: forward through tensor/ kernels, backward right below. */
#include "autograd/op.h"
#include "autograd/ops.h"
#include "tensor/kernels.h"
#include "tensor/rmath.h"
#include "base/simd.h"
#include "base/parallel.h"

/* ---- binary ---- */

static Tensor *binary(Graph *g, Tensor *a, Tensor *b, BinaryOp op, BackwardFn backward) {
    AG_CHECK_INPUTS(g, binary_op_name(op), a, b);
    int64_t shape[TENSOR_MAX_DIMS];
    int nd = shape_broadcast(binary_op_name(op), a->ndim, a->shape, b->ndim, b->shape, shape);
    Tensor *out = ag_new(g, nd, shape);
    tensor_binary(out, a, b, op);
    ag_record(g, binary_op_name(op), backward, out, 2, (Tensor *[]){a, b});
    return out;
}

/* d (out's shape) = dy op v, then accumulated into t (undoing broadcasting). */
static void accumulate_product(Graph *g, Tensor *t, const Tensor *dy, const Tensor *v, BinaryOp op) {
    if (!t->requires_grad) return;
    Tensor *d = ag_new(g, dy->ndim, dy->shape);
    tensor_binary(d, dy, v, op);
    ag_accumulate_move(g, t, d);
}

/* The first input may take dy's buffer as its gradient; the second then reads dy, which that cannot change. */
static void add_backward(Graph *g, Node *n) {
    ag_accumulate_move(g, n->in[0], n->out->grad);
    ag_accumulate(g, n->in[1], n->out->grad);
}

static void sub_backward(Graph *g, Node *n) {
    Tensor *dy = n->out->grad, *b = n->in[1];
    if (b->requires_grad) {
        Tensor *d = ag_new(g, dy->ndim, dy->shape);
        tensor_unary(d, dy, UNARY_NEG, 0);
        ag_accumulate_move(g, b, d);
    }
    ag_accumulate_move(g, n->in[0], dy);
}

static void mul_backward(Graph *g, Node *n) {
    Tensor *dy = n->out->grad, *a = n->in[0], *b = n->in[1];
    accumulate_product(g, a, dy, b, BINARY_MUL);
    accumulate_product(g, b, dy, a, BINARY_MUL);
}

static void div_backward(Graph *g, Node *n) {
    Tensor *dy = n->out->grad, *a = n->in[0], *b = n->in[1], *y = n->out;
    accumulate_product(g, a, dy, b, BINARY_DIV);
    if (b->requires_grad) { /* d/db (a / b) = -y / b */
        Tensor *d = ag_new(g, dy->ndim, dy->shape);
        tensor_binary(d, y, b, BINARY_DIV);
        tensor_binary(d, d, dy, BINARY_MUL);
        tensor_unary(d, d, UNARY_NEG, 0);
        ag_accumulate_move(g, b, d);
    }
}

Tensor *ag_add(Graph *g, Tensor *a, Tensor *b) { return binary(g, a, b, BINARY_ADD, add_backward); }
Tensor *ag_sub(Graph *g, Tensor *a, Tensor *b) { return binary(g, a, b, BINARY_SUB, sub_backward); }
Tensor *ag_mul(Graph *g, Tensor *a, Tensor *b) { return binary(g, a, b, BINARY_MUL, mul_backward); }
Tensor *ag_div(Graph *g, Tensor *a, Tensor *b) { return binary(g, a, b, BINARY_DIV, div_backward); }

/* ---- unary ---- */

/* gx += dy * f'(x) (or gx = with add = 0), with f' from the input x or the
 * output y; the op is fixed outside each loop so that the compiler vectorizes it. */
#define GRAD_CASE(OP, EXPR)                                                                                            \
    case OP:                                                                                                           \
        if (add)                                                                                                       \
            for (int64_t i = i0; i < i1; i++) gx[i] += EXPR;                                                           \
        else                                                                                                           \
            for (int64_t i = i0; i < i1; i++) gx[i] = EXPR;                                                            \
        break

NN_VECTORIZE static void unary_grad_range(UnaryOp op, real c, const real *dy, const real *xv, const real *yv, real *gx,
                                          int add, int64_t i0, int64_t i1) {
    switch (op) {
        GRAD_CASE(UNARY_NEG, -dy[i]);
        GRAD_CASE(UNARY_EXP, dy[i] * yv[i]);
        GRAD_CASE(UNARY_LOG, dy[i] / xv[i]);
        GRAD_CASE(UNARY_SQRT, dy[i] / (2 * yv[i]));
        GRAD_CASE(UNARY_TANH, dy[i] * (1 - yv[i] * yv[i]));
        GRAD_CASE(UNARY_SIGMOID, dy[i] * yv[i] * (1 - yv[i]));
        GRAD_CASE(UNARY_RELU, yv[i] > 0 ? dy[i] : 0);
        GRAD_CASE(UNARY_GELU, dy[i] * r_gelu_grad(xv[i]));
        GRAD_CASE(UNARY_ADD_SCALAR, dy[i]);
        GRAD_CASE(UNARY_MUL_SCALAR, dy[i] * c);
        GRAD_CASE(UNARY_POW_SCALAR, dy[i] * c * R_POW(xv[i], c - 1));
    }
}

typedef struct {
    UnaryOp op;
    real c;
    const real *dy, *xv, *yv; /* xv may be NULL when f' needs only y */
    real *gx;
    int add; /* 0: gx was made unfilled, store into it */
} UnaryGradLoop;

static void unary_grad_chunk(void *ctx, NnChunk c) {
    const UnaryGradLoop *l = ctx;
    unary_grad_range(l->op, l->c, l->dy, l->xv, l->yv, l->gx, l->add, c.begin, c.end);
}

static void unary_backward(Graph *g, Node *n) {
    Tensor *x = n->in[0], *y = n->out;
    UnaryOp op = (UnaryOp)n->i[0];
    const real *dy = y->grad->data, *yv = y->data;
    const real *xv = (op == UNARY_LOG || op == UNARY_GELU || op == UNARY_POW_SCALAR) ? ag_row_major(g, x) : NULL;
    int fresh;
    real *gx = ag_grad_whole(g, x, &fresh)->data;
    UnaryGradLoop l = {op, n->f[0], dy, xv, yv, gx, !fresh};
    nn_parallel_elements(y->numel, 1, unary_grad_chunk, &l);
}

static Tensor *unary(Graph *g, Tensor *x, UnaryOp op, real c) {
    ag_check_input(g, unary_op_name(op), x);
    Tensor *y = ag_new(g, x->ndim, x->shape);
    tensor_unary(y, x, op, c);
    Node *n = ag_record(g, unary_op_name(op), unary_backward, y, 1, &x);
    if (n) {
        n->i[0] = op;
        n->f[0] = c;
    }
    return y;
}

Tensor *ag_neg(Graph *g, Tensor *x) { return unary(g, x, UNARY_NEG, 0); }
Tensor *ag_add_scalar(Graph *g, Tensor *x, real c) { return unary(g, x, UNARY_ADD_SCALAR, c); }
Tensor *ag_mul_scalar(Graph *g, Tensor *x, real c) { return unary(g, x, UNARY_MUL_SCALAR, c); }
Tensor *ag_pow_scalar(Graph *g, Tensor *x, real c) { return unary(g, x, UNARY_POW_SCALAR, c); }
Tensor *ag_exp(Graph *g, Tensor *x) { return unary(g, x, UNARY_EXP, 0); }
Tensor *ag_log(Graph *g, Tensor *x) { return unary(g, x, UNARY_LOG, 0); }
Tensor *ag_sqrt(Graph *g, Tensor *x) { return unary(g, x, UNARY_SQRT, 0); }
Tensor *ag_tanh(Graph *g, Tensor *x) { return unary(g, x, UNARY_TANH, 0); }
Tensor *ag_sigmoid(Graph *g, Tensor *x) { return unary(g, x, UNARY_SIGMOID, 0); }
Tensor *ag_relu(Graph *g, Tensor *x) { return unary(g, x, UNARY_RELU, 0); }
/* ---- GELU, its erf kept for the backward ----
 * y = x/2 (1 + e), e = erf(x / sqrt 2); y' = (1 + e)/2 + x phi(x). The forward keeps e (one real per element)
 * so that the backward computes no erf: the same expressions as r_gelu and r_gelu_grad, e read instead of
 * recomputed, hence the same bits (tests/autograd/test_gelu_saved.c compares the two paths). */

NN_VECTORIZE static void gelu_range(const real *x, real *y, real *e, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) {
        real ei = r_erf(x[i] * R_SQRT1_2);
        e[i] = ei;
        y[i] = (real)0.5 * x[i] * (1 + ei);
    }
}

NN_VECTORIZE static void gelu_grad_range(const real *dy, const real *x, const real *e, real *gx, int add, int64_t i0,
                                         int64_t i1) {
    if (add)
        for (int64_t i = i0; i < i1; i++)
            gx[i] += dy[i] * ((real)0.5 * (1 + e[i]) + x[i] * R_INV_SQRT_2PI * r_exp((real)-0.5 * x[i] * x[i]));
    else
        for (int64_t i = i0; i < i1; i++)
            gx[i] = dy[i] * ((real)0.5 * (1 + e[i]) + x[i] * R_INV_SQRT_2PI * r_exp((real)-0.5 * x[i] * x[i]));
}

typedef struct {
    const real *x, *dy, *e; /* (n) each; dy NULL in the forward */
    real *y, *gx;           /* the forward's output, or the backward's gradient */
    int add;
} GeluLoop;

static void gelu_chunk(void *ctx, NnChunk c) {
    const GeluLoop *l = ctx;
    if (l->dy)
        gelu_grad_range(l->dy, l->x, l->e, l->gx, l->add, c.begin, c.end);
    else
        gelu_range(l->x, l->y, (real *)l->e, c.begin, c.end);
}

static void gelu_backward(Graph *g, Node *n) {
    Tensor *x = n->in[0], *y = n->out;
    int fresh;
    real *gx = ag_grad_whole(g, x, &fresh)->data;
    GeluLoop l = {x->data, y->grad->data, n->saved, NULL, gx, !fresh};
    nn_parallel_elements(y->numel, 1, gelu_chunk, &l);
}

Tensor *ag_gelu(Graph *g, Tensor *x) {
    if (!ag_grad_enabled() || !x->requires_grad || !tensor_is_contiguous(x)) return unary(g, x, UNARY_GELU, 0);
    ag_check_input(g, "gelu", x);
    Tensor *y = ag_new(g, x->ndim, x->shape);
    real *e = arena_alloc(graph_arena(g), (size_t)(x->numel ? x->numel : 1) * sizeof(real));
    GeluLoop l = {x->data, NULL, e, y->data, NULL, 0};
    nn_parallel_elements(x->numel, 1, gelu_chunk, &l);
    Node *n = ag_record(g, "gelu", gelu_backward, y, 1, &x);
    if (n) n->saved = e;
    return y;
}
