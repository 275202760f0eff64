#include "tests/nn/attention_unfused.h"

#include <math.h>

#include "base/error.h"

Tensor *attention_unfused_forward(const Attention *a, Module *m, Graph *g, Tensor *x, const SeqLayout *layout) {
    NN_CHECK(x->ndim == 3, "attention_unfused_forward", "x %s must be (B, L, H)", shape_str(x->ndim, x->shape).s);
    int64_t B = x->shape[0], L = x->shape[1], H = x->shape[2], h = a->heads, d = H / h;
    NN_CHECK(layout->n_seq == B, "attention_unfused_forward", "the layout has %lld sequences, x has B = %lld",
             (long long)layout->n_seq, (long long)B);
    for (int64_t b = 0; b <= B; b++)
        NN_CHECK(layout->offsets[b] == b * L, "attention_unfused_forward",
                 "the layout is not dense: sequence %lld starts at row %lld, expected %lld", (long long)b,
                 (long long)layout->offsets[b], (long long)(b * L));
    /* (B, L, H) -> (B, heads, L, d) */
    Tensor *q =
        ag_permute(g, ag_reshape(g, linear_forward(&a->query, g, x), NN_SHAPE(B, L, h, d)), (int[]){0, 2, 1, 3});
    Tensor *k =
        ag_permute(g, ag_reshape(g, linear_forward(&a->key, g, x), NN_SHAPE(B, L, h, d)), (int[]){0, 2, 1, 3});
    Tensor *v =
        ag_permute(g, ag_reshape(g, linear_forward(&a->value, g, x), NN_SHAPE(B, L, h, d)), (int[]){0, 2, 1, 3});
    Tensor *scores = ag_mul_scalar(g, ag_matmul(g, q, ag_transpose(g, k, -1, -2)), (real)(1 / sqrt((double)d)));
    /* the additive mask (B, 1, L, L): 0 where allowed, -10000 (or -inf) elsewhere */
    Tensor *mask = ag_zeros(g, NN_SHAPE(B, 1, L, L));
    const unsigned char *key_valid = layout->key_valid;
    int neg_inf = a->mask == MASK_NEG_INF;
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < L; i++)
            for (int64_t j = 0; j < L; j++) {
                int ok = (!layout->causal || j <= i) && (!key_valid || key_valid[b * L + j]);
                if (neg_inf && j == i) ok = 1;
                mask->data[(b * L + i) * L + j] = ok ? 0 : neg_inf ? -INFINITY : -10000;
            }
    Tensor *probs = ag_softmax(g, ag_add(g, scores, mask));
    probs = ag_dropout(g, probs, a->attn_dropout, m->training, &m->dropout_rng);
    Tensor *ctx = ag_reshape(g, ag_permute(g, ag_matmul(g, probs, v), (int[]){0, 2, 1, 3}), NN_SHAPE(B, L, H));
    return linear_forward(&a->out, g, ctx);
}
