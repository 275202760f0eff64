/* SASRec (Kang & McAuley 2018) as in the S3-Rec codebase, built from nn/ layers:
 *
 *   E = Dropout(LayerNorm(item_emb[x] + pos_emb[0..L-1]))           (B, L, H)
 *   N post-LayerNorm transformer blocks, causal + key-padding mask     (B, L, H)
 *     (or pre-LayerNorm, or LiGR blocks: --norm, --block)
 *   score(item j at position t) = <F[b, t], item_emb[j]>
 *
 * A batch runs dense (B * L rows, padding included, as the reference) or
 * packed (only the real positions of each left-padded sequence: the length-
 * aware step). Padded keys are masked and padded targets carry no loss, so
 * both give the same loss and gradients; packed skips ~88% of the work on
 * Beauty. */
#ifndef NN_MODELS_SASREC_MODEL_H
#define NN_MODELS_SASREC_MODEL_H

#include "nn/embedding.h"
#include "nn/ligr_block.h"
#include "nn/transformer_block.h"

#define SASREC_LAYER_NORM_EPS 1e-12 /* every LayerNorm's epsilon, as BERT and S3-Rec */
#define SASREC_FFN_FACTOR     4     /* the feed-forward sublayer is SASREC_FFN_FACTOR * H wide by default (--ff-mult) */

/* The transformer block the model stacks (--block; docs/sasrec.md, section 3.1). */
typedef enum {
    BLOCK_SASREC, /* nn/transformer_block.h: attention and a GELU feed-forward, post- or pre-LayerNorm (the seed) */
    BLOCK_LIGR,   /* nn/ligr_block.h: pre-LayerNorm, gated residuals, a SwiGLU feed-forward (eSASRec) */
} BlockKind;

/* The training losses (docs/sasrec.md, section 4). */
typedef enum {
    LOSS_BCE,     /* BCE on each target and one negative of its own (the seed) */
    LOSS_CE,      /* softmax cross-entropy over every item */
    LOSS_SAMPLED, /* sampled softmax over K negatives shared by the batch, log-Q corrected */
    LOSS_GBCE,    /* gSASRec's generalised BCE over K negatives shared by the batch */
} LossKind;

/* What a training loss scores each real target against. */
typedef struct {
    const int64_t *neg;    /* (T) LOSS_BCE: each row's own negative */
    const int64_t *shared; /* (K) LOSS_SAMPLED, LOSS_GBCE: negatives shared by every row */
    int64_t n_shared;      /* K */
    const real *log_q;     /* (N + 1) LOSS_SAMPLED with popularity draws: log of each item's draw probability;
                              NULL: uniform draws (the correction cancels) */
    double beta;           /* LOSS_GBCE: the exponent of the positive's probability (loss_gbce_beta) */
    const int32_t *drawn;  /* LOSS_SAMPLED, LOSS_GBCE with n_drawn: (B, L, K) per position or (B, K) per sequence,
                              indexed by the tokens' sequence and slot */
    int64_t n_drawn;       /* K drawn per position or sequence; 0: the shared ones */
    int per_position;      /* drawn is per position (1) or per sequence (0) */
} Negatives;

typedef struct {
    int64_t n_items;     /* N; the item table has N + 1 rows, row 0 is padding (set from the data) */
    int64_t max_len;     /* L, 50 */
    int64_t hidden;      /* H, 64 */
    int layers, heads;   /* 2, 2 */
    double dropout;      /* hidden dropout, 0.5 */
    double attn_dropout; /* on attention probabilities, 0.5 */
    double init_std;     /* N(0, init_std) for Linear and Embedding weights, 0.02 */
    NormPlacement norm;  /* post (the seed) or pre; BLOCK_SASREC only (LiGR is pre-LayerNorm by design) */
    MaskKind mask;       /* -10000 (the seed) or -inf */
    BlockKind block;     /* BLOCK_SASREC (the seed) or BLOCK_LIGR */
    int ff_mult;         /* the feed-forward is ff_mult * H wide (GELU or SwiGLU), SASREC_FFN_FACTOR */
} SasrecConfig;

