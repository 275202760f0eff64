#include "nn/attention.h"

#include "base/error.h"

Attention attention_new(Module *m, const char *name, int64_t hidden, int heads, real attn_dropout, MaskKind mask) {
    char sub[256];
    NN_CHECK(heads >= 1 && hidden % heads == 0, "attention_new", "%s: hidden size %lld is not a multiple of %d heads",
             name, (long long)hidden, heads);
    Attention a;
    a.query = linear_new(m, module_join(sub, sizeof sub, name, "query"), hidden, hidden, 1);
    a.key = linear_new(m, module_join(sub, sizeof sub, name, "key"), hidden, hidden, 1);
    a.value = linear_new(m, module_join(sub, sizeof sub, name, "value"), hidden, hidden, 1);
    a.out = linear_new(m, module_join(sub, sizeof sub, name, "out"), hidden, hidden, 1);
    a.heads = heads;
    a.attn_dropout = attn_dropout;
    a.mask = mask;
    return a;
}

/* The heads' merged context of x2 (rows, H): (rows, H), before the output projection. */
static Tensor *context(const Attention *a, Module *m, Graph *g, Tensor *x2, const SeqLayout *layout) {
    int64_t H = a->query.weight->shape[0];
    /* One product for Q, K and V: their weights stacked into (3H, H). */
    Tensor *w = ag_concat(g, 3, (Tensor *[]){a->query.weight, a->key.weight, a->value.weight}, 0);
    Tensor *b = ag_concat(g, 3, (Tensor *[]){a->query.bias, a->key.bias, a->value.bias}, 0);
    Tensor *qkv = ag_linear(g, x2, w, b); /* (rows, 3H) */
    graph_trace(g, "  Q, K, V projections, stacked", qkv);
    AttentionSpec spec = {.heads = a->heads,
                          .mask = a->mask,
                          .dropout = a->attn_dropout,
                          .training = m->training,
                          .rng = &m->dropout_rng};
    Tensor *ctx = ag_attention(g, ag_narrow(g, qkv, 1, 0, H), ag_narrow(g, qkv, 1, H, H),
                               ag_narrow(g, qkv, 1, 2 * H, H), layout, &spec);
    graph_trace(g, "  attention context, heads merged", ctx); /* (rows, H) */
    return ctx;
}

Tensor *attention_forward(const Attention *a, Module *m, Graph *g, Tensor *x, const SeqLayout *layout) {
    int64_t H = a->query.weight->shape[0], rows = x->numel / H;
    Tensor *ctx = context(a, m, g, ag_reshape(g, x, NN_SHAPE(rows, H)), layout);
    Tensor *y = linear_forward(&a->out, g, ctx);
    return ag_reshape(g, y, x->ndim, x->shape);
}

Tensor *attention_forward_rows(const Attention *a, Module *m, Graph *g, Tensor *x, const SeqLayout *layout,
                               const int64_t *rows, int64_t n) {
    int64_t H = a->query.weight->shape[0];
    NN_CHECK(x->ndim == 2 && x->shape[1] == H, "attention_forward_rows", "input %s, expected (rows, %lld)",
             shape_str(x->ndim, x->shape).s, (long long)H);
    NN_CHECK(!m->training, "attention_forward_rows",
             "called in training mode: it is for inference (module_train(m, 0)); train with attention_forward");
    Tensor *ctx = context(a, m, g, x, layout);
    return linear_forward(&a->out, g, ag_index_select(g, ctx, 0, rows, n));
}
