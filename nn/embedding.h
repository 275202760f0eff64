/* Embedding: a table of row vectors looked up by id, as torch.nn.Embedding. */
#ifndef NN_NN_EMBEDDING_H
#define NN_NN_EMBEDDING_H

#include "nn/module.h"

typedef struct {
    Tensor *weight;      /* (num, dim), PARAM_TABLE */
    int64_t padding_idx; /* this row gets no gradient; -1: none */
} Embedding;

/* Registers "<name>.weight" initialised N(0, 1) with the padding row zeroed, as PyTorch. */
Embedding embedding_new(Module *m, const char *name, int64_t num, int64_t dim, int64_t padding_idx);
/* ids of shape (ndim, shape) -> (shape..., dim); ids must lie in [0, num). */
Tensor *embedding_forward(const Embedding *e, Graph *g, const int64_t *ids, int ndim, const int64_t *shape);

#endif
