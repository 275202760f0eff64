/* Matrix products: batched matmul and the fused Linear (x w^T + b). */
#include <stdlib.h>
#include <string.h>

#include "autograd/op.h"
#include "autograd/ops.h"
#include "base/error.h"
#include "base/memory.h"
#include "base/parallel.h"
#include "tensor/gemm_kernel.h"
#include "tensor/kernels.h"

/* ---- matmul ---- */

/* t's gradient gets a @ b, summed over batch dims t was broadcast along. */
static void accumulate_matmul(Graph *g, Tensor *t, const Tensor *a, const Tensor *b) {
    if (!t->requires_grad) return;
    int64_t shape[TENSOR_MAX_DIMS];
    int nb = shape_broadcast("matmul", a->ndim - 2, a->shape, b->ndim - 2, b->shape, shape);
    shape[nb] = a->shape[a->ndim - 2];
    shape[nb + 1] = b->shape[b->ndim - 1];
    if (shape_equal(nb + 2, shape, t->ndim, t->shape)) {
        tensor_matmul(ag_grad(g, t), a, b, 1);
        return;
    }
    if (t->ndim == 2 && a->ndim > 2 && tensor_is_contiguous(b)) {
        /* t (K, N) shared by every batch: sum over batches as one product with a long inner dim,
         * a (..., K, R) @ b (..., R, N) where a is a transposed contiguous (..., R, K). */
        Tensor at = tensor_transpose(a, -1, -2);
        if (tensor_is_contiguous(&at)) {
            int64_t R = a->shape[a->ndim - 1], K = a->shape[a->ndim - 2], N = b->shape[b->ndim - 1];
            int64_t rows = at.numel / K;
            if (b->numel == rows * N && a->numel / (K * R) == b->numel / (R * N)) {
                gemm(K, N, rows, at.data, 1, K, b->data, N, 1, 1, ag_grad(g, t)->data, N);
                return;
            }
        }
    }
    Tensor *d = ag_new(g, nb + 2, shape);
    tensor_matmul(d, a, b, 0);
    ag_accumulate_move(g, t, d);
}

static void matmul_backward(Graph *g, Node *n) {
    Tensor *a = n->in[0], *b = n->in[1], *dy = n->out->grad;
    Tensor bt = tensor_transpose(b, -1, -2), at = tensor_transpose(a, -1, -2);
    accumulate_matmul(g, a, dy, &bt); /* da = dy b^T */
    accumulate_matmul(g, b, &at, dy); /* db = a^T dy */
}

Tensor *ag_matmul(Graph *g, Tensor *a, Tensor *b) {
    AG_CHECK_INPUTS(g, "matmul", a, b);
    NN_CHECK(a->ndim >= 2 && b->ndim >= 2 && a->shape[a->ndim - 1] == b->shape[b->ndim - 2], "matmul",
             "cannot multiply %s by %s", shape_str(a->ndim, a->shape).s, shape_str(b->ndim, b->shape).s);
    int64_t shape[TENSOR_MAX_DIMS];
    int nb = shape_broadcast("matmul", a->ndim - 2, a->shape, b->ndim - 2, b->shape, shape);
    shape[nb] = a->shape[a->ndim - 2];
    shape[nb + 1] = b->shape[b->ndim - 1];
    Tensor *out = ag_new(g, nb + 2, shape);
    tensor_matmul(out, a, b, 0);
    ag_record(g, "matmul", matmul_backward, out, 2, (Tensor *[]){a, b});
    return out;
}

/* ---- linear ---- */

/* Weights of at most this many elements get their gradient's K steps side by side (weight_grad). */
#define SPLIT_K_MAX_WEIGHT (128 * 128)

typedef struct {
    int64_t out, in, rows, kc;
    int64_t front; /* K steps summed straight into dw by item 0 */
    const real *dy, *x;
    real *part; /* per K step from front on: (out, in) */
    real *dw;   /* (out, in) */
} StepLoop;

/* Item 0 adds the first `front` K steps' products to dw in order (one gemm with beta 1 does exactly that);
 * item i > 0 makes step front + i - 1's product in scratch. */
static void step_products(void *ctx, NnChunk c) {
    const StepLoop *l = ctx;
    for (int64_t i = c.begin; i < c.end; i++) {
        if (i == 0) {
            gemm(l->out, l->in, l->front * l->kc, l->dy, 1, l->out, l->x, l->in, 1, 1, l->dw, l->in);
            continue;
        }
        int64_t s = l->front + i - 1, k0 = s * l->kc, k = l->rows - k0 < l->kc ? l->rows - k0 : l->kc;
        gemm(l->out, l->in, k, l->dy + k0 * l->out, 1, l->out, l->x + k0 * l->in, l->in, 1, 0,
             l->part + (i - 1) * l->out * l->in, l->in);
    }
}

