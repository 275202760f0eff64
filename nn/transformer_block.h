/* TransformerBlock: self-attention and feed-forward sublayers, each with
 * dropout, a residual connection and LayerNorm; post-LayerNorm (BERT, SASRec)
 * by default, pre-LayerNorm as an option. */
#ifndef NN_NN_TRANSFORMER_BLOCK_H
#define NN_NN_TRANSFORMER_BLOCK_H

#include "nn/attention.h"
#include "nn/dropout.h"
#include "nn/feed_forward.h"
#include "nn/layer_norm.h"

typedef enum { NORM_POST, NORM_PRE } NormPlacement;

typedef struct {
    int64_t hidden;      /* model size H */
    int64_t inner;       /* feed-forward size (4 H in BERT and SASRec) */
    int heads;           /* attention heads; H must be a multiple */
    real dropout;        /* after each sublayer, before the residual add */
    real attn_dropout;   /* on the attention probabilities */
    real eps;            /* LayerNorm epsilon */
    Activation act;      /* of the feed-forward sublayer */
    MaskKind mask;       /* how masked keys are treated */
    NormPlacement norm;  /* post- or pre-LayerNorm */
} TransformerBlockConfig;

typedef struct {
    Attention attn;
    LayerNorm attn_norm;
    FeedForward ffn;
    LayerNorm ffn_norm;
    Dropout dropout; /* after each sublayer, before the residual add */
    NormPlacement norm;
    char name[64]; /* for traces: the prefix of its parameters */
} TransformerBlock;

/* Registers "<name>.attn", "<name>.attn_norm", "<name>.ffn", "<name>.ffn_norm". */
TransformerBlock transformer_block_new(Module *m, const char *name, const TransformerBlockConfig *cfg);
/* post: h = LN(x + drop(attn(x))), y = LN(h + drop(ffn(h)));
 * pre:  h = x + drop(attn(LN(x))), y = h + drop(ffn(LN(h))).
 * x (..., H) with rows grouped by layout; returns x's shape. */
Tensor *transformer_block_forward(const TransformerBlock *t, Module *m, Graph *g, Tensor *x, const SeqLayout *layout);

#endif
