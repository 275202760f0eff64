/* Differentiable ops. Each computes its output into g's arena and records a
 * node whose backward the gradient checks in tests/autograd/grad_*.c exercise.
 *
 * Inputs may be views (strided, broadcast). Shapes follow numpy/PyTorch
 * rules; a mismatch aborts with the op name and the shapes (base/error.h).
 * Index arrays are int64_t; masks and targets are real tensors of 0/1 that
 * never receive gradients. */
#ifndef NN_AUTOGRAD_OPS_H
#define NN_AUTOGRAD_OPS_H

#include "autograd/autograd.h"

/* ---- elementwise, with broadcasting ---- */

/* a + b */
Tensor *ag_add(Graph *g, Tensor *a, Tensor *b);
/* a - b */
Tensor *ag_sub(Graph *g, Tensor *a, Tensor *b);
/* a * b */
Tensor *ag_mul(Graph *g, Tensor *a, Tensor *b);
/* a / b */
Tensor *ag_div(Graph *g, Tensor *a, Tensor *b);
/* -x */
Tensor *ag_neg(Graph *g, Tensor *x);
/* x + c */
Tensor *ag_add_scalar(Graph *g, Tensor *x, real c);
/* x * c */
Tensor *ag_mul_scalar(Graph *g, Tensor *x, real c);
/* x ^ c */
Tensor *ag_pow_scalar(Graph *g, Tensor *x, real c);
/* e ^ x */
Tensor *ag_exp(Graph *g, Tensor *x);
/* natural log */
Tensor *ag_log(Graph *g, Tensor *x);
/* square root */
Tensor *ag_sqrt(Graph *g, Tensor *x);
/* hyperbolic tangent */
Tensor *ag_tanh(Graph *g, Tensor *x);
/* logistic sigmoid */
Tensor *ag_sigmoid(Graph *g, Tensor *x);
/* max(x, 0); the gradient at 0 is 0 */
Tensor *ag_relu(Graph *g, Tensor *x);
/* GELU, exact erf form: x/2 (1 + erf(x / sqrt 2)) */
Tensor *ag_gelu(Graph *g, Tensor *x);

/* ---- reductions: over the listed axes (all when naxes is 0) ---- */

/* Sum; keepdim keeps reduced dims with size 1. */
Tensor *ag_sum(Graph *g, Tensor *x, int naxes, const int *axes, int keepdim);
/* y[r] = sum_j a[r, j] b[r, j] of two (rows, cols): ag_sum(ag_mul(a, b), last axis) bit for bit, unstored. */
Tensor *ag_row_dot(Graph *g, Tensor *a, Tensor *b);
/* Mean. */
Tensor *ag_mean(Graph *g, Tensor *x, int naxes, const int *axes, int keepdim);
/* Maximum; the gradient goes to the first maximal element of each reduced set. */
Tensor *ag_max(Graph *g, Tensor *x, int naxes, const int *axes, int keepdim);

/* ---- products ---- */

/* a @ b: (..., M, K) @ (..., K, N), batch dims broadcast; transposes are views. */
Tensor *ag_matmul(Graph *g, Tensor *a, Tensor *b);
/* x @ w^T + bias: x (..., in), w (out, in), bias (out) or NULL -> (..., out). */
Tensor *ag_linear(Graph *g, Tensor *x, Tensor *w, Tensor *bias);

/* ---- shape (views where possible) ---- */

/* Another shape for the same elements (one size may be -1); copies if x is not contiguous. */
Tensor *ag_reshape(Graph *g, Tensor *x, int ndim, const int64_t *shape);
/* Dims reordered: result dim i is x's dim perm[i]. */
Tensor *ag_permute(Graph *g, Tensor *x, const int *perm);
/* Dims d0 and d1 swapped. */
Tensor *ag_transpose(Graph *g, Tensor *x, int d0, int d1);
/* Slice [start, start + length) of dim. */
Tensor *ag_narrow(Graph *g, Tensor *x, int dim, int64_t start, int64_t length);
/* Broadcast to shape. */
Tensor *ag_expand(Graph *g, Tensor *x, int ndim, const int64_t *shape);
/* xs[0..n) joined along dim. */
Tensor *ag_concat(Graph *g, int n, Tensor *const *xs, int dim);
/* A contiguous copy (x itself if already contiguous). */
Tensor *ag_contiguous(Graph *g, Tensor *x);

