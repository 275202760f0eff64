/* SGD as torch.optim.SGD: d = g + wd w; with momentum, buf = mu buf + (1 - dampening) d
 * (buf = d on the first step), then d = buf, or d + mu buf with Nesterov; w -= lr d. */
#include <stdlib.h>

#include "base/memory.h"
#include "nn/optim.h"
#include "base/error.h"

Sgd *sgd_new(Module *m, SgdConfig cfg) {
    NN_CHECK(cfg.lr >= 0 && cfg.momentum >= 0 && (!cfg.nesterov || (cfg.momentum > 0 && cfg.dampening == 0)), "sgd_new",
             "invalid settings: lr %g, momentum %g, dampening %g, nesterov %d", (double)cfg.lr, (double)cfg.momentum,
             (double)cfg.dampening, cfg.nesterov);
    Sgd *s = nn_calloc(1, sizeof *s);
    s->module = m;
    s->n_params = m->n_params;
    s->cfg = cfg;
    s->buf = nn_calloc((size_t)m->n_params, sizeof *s->buf);
    return s;
}

void sgd_step(Sgd *s) {
    const SgdConfig *c = &s->cfg;
    optim_params_check("sgd_step", s->module, s->n_params);
    for (int i = 0; i < s->n_params; i++) {
        Tensor *p = s->module->params[i].value;
        if (!p->grad) continue;
        int first = 0;
        if (c->momentum != 0 && !s->buf[i]) {
            s->buf[i] = tensor_zeros(p->ndim, p->shape);
            first = 1;
        }
        real *w = p->data, *g = p->grad->data, *buf = s->buf[i] ? s->buf[i]->data : NULL;
        for (int64_t k = 0; k < p->numel; k++) {
            real d = g[k] + c->weight_decay * w[k];
            if (buf) {
                buf[k] = first ? d : c->momentum * buf[k] + (1 - c->dampening) * d;
                d = c->nesterov ? d + c->momentum * buf[k] : buf[k];
            }
            w[k] -= c->lr * d;
        }
    }
}

void sgd_free(Sgd *s) {
    if (!s) return;
    for (int i = 0; i < s->n_params; i++) tensor_free(s->buf[i]);
    free(s->buf);
    free(s);
}
