/* Statistics over axes, as torch names them: min, var, std and the p-norm.
 * Built from the reductions of op_reduce.c and elementwise ops, plus one op of
 * their own: a root with a zero gradient at 0, so that the norm or the std of
 * an all-zero (or constant) set has gradient 0 instead of NaN (torch's norm
 * does the same; its std gives NaN there). */
#include <math.h>

#include "autograd/op.h"
#include "autograd/ops.h"
#include "base/error.h"
#include "base/parallel.h"
#include "tensor/rmath.h"

/* How many elements of x each reduced set holds (axes checked, naxes 0: all of them). */
static int64_t reduced_count(const char *op, const Tensor *x, int naxes, const int *axes) {
    if (naxes == 0) return x->numel;
    unsigned seen = 0;
    int64_t n = 1;
    for (int k = 0; k < naxes; k++) {
        int d = tensor_dim(op, x->ndim, axes[k]);
        NN_CHECK(!(seen & (1u << d)), op, "axis %d listed twice for shape %s", axes[k], shape_str(x->ndim, x->shape).s);
        seen |= 1u << d;
        n *= x->shape[d];
    }
    return n;
}

/* ---- the root s^(1/p) of a non-negative s, gradient 0 where s is 0 ---- */

typedef struct {
    const real *s, *y, *dy;
    real p;
    real *out; /* y, or s's gradient */
} RootLoop;

static void root_forward_chunk(void *ctx, NnChunk c) {
    const RootLoop *l = ctx;
    for (int64_t i = c.begin; i < c.end; i++) l->out[i] = l->p == 2 ? R_SQRT(l->s[i]) : R_POW(l->s[i], 1 / l->p);
}

/* ds = dy y / (p s) = dy s^(1/p - 1) / p; 0 where s is 0 */
static void root_backward_chunk(void *ctx, NnChunk c) {
    const RootLoop *l = ctx;
    for (int64_t i = c.begin; i < c.end; i++)
        if (l->s[i] > 0) l->out[i] += l->dy[i] * l->y[i] / (l->p * l->s[i]);
}

static void root_backward(Graph *g, Node *n) {
    RootLoop l = {n->in[0]->data, n->out->data, n->out->grad->data, n->f[0], ag_grad(g, n->in[0])->data};
    nn_parallel_elements(n->out->numel, 2, root_backward_chunk, &l);
}

/* s is a contiguous result of ag_sum (>= 0 by construction). */
static Tensor *root(Graph *g, Tensor *s, real p) {
    s = ag_contiguous(g, s);
    Tensor *y = ag_new(g, s->ndim, s->shape);
    RootLoop l = {s->data, NULL, NULL, p, y->data};
    nn_parallel_elements(s->numel, 2, root_forward_chunk, &l);
    Node *n = ag_record(g, "root", root_backward, y, 1, &s);
    if (n) n->f[0] = p;
    return y;
}

/* ---- the statistics ---- */

Tensor *ag_min(Graph *g, Tensor *x, int naxes, const int *axes, int keepdim) {
    return ag_neg(g, ag_max(g, ag_neg(g, x), naxes, axes, keepdim));
}

Tensor *ag_var(Graph *g, Tensor *x, int naxes, const int *axes, int64_t correction, int keepdim) {
    int64_t n = reduced_count("var", x, naxes, axes);
    NN_CHECK(correction >= 0 && n - correction > 0, "var",
             "%lld elements per reduced set of shape %s with correction %lld leave no degrees of freedom "
             "(use correction 0 for the population variance, or reduce over more elements)",
             (long long)n, shape_str(x->ndim, x->shape).s, (long long)correction);
    Tensor *d = ag_sub(g, x, ag_mean(g, x, naxes, axes, 1));
    Tensor *ss = ag_sum(g, ag_mul(g, d, d), naxes, axes, keepdim);
    return ag_mul_scalar(g, ss, (real)(1.0 / (double)(n - correction)));
}

Tensor *ag_std(Graph *g, Tensor *x, int naxes, const int *axes, int64_t correction, int keepdim) {
    return root(g, ag_var(g, x, naxes, axes, correction, keepdim), 2);
}

Tensor *ag_norm(Graph *g, Tensor *x, real p, int naxes, const int *axes, int keepdim) {
    NN_CHECK(p >= 1, "norm", "p is %g: expected p >= 1 (INFINITY for the largest magnitude)", (double)p);
    reduced_count("norm", x, naxes, axes);
    Tensor *a = ag_abs(g, x);
    if (isinf(p)) return ag_max(g, a, naxes, axes, keepdim);
    if (p == 1) return ag_sum(g, a, naxes, axes, keepdim);
    Tensor *pw = p == 2 ? ag_mul(g, x, x) : ag_pow_scalar(g, a, p);
    return root(g, ag_sum(g, pw, naxes, axes, keepdim), p);
}
