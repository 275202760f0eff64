#include "nn/ligr_block.h"

#include <stdio.h>

#include "base/error.h"

LigrBlockConfig ligr_block_default_config(int64_t hidden, int heads, real dropout) {
    return (LigrBlockConfig){.hidden = hidden,
                             .inner = 4 * hidden,
                             .heads = heads,
                             .dropout = dropout,
                             .attn_dropout = dropout,
                             .eps = 1e-5,
                             .mask = MASK_NEG_INF};
}

LigrBlock ligr_block_new(Module *m, const char *name, const LigrBlockConfig *cfg) {
    char sub[256];
    NN_CHECK(cfg->hidden >= 1 && cfg->inner >= 1 && cfg->heads >= 1 && cfg->eps > 0 &&
                 (cfg->mask == MASK_MINUS_10000 || cfg->mask == MASK_NEG_INF),
             "ligr_block_new",
             "%s: hidden %lld, inner %lld, heads %d, eps %g, mask %d: sizes and eps must be positive and the mask "
             "valid; start from ligr_block_default_config(hidden, heads, dropout)",
             name, (long long)cfg->hidden, (long long)cfg->inner, cfg->heads, (double)cfg->eps, (int)cfg->mask);
    int64_t H = cfg->hidden;
    LigrBlock b;
    b.attn_norm = layer_norm_new(m, module_join(sub, sizeof sub, name, "attn_norm"), H, cfg->eps);
    b.attn = attention_new(m, module_join(sub, sizeof sub, name, "attn"), H, cfg->heads, cfg->attn_dropout, cfg->mask);
    b.attn_gate = linear_new(m, module_join(sub, sizeof sub, name, "attn_gate"), H, H, 1);
    b.ffn_norm = layer_norm_new(m, module_join(sub, sizeof sub, name, "ffn_norm"), H, cfg->eps);
    b.ffn = swiglu_new(m, module_join(sub, sizeof sub, name, "ffn"), H, cfg->inner, 0);
    b.ffn_gate = linear_new(m, module_join(sub, sizeof sub, name, "ffn_gate"), H, H, 1);
    b.dropout = dropout_new(m, module_join(sub, sizeof sub, name, "dropout"), cfg->dropout);
    snprintf(b.name, sizeof b.name, "%s", name);
    return b;
}

/* Reports "<block name>: <stage>" to g's trace hook. */
static void trace(const LigrBlock *b, Graph *g, const char *stage, const Tensor *x) {
    char full[160];
    if (!graph_tracing(g)) return;
    snprintf(full, sizeof full, "%s: %s", b->name, stage);
    graph_trace(g, full, x);
}

/* down(drop(silu(gate(z)) * up(z))): the SwiGLU with dropout on its hidden units, as eSASRec's. */
static Tensor *feed_forward(const LigrBlock *b, Module *m, Graph *g, Tensor *z) {
    const SwiGLU *f = &b->ffn;
    Tensor *gate = ag_silu(g, linear_forward(&f->gate, g, z)); /* (..., inner) */
    Tensor *hidden = ag_mul(g, gate, linear_forward(&f->up, g, z));
    return linear_forward(&f->down, g, dropout_forward(&b->dropout, m, g, hidden));
}

/* x + sigmoid(gate(x)) * drop(out): a sublayer's output let into the residual stream. */
static Tensor *gated_add(const LigrBlock *b, Module *m, Graph *g, const Linear *gate, Tensor *x, Tensor *out) {
    Tensor *open = ag_sigmoid(g, linear_forward(gate, g, x));
    return ag_add(g, x, ag_mul(g, open, dropout_forward(&b->dropout, m, g, out)));
}

Tensor *ligr_block_forward(const LigrBlock *b, Module *m, Graph *g, Tensor *x, const SeqLayout *layout) {
    int64_t H = b->attn_gate.weight->shape[1];
    NN_CHECK(x->ndim >= 1 && x->shape[x->ndim - 1] == H, "ligr_block_forward", "%s: input %s, expected (..., %lld)",
             b->name, shape_str(x->ndim, x->shape).s, (long long)H);
    Tensor *a = attention_forward(&b->attn, m, g, layer_norm_forward(&b->attn_norm, g, x), layout);
    trace(b, g, "self-attention of LayerNorm(x)", a);
    Tensor *h = gated_add(b, m, g, &b->attn_gate, x, a);
    trace(b, g, "x + sigmoid(gate(x)) * attention", h);
    Tensor *f = feed_forward(b, m, g, layer_norm_forward(&b->ffn_norm, g, h));
    trace(b, g, "SwiGLU of LayerNorm(h)", f);
    Tensor *y = gated_add(b, m, g, &b->ffn_gate, h, f);
    trace(b, g, "h + sigmoid(gate(h)) * SwiGLU", y);
    return y;
}