typedef struct {
    SasrecConfig cfg;
    Module m;           /* owns every parameter */
    Embedding item_emb; /* (N + 1, H), padding row 0 */
    Embedding pos_emb;  /* (L, H) */
    LayerNorm emb_norm;
    Dropout dropout;
    TransformerBlock *blocks; /* (layers) BLOCK_SASREC, else NULL */
    LigrBlock *ligr;          /* (layers) BLOCK_LIGR, else NULL */
    LayerNorm final_norm;     /* BLOCK_SASREC with pre-LayerNorm only: after the last block */
} Sasrec;

/* The rows a batch feeds the model: its sequences as rows of one (T, H)
 * tensor, and their layout, which goes unchanged to every attention op. */
typedef struct {
    int64_t B, L, T;  /* sequences, max length, rows (B * L dense; real positions packed) */
    SeqLayout layout; /* B sequences (offsets (B + 1)), causal; key_valid (T) 1 where the input is real
                         (dense), NULL (packed: every row is real) */
    int64_t *ids;     /* (T) input item ids (0 = padding, dense only) */
    int64_t *slot;    /* (T) position 0..L-1 of each row in the left-padded input */
    int64_t *last;    /* (B) row of each sequence's last position, -1 if it is empty */
} Tokens;

/* Default settings of the seed (H 64, L 50, 2 layers, 2 heads, dropout 0.5,
 * post-LN, -10000 mask, the SASRec block 4 H wide; docs/sasrec.md, section
 * 3.1); n_items 0 until the data sets it. */
SasrecConfig sasrec_default_config(void);
/* Builds the model and initialises it as the seed does (docs/sasrec.md,
 * section 3.3): the layers' constructors first (PyTorch's defaults), then one
 * module_init_weights: Linear and Embedding weights N(0, init_std), biases 0,
 * LayerNorm 1 and 0; the padding row is zeroed last. */
void sasrec_init(Sasrec *s, const SasrecConfig *cfg, uint64_t seed);
/* Frees the model. */
void sasrec_free(Sasrec *s);

/* The rows of a left-padded (B, L) input with len[b] real items each, in g's arena. */
Tokens sasrec_tokens(Graph *g, const int64_t *input, const int32_t *len, int64_t B, int64_t L, int packed);
/* values (B, L) at the rows of t, as (T) ids in g's arena (targets, negatives). */
int64_t *sasrec_gather(Graph *g, const Tokens *t, const int64_t *values);
/* The sequence output F (T, H). */
Tensor *sasrec_forward(Sasrec *s, Graph *g, const Tokens *t);
/* <F[r], item_emb[ids[r]]> for every row r: the scores of the given items, (T). */
Tensor *sasrec_scores(Sasrec *s, Graph *g, Tensor *F, const int64_t *ids);
/* The training loss on F: BCE over the positive and negative of each real
 * target (SASRec), cross-entropy over all items (in tiles of items, the
 * (T, N + 1) logits never stored), or a sampled softmax or gBCE over the
 * negatives the batch shares (one (T, H) x (H, K) product). pos is (T); rows
 * whose pos is 0 carry no loss. Reports the logits (F for CE) to the graph's
 * trace hook. */
Tensor *sasrec_loss(Sasrec *s, Graph *g, Tensor *F, const Tokens *t, const int64_t *pos, const Negatives *neg,
                    LossKind loss);
/* The user vectors F[last] (B, H) of a forward pass (rows of empty sequences are 0). */
Tensor *sasrec_last(Graph *g, Tensor *F, const Tokens *t);
/* sasrec_last(g, sasrec_forward(s, g, t), t), the same bits, with the last block's work after attention done at
 * the last positions alone when gradients are off and s is in evaluation mode (inference: evaluation, predict,
 * serve); otherwise the whole forward. */
Tensor *sasrec_forward_last(Sasrec *s, Graph *g, const Tokens *t);

#endif
