#include "nn/layer_norm.h"

#include "autograd/ops.h"

LayerNorm layer_norm_new(Module *m, const char *name, int64_t dim, real eps) {
    LayerNorm ln = {module_param(m, name, "weight", PARAM_GAIN, NN_SHAPE(dim)),
                    module_param(m, name, "bias", PARAM_BIAS, NN_SHAPE(dim)), eps};
    init_constant(ln.weight, 1);
    return ln;
}

Tensor *layer_norm_forward(const LayerNorm *ln, Graph *g, Tensor *x) {
    return ag_layer_norm(g, x, ln->weight, ln->bias, ln->eps);
}

Tensor *layer_norm_residual_forward(const LayerNorm *ln, Graph *g, Tensor *x, Tensor *r) {
    return ag_add_layer_norm(g, x, r, ln->weight, ln->bias, ln->eps);
}

Tensor *layer_norm_residual_dropout_forward(const LayerNorm *ln, const Dropout *d, Module *m, Graph *g, Tensor *x,
                                            Tensor *r) {
    return ag_dropout_add_layer_norm(g, x, r, d->p, m->training, &m->dropout_rng, ln->weight, ln->bias, ln->eps);
}
