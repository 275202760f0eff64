/* RMSNorm over the last dim (Zhang & Sennrich 2019, as in LLaMA and T5):
 * x / sqrt(mean(x^2) + eps) * weight: LayerNorm without centring or bias.
 * torch 1.13 has no nn.RMSNorm; this matches the formula of later torch's. */
#ifndef NN_NN_RMS_NORM_H
#define NN_NN_RMS_NORM_H

#include "nn/module.h"

typedef struct {
    Tensor *weight; /* (dim), PARAM_GAIN, initialised to 1 */
    real eps;       /* inside the root; 1e-6 in LLaMA, torch's default is the dtype's epsilon */
} RMSNorm;

/* Registers "<name>.weight". */
RMSNorm rms_norm_new(Module *m, const char *name, int64_t dim, real eps);
/* x (..., dim) -> same shape. */
Tensor *rms_norm_forward(const RMSNorm *n, Graph *g, Tensor *x);

#endif
