/* Adam and AdamW, written as torch.optim.Adam's single-tensor step: the bias
 * corrections are computed in double, the update in the parameters' type.
 * Lazy Adam updates the rows a row-sparse gradient lists as
 * torch.optim.SparseAdam does. */
#include <math.h>
#include <stdlib.h>

#include "nn/optim.h"
#include "base/error.h"
#include "tensor/rmath.h"
#include "base/parallel.h"

AdamConfig adam_defaults(void) { return (AdamConfig){1e-3, 0.9, 0.999, 1e-8, 0, 0, 0}; }

Adam *adam_new(Module *m, AdamConfig cfg) {
    NN_CHECK(cfg.lr >= 0 && cfg.beta1 >= 0 && cfg.beta1 < 1 && cfg.beta2 >= 0 && cfg.beta2 < 1 && cfg.eps >= 0,
             "adam_new", "invalid settings: lr %g, betas (%g, %g), eps %g", (double)cfg.lr, (double)cfg.beta1,
             (double)cfg.beta2, (double)cfg.eps);
    Adam *a = nn_calloc(1, sizeof *a);
    a->module = m;
    a->n_params = m->n_params;
    a->cfg = cfg;
    a->skipped = nn_calloc((size_t)m->n_params, sizeof *a->skipped);
    a->m = nn_calloc((size_t)m->n_params, sizeof *a->m);
    a->v = nn_calloc((size_t)m->n_params, sizeof *a->v);
    for (int i = 0; i < m->n_params; i++) {
        const Tensor *p = m->params[i].value;
        a->m[i] = tensor_zeros(p->ndim, p->shape);
        a->v[i] = tensor_zeros(p->ndim, p->shape);
    }
    return a;
}

/* torch.optim.SparseAdam on rows[0..n) of p (row-sparse gradient), at the
 * parameter's step t: those rows' moments and weights move; every other row
 * stays as it is, moments included (they do not decay). Each row is updated by
 * one thread, elementwise: the same result for any thread count. */
static void sparse_adam_rows(const AdamConfig *c, double t, Tensor *p, Tensor *m, Tensor *v, const int64_t *rows,
                             int64_t n) {
    double bc1 = 1 - pow(c->beta1, t), bc2 = 1 - pow(c->beta2, t);
    real neg_step = (real)(-(c->lr * sqrt(bc2) / bc1)), eps = (real)c->eps;
    real one_b1 = (real)(1 - c->beta1), one_b2 = (real)(1 - c->beta2);
    int64_t width = p->numel / p->shape[0];
#pragma omp parallel for schedule(static) if (n * width > NN_PARALLEL_MIN_WORK)
    for (int64_t k = 0; k < n; k++) {
        int64_t o = rows[k] * width;
        real *w = p->data + o, *mk = m->data + o, *vk = v->data + o;
        const real *gk = p->grad->data + o;
        for (int64_t j = 0; j < width; j++) {
            real g = gk[j], m0 = mk[j], v0 = vk[j];
            real dm = (g - m0) * one_b1, dv = (g * g - v0) * one_b2; /* SparseAdam's update values */
            mk[j] = m0 + dm;
            vk[j] = v0 + dv;
            w[j] += neg_step * ((dm + m0) / (R_SQRT(dv + v0) + eps));
        }
    }
}

void adam_step(Adam *a) {
    const AdamConfig *c = &a->cfg;
    optim_check_params("adam_step", a->module, a->n_params);
    a->step++;
    real b1 = (real)c->beta1, b2 = (real)c->beta2, one_b1 = (real)(1 - c->beta1), one_b2 = (real)(1 - c->beta2);
    real eps = (real)c->eps, wd = (real)c->weight_decay, decay = (real)(1 - c->lr * c->weight_decay);
    for (int i = 0; i < a->n_params; i++) {
        Tensor *p = a->module->params[i].value;
        if (!p->grad) { /* torch skips parameters without a gradient, and their step counts */
            a->skipped[i]++;
            continue;
        }
        double t = (double)(a->step - a->skipped[i]);
        int64_t n_rows;
        const int64_t *rows = c->lazy ? ag_grad_rows(p, &n_rows) : NULL;
        if (rows) {
            sparse_adam_rows(c, t, p, a->m[i], a->v[i], rows, n_rows);
            continue;
        }
        double bc1 = 1 - pow(c->beta1, t), bc2_sqrt = sqrt(1 - pow(c->beta2, t));
        real step_size = (real)(c->lr / bc1), bc2_root = (real)bc2_sqrt;
        real *w = p->data, *gr = p->grad->data, *m = a->m[i]->data, *v = a->v[i]->data;
        int64_t n = p->numel;
        int decoupled = c->decoupled;
#pragma omp parallel for schedule(static) if (n > NN_PARALLEL_MIN_WORK)
        for (int64_t k = 0; k < n; k++) {
            real gk = gr[k];
            if (decoupled)
                w[k] *= decay;
            else if (wd != 0)
                gk += wd * w[k];
            m[k] = m[k] * b1 + gk * one_b1;
            v[k] = v[k] * b2 + one_b2 * gk * gk;
            real denom = R_SQRT(v[k]) / bc2_root + eps;
            w[k] -= step_size * (m[k] / denom);
        }
    }
}

void adam_free(Adam *a) {
    if (!a) return;
    for (int i = 0; i < a->n_params; i++) {
        tensor_free(a->m[i]);
        tensor_free(a->v[i]);
    }
    free(a->skipped);
    free(a->m);
    free(a->v);
    free(a);
}
