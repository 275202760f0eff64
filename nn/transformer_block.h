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
    int64_t hidden;     /* model size H */
    int64_t inner;      /* feed-forward size (4 H in BERT and SASRec) */
    int heads;          /* attention heads; H must be a multiple */
    real dropout;       /* after each sublayer, before the residual add */
    real attn_dropout;  /* on the attention probabilities */
    real eps;           /* LayerNorm epsilon */
    Activation act;     /* of the feed-forward sublayer */
    MaskKind mask;      /* how masked keys are treated */
    NormPlacement norm; /* post- or pre-LayerNorm */
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

/* PyTorch's conventions, as nn.TransformerEncoderLayer: masked keys left out
 * (MASK_NEG_INF), LayerNorm eps 1e-5, dropout 0.1 after each sublayer and on
 * the attention probabilities, ReLU, a feed-forward of 4 * hidden (torch's
 * fixed default is 2048). Where LayerNorm goes is chosen by the caller:
 * NORM_PRE (torch's norm_first=True) or NORM_POST. Change fields afterwards. */
TransformerBlockConfig transformer_block_default_config(int64_t hidden, int heads, NormPlacement norm);
/* Registers "<name>.attn", "<name>.attn_norm", "<name>.ffn", "<name>.ffn_norm".
 * A config with a size, eps or dropout out of range (a zero-initialised one,
 * say) aborts with a message pointing at transformer_block_default_config. */
TransformerBlock transformer_block_new(Module *m, const char *name, const TransformerBlockConfig *cfg);
/* post: h = LN(x + drop(attn(x))), y = LN(h + drop(ffn(h)));
 * pre:  h = x + drop(attn(LN(x))), y = h + drop(ffn(LN(h))).
 * x (..., H) with rows grouped by layout; returns x's shape. */
Tensor *transformer_block_forward(const TransformerBlock *t, Module *m, Graph *g, Tensor *x, const SeqLayout *layout);
/* transformer_block_forward's output at n of the rows of x (rows, H) only, (n, H), each the same bits as there:
 * the keys and values of every row, all that follows attention at those rows alone (inference, e.g. each
 * sequence's last position; evaluation mode only). */
Tensor *transformer_block_forward_rows(const TransformerBlock *t, Module *m, Graph *g, Tensor *x,
                                       const SeqLayout *layout, const int64_t *rows, int64_t n);
/* The same for a dense batch x (B, T, H) without a layout to build: each of
 * the B rows is one sequence of T positions; causal lets position t see
 * positions <= t only; key_valid (B, T) marks padding with 0 (the opposite of
 * torch's key_padding_mask), or is NULL when every position is real. */
Tensor *transformer_block_forward_dense(const TransformerBlock *t, Module *m, Graph *g, Tensor *x, int causal,
                                        const unsigned char *key_valid);

#endif
