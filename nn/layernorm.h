/* LayerNorm over the last dim, as torch.nn.LayerNorm (biased variance, eps inside the root). */
#ifndef NN_LAYERNORM_H
#define NN_LAYERNORM_H

#include "nn/module.h"

typedef struct {
    Tensor *weight; /* (dim) initialised to 1 */
    Tensor *bias;   /* (dim) initialised to 0 */
    real eps;       /* 1e-12 for SASRec, 1e-5 in PyTorch */
} LayerNorm;

/* Registers "<name>.weight" and "<name>.bias". */
LayerNorm layernorm_new(Module *m, const char *name, int64_t dim, real eps);
/* x (..., dim) -> same shape */
Tensor *layernorm_forward(const LayerNorm *ln, Graph *g, Tensor *x);

#endif
