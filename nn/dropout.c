#include "nn/dropout.h"

#include "autograd/ops.h"
#include "base/error.h"

Dropout dropout_new(Module *m, const char *name, real p) {
    (void)m;
    NN_CHECK(p >= 0 && p < 1, "dropout_new", "%s: probability %g outside [0, 1)", name, (double)p);
    return (Dropout){p};
}

Tensor *dropout_forward(const Dropout *d, Module *m, Graph *g, Tensor *x) {
    return ag_dropout(g, x, d->p, m->training, &m->dropout_rng);
}
