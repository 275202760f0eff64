/* The fused residual LayerNorm of autograd/op_layernorm.c, until autograd/ops.h
 * (which lists every op) declares it beside ag_layer_norm. */
#ifndef NN_AUTOGRAD_OP_LAYERNORM_H
#define NN_AUTOGRAD_OP_LAYERNORM_H

#include "autograd/autograd.h"

/* LayerNorm(x + r) over the last dim, r of x's shape (else ag_add then ag_layer_norm): the same bits as those
 * two ops, the sum made and read in the normalisation's own passes, its gradient sent to x and r at once. */
Tensor *ag_add_layer_norm(Graph *g, Tensor *x, Tensor *r, Tensor *w, Tensor *b, real eps);

#endif
