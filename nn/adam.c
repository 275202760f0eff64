/* Adam and AdamW, written as torch.optim.Adam's single-tensor step: the bias
 * corrections are computed in double, the update in the parameters' type.
 * Lazy Adam updates the rows a row-sparse gradient lists as
 * torch.optim.SparseAdam does. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/memory.h"
#include "nn/optim.h"
#include "base/error.h"
#include "tensor/rmath.h"
#include "base/parallel.h"
#include "base/simd.h"

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
    real *gr;
    real *m, *v;
    real b1, b2, one_b1, one_b2, eps, wd, decay, step_size, bc2_root;
    int decoupled;
    int zero; /* 1: the gradient is zeroed once read */
} AdamLoop;

/* No contraction to FMA in this loop: its vector clones then round every product and sum as the baseline
 * build does, so the update has the same bits whichever clone runs (SSE, AVX2 or AVX-512). */
#if defined(__GNUC__) && !defined(__clang__)
#define ADAM_NO_FMA __attribute__((optimize("fp-contract=off")))
#else
#define ADAM_NO_FMA /* clang: no clones (NN_VECTORIZE is empty there), the baseline target has no FMA */
#endif

/* Elements [k0, k1) of one parameter; the weight-decay variant is chosen outside the loops. */
NN_VECTORIZE ADAM_NO_FMA static void adam_elements(const AdamLoop *l, int64_t k0, int64_t k1) {
    real *restrict w = l->w, *restrict m = l->m, *restrict v = l->v;
    const real *restrict gr = l->gr;
    const real b1 = l->b1, b2 = l->b2, one_b1 = l->one_b1, one_b2 = l->one_b2, eps = l->eps, wd = l->wd;
    const real decay = l->decay, step_size = l->step_size, bc2_root = l->bc2_root;
#define ADAM_UPDATE(GK)                                                                                                \
    do {                                                                                                               \
        real gk = (GK);                                                                                                \
        m[k] = m[k] * b1 + gk * one_b1;                                                                                \
        v[k] = v[k] * b2 + one_b2 * gk * gk;                                                                           \
        real denom = R_SQRT(v[k]) / bc2_root + eps;                                                                    \
        w[k] -= step_size * (m[k] / denom);                                                                            \
    } while (0)
    if (l->decoupled)
        for (int64_t k = k0; k < k1; k++) {
            w[k] *= decay;
            ADAM_UPDATE(gr[k]);
        }
    else if (wd != 0)
        for (int64_t k = k0; k < k1; k++) ADAM_UPDATE(gr[k] + wd * w[k]);
    else
        for (int64_t k = k0; k < k1; k++) ADAM_UPDATE(gr[k]);
#undef ADAM_UPDATE
}

/* Elements of a parameter updated as one item, small enough to be still in cache when their gradient is
 * cleared. */
#define ADAM_PIECE 4096

typedef struct {
    const AdamLoop *loop; /* its parameter's */
    int64_t k0, k1;
} AdamPiece;

/* Items are pieces of the dense parameters, all of them in one loop: a Beauty step's 30 parameters were 30
 * loops, the 20 of fewer than 32768 elements (100k of the 0.88 M) run by the calling thread alone. */
static void adam_pieces(void *ctx, NnChunk c) {
    const AdamPiece *pieces = ctx;
    for (int64_t i = c.begin; i < c.end; i++) {
        const AdamPiece *q = &pieces[i];
        adam_elements(q->loop, q->k0, q->k1);
        if (q->loop->zero) memset(q->loop->gr + q->k0, 0, (size_t)(q->k1 - q->k0) * sizeof(real));
    }
}

typedef struct {
    const int64_t *rows; /* (n) the rows a step used */
    int64_t width;       /* elements per row */
    real *w, *m, *v;
    real *g;
    real neg_step, eps, one_b1, one_b2;
    int zero; /* 1: each gradient row is zeroed once read */
} SparseAdamLoop;

/* Items are rows: each is updated elementwise by one thread. */
static void sparse_adam_range(void *ctx, NnChunk c) {
    const SparseAdamLoop *l = ctx;
    for (int64_t k = c.begin; k < c.end; k++) {
        int64_t o = l->rows[k] * l->width;
        real *w = l->w + o, *mk = l->m + o, *vk = l->v + o, *gk = l->g + o;
        for (int64_t j = 0; j < l->width; j++) {
            real g = gk[j], m0 = mk[j], v0 = vk[j];
            real dm = (g - m0) * l->one_b1, dv = (g * g - v0) * l->one_b2; /* SparseAdam's update values */
            mk[j] = m0 + dm;
            vk[j] = v0 + dv;
            w[j] += l->neg_step * ((dm + m0) / (R_SQRT(dv + v0) + l->eps));
        }
        if (l->zero) memset(gk, 0, (size_t)l->width * sizeof(real)); /* in cache now; a sweep later would miss */
    }
}

