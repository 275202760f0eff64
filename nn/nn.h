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
 * internal to the library. */
#ifndef NN_NN_H
#define NN_NN_H

/* base: errors, memory, random numbers, threads */
#include "base/arena.h"
#include "base/clock.h"
#include "base/dist.h"
#include "base/error.h"
#include "base/memory.h"
#include "base/parallel.h"
#include "base/peak_rss.h"
#include "base/progress.h"
#include "base/rng.h"

/* tensor: n-d arrays and the kernels on them */
#include "tensor/kernels.h"
#include "tensor/real.h"
#include "tensor/tensor.h"

/* autograd: the engine, every differentiable op, the gradient checker */
#include "autograd/autograd.h"
#include "autograd/gradcheck.h"
#include "autograd/ops.h"

/* io: files */
#include "io/atomic_file.h"
#include "io/csv.h"
#include "io/json.h"
#include "io/regular_file.h"
#include "io/safetensors.h"
#include "io/sha256.h"
#include "io/strmap.h"
#include "io/tempfiles.h"
#include "io/textfile.h"
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
#include "nn/linear.h"
#include "nn/loss.h"
#include "nn/lr_schedule.h"
#include "nn/module.h"
#include "nn/optim.h"
#include "nn/rms_norm.h"
#include "nn/swiglu.h"
#include "nn/transformer_block.h"

#endif
