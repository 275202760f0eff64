#include "nn/embedding.h"

#include <string.h>

#include "autograd/ops.h"

Embedding embedding_new(Module *m, const char *name, int64_t num, int64_t dim, int64_t padding_idx) {
    Embedding e = {module_param(m, name, "weight", PARAM_TABLE, NN_SHAPE(num, dim)), padding_idx};
    init_normal(e.weight, 0, 1, &m->init_rng);
    if (padding_idx >= 0) memset(e.weight->data + padding_idx * dim, 0, (size_t)dim * sizeof(real));
    return e;
}

Tensor *embedding_forward(const Embedding *e, Graph *g, const int64_t *ids, int ndim, const int64_t *shape) {
    return ag_embedding(g, e->weight, ids, ndim, shape, e->padding_idx);
}
