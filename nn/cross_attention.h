/* CrossAttention: multi-head attention of queries from x to keys and values
 * from another sequence (a memory: an encoder's output, a user's history), as
 * torch.nn.MultiheadAttention(hidden, heads, kdim=memory_dim,
 * vdim=memory_dim)(x, memory, memory, key_padding_mask=...) with batch_first.
 * Attention (nn/attention.h) is self-attention over one layout; here queries
 * and keys have their own lengths, so it is built from unfused ops (matmul,
 * an additive mask, softmax, dropout, matmul).
 *
 * Padding: memory_valid marks the real memory positions with 1, the inverse
 * of PyTorch's key_padding_mask (True at padding). */
#ifndef NN_NN_CROSS_ATTENTION_H
#define NN_NN_CROSS_ATTENTION_H

#include "autograd/ops.h"
#include "nn/linear.h"

typedef struct {
    Linear query;      /* (H, H), with bias */
    Linear key, value; /* (H, memory_dim), with bias */
    Linear out;        /* (H, H), with bias */
    int heads;         /* H / heads is the head size; scores are scaled by 1/sqrt(head size) */
    real attn_dropout; /* dropout on the attention probabilities, when training */
    MaskKind mask;     /* MASK_NEG_INF as torch (then every memory needs a real position), or MASK_MINUS_10000 */
} CrossAttention;

/* Registers "<name>.query", "<name>.key", "<name>.value", "<name>.out". */
CrossAttention cross_attention_new(Module *m, const char *name, int64_t hidden, int64_t memory_dim, int heads,
                                   real attn_dropout, MaskKind mask);
/* x (B, T, H) attends to memory (B, S, memory_dim); memory_valid (B * S) bytes, 1 at real memory
 * positions, or NULL when all are real. Returns (B, T, H). With MASK_NEG_INF a memory without a
 * real position is refused (its queries would have nothing to attend to: NaN in torch). */
Tensor *cross_attention_forward(const CrossAttention *a, Module *m, Graph *g, Tensor *x, Tensor *memory,
                                const unsigned char *memory_valid);

#endif
