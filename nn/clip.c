/* Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_. */
#include <math.h>

#include "nn/optim.h"

/* The stretches of p's gradient that may be non-zero: its listed rows in
 * ascending order (row-sparse gradients), or all of it as one stretch. The
 * other rows are zero, so skipping them changes neither sum nor scaling. */
typedef struct {
    const int64_t *rows; /* NULL: one stretch, the whole gradient */
    int64_t count, width;
} Stretches;

static Stretches stretches(Tensor *p) {
    int64_t n;
    const int64_t *rows = ag_grad_rows(p, &n);
    return rows ? (Stretches){rows, n, p->grad->numel / p->shape[0]} : (Stretches){NULL, 1, p->grad->numel};
}

double clip_grad_norm(Module *m, double max_norm) {
    double total = 0;
    for (int i = 0; i < m->n_params; i++) {
        Tensor *p = m->params[i].value;
        if (!p->grad) continue;
        Stretches s = stretches(p);
        for (int64_t r = 0; r < s.count; r++) {
            const real *d = p->grad->data + (s.rows ? s.rows[r] * s.width : 0);
            for (int64_t k = 0; k < s.width; k++) total += (double)d[k] * d[k];
        }
    }
    total = sqrt(total);
    double coef = max_norm / (total + 1e-6);
    if (coef < 1)
        for (int i = 0; i < m->n_params; i++) {
            Tensor *p = m->params[i].value;
            if (!p->grad) continue;
            Stretches s = stretches(p);
            for (int64_t r = 0; r < s.count; r++) {
                real *d = p->grad->data + (s.rows ? s.rows[r] * s.width : 0);
                for (int64_t k = 0; k < s.width; k++) d[k] *= (real)coef;
            }
        }
    return total;
}
