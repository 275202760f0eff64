/* Dropout: active in training mode only, masks from the module's generator. */
#ifndef NN_DROPOUT_H
#define NN_DROPOUT_H

#include "nn/module.h"

typedef struct {
    real p; /* probability of zeroing an element, in [0, 1) */
} Dropout;

/* A dropout layer with probability p (no parameters). */
Dropout dropout_new(real p);
/* x in evaluation mode; otherwise x with elements zeroed with probability p and the rest scaled by 1/(1-p). */
Tensor *dropout_forward(const Dropout *d, Module *m, Graph *g, Tensor *x);

#endif
