#include "nn/cross_attention.h"

#include <math.h>

#include "base/error.h"

CrossAttention cross_attention_new(Module *m, const char *name, int64_t hidden, int64_t memory_dim, int heads,
                                   real attn_dropout, MaskKind mask) {
    char sub[256];
    NN_CHECK(heads >= 1 && hidden % heads == 0 && memory_dim >= 1, "cross_attention_new",
             "%s: hidden size %lld is not a multiple of %d heads, or memory dim %lld < 1", name, (long long)hidden,
             heads, (long long)memory_dim);
    CrossAttention a;
    a.query = linear_new(m, module_join(sub, sizeof sub, name, "query"), hidden, hidden, 1);
    a.key = linear_new(m, module_join(sub, sizeof sub, name, "key"), memory_dim, hidden, 1);
    a.value = linear_new(m, module_join(sub, sizeof sub, name, "value"), memory_dim, hidden, 1);
    a.out = linear_new(m, module_join(sub, sizeof sub, name, "out"), hidden, hidden, 1);
    a.heads = heads;
    a.attn_dropout = attn_dropout;
    a.mask = mask;
    return a;
}

/* (B, L, H) -> (B, heads, L, d) */
static Tensor *split_heads(Graph *g, Tensor *t, int64_t B, int64_t L, int64_t h, int64_t d) {
    return ag_permute(g, ag_reshape(g, t, NN_SHAPE(B, L, h, d)), (int[]){0, 2, 1, 3});
}

/* The additive mask (B, 1, 1, S): 0 at real memory positions, -inf or -10000 at padding. */
static Tensor *memory_mask(const CrossAttention *a, Graph *g, int64_t B, int64_t S, const unsigned char *valid) {
    Tensor *mask = ag_zeros(g, NN_SHAPE(B, 1, 1, S));
    int neg_inf = a->mask == MASK_NEG_INF;
    for (int64_t b = 0; b < B; b++) {
        int64_t real_keys = 0;
        for (int64_t s = 0; s < S; s++) {
            real_keys += valid[b * S + s] != 0;
            if (!valid[b * S + s]) mask->data[b * S + s] = neg_inf ? -INFINITY : -10000;
        }
        NN_CHECK(real_keys > 0 || !neg_inf, "cross_attention_forward",
                 "memory %lld of %lld has no real position (memory_valid is all 0): its queries would attend to "
                 "nothing; drop it from the batch, or use MASK_MINUS_10000",
                 (long long)b, (long long)B);
    }
    return mask;
}

Tensor *cross_attention_forward(const CrossAttention *a, Module *m, Graph *g, Tensor *x, Tensor *memory,
                                const unsigned char *memory_valid) {
    int64_t H = a->query.weight->shape[0], M = a->key.weight->shape[1];
    NN_CHECK(x->ndim == 3 && x->shape[2] == H && memory->ndim == 3 && memory->shape[2] == M &&
                 memory->shape[0] == x->shape[0],
             "cross_attention_forward", "x %s must be (B, T, %lld) and memory %s (B, S, %lld)",
             shape_str(x->ndim, x->shape).s, (long long)H, shape_str(memory->ndim, memory->shape).s, (long long)M);
    int64_t B = x->shape[0], T = x->shape[1], S = memory->shape[1], h = a->heads, d = H / h;
    Tensor *q = split_heads(g, linear_forward(&a->query, g, x), B, T, h, d);      /* (B, h, T, d) */
    Tensor *k = split_heads(g, linear_forward(&a->key, g, memory), B, S, h, d);   /* (B, h, S, d) */
    Tensor *v = split_heads(g, linear_forward(&a->value, g, memory), B, S, h, d); /* (B, h, S, d) */
    Tensor *scores = ag_mul_scalar(g, ag_matmul(g, q, ag_transpose(g, k, -1, -2)), (real)(1 / sqrt((double)d)));
    if (memory_valid) scores = ag_add(g, scores, memory_mask(a, g, B, S, memory_valid)); /* (B, h, T, S) */
    Tensor *probs = ag_softmax(g, scores);
    probs = ag_dropout(g, probs, a->attn_dropout, m->training, &m->dropout_rng);
    graph_trace(g, "  cross-attention probabilities", probs);
    Tensor *ctx = ag_reshape(g, ag_permute(g, ag_matmul(g, probs, v), (int[]){0, 2, 1, 3}), NN_SHAPE(B, T, H));
    return linear_forward(&a->out, g, ctx);
}
