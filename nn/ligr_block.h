/* LigrBlock: the LiGR transformer layer (Gu et al., "From Features to
 * Transformers: Redefining Ranking for Scalable Impact", 2025) as eSASRec
 * uses it (Kolesnikov et al., "eSASRec: Enhancing Transformer-based
 * Recommendations in a Modular Fashion", 2025): LayerNorm before each
 * sublayer, each sublayer's output added to the residual stream through a
 * gate sigmoid(Linear(the sublayer's input)), and a SwiGLU feed-forward
 * without biases whose hidden units see dropout:
 *
 *   h = x + sigmoid(attn_gate(x)) * drop(attn(LN1(x)))
 *   y = h + sigmoid(ffn_gate(h))  * drop(down(drop(silu(gate(z)) * up(z)))),  z = LN2(h)
 *
 * Built from nn/ layers and autograd ops only: it has no backward of its own. */
#ifndef NN_NN_LIGR_BLOCK_H
#define NN_NN_LIGR_BLOCK_H

#include "nn/attention.h"
#include "nn/dropout.h"
#include "nn/layer_norm.h"
#include "nn/swiglu.h"

typedef struct {
    int64_t hidden;    /* model size H */
    int64_t inner;     /* SwiGLU width (ff_mult * H: 4 H on Beauty in eSASRec, 2 H on Sports, H on Toys) */
    int heads;         /* attention heads; H must be a multiple */
    real dropout;      /* on each sublayer's output and on the SwiGLU's hidden units */
    real attn_dropout; /* on the attention probabilities */
    real eps;          /* LayerNorm epsilon */
    MaskKind mask;     /* how masked keys are treated */
} LigrBlockConfig;

typedef struct {
    LayerNorm attn_norm; /* LN1 */
    Attention attn;
    Linear attn_gate; /* (H, H) with bias: the gate of the attention's residual */
    LayerNorm ffn_norm; /* LN2 */
    SwiGLU ffn;         /* gate, up (inner, H), down (H, inner); no biases */
    Linear ffn_gate;    /* (H, H) with bias: the gate of the feed-forward's residual */
    Dropout dropout;
    char name[64]; /* for traces: the prefix of its parameters */
} LigrBlock;

/* eSASRec's settings (RecTools' LiGRLayer): one dropout p for the sublayers, the SwiGLU and the attention
 * probabilities, LayerNorm eps 1e-5 (torch's), masked keys left out (MASK_NEG_INF), inner 4 * hidden. */
LigrBlockConfig ligr_block_default_config(int64_t hidden, int heads, real dropout);
/* Registers "<name>.attn_norm", "<name>.attn", "<name>.attn_gate", "<name>.ffn_norm", "<name>.ffn" (gate, up,
 * down) and "<name>.ffn_gate"; a config out of range aborts naming ligr_block_default_config. */
LigrBlock ligr_block_new(Module *m, const char *name, const LigrBlockConfig *cfg);
/* x (..., H) with rows grouped by layout -> x's shape (the formula at the top). */
Tensor *ligr_block_forward(const LigrBlock *b, Module *m, Graph *g, Tensor *x, const SeqLayout *layout);

#endif
