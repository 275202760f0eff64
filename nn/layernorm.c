#include "nn/layernorm.h"

#include "autograd/ops.h"

LayerNorm layernorm_new(Module *m, const char *name, int64_t dim, real eps) {
    LayerNorm ln = {module_param(m, name, "weight", NN_SHAPE(dim)), module_param(m, name, "bias", NN_SHAPE(dim)), eps};
    init_constant(ln.weight, 1);
    return ln;
}

Tensor *layernorm_forward(const LayerNorm *ln, Graph *g, Tensor *x) {
    return ag_layer_norm(g, x, ln->weight, ln->bias, ln->eps);
}