/* torch.optim.SparseAdam on rows[0..n) of p (row-sparse gradient), at the
 * parameter's step t: those rows' moments and weights move; every other row
 * stays as it is, moments included (they do not decay). Each row is updated by
 * one thread, elementwise: the same result for any thread count. With zero,
 * each of those gradient rows is left zero. */
static void sparse_adam_rows(const AdamConfig *c, double t, Tensor *p, Tensor *m, Tensor *v, const int64_t *rows,
                             int64_t n, int zero) {
    double bc1 = 1 - pow(c->beta1, t), bc2 = 1 - pow(c->beta2, t);
    int64_t width = p->numel / p->shape[0];
    SparseAdamLoop l = {rows, width, p->data, m->data, v->data, p->grad->data, (real)(-(c->lr * sqrt(bc2) / bc1)),
                        (real)c->eps, (real)(1 - c->beta1), (real)(1 - c->beta2), zero};
    nn_parallel_for(n, width, sparse_adam_range, &l);
}

/* adam_step, and with zero every gradient zeroed afterwards (tensor_zero_grad), the rows lazy Adam updates
 * as it goes. */
static void step(Adam *a, int zero) {
    const AdamConfig *c = &a->cfg;
    optim_params_check("adam_step", a->module, a->n_params);
    a->step++;
    real b1 = (real)c->beta1, b2 = (real)c->beta2, one_b1 = (real)(1 - c->beta1), one_b2 = (real)(1 - c->beta2);
    AdamLoop *loops = nn_malloc((size_t)(a->n_params ? a->n_params : 1) * sizeof *loops);
    int *dense = nn_malloc((size_t)(a->n_params ? a->n_params : 1) * sizeof *dense); /* updated by the pieces */
    int64_t n_pieces = 0, elements = 0;
    for (int i = 0; i < a->n_params; i++) {
        dense[i] = 0;
        Tensor *p = a->module->params[i].value;
        double wd_i = c->no_decay & OPTIM_KIND(a->module->params[i].kind) ? 0 : c->weight_decay;
        real eps = (real)c->eps, wd = (real)wd_i, decay = (real)(1 - c->lr * wd_i);
        if (!p->grad) { /* torch skips parameters without a gradient, and their step counts */
            a->skipped[i]++;
            if (zero) tensor_zero_grad(p); /* its row list, if any */
            continue;
        }
        double t = (double)(a->step - a->skipped[i]);
        int64_t n_rows;
        const int64_t *rows = !c->lazy ? NULL : zero ? ag_take_grad_rows(p, &n_rows) : ag_grad_rows(p, &n_rows);
        if (rows) {
            sparse_adam_rows(c, t, p, a->m[i], a->v[i], rows, n_rows, zero);
            continue; /* with zero: its gradient is zero, its list empty */
        }
        double bc1 = 1 - pow(c->beta1, t), bc2_sqrt = sqrt(1 - pow(c->beta2, t));
        real step_size = (real)(c->lr / bc1), bc2_root = (real)bc2_sqrt;
        loops[i] = (AdamLoop){p->data, p->grad->data, a->m[i]->data, a->v[i]->data, b1,    b2,   one_b1,
                              one_b2,  eps,           wd,            decay,         step_size, bc2_root, c->decoupled,
                              zero && !p->grad_rows};
        dense[i] = 1;
        n_pieces += (p->numel + ADAM_PIECE - 1) / ADAM_PIECE;
        elements += p->numel;
    }
    AdamPiece *pieces = nn_malloc((size_t)(n_pieces ? n_pieces : 1) * sizeof *pieces);
    int64_t n = 0;
    for (int i = 0; i < a->n_params; i++) {
        int64_t numel = a->module->params[i].value->numel;
        for (int64_t k = 0; dense[i] && k < numel; k += ADAM_PIECE)
            pieces[n++] = (AdamPiece){&loops[i], k, numel - k < ADAM_PIECE ? numel : k + ADAM_PIECE};
    }
    nn_parallel_for(n_pieces, n_pieces ? elements / n_pieces + 1 : 1, adam_pieces, pieces);
    for (int i = 0; i < a->n_params; i++) { /* a tracked table whose every row may be non-zero */
        Tensor *p = a->module->params[i].value;
        if (dense[i] && zero && p->grad_rows) tensor_zero_grad(p);
    }
    free(pieces);
    free(dense);
    free(loops);
}

void adam_step(Adam *a) { step(a, 0); }

void adam_step_zero_grad(Adam *a) { step(a, 1); }

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
