#include "nn/linear.h"

#include <math.h>

#include "autograd/ops.h"

Linear linear_new(Module *m, const char *name, int64_t in, int64_t out, int bias) {
    Linear l;
    real bound = (real)(1 / sqrt((double)in));
    l.weight = module_param(m, name, "weight", PARAM_WEIGHT, NN_SHAPE(out, in));
    init_uniform(l.weight, -bound, bound, &m->init_rng);
    l.bias = NULL;
    if (bias) {
        l.bias = module_param(m, name, "bias", PARAM_BIAS, NN_SHAPE(out));
        init_uniform(l.bias, -bound, bound, &m->init_rng);
    }
    return l;
}

Tensor *linear_forward(const Linear *l, Graph *g, Tensor *x) {
    return ag_linear(g, x, l->weight, l->bias);
}
