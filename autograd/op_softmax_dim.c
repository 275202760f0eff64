/* Softmax and log-softmax along any dim, and logsumexp over any dims.
 *
 * Along the last dim these are ag_softmax and ag_log_softmax. Along another
 * dim d, x is seen as (outer, len, inner) with len = x.shape[d]: each of the
 * outer * inner lines has its len elements inner apart, and is normalised on
 * its own, one line per thread. */
#include <math.h>

#include "autograd/op.h"
#include "autograd/ops.h"
#include "base/error.h"
#include "base/parallel.h"
#include "tensor/rmath.h"

/* One line: y = softmax(x) or log_softmax(x), elements s apart. */
static void softmax_line(const real *x, real *y, int64_t len, int64_t s, int take_log) {
    real m = -INFINITY, sum = 0;
    for (int64_t j = 0; j < len; j++) m = x[j * s] > m ? x[j * s] : m;
    if (m == -INFINITY) m = 0; /* a line of -inf: exp gives 0s, the log -inf, and no NaN from -inf - -inf */
    for (int64_t j = 0; j < len; j++) sum += r_exp(x[j * s] - m);
    real lse = m + R_LOG(sum), inv = 1 / sum;
    for (int64_t j = 0; j < len; j++) y[j * s] = take_log ? x[j * s] - lse : r_exp(x[j * s] - m) * inv;
}

/* Items = lines along dim (forward and backward). */
typedef struct {
    DimSplit l;
    int take_log;
    const real *x, *dy; /* forward: x; backward: y and dy */
    real *out;          /* forward: y; backward: x's gradient */
} LinesLoop;

static void forward_lines(void *ctx, NnChunk c) {
    const LinesLoop *t = ctx;
    for (int64_t k = c.begin; k < c.end; k++) {
        int64_t o = ag_dim_line_start(t->l, k);
        softmax_line(t->x + o, t->out + o, t->l.size, t->l.inner, t->take_log);
    }
}

/* softmax: dx = y (dy - sum(dy y)); log-softmax: dx = dy - exp(y) sum(dy); per line. */
static void backward_lines(void *ctx, NnChunk c) {
    const LinesLoop *t = ctx;
    DimSplit l = t->l;
    int take_log = t->take_log;
    const real *yv = t->x, *dy = t->dy;
    real *gx = t->out;
    int64_t s = l.inner;
    for (int64_t k = c.begin; k < c.end; k++) {
        int64_t o = ag_dim_line_start(l, k);
        real acc = 0;
        for (int64_t j = 0; j < l.size; j++) acc += take_log ? dy[o + j * s] : dy[o + j * s] * yv[o + j * s];
        for (int64_t j = 0; j < l.size; j++) {
            int64_t e = o + j * s;
            gx[e] += take_log ? dy[e] - r_exp(yv[e]) * acc : yv[e] * (dy[e] - acc);
        }
    }
}

static void softmax_dim_backward(Graph *g, Node *n) {
    Tensor *y = n->out;
    DimSplit l = ag_dim_split(y, (int)n->i[0]);
    LinesLoop t = {l, (int)n->i[1], y->data, y->grad->data, ag_grad(g, n->in[0])->data};
    nn_parallel_for(l.outer * l.inner, l.size * NN_ROW_WORK, backward_lines, &t);
}

static Tensor *softmax_dim(Graph *g, Tensor *x, int dim, int take_log) {
    const char *name = take_log ? "log_softmax" : "softmax";
    ag_check_input(g, name, x);
    NN_CHECK(x->ndim >= 1, name, "needs at least one dim, got a scalar");
    dim = tensor_dim(name, x->ndim, dim);
    if (dim == x->ndim - 1) return take_log ? ag_log_softmax(g, x) : ag_softmax(g, x);
    DimSplit l = ag_dim_split(x, dim);
    const real *xv = ag_row_major(g, x);
    Tensor *y = ag_new(g, x->ndim, x->shape);
    LinesLoop t = {l, take_log, xv, NULL, y->data};
    nn_parallel_for(l.outer * l.inner, l.size * NN_ROW_WORK, forward_lines, &t);
    Node *n = ag_record(g, name, softmax_dim_backward, y, 1, &x);
    if (n) {
        n->i[0] = dim;
        n->i[1] = take_log;
    }
    return y;
}

Tensor *ag_softmax_dim(Graph *g, Tensor *x, int dim) { return softmax_dim(g, x, dim, 0); }
Tensor *ag_log_softmax_dim(Graph *g, Tensor *x, int dim) { return softmax_dim(g, x, dim, 1); }

/* ---- logsumexp ---- */

/* log(sum(exp(x - m))) + m with m the maximum over the axes, held constant (the
 * gradient through it cancels exactly, so it is left out); an infinite m is
 * replaced by 0, as torch does, so that a set of -inf gives -inf, not NaN. */
Tensor *ag_logsumexp(Graph *g, Tensor *x, int naxes, const int *axes, int keepdim) {
    AG_CHECK_INPUTS(g, "logsumexp", x);
    int prev = ag_set_grad_enabled(0);
    Tensor *m = ag_max(g, x, naxes, axes, 1);
    ag_set_grad_enabled(prev);
    for (int64_t i = 0; i < m->numel; i++)
        if (isinf(m->data[i])) m->data[i] = 0;
    Tensor *y = ag_add(g, ag_log(g, ag_sum(g, ag_exp(g, ag_sub(g, x, m)), naxes, axes, 1)), m);
    if (!keepdim) { /* the reduced dims dropped: a reshape of the contiguous result */
        int64_t shape[TENSOR_MAX_DIMS];
        int nd = 0;
        for (int d = 0; d < y->ndim; d++) {
            int reduced = naxes == 0;
            for (int k = 0; k < naxes && !reduced; k++) reduced = tensor_dim("logsumexp", x->ndim, axes[k]) == d;
            if (!reduced) shape[nd++] = y->shape[d];
        }
        y = ag_reshape(g, y, nd, shape);
    }
    return y;
}