/* ---- softmax ---- */

/* Softmax over the last dim. */
Tensor *ag_softmax(Graph *g, Tensor *x);
/* Log-softmax over the last dim. */
Tensor *ag_log_softmax(Graph *g, Tensor *x);

/* ---- selection ---- */

/* x where mask is 0, value where it is not; mask broadcasts to x. */
Tensor *ag_masked_fill(Graph *g, Tensor *x, const Tensor *mask, real value);
/* cond ? a : b elementwise, all three broadcast together. */
Tensor *ag_where(Graph *g, const Tensor *cond, Tensor *a, Tensor *b);
/* x's slices idx[0..n) along dim; repeated indices sum their gradients. */
Tensor *ag_index_select(Graph *g, Tensor *x, int dim, const int64_t *idx, int64_t n);
/* Rows of table (V, H) at ids of shape (ndim, shape) -> (shape..., H). Rows
 * equal to padding_idx get no gradient (-1: none). */
Tensor *ag_embedding(Graph *g, Tensor *table, const int64_t *ids, int ndim, const int64_t *shape, int64_t padding_idx);

/* ---- layers as fused ops ---- */

/* Inverted dropout: zero with probability p, scale the rest by 1/(1-p). The
 * mask comes from a new stream of rng, so it is a function of rng's state
 * only. Identity (x itself) when !training or p == 0. */
Tensor *ag_dropout(Graph *g, Tensor *x, real p, int training, Rng *rng);
/* (x - mean) / sqrt(var + eps) * w + b over the last dim; w, b (H) may be NULL. */
Tensor *ag_layer_norm(Graph *g, Tensor *x, Tensor *w, Tensor *b, real eps);
/* LayerNorm(x + r) over the last dim, r of x's shape: the same bits as ag_add then ag_layer_norm, the sum made
 * and read in the normalisation's own passes, its gradient sent to x and r at once. */
Tensor *ag_add_layer_norm(Graph *g, Tensor *x, Tensor *r, Tensor *w, Tensor *b, real eps);
/* LayerNorm(x + dropout(r)): ag_add_layer_norm(x, ag_dropout(r, p, training, rng)) bit for bit (the same stream of
 * rng, so the same mask), the mask drawn and applied in the normalisation's passes, the dropped r never stored. */
Tensor *ag_dropout_add_layer_norm(Graph *g, Tensor *x, Tensor *r, real p, int training, Rng *rng, Tensor *w, Tensor *b,
                                  real eps);

/* ---- attention ---- */

/* Which rows of a (rows, H) tensor belong to which sequence, and what each
 * query may see: the layout of one batch, built once from it (by the model,
 * or seq_layout_dense) and carried unchanged through the layers to the
 * attention op. */
typedef struct {
    int64_t n_seq;                  /* number of sequences */
    const int64_t *offsets;         /* (n_seq + 1): sequence s is rows [offsets[s], offsets[s + 1]) */
    const unsigned char *key_valid; /* (rows) 0 marks a padding key; NULL: every key is real */
    int causal;                     /* query i may see keys j <= i of its sequence only */
} SeqLayout;

/* n_seq sequences of L rows each (a dense (n_seq, L, H) batch), offsets in g's arena. */
SeqLayout seq_layout_dense(Graph *g, int64_t n_seq, int64_t L, const unsigned char *key_valid, int causal);

typedef enum {
    MASK_MINUS_10000, /* add -10000 to masked scores (SASRec/BERT baseline) */
    MASK_NEG_INF,     /* leave masked keys out; a query always sees itself, so no row is NaN */
} MaskKind;

