/* Adam and AdamW, written as torch.optim.Adam's single-tensor step: the bias
 * corrections are computed in double, the update in the parameters' type.
 * Lazy Adam updates the rows a row-sparse gradient lists as
 * torch.optim.SparseAdam does. */
#include <math.h>
#include <stdlib.h>

#include "base/memory.h"
#include "nn/optim.h"
#include "base/error.h"
#include "tensor/rmath.h"
#include "base/parallel.h"

AdamConfig adam_defaults(void) { return (AdamConfig){1e-3, 0.9, 0.999, 1e-8, 0, 0, 0, 0}; }

Adam *adam_new(Module *m, AdamConfig cfg) {
    NN_CHECK(cfg.lr >= 0 && cfg.beta1 >= 0 && cfg.beta1 < 1 && cfg.beta2 >= 0 && cfg.beta2 < 1 && cfg.eps >= 0,
             "adam_new", "invalid settings: lr %g, betas (%g, %g), eps %g", (double)cfg.lr, (double)cfg.beta1,
             (double)cfg.beta2, (double)cfg.eps);
    NN_CHECK((cfg.no_decay & ~(OPTIM_KIND(PARAM_TABLE + 1) - 1)) == 0, "adam_new",
             "no_decay 0x%x names no parameter kind: use OPTIM_KIND(PARAM_BIAS) | ... or OPTIM_NO_DECAY_USUAL",
             cfg.no_decay);
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

typedef struct {
    real *w;
    const real *gr;
    real *m, *v;
    real b1, b2, one_b1, one_b2, eps, wd, decay, step_size, bc2_root;
    int decoupled;
} AdamLoop;

static void adam_range(void *ctx, NnChunk c) {
    const AdamLoop *l = ctx;
    real *w = l->w, *m = l->m, *v = l->v;
    for (int64_t k = c.begin; k < c.end; k++) {
        real gk = l->gr[k];
        if (l->decoupled)
            w[k] *= l->decay;
        else if (l->wd != 0)
            gk += l->wd * w[k];
        m[k] = m[k] * l->b1 + gk * l->one_b1;
        v[k] = v[k] * l->b2 + l->one_b2 * gk * gk;
        real denom = R_SQRT(v[k]) / l->bc2_root + l->eps;
        w[k] -= l->step_size * (m[k] / denom);
    }
}

typedef struct {
    const int64_t *rows; /* (n) the rows a step used */
    int64_t width;       /* elements per row */
    real *w, *m, *v;
    const real *g;
    real neg_step, eps, one_b1, one_b2;
} SparseAdamLoop;

/* Items are rows: each is updated elementwise by one thread. */
static void sparse_adam_range(void *ctx, NnChunk c) {
    const SparseAdamLoop *l = ctx;
    for (int64_t k = c.begin; k < c.end; k++) {
        int64_t o = l->rows[k] * l->width;
        real *w = l->w + o, *mk = l->m + o, *vk = l->v + o;
        const real *gk = l->g + o;
        for (int64_t j = 0; j < l->width; j++) {
            real g = gk[j], m0 = mk[j], v0 = vk[j];
            real dm = (g - m0) * l->one_b1, dv = (g * g - v0) * l->one_b2; /* SparseAdam's update values */
            mk[j] = m0 + dm;
            vk[j] = v0 + dv;
            w[j] += l->neg_step * ((dm + m0) / (R_SQRT(dv + v0) + l->eps));
        }
    }
}

/* torch.optim.SparseAdam on rows[0..n) of p (row-sparse gradient), at the
 * parameter's step t: those rows' moments and weights move; every other row
 * stays as it is, moments included (they do not decay). Each row is updated by
 * one thread, elementwise: the same result for any thread count. */
static void sparse_adam_rows(const AdamConfig *c, double t, Tensor *p, Tensor *m, Tensor *v, const int64_t *rows,
                             int64_t n) {
    double bc1 = 1 - pow(c->beta1, t), bc2 = 1 - pow(c->beta2, t);
    int64_t width = p->numel / p->shape[0];
    SparseAdamLoop l = {rows, width, p->data, m->data, v->data, p->grad->data, (real)(-(c->lr * sqrt(bc2) / bc1)),
                        (real)c->eps, (real)(1 - c->beta1), (real)(1 - c->beta2)};
    nn_parallel_for(n, width, sparse_adam_range, &l);
}

void adam_step(Adam *a) {
    const AdamConfig *c = &a->cfg;
    optim_params_check("adam_step", a->module, a->n_params);
    a->step++;
    real b1 = (real)c->beta1, b2 = (real)c->beta2, one_b1 = (real)(1 - c->beta1), one_b2 = (real)(1 - c->beta2);
    for (int i = 0; i < a->n_params; i++) {
        Tensor *p = a->module->params[i].value;
        double wd_i = c->no_decay & OPTIM_KIND(a->module->params[i].kind) ? 0 : c->weight_decay;
        real eps = (real)c->eps, wd = (real)wd_i, decay = (real)(1 - c->lr * wd_i);
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
        AdamLoop l = {p->data, p->grad->data, a->m[i]->data, a->v[i]->data, b1,    b2,   one_b1,
                      one_b2,  eps,           wd,            decay,         step_size, bc2_root, c->decoupled};
        nn_parallel_elements(p->numel, 1, adam_range, &l);
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
