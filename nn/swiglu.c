#include "nn/swiglu.h"

#include "autograd/ops.h"

SwiGLU swiglu_new(Module *m, const char *name, int64_t dim, int64_t inner, int bias) {
    char sub[256];
    SwiGLU f;
    f.gate = linear_new(m, module_join(sub, sizeof sub, name, "gate"), dim, inner, bias);
    f.up = linear_new(m, module_join(sub, sizeof sub, name, "up"), dim, inner, bias);
    f.down = linear_new(m, module_join(sub, sizeof sub, name, "down"), inner, dim, bias);
    return f;
}

Tensor *swiglu_forward(const SwiGLU *f, Graph *g, Tensor *x) {
    Tensor *gate = ag_silu(g, linear_forward(&f->gate, g, x)); /* (..., inner) */
    Tensor *up = linear_forward(&f->up, g, x);
    graph_trace(g, "  SwiGLU gate * up", gate);
    return linear_forward(&f->down, g, ag_mul(g, gate, up));
}
