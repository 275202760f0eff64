#include "nn/module.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/memory.h"

void module_init(Module *m, uint64_t seed) {
    memset(m, 0, sizeof *m);
    m->training = 1;
    m->init_rng = rng_new(seed, 0x1417);
    m->dropout_rng = rng_new(seed, 0xd409);
}

void module_free(Module *m) {
    for (int i = 0; i < m->n_params; i++) {
        free(m->params[i].name);
        tensor_free(m->params[i].value);
    }
    free(m->params);
    m->params = NULL;
    m->n_params = m->cap = 0;
}

char *module_join(char *out, size_t size, const char *prefix, const char *name) {
    snprintf(out, size, "%s%s%s", prefix, *prefix ? "." : "", name);
    return out;
}

Tensor *module_param(Module *m, const char *prefix, const char *name, ParamKind kind, int ndim, const int64_t *shape) {
    size_t len = strlen(prefix) + strlen(name) + 2;
    char *full = module_join(nn_malloc(len), len, prefix, name);
    NN_CHECK(module_find(m, full) == NULL, "module_param", "a parameter named '%s' already exists", full);
    if (m->n_params == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 16;
        m->params = nn_realloc(m->params, (size_t)m->cap * sizeof *m->params);
    }
    Tensor *t = tensor_zeros(ndim, shape);
    tensor_set_requires_grad(t, 1);
    t->name = full;
    m->params[m->n_params++] = (Param){full, t, kind};
    return t;
}

Tensor *module_find(const Module *m, const char *name) {
    for (int i = 0; i < m->n_params; i++)
        if (strcmp(m->params[i].name, name) == 0) return m->params[i].value;
    return NULL;
}

int64_t module_num_params(const Module *m) {
    int64_t n = 0;
    for (int i = 0; i < m->n_params; i++) n += m->params[i].value->numel;
    return n;
}

void module_print(const Module *m, FILE *f) {
    for (int i = 0; i < m->n_params; i++) {
        const Tensor *t = m->params[i].value;
        fprintf(f, "%-48s %-14s %lld\n", m->params[i].name, shape_str(t->ndim, t->shape).s, (long long)t->numel);
    }
    fprintf(f, "%-48s %-14s %lld\n", "total", "", (long long)module_num_params(m));
}

void module_train(Module *m, int training) { m->training = training != 0; }

void module_zero_grad(Module *m) {
    for (int i = 0; i < m->n_params; i++) tensor_zero_grad(m->params[i].value);
}

void module_dropout_stream(Module *m, uint64_t step, uint64_t part) {
    uint32_t w[4]; /* a Philox block keyed by the seed: streams of different (step, part) are unrelated */
    philox4x32(m->dropout_rng.seed, 0xd409000000000000ull | step, part, w);
    m->dropout_rng = rng_new(m->dropout_rng.seed, (uint64_t)w[0] << 32 | w[1]);
}

/* ---- initialisation ---- */

void init_normal(Tensor *t, real mean, real std, Rng *rng) {
    for (int64_t i = 0; i < t->numel; i++) t->data[tensor_offset_of(t, i)] = (real)(mean + std * rng_normal(rng));
}

void init_uniform(Tensor *t, real lo, real hi, Rng *rng) {
    for (int64_t i = 0; i < t->numel; i++) t->data[tensor_offset_of(t, i)] = (real)(lo + (hi - lo) * rng_uniform(rng));
}

void init_constant(Tensor *t, real value) { tensor_fill(t, value); }

void module_init_weights(Module *m, real std) {
    for (int i = 0; i < m->n_params; i++) {
        Param *p = &m->params[i];
        switch (p->kind) {
        case PARAM_WEIGHT:
        case PARAM_TABLE: init_normal(p->value, 0, std, &m->init_rng); break;
        case PARAM_BIAS: init_constant(p->value, 0); break;
        case PARAM_GAIN: init_constant(p->value, 1); break;
        }
    }
}
