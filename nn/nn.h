/* The library in one include: every public header, bottom layer first.
 *
 *     #include <nn/nn.h>
 *
 *     cc -O2 my_model.c $(pkg-config --cflags --libs nn) -o my_model     float
 *     cc -O2 my_check.c $(pkg-config --cflags --libs nn64) -o my_check   double (sets NN_DOUBLE)
 *
 * Inside the source tree (-I at the repository root) the same line finds this
 * file. Installed (make install), the headers live under <prefix>/include/nn/
 * and this file is <prefix>/include/nn/nn.h. Headers not listed here are
 * internal to the library.
 *
 * Names for a PyTorch user: which one to use when.
 *
 *   Cross-entropy (all: the mean over targets that are not ignore_index)
 *     ag_cross_entropy          (N, C) logits, one class id per row: the plain op (F.cross_entropy on 2-d)
 *     loss_cross_entropy        the same, as the nn layer's loss (nn/loss.h); use it in models
 *     ag_cross_entropy_nd       any-d logits, class weights, label smoothing (F.cross_entropy in full);
 *                               set class_dim: 1 is torch's (N, C, d1, ...), -1 the (B, T, V) our layers make
 *     ag_linear_cross_entropy   x (N, H) times a (C, H) output table without storing the (N, C) logits:
 *                               a large vocabulary or item set (loss_linear_cross_entropy in nn/loss.h)
 *   Softmax
 *     ag_softmax, ag_log_softmax             over the last dim (dim=-1), the fast path
 *     ag_softmax_dim, ag_log_softmax_dim     over any dim (torch.softmax(x, dim))
 *   Optimizers (nn/optim.h)
 *     Adam    adam_new(m, adam_defaults())
 *     AdamW   adam_new with .decoupled = 1 and a .weight_decay (torch's default 0.01); the usual groups,
 *             no decay on biases, LayerNorm gains and embedding tables: .no_decay = OPTIM_NO_DECAY_USUAL
 *     SparseAdam   .lazy = 1 with row-sparse gradients (tensor_set_sparse_grad)
 *     SGD     sgd_new; checkpoint its momentum with checkpoint_save_sgd / checkpoint_load_sgd
 *   Masks
 *     key_valid (SeqLayout), memory_valid (CrossAttention): 1 marks a real position, the inverse of
 *     torch's key_padding_mask (True marks padding); causal = 1 is torch's triu(-inf) attn_mask
 *   Reductions and statistics: ag_sum, ag_mean, ag_max, ag_min (torch.amax / amin over axes), ag_var and
 *     ag_std (correction 1 = torch's unbiased), ag_norm (torch.linalg.vector_norm), ag_logsumexp
 *   Inference: ag_set_grad_enabled(0) (torch.no_grad); graph_mark / graph_release(g, mark, keep) give back a
 *     layer's intermediates and keep its output, where torch frees them by reference count
 *   Threads: nn_set_threads(n) or the environment's NN_THREADS (torch.set_num_threads)
 *   Layers: Linear, Embedding, LayerNorm, RMSNorm, FeedForward, SwiGLU, Attention (self-attention),
 *     CrossAttention (nn.MultiheadAttention(q, memory, memory) with kdim/vdim), TransformerBlock, Gru */
#ifndef NN_NN_NN_H
#define NN_NN_NN_H

/* base: errors, memory, random numbers, threads */
#include "base/arena.h"
#include "base/clock.h"
#include "base/dist.h"
#include "base/error.h"
#include "base/memory.h"
#include "base/parallel.h"
#include "base/progress.h"
#include "base/rng.h"

/* tensor: n-d arrays and the kernels on them */
#include "tensor/kernels.h"
#include "tensor/real.h"
#include "tensor/tensor.h"

/* autograd: the engine, every differentiable op, the gradient checker */
#include "autograd/autograd.h"
#include "autograd/gradcheck.h"
#include "autograd/op.h"
#include "autograd/ops.h"
#include "autograd/profile.h"

/* io: the checkpoint format (safetensors, JSON), atomic files, UTF-8 */
#include "io/atomic_file.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "io/tempfiles.h"
#include "io/utf8.h"

/* nn: layers, losses, optimizers, checkpoints */
#include "nn/attention.h"
#include "nn/checkpoint.h"
#include "nn/cross_attention.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/feed_forward.h"
#include "nn/grad_sum.h"
#include "nn/gru.h"
#include "nn/layer_norm.h"
#include "nn/ligr_block.h"
#include "nn/linear.h"
#include "nn/loss.h"
#include "nn/lr_schedule.h"
#include "nn/module.h"
#include "nn/optim.h"
#include "nn/rms_norm.h"
#include "nn/swiglu.h"
#include "nn/transformer_block.h"

#endif
