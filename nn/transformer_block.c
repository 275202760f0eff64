#include "nn/transformer_block.h"

#include <stdio.h>

#include "base/error.h"

TransformerBlockConfig transformer_block_default_config(int64_t hidden, int heads, NormPlacement norm) {
    return (TransformerBlockConfig){.hidden = hidden,
                                    .inner = 4 * hidden,
                                    .heads = heads,
                                    .dropout = 0.1,
                                    .attn_dropout = 0.1,
                                    .eps = 1e-5,
                                    .act = ACT_RELU,
                                    .mask = MASK_NEG_INF,
                                    .norm = norm};
}

TransformerBlock transformer_block_new(Module *m, const char *name, const TransformerBlockConfig *cfg) {
    char sub[256];
    NN_CHECK(cfg->hidden >= 1 && cfg->inner >= 1 && cfg->heads >= 1 && cfg->eps > 0 &&
                 (cfg->norm == NORM_POST || cfg->norm == NORM_PRE) &&
                 (cfg->mask == MASK_MINUS_10000 || cfg->mask == MASK_NEG_INF) &&
                 (cfg->act == ACT_GELU || cfg->act == ACT_RELU),
             "transformer_block_new",
             "%s: hidden %lld, inner %lld, heads %d, eps %g, norm %d, mask %d: sizes and eps must be positive and the "
             "enums valid; start from transformer_block_default_config(hidden, heads, NORM_PRE or NORM_POST)",
             name, (long long)cfg->hidden, (long long)cfg->inner, cfg->heads, (double)cfg->eps, (int)cfg->norm,
             (int)cfg->mask);
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

/* Reports "<block name>: <stage>" to g's trace hook. */
static void trace(const TransformerBlock *t, Graph *g, const char *stage, const Tensor *x) {
    char full[160];
    if (!graph_tracing(g)) return;
    snprintf(full, sizeof full, "%s: %s", t->name, stage);
    graph_trace(g, full, x);
}

Tensor *transformer_block_forward(const TransformerBlock *t, Module *m, Graph *g, Tensor *x, const SeqLayout *layout) {
    if (t->norm == NORM_POST) { /* each sublayer's dropout inside its residual LayerNorm's op */
        Tensor *a = attention_forward(&t->attn, m, g, x, layout);
        trace(t, g, "self-attention (Q, K, V, softmax, context, out)", a);
        Tensor *h = layer_norm_residual_dropout_forward(&t->attn_norm, &t->dropout, m, g, x, a);
        trace(t, g, "LayerNorm(x + attention)", h);
        Tensor *f = feed_forward_forward(&t->ffn, g, h);
        trace(t, g, "feed-forward (Linear, GELU, Linear)", f);
        Tensor *y = layer_norm_residual_dropout_forward(&t->ffn_norm, &t->dropout, m, g, h, f);
        trace(t, g, "LayerNorm(h + feed-forward)", y);
        return y;
    }
    Tensor *a = attention_forward(&t->attn, m, g, layer_norm_forward(&t->attn_norm, g, x), layout);
    Tensor *h = ag_add(g, x, dropout_forward(&t->dropout, m, g, a));
    Tensor *f = feed_forward_forward(&t->ffn, g, layer_norm_forward(&t->ffn_norm, g, h));
    return ag_add(g, h, dropout_forward(&t->dropout, m, g, f));
}

Tensor *transformer_block_forward_rows(const TransformerBlock *t, Module *m, Graph *g, Tensor *x,
                                       const SeqLayout *layout, const int64_t *rows, int64_t n) {
    Tensor *xr = ag_index_select(g, x, 0, rows, n); /* (n, H) the residual stream at the rows */
    if (t->norm == NORM_POST) {
        Tensor *a = attention_forward_rows(&t->attn, m, g, x, layout, rows, n);
        Tensor *h = layer_norm_residual_dropout_forward(&t->attn_norm, &t->dropout, m, g, xr, a);
        Tensor *f = feed_forward_forward(&t->ffn, g, h);
        return layer_norm_residual_dropout_forward(&t->ffn_norm, &t->dropout, m, g, h, f);
    }
    Tensor *a = attention_forward_rows(&t->attn, m, g, layer_norm_forward(&t->attn_norm, g, x), layout, rows, n);
    Tensor *h = ag_add(g, xr, dropout_forward(&t->dropout, m, g, a));
    Tensor *f = feed_forward_forward(&t->ffn, g, layer_norm_forward(&t->ffn_norm, g, h));
    return ag_add(g, h, dropout_forward(&t->dropout, m, g, f));
}

Tensor *transformer_block_forward_dense(const TransformerBlock *t, Module *m, Graph *g, Tensor *x, int causal,
                                        const unsigned char *key_valid) {
    int64_t H = t->attn.query.weight->shape[0];
    NN_CHECK(x->ndim == 3 && x->shape[2] == H, "transformer_block_forward_dense", "%s: input %s, expected (B, T, %lld)",
             t->name, shape_str(x->ndim, x->shape).s, (long long)H);
    SeqLayout layout = seq_layout_dense(g, x->shape[0], x->shape[1], key_valid, causal);
    return transformer_block_forward(t, m, g, x, &layout);
}