/* The settings of one attention call (the layout says which keys exist). */
typedef struct {
    int heads;     /* H = heads * head_dim */
    MaskKind mask; /* how masked keys are treated */
    real dropout;  /* on the attention probabilities, when training */
    int training;
    Rng *rng; /* dropout masks: one new stream per call */
} AttentionSpec;

/* Scaled dot-product attention, fused: per sequence of layout and head,
 * softmax(q k^T / sqrt(head_dim) + mask) v. q, k, v are (rows, H) with a
 * contiguous last dim (row strides may differ, e.g. column slices of one
 * (rows, 3H) projection). Returns (rows, H). With -10000 masking, a query
 * whose keys are all masked gets the softmax of its raw scores over the whole
 * sequence, as the dense baseline does; when it has a visible key, masked keys
 * get weight exactly 0 (exp underflows unless scores differ by ~9900). */
Tensor *ag_attention(Graph *g, Tensor *q, Tensor *k, Tensor *v, const SeqLayout *layout, const AttentionSpec *spec);

/* ---- losses (scalar results) ---- */

/* Binary cross-entropy on logits: sum(weight * bce(x, target)) / sum(weight);
 * weight may be NULL (all ones). 0 when the weights sum to 0. */
Tensor *ag_bce_with_logits(Graph *g, Tensor *logits, const Tensor *target, const Tensor *weight);
/* Cross-entropy over classes: logits (N, C), target[n_target] class ids, n_target == N; the mean
 * over rows whose target is not ignore_index. 0 when every row is ignored. */
Tensor *ag_cross_entropy(Graph *g, Tensor *logits, const int64_t *target, int64_t n_target, int64_t ignore_index);

/* The default tile of ag_linear_cross_entropy: blocks of LCE_BLOCK_CLASSES
 * classes, and as many rows as keep a tile within LCE_TILE_REALS logits
 * (1 MiB of float: about one core's L2). */
#define LCE_BLOCK_CLASSES 512
#define LCE_TILE_REALS    (1 << 18)

/* ag_cross_entropy(ag_linear(x, w, NULL), target, ignore_index) fused: x
 * (N, H), w (C, H), target[n_target] (n_target == N); the (N, C) logits are never stored but
 * computed in tiles, twice (forward and backward), so memory is O(tile + N).
 * Equal to the unfused loss up to the order of float sums. */
Tensor *ag_linear_cross_entropy(Graph *g, Tensor *x, Tensor *w, const int64_t *target, int64_t n_target,
                                int64_t ignore_index);
/* The same with a given tile: rows x classes logits at a time (tests cross tile borders with small ones). */
Tensor *ag_linear_cross_entropy_tiled(Graph *g, Tensor *x, Tensor *w, const int64_t *target, int64_t n_target,
                                      int64_t ignore_index, int64_t rows, int64_t classes);

/* ==== everyday ops: activations, any-dim softmax, picking by index, cutting
 * and joining, sampling, N-d cross-entropy (autograd/op_activation.c,
 * op_softmax_dim.c, op_gather.c, op_split.c, op_sample.c, op_cross_entropy.c).
 * An op along a dim takes the dim right after its input, as ag_narrow; ops
 * joining several inputs take it last, as ag_concat. ==== */

/* ---- elementwise ---- */

/* x limited to [lo, hi] (use -INFINITY or INFINITY for one side); gradient 1 on [lo, hi], else 0. */
Tensor *ag_clamp(Graph *g, Tensor *x, real lo, real hi);
/* |x|; the gradient at 0 is 0. */
Tensor *ag_abs(Graph *g, Tensor *x);
/* Elementwise max(a, b) with broadcasting; ties split the gradient evenly, as torch.maximum. */
Tensor *ag_maximum(Graph *g, Tensor *a, Tensor *b);
/* Elementwise min(a, b) with broadcasting; ties split the gradient evenly. */
Tensor *ag_minimum(Graph *g, Tensor *a, Tensor *b);
/* log(1 + e^(beta x)) / beta, and x itself where beta x > threshold (torch: beta 1, threshold 20). */
Tensor *ag_softplus(Graph *g, Tensor *x, real beta, real threshold);
/* x * sigmoid(x) (SiLU, swish). */
Tensor *ag_silu(Graph *g, Tensor *x);

