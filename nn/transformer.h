/* TransformerBlock: self-attention and feed-forward sublayers, each with
 * dropout, a residual connection and LayerNorm; post-LayerNorm (BERT, SASRec)
 * by default, pre-LayerNorm as an option. */
#ifndef NN_TRANSFORMER_H
#define NN_TRANSFORMER_H

#include "nn/attention.h"
#include "nn/dropout.h"
#include "nn/feedforward.h"
#include "nn/layernorm.h"

typedef enum { NORM_POST, NORM_PRE } NormPlacement;

typedef struct {
    MultiHeadAttention attn;
    LayerNorm attn_norm;
    FeedForward ffn;
    LayerNorm ffn_norm;
    Dropout dropout; /* after each sublayer, before the residual add */
    NormPlacement norm;
    char name[64]; /* for traces: the prefix of its parameters */
} TransformerBlock;

typedef struct {
    int64_t hidden, inner; /* model size and feed-forward size */
    int heads;
    real dropout, attn_dropout;
    real eps; /* LayerNorm epsilon */
    Activation act;
    MaskKind mask;
    NormPlacement norm;
} TransformerConfig;

/* Registers "<name>.attn", "<name>.attn_norm", "<name>.ffn", "<name>.ffn_norm". */
TransformerBlock transformer_block_new(Module *m, const char *name, const TransformerConfig *cfg);
/* post: h = LN(x + drop(attn(x))), y = LN(h + drop(ffn(h)));
 * pre:  h = x + drop(attn(LN(x))), y = h + drop(ffn(LN(h))).
 * x (..., H) with rows grouped by layout; returns x's shape. */
Tensor *transformer_block_forward(const TransformerBlock *t, Module *m, Graph *g, Tensor *x, const SeqLayout *layout);

#endif
