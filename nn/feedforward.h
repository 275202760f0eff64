/* FeedForward: Linear(dim, inner) -> GELU or ReLU -> Linear(inner, dim). */
#ifndef NN_FEEDFORWARD_H
#define NN_FEEDFORWARD_H

#include "nn/linear.h"

typedef enum { ACT_GELU, ACT_RELU } Activation;

typedef struct {
    Linear fc1; /* (inner, dim) */
    Linear fc2; /* (dim, inner) */
    Activation act;
} FeedForward;

/* Registers "<name>.fc1" and "<name>.fc2". */
FeedForward feedforward_new(Module *m, const char *name, int64_t dim, int64_t inner, Activation act);
/* x (..., dim) -> (..., dim) */
Tensor *feedforward_forward(const FeedForward *f, Graph *g, Tensor *x);

#endif
