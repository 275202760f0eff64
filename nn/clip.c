/* Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_. */
#include <math.h>

#include "nn/optim.h"

double clip_grad_norm(Module *m, double max_norm) {
    double total = 0;
    for (int i = 0; i < m->n_params; i++) {
        const Tensor *g = m->params[i].value->grad;
        if (!g) continue;
        for (int64_t k = 0; k < g->numel; k++) total += (double)g->data[k] * g->data[k];
    }
    total = sqrt(total);
    double coef = max_norm / (total + 1e-6);
    if (coef < 1)
        for (int i = 0; i < m->n_params; i++) {
            Tensor *g = m->params[i].value->grad;
            if (!g) continue;
            for (int64_t k = 0; k < g->numel; k++) g->data[k] *= (real)coef;
        }
    return total;
}
