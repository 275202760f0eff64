/* LayerNorm over the last dim, as torch.nn.LayerNorm (biased variance, eps inside the root). */
#ifndef NN_NN_LAYER_NORM_H
#define NN_NN_LAYER_NORM_H

#include "nn/dropout.h"
#include "nn/module.h"

typedef struct {
    Tensor *weight; /* (dim), PARAM_GAIN, initialised to 1 */
    Tensor *bias;   /* (dim), PARAM_BIAS, initialised to 0 */
    real eps;       /* 1e-12 for SASRec, 1e-5 in PyTorch */
} LayerNorm;

/* Registers "<name>.weight" and "<name>.bias". */
LayerNorm layer_norm_new(Module *m, const char *name, int64_t dim, real eps);
/* x (..., dim) -> same shape. */
Tensor *layer_norm_forward(const LayerNorm *ln, Graph *g, Tensor *x);
/* LayerNorm(x + r), r of x's shape: the post-norm residual in one op (ag_add_layer_norm), the same bits as
 * layer_norm_forward(ln, g, ag_add(g, x, r)). */
Tensor *layer_norm_residual_forward(const LayerNorm *ln, Graph *g, Tensor *x, Tensor *r);
/* LayerNorm(x + dropout(r)) in one op (ag_dropout_add_layer_norm): the same bits as
 * layer_norm_residual_forward(ln, g, x, dropout_forward(d, m, g, r)). */
Tensor *layer_norm_residual_dropout_forward(const LayerNorm *ln, const Dropout *d, Module *m, Graph *g, Tensor *x,
                                            Tensor *r);

#endif
