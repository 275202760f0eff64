/* Linear: y = x w^T + b, as torch.nn.Linear. */
#ifndef NN_NN_LINEAR_H
#define NN_NN_LINEAR_H

#include "nn/module.h"

typedef struct {
    Tensor *weight; /* (out, in), PARAM_WEIGHT */
    Tensor *bias;   /* (out), PARAM_BIAS, or NULL without bias */
} Linear;

/* Registers "<name>.weight" (and "<name>.bias") in m, initialised like
 * PyTorch: U(-1/sqrt(in), 1/sqrt(in)) for both, from m's generator. */
Linear linear_new(Module *m, const char *name, int64_t in, int64_t out, int bias);
/* x (..., in) -> (..., out). */
Tensor *linear_forward(const Linear *l, Graph *g, Tensor *x);

#endif
