/* Dropout: active in training mode only, masks from the module's generator. */
#ifndef NN_NN_DROPOUT_H
#define NN_NN_DROPOUT_H

#include "nn/module.h"

typedef struct {
    real p; /* probability of zeroing an element, in [0, 1) */
} Dropout;

/* A dropout layer with probability p; it has no parameters, so m is left as
 * it is and name only labels a refused p. */
Dropout dropout_new(Module *m, const char *name, real p);
/* x in evaluation mode (m's mode); otherwise x with elements zeroed with
 * probability p and the rest scaled by 1/(1-p), the mask from a new stream of
 * m's dropout generator. */
Tensor *dropout_forward(const Dropout *d, Module *m, Graph *g, Tensor *x);

#endif
