#include "nn/rms_norm.h"

#include "autograd/ops.h"
#include "base/error.h"

RMSNorm rms_norm_new(Module *m, const char *name, int64_t dim, real eps) {
    NN_CHECK(dim >= 1 && eps >= 0, "rms_norm_new", "%s: dim %lld, eps %g: expected dim >= 1, eps >= 0", name,
             (long long)dim, (double)eps);
    RMSNorm n = {module_param(m, name, "weight", PARAM_GAIN, NN_SHAPE(dim)), eps};
    init_constant(n.weight, 1);
    return n;
}

Tensor *rms_norm_forward(const RMSNorm *n, Graph *g, Tensor *x) {
    int64_t dim = n->weight->shape[0];
    NN_CHECK(x->ndim >= 1 && x->shape[x->ndim - 1] == dim, "rms_norm_forward", "x %s must end in the norm's dim %lld",
             shape_str(x->ndim, x->shape).s, (long long)dim);
    int last = -1;
    Tensor *ms = ag_mean(g, ag_mul(g, x, x), 1, &last, 1);                /* (..., 1) */
    Tensor *inv = ag_pow_scalar(g, ag_add_scalar(g, ms, n->eps), (real)-0.5); /* 1 / sqrt(mean + eps) */
    return ag_mul(g, ag_mul(g, x, inv), n->weight);
}