/* ---- softmax along any dim, logsumexp ---- */

/* Softmax along dim (negative dims count from the end). */
Tensor *ag_softmax_dim(Graph *g, Tensor *x, int dim);
/* Log-softmax along dim. */
Tensor *ag_log_softmax_dim(Graph *g, Tensor *x, int dim);
/* log(sum(exp(x))) over the listed axes (all when naxes is 0), computed stably; keepdim keeps them as size 1. */
Tensor *ag_logsumexp(Graph *g, Tensor *x, int naxes, const int *axes, int keepdim);

/* ---- picking by index ---- */

/* torch.gather: out has idx's shape (ndim, shape), x's number of dims and no size above x's except
 * along dim; out[..., j, ...] = x[..., idx[..., j, ...], ...] along dim. Repeated indices sum their
 * gradients. */
Tensor *ag_gather(Graph *g, Tensor *x, int dim, const int64_t *idx, int ndim, const int64_t *shape);
/* torch.take_along_dim: as gather, after x and idx broadcast against each other outside dim. */
Tensor *ag_take_along_dim(Graph *g, Tensor *x, int dim, const int64_t *idx, int ndim, const int64_t *shape);
/* The k largest (or, with !largest, smallest) values along dim, best first; ties go to the lower
 * index, NaN counts as largest. *indices (if non-NULL) gets their positions along dim, an array of
 * the result's shape in g's arena. The values are differentiable. */
Tensor *ag_topk(Graph *g, Tensor *x, int dim, int64_t k, int largest, const int64_t **indices);
/* Position of the largest value along dim (the first on ties; NaN counts as largest), for each
 * element of x's shape without dim, row-major, in g's arena. No gradient. */
const int64_t *ag_argmax(Graph *g, const Tensor *x, int dim);

/* ---- cutting and joining ---- */

/* x cut along dim into n pieces of the given sizes (which add up to x's size there): views into out[0..n). */
void ag_split_sizes(Graph *g, Tensor *x, int dim, int n, const int64_t *sizes, Tensor **out);
/* x cut along dim into pieces of size (the last one smaller): views into out; returns their number. */
int ag_split(Graph *g, Tensor *x, int dim, int64_t size, Tensor **out);
/* x cut into at most chunks pieces of ceil(size / chunks), as torch.chunk; returns their number. */
int ag_chunk(Graph *g, Tensor *x, int dim, int chunks, Tensor **out);
/* Index index of dim, the dim removed (x[:, index] for dim 1): a view. */
Tensor *ag_select(Graph *g, Tensor *x, int dim, int64_t index);
/* xs[0..n), all of one shape, joined along a new dim: (..., n, ...). */
Tensor *ag_stack(Graph *g, int n, Tensor *const *xs, int dim);

/* ---- constants and sampling (no gradient) ---- */

/* [start, start + step, ...) up to end (excluded), as torch.arange: (ceil((end - start) / step)). */
Tensor *ag_arange(Graph *g, double start, double end, double step);
/* n draws of a category for each row of weights (categories) or (rows, categories): category c with
 * probability weight[c] / sum(weight) (weights >= 0, not necessarily normalised), with or without
 * replacement. Returns (rows, n) indices in g's arena; draws come from rng in row order. */
const int64_t *ag_multinomial(Graph *g, const Tensor *weights, int64_t n, int replacement, Rng *rng);

/* ---- cross-entropy over N-d logits ---- */

typedef struct {
    int64_t ignore_index; /* positions whose target equals it carry no loss */
    real label_smoothing; /* in [0, 1]: this much of each target's mass spread evenly over the classes */
    const Tensor *weight; /* (C) per-class weights, or NULL for ones */
} CrossEntropyOptions;

