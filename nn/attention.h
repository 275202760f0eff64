/* MultiHeadAttention: Q, K, V and output projections around the fused
 * attention op, as the SASRec/BERT SelfAttention (without its residual and
 * LayerNorm, which belong to TransformerBlock). */
#ifndef NN_ATTENTION_H
#define NN_ATTENTION_H

#include "autograd/ops.h"
#include "nn/linear.h"

/* How rows group into sequences and which keys are real. */
typedef struct {
    int64_t n_seq;                  /* number of sequences */
    const int64_t *offsets;         /* (n_seq + 1) row ranges, see AttentionSpec */
    const unsigned char *key_valid; /* (rows) 0 marks a padding key, or NULL */
    int causal;                     /* a query sees only keys at or before it */
} SeqLayout;

typedef enum {
    MASK_MINUS_10000, /* add -10000 to masked scores (SASRec/BERT baseline) */
    MASK_NEG_INF,     /* leave masked keys out; a query always sees itself, so no row is NaN */
} MaskKind;

typedef struct {
    Linear query, key, value, out; /* (H, H) each, with bias */
    int heads;                     /* H / heads is the head size; scores are scaled by 1/sqrt(head size) */
    real attn_dropout;             /* dropout on the attention probabilities */
    MaskKind mask;
} MultiHeadAttention;

/* Registers "<name>.query", "<name>.key", "<name>.value", "<name>.out". */
MultiHeadAttention mha_new(Module *m, const char *name, int64_t hidden, int heads, real attn_dropout, MaskKind mask);
/* Self-attention of x (..., H), whose rows (all dims but the last, flattened)
 * form the sequences of layout; returns x's shape. */
Tensor *mha_forward(const MultiHeadAttention *a, Module *m, Graph *g, Tensor *x, const SeqLayout *layout);
/* The same for a dense x (B, L, H) built from unfused ops (matmul, an explicit
 * additive (B, 1, L, L) mask, softmax, dropout, matmul): a reference for the
 * fused op. key_valid is (B, L) or NULL. */
Tensor *mha_forward_unfused(const MultiHeadAttention *a, Module *m, Graph *g, Tensor *x, const unsigned char *key_valid,
                            int causal);
/* A layout for B dense sequences of length L, offsets in g's arena. */
SeqLayout seq_layout_dense(Graph *g, int64_t B, int64_t L, const unsigned char *key_valid, int causal);

#endif
