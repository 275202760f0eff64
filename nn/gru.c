#include "nn/gru.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "autograd/ops.h"
#include "base/error.h"
#include "base/memory.h"

/* A cell's parameters named "<name>.weight_ih<suffix>" etc. */
static GruCell cell_new(Module *m, const char *name, const char *suffix, int64_t input, int64_t hidden, int bias) {
    NN_CHECK(input > 0 && hidden > 0, "gru_new", "sizes must be positive, got input %lld, hidden %lld",
             (long long)input, (long long)hidden);
    char key[64];
    real bound = (real)(1 / sqrt((double)hidden));
    GruCell c = {.input = input, .hidden = hidden};
    snprintf(key, sizeof key, "weight_ih%s", suffix);
    c.weight_ih = module_param(m, name, key, PARAM_WEIGHT, NN_SHAPE(3 * hidden, input));
    snprintf(key, sizeof key, "weight_hh%s", suffix);
    c.weight_hh = module_param(m, name, key, PARAM_WEIGHT, NN_SHAPE(3 * hidden, hidden));
    if (bias) {
        snprintf(key, sizeof key, "bias_ih%s", suffix);
        c.bias_ih = module_param(m, name, key, PARAM_BIAS, NN_SHAPE(3 * hidden));
        snprintf(key, sizeof key, "bias_hh%s", suffix);
        c.bias_hh = module_param(m, name, key, PARAM_BIAS, NN_SHAPE(3 * hidden));
    }
    Tensor *all[] = {c.weight_ih, c.weight_hh, c.bias_ih, c.bias_hh};
    for (int k = 0; k < 4; k++)
        if (all[k]) init_uniform(all[k], -bound, bound, &m->init_rng);
    return c;
}

/* h' from gi = W_ih x + b_ih (B, 3H), possibly a strided view, and h (B, H). */
static Tensor *step(const GruCell *c, Graph *g, Tensor *gi, Tensor *h) {
    int64_t H = c->hidden;
    Tensor *gh = ag_linear(g, h, c->weight_hh, c->bias_hh); /* (B, 3H) */
    Tensor *r = ag_sigmoid(g, ag_add(g, ag_narrow(g, gi, 1, 0, H), ag_narrow(g, gh, 1, 0, H)));
    Tensor *z = ag_sigmoid(g, ag_add(g, ag_narrow(g, gi, 1, H, H), ag_narrow(g, gh, 1, H, H)));
    Tensor *n = ag_tanh(g, ag_add(g, ag_narrow(g, gi, 1, 2 * H, H), ag_mul(g, r, ag_narrow(g, gh, 1, 2 * H, H))));
    return ag_add(g, n, ag_mul(g, z, ag_sub(g, h, n))); /* (1 - z) n + z h */
}

static void check_state(const char *op, const Tensor *h, int64_t B, int64_t H) {
    NN_CHECK(h->ndim == 2 && h->shape[0] == B && h->shape[1] == H, op, "hidden state %s, expected (%lld, %lld)",
             shape_str(h->ndim, h->shape).s, (long long)B, (long long)H);
}

GruCell gru_cell_new(Module *m, const char *name, int64_t input, int64_t hidden, int bias) {
    return cell_new(m, name, "", input, hidden, bias);
}

Tensor *gru_cell_forward(const GruCell *c, Graph *g, Tensor *x, Tensor *h) {
    NN_CHECK(x->ndim == 2 && x->shape[1] == c->input, "gru_cell", "input %s, expected (batch, %lld)",
             shape_str(x->ndim, x->shape).s, (long long)c->input);
    if (h)
        check_state("gru_cell", h, x->shape[0], c->hidden);
    else
        h = ag_zeros(g, NN_SHAPE(x->shape[0], c->hidden));
    return step(c, g, ag_linear(g, x, c->weight_ih, c->bias_ih), h);
}

Gru gru_new(Module *m, const char *name, int64_t input, int64_t hidden, int layers, int bias, real dropout) {
    NN_CHECK(layers >= 1 && layers <= GRU_MAX_LAYERS, "gru_new", "%d layers, expected 1 to %d", layers, GRU_MAX_LAYERS);
    NN_CHECK(dropout >= 0 && dropout < 1, "gru_new", "dropout %g outside [0, 1)", (double)dropout);
    Gru r = {.layers = layers, .dropout = dropout};
    char suffix[16];
    for (int k = 0; k < layers; k++) {
        snprintf(suffix, sizeof suffix, "_l%d", k);
        r.layer[k] = cell_new(m, name, suffix, k ? hidden : input, hidden, bias);
    }
    return r;
}

Tensor *gru_forward(const Gru *r, Module *m, Graph *g, Tensor *x, Tensor *h0, Tensor **h_n) {
    const GruCell *first = &r->layer[0];
    NN_CHECK(x->ndim == 3 && x->shape[2] == first->input && x->shape[1] >= 1, "gru",
             "input %s, expected (batch, time >= 1, %lld)", shape_str(x->ndim, x->shape).s, (long long)first->input);
    int64_t B = x->shape[0], T = x->shape[1], H = first->hidden;
    NN_CHECK(!h0 || (h0->ndim == 3 && h0->shape[0] == r->layers && h0->shape[1] == B && h0->shape[2] == H), "gru",
             "initial state %s, expected (%d, %lld, %lld)", h0 ? shape_str(h0->ndim, h0->shape).s : "", r->layers,
             (long long)B, (long long)H);
    Tensor **hs = nn_malloc((size_t)T * sizeof *hs), *last[GRU_MAX_LAYERS];
    Tensor *in = x;
    for (int k = 0; k < r->layers; k++) {
        const GruCell *c = &r->layer[k];
        Tensor *gi = ag_linear(g, in, c->weight_ih, c->bias_ih); /* (B, T, 3H): every step's input part at once */
        Tensor *h = h0 ? ag_select(g, h0, 0, k) : ag_zeros(g, NN_SHAPE(B, H));
        for (int64_t t = 0; t < T; t++) hs[t] = h = step(c, g, ag_select(g, gi, 1, t), h);
        last[k] = h;
        in = ag_stack(g, (int)T, hs, 1); /* (B, T, H) */
        if (k + 1 < r->layers) in = ag_dropout(g, in, r->dropout, m->training, &m->dropout_rng);
    }
    free(hs);
    if (h_n) *h_n = ag_stack(g, r->layers, last, 0);
    return in;
}
