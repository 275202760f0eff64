/* SwiGLU feed-forward (Shazeer 2020, as in LLaMA and PaLM):
 * down(silu(gate(x)) * up(x)), the gated replacement of FeedForward's
 * Linear -> GELU -> Linear. LLaMA's has no biases. */
#ifndef NN_NN_SWIGLU_H
#define NN_NN_SWIGLU_H

#include "nn/linear.h"

typedef struct {
    Linear gate; /* (inner, dim) */
    Linear up;   /* (inner, dim) */
    Linear down; /* (dim, inner) */
} SwiGLU;

/* Registers "<name>.gate", "<name>.up" and "<name>.down", with biases when bias is 1. */
SwiGLU swiglu_new(Module *m, const char *name, int64_t dim, int64_t inner, int bias);
/* x (..., dim) -> (..., dim) */
Tensor *swiglu_forward(const SwiGLU *f, Graph *g, Tensor *x);

#endif