/* torch's defaults: ignore_index -100, no smoothing, no weights. */
CrossEntropyOptions cross_entropy_default_options(void);
/* Mean cross-entropy as torch.nn.functional.cross_entropy, with the classes along class_dim (no
 * default: 1 is torch's (N, C, d1, ...), -1 the (..., C) every layer here makes): target[n_target]
 * holds one class id per position, i.e. per element of the logits' shape without the class dim
 * (row-major), so n_target must be that count; the mean is weighted by the targets' class weights;
 * 0 when every target is ignored. opt NULL: the defaults. */
Tensor *ag_cross_entropy_nd(Graph *g, Tensor *logits, int class_dim, const int64_t *target, int64_t n_target,
                            const CrossEntropyOptions *opt);

/* Losses over K candidates shared by every row (autograd/op_sampled.c): pos
 * (R) is each row's logit for its own target target[r] (n_target == R), neg
 * (R, K) its logits for the candidates neg_ids[0..K) (n_neg == K). A candidate equal to the row's target (an
 * accidental hit) is left out of that row; rows whose target is ignore carry
 * no loss; the result is the mean over the other rows (0 when there are none). */

/* Sampled softmax with the log-Q correction (Bengio & Senecal 2008; Jean et
 * al. 2015): row r's loss is -log softmax([a, b_1..b_K])[0] with
 * a = pos[r] - pos_logq[r] and b_k = neg[r, k] - neg_logq[k]; the
 * corrections (R) and (K) may be NULL (0: uniform candidates). */
Tensor *ag_sampled_softmax(Graph *g, Tensor *pos, Tensor *neg, const int64_t *target, int64_t n_target,
                           const int64_t *neg_ids, int64_t n_neg, int64_t ignore, const real *pos_logq,
                           const real *neg_logq);
/* gSASRec's generalised BCE (Petrov & Macdonald 2023): row r's loss is
 * -beta log sigmoid(pos[r]) - sum_k log(1 - sigmoid(neg[r, k])). */
Tensor *ag_gbce(Graph *g, Tensor *pos, Tensor *neg, const int64_t *target, int64_t n_target, const int64_t *neg_ids,
                int64_t n_neg, int64_t ignore, real beta);

/* Sampled softmax (log-Q corrected) or gBCE over candidates drawn for each row, or for each group of
 * rows, fused with the product that scores them (autograd/op_sampled_rows.c): row r of x (R, H) scores
 * its target w[target[r]] and its group's candidates w[ids[j K .. j K + K)] (w (C, H)), as
 * ag_sampled_softmax and ag_gbce do with pos = <x_r, w_target> and neg = x w_ids^T, without storing the
 * (R, K) logits: backward recomputes them a block of at most SAMPLED_ROWS_TILE_REALS at a time (or, with groups
 * and R K <= SAMPLED_ROWS_STORE_REALS, reads the gradients the forward kept). */
#define SAMPLED_ROWS_TILE_REALS (1 << 18)
/* With groups (offsets), when rows x K is at most this, the forward keeps the (R, K) logits' gradients and the
 * backward does not recompute them: three products of (R, K, H) a step instead of four. 512 MiB of floats holds
 * a batch of ML-20M's shape (256 users, about 36k positions at length 200) at 3000 negatives; models/sasrec's
 * memory plan counts it. */
#define SAMPLED_ROWS_STORE_REALS (1 << 27)
typedef struct {
    const int64_t *target;  /* (n_target == R) each row's target; rows whose target is ignore carry no loss */
    int64_t n_target, ignore;
    const int64_t *ids;     /* (n_groups, k) each group's candidates; one equal to a row's target is left out */
    int64_t n_groups, k;
    const int64_t *offsets; /* (n_groups + 1) group j is rows [offsets[j], offsets[j + 1]); NULL: one row each */
    const real *log_q;      /* (C) sampled softmax: log of each item's draw probability; NULL: uniform draws */
    int gbce;               /* 0: sampled softmax; 1: gBCE with exponent beta */
    real beta;
    int recompute;          /* 1: never keep the (R, K) gradients, even when they fit (less memory, more time) */
} SampledRowsOptions;
/* The mean over the counted rows of each row's loss (0 when there are none). */
Tensor *ag_sampled_rows(Graph *g, Tensor *x, Tensor *w, const SampledRowsOptions *o);

