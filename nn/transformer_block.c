#include "nn/transformer_block.h"

#include <stdio.h>

TransformerBlock transformer_block_new(Module *m, const char *name, const TransformerBlockConfig *cfg) {
    char sub[256];
    TransformerBlock t;
    t.attn = attention_new(m, module_join(sub, sizeof sub, name, "attn"), cfg->hidden, cfg->heads, cfg->attn_dropout,
                           cfg->mask);
    t.attn_norm = layer_norm_new(m, module_join(sub, sizeof sub, name, "attn_norm"), cfg->hidden, cfg->eps);
    t.ffn = feed_forward_new(m, module_join(sub, sizeof sub, name, "ffn"), cfg->hidden, cfg->inner, cfg->act);
    t.ffn_norm = layer_norm_new(m, module_join(sub, sizeof sub, name, "ffn_norm"), cfg->hidden, cfg->eps);
    t.dropout = dropout_new(m, module_join(sub, sizeof sub, name, "dropout"), cfg->dropout);
    t.norm = cfg->norm;
    snprintf(t.name, sizeof t.name, "%s", name);
    return t;
}

/* Reports "<block name>: <stage>" to m's trace hook. */
static void trace(const TransformerBlock *t, Module *m, const char *stage, const Tensor *x) {
    char full[160];
    if (!m->trace) return;
    snprintf(full, sizeof full, "%s: %s", t->name, stage);
    module_trace(m, full, x);
}

Tensor *transformer_block_forward(const TransformerBlock *t, Module *m, Graph *g, Tensor *x, const SeqLayout *layout) {
    if (t->norm == NORM_POST) {
        Tensor *a = dropout_forward(&t->dropout, m, g, attention_forward(&t->attn, m, g, x, layout));
        trace(t, m, "self-attention (Q, K, V, softmax, context, out)", a);
        Tensor *h = layer_norm_forward(&t->attn_norm, m, g, ag_add(g, x, a));
        trace(t, m, "LayerNorm(x + attention)", h);
        Tensor *f = dropout_forward(&t->dropout, m, g, feed_forward_forward(&t->ffn, m, g, h));
        trace(t, m, "feed-forward (Linear, GELU, Linear)", f);
        Tensor *y = layer_norm_forward(&t->ffn_norm, m, g, ag_add(g, h, f));
        trace(t, m, "LayerNorm(h + feed-forward)", y);
        return y;
    }
    Tensor *a = attention_forward(&t->attn, m, g, layer_norm_forward(&t->attn_norm, m, g, x), layout);
    Tensor *h = ag_add(g, x, dropout_forward(&t->dropout, m, g, a));
    Tensor *f = feed_forward_forward(&t->ffn, m, g, layer_norm_forward(&t->ffn_norm, m, g, h));
    return ag_add(g, h, dropout_forward(&t->dropout, m, g, f));
}