/* Rows of dw: the products of the steps past front added in step order. */
static void add_steps(void *ctx, NnChunk c) {
    const StepLoop *l = ctx;
    int64_t rest = (l->rows + l->kc - 1) / l->kc - l->front, n = l->out * l->in;
    for (int64_t o = c.begin; o < c.end; o++) {
        real *row = l->dw + o * l->in;
        for (int64_t s = 0; s < rest; s++) {
            const real *p = l->part + s * n + o * l->in;
            for (int64_t j = 0; j < l->in; j++) row[j] = row[j] + p[j];
        }
    }
}

/* dw (out, in) += dy^T (out, rows) x (rows, in). gemm sums K in steps of its
 * kernel's kc, each step's product added to dw in order; a small weight has
 * too few tiles for gemm to give each thread some (a (64, 64) weight is one
 * chunk), so with threads its steps are made side by side: the first of them
 * (a thread's share) added to dw in order by one item, each later one's
 * product made into scratch by an item of its own, and those added to dw in
 * step order after: the same bits, for any split. */
static void weight_grad(int64_t out, int64_t in, int64_t rows, const real *dy, const real *x, real *dw) {
    int64_t kc = gemm_kernel_best()->kc, steps = (rows + kc - 1) / kc;
    int threads = nn_threads();
    if (threads == 1 || steps < 4 || out * in > SPLIT_K_MAX_WEIGHT) {
        gemm(out, in, rows, dy, 1, out, x, in, 1, 1, dw, in);
        return;
    }
    int64_t front = (steps + threads - 1) / threads, rest = steps - front;
    real *part = nn_aligned_alloc((size_t)(rest * out * in) * sizeof(real));
    StepLoop l = {out, in, rows, kc, front, dy, x, part, dw};
    nn_parallel_for(1 + rest, kc * out * in / NN_MACS_PER_WORK, step_products, &l);
    nn_parallel_for(out, rest * in, add_steps, &l);
    free(part);
}

/* x (rows, in), w (out, in), bias (out), y (rows, out) */
static void linear_backward(Graph *g, Node *n) {
    Tensor *x = n->in[0], *w = n->in[1], *bias = n->in[2], *y = n->out;
    int64_t in = w->shape[1], out = w->shape[0], rows = y->numel / out;
    const real *dy = y->grad->data; /* (rows, out) */
    if (x->requires_grad) { /* dx (rows, in) += dy (rows, out) @ w (out, in), into x's base when it is a view */
        int fresh;
        Tensor gx = ag_grad_view(g, x, &fresh);
        int64_t ld = in; /* rows of dx are ld apart: contiguous, or a 2-D slice of columns */
        if (gx.ndim == 2 && gx.stride[1] == 1) {
            ld = gx.stride[0];
        } else if (!tensor_is_contiguous(&gx)) {
            if (fresh) tensor_fill(&gx, 0); /* the view's base needs its zeros after all */
            gx = *ag_grad_whole(g, x, &fresh);
        }
        gemm(rows, in, out, dy, out, 1, w->data, w->stride[0], w->stride[1], fresh ? 0 : 1, gx.data, ld);
    }
    if (w->requires_grad) { /* dw (out, in) += dy^T (out, rows) @ x (rows, in) */
        weight_grad(out, in, rows, dy, n->saved, ag_grad(g, w)->data);
    }
    if (bias && bias->requires_grad) {
        Tensor d = tensor_wrap(y->grad->data, 2, (int64_t[]){rows, out});
        tensor_sum_to(ag_grad(g, bias), &d, 1);
    }
}

Tensor *ag_linear(Graph *g, Tensor *x, Tensor *w, Tensor *bias) {
    AG_CHECK_INPUTS(g, "linear", x, w, bias);
    NN_CHECK(w->ndim == 2 && x->ndim >= 1 && x->shape[x->ndim - 1] == w->shape[1] &&
                 (!bias || (bias->ndim == 1 && bias->shape[0] == w->shape[0])),
             "linear", "input %s, weight %s, bias %s", shape_str(x->ndim, x->shape).s, shape_str(w->ndim, w->shape).s,
             bias ? shape_str(bias->ndim, bias->shape).s : "none");
    int64_t in = w->shape[1], out = w->shape[0], rows = x->numel / (in ? in : 1);
    int64_t shape[TENSOR_MAX_DIMS];
    for (int d = 0; d < x->ndim - 1; d++) shape[d] = x->shape[d];
    shape[x->ndim - 1] = out;
    Tensor *y = ag_new(g, x->ndim, shape);
    const real *xv = ag_row_major(g, x); /* (rows, in) */
    if (bias) /* bias + x w^T, the bias added first */
        gemm_bias(rows, out, in, xv, in, 1, w->data, w->stride[1], w->stride[0], ag_row_major(g, bias), y->data, out);
    else
        gemm(rows, out, in, xv, in, 1, w->data, w->stride[1], w->stride[0], 0, y->data, out);
    Node *n = ag_record(g, "linear", linear_backward, y, 3, (Tensor *[]){x, w, bias});
    if (n) n->saved = (void *)xv;
    return y;
}