/* ==== more ops a PyTorch user reaches for (autograd/op_unary.c, op_cumsum.c,
 * op_stats.c, op_scatter.c, op_position_ids.c). Ops taking indices take their
 * count too and check it. ==== */

/* ---- elementwise ---- */

/* sin(x) */
Tensor *ag_sin(Graph *g, Tensor *x);
/* cos(x) */
Tensor *ag_cos(Graph *g, Tensor *x);
/* x where x > 0, negative_slope * x elsewhere (torch: 0.01); the gradient at 0 is the slope. */
Tensor *ag_leaky_relu(Graph *g, Tensor *x, real negative_slope);
/* x where x > 0, alpha (e^x - 1) elsewhere (torch: alpha 1). */
Tensor *ag_elu(Graph *g, Tensor *x, real alpha);
/* log(1 + x), accurate for small x. */
Tensor *ag_log1p(Graph *g, Tensor *x);
/* -1, 0 or 1 by the sign of x (NaN stays NaN); no gradient (a constant, as torch's is zero). */
Tensor *ag_sign(Graph *g, Tensor *x);
/* The error function erf(x). */
Tensor *ag_erf(Graph *g, Tensor *x);
/* x / (1 + |x|). */
Tensor *ag_softsign(Graph *g, Tensor *x);

/* ---- scans and statistics ---- */

/* Cumulative sum along dim (negative counts from the end), as torch.cumsum. */
Tensor *ag_cumsum(Graph *g, Tensor *x, int dim);
/* Minimum over the listed axes (all when naxes is 0): -max(-x), so ties and NaN behave as in ag_max. */
Tensor *ag_min(Graph *g, Tensor *x, int naxes, const int *axes, int keepdim);
/* Variance over the listed axes: sum((x - mean)^2) / (N - correction), N elements per set
 * (torch.var: correction 1, the unbiased estimate; 0 the population variance). */
Tensor *ag_var(Graph *g, Tensor *x, int naxes, const int *axes, int64_t correction, int keepdim);
/* sqrt(ag_var); its gradient is 0 where the std is 0 (torch: NaN). */
Tensor *ag_std(Graph *g, Tensor *x, int naxes, const int *axes, int64_t correction, int keepdim);
/* The p-norm (sum |x|^p)^(1/p) over the listed axes, p >= 1 or INFINITY (max |x|), as torch.norm;
 * the gradient at an all-zero set is 0. */
Tensor *ag_norm(Graph *g, Tensor *x, real p, int naxes, const int *axes, int keepdim);

/* ---- adding at indices ---- */

/* torch.index_add: a copy of x with src's slice j added to x's slice idx[j] along dim, j < n; src is
 * x's shape with n along dim. Repeated indices add up. */
Tensor *ag_index_add(Graph *g, Tensor *x, int dim, const int64_t *idx, int64_t n, Tensor *src);
/* torch.scatter_add: a copy of x with each src element added where its position, its coordinate
 * along dim replaced by idx at that position, falls; idx has src's shape (n = src's element count,
 * row-major), src x's number of dims and no size above x's outside dim. */
Tensor *ag_scatter_add(Graph *g, Tensor *x, int dim, const int64_t *idx, int64_t n, Tensor *src);

/* ---- integer ids (no gradient) ---- */

/* start, start + step, ... before end, as torch.arange on integers; their number in *count; in g's arena. */
const int64_t *ag_arange_ids(Graph *g, int64_t start, int64_t end, int64_t step, int64_t *count);
/* Position ids 0..length-1 for each of rows sequences, (rows, length) row-major in g's arena: what a
 * position embedding of a dense (rows, length) batch reads. */
const int64_t *ag_position_ids(Graph *g, int64_t rows, int64_t length);

#endif
