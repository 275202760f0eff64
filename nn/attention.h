/* Attention: multi-head self-attention, the Q, K, V and output projections
 * around the fused attention op, as the SASRec/BERT SelfAttention (without its
 * residual and LayerNorm, which belong to TransformerBlock). */
#ifndef NN_NN_ATTENTION_H
#define NN_NN_ATTENTION_H

#include "autograd/ops.h"
#include "nn/linear.h"

typedef struct {
    Linear query, key, value, out; /* (H, H) each, with bias */
    int heads;                     /* H / heads is the head size; scores are scaled by 1/sqrt(head size) */
    real attn_dropout;             /* dropout on the attention probabilities */
    MaskKind mask;
} Attention;

/* Registers "<name>.query", "<name>.key", "<name>.value", "<name>.out". */
Attention attention_new(Module *m, const char *name, int64_t hidden, int heads, real attn_dropout, MaskKind mask);
/* Self-attention of x (..., H), whose rows (all dims but the last, flattened)
 * form the sequences of layout; returns x's shape. */
Tensor *attention_forward(const Attention *a, Module *m, Graph *g, Tensor *x, const SeqLayout *layout);
/* attention_forward's output at n of the rows of x (rows, H) only, (n, H), each the same bits as there: every
 * row's keys and values, the output projection at those rows alone. Inference only (evaluation mode). */
Tensor *attention_forward_rows(const Attention *a, Module *m, Graph *g, Tensor *x, const SeqLayout *layout,
                               const int64_t *rows, int64_t n);

#endif
