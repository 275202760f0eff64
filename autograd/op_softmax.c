/* Softmax and log-softmax over the last dim. */
#include "autograd/ops.h"
#include "tensor/kernels.h"
#include "tensor/rmath.h"
#include "base/parallel.h"

/* Per row, for softmax: dx = y * (dy - sum(dy * y)); for log-softmax: dx = dy - exp(y) * sum(dy). */
static void rows_backward(Graph *g, Node *n, int take_log) {
    Tensor *y = n->out;
    int64_t len = y->shape[y->ndim - 1], rows = len ? y->numel / len : 0;
    const real *yv = y->data, *dy = y->grad->data;
    real *gx = ag_grad(g, n->in[0])->data;
#pragma omp parallel for schedule(static) if (y->numel * NN_ROW_WORK > NN_PARALLEL_MIN_WORK)
    for (int64_t r = 0; r < rows; r++) {
        const real *py = yv + r * len, *pd = dy + r * len;
        if (take_log) {
            real sum = 0;
            for (int64_t j = 0; j < len; j++) sum += pd[j];
            for (int64_t j = 0; j < len; j++) gx[r * len + j] += pd[j] - r_exp(py[j]) * sum;
        } else {
            real dot = 0;
            for (int64_t j = 0; j < len; j++) dot += pd[j] * py[j];
            for (int64_t j = 0; j < len; j++) gx[r * len + j] += py[j] * (pd[j] - dot);
        }
    }
}

static void softmax_backward(Graph *g, Node *n) { rows_backward(g, n, 0); }

static void log_softmax_backward(Graph *g, Node *n) { rows_backward(g, n, 1); }

Tensor *ag_softmax(Graph *g, Tensor *x) {
    Tensor *y = ag_new(g, x->ndim, x->shape);
    tensor_softmax(y, x);
    ag_record(g, "softmax", softmax_backward, y, 1, &x);
    return y;
}

Tensor *ag_log_softmax(Graph *g, Tensor *x) {
    Tensor *y = ag_new(g, x->ndim, x->shape);
    tensor_log_softmax(y, x);
    ag_record(g, "log_softmax", log_softmax_backward, y, 1, &x);
    return y;
}
