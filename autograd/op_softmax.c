/* Softmax and log-softmax over the last dim. */
#include "autograd/op.h"
#include "autograd/ops.h"
#include "tensor/kernels.h"
#include "tensor/rmath.h"
#include "base/parallel.h"

typedef struct {
    const real *y, *dy; /* (rows, len) */
    real *gx;           /* (rows, len) */
    int64_t len;
    int take_log;
} RowsLoop;

/* Per row, for softmax: dx = y * (dy - sum(dy * y)); for log-softmax: dx = dy - exp(y) * sum(dy). */
static void backward_rows(void *ctx, NnChunk c) {
    const RowsLoop *l = ctx;
    int64_t len = l->len;
    for (int64_t r = c.begin; r < c.end; r++) {
        const real *py = l->y + r * len, *pd = l->dy + r * len;
        real *gx = l->gx + r * len;
        if (l->take_log) {
            real sum = 0;
            for (int64_t j = 0; j < len; j++) sum += pd[j];
            for (int64_t j = 0; j < len; j++) gx[j] += pd[j] - r_exp(py[j]) * sum;
        } else {
            real dot = 0;
            for (int64_t j = 0; j < len; j++) dot += pd[j] * py[j];
            for (int64_t j = 0; j < len; j++) gx[j] += py[j] * (pd[j] - dot);
        }
    }
}

static void rows_backward(Graph *g, Node *n, int take_log) {
    Tensor *y = n->out;
    int64_t len = y->shape[y->ndim - 1], rows = len ? y->numel / len : 0;
    RowsLoop l = {y->data, y->grad->data, ag_grad(g, n->in[0])->data, len, take_log};
    nn_parallel_for(rows, len * NN_ROW_WORK, backward_rows, &l);
}

static void softmax_backward(Graph *g, Node *n) { rows_backward(g, n, 0); }

static void log_softmax_backward(Graph *g, Node *n) { rows_backward(g, n, 1); }

Tensor *ag_softmax(Graph *g, Tensor *x) {
    AG_CHECK_INPUTS(g, "softmax", x);
    Tensor *y = ag_new(g, x->ndim, x->shape);
    tensor_softmax(y, x);
    ag_record(g, "softmax", softmax_backward, y, 1, &x);
    return y;
}

Tensor *ag_log_softmax(Graph *g, Tensor *x) {
    AG_CHECK_INPUTS(g, "log_softmax", x);
    Tensor *y = ag_new(g, x->ndim, x->shape);
    tensor_log_softmax(y, x);
    ag_record(g, "log_softmax", log_softmax_backward, y, 1, &x);
    return y;
}
