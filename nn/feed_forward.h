/* FeedForward: Linear(dim, inner) -> GELU or ReLU -> Linear(inner, dim), the
 * position-wise feed-forward sublayer of a transformer block. */
#ifndef NN_NN_FEED_FORWARD_H
#define NN_NN_FEED_FORWARD_H

#include "nn/linear.h"

typedef enum { ACT_GELU, ACT_RELU } Activation;

typedef struct {
    Linear fc1; /* (inner, dim) */
    Linear fc2; /* (dim, inner) */
    Activation act;
} FeedForward;

/* Registers "<name>.fc1" and "<name>.fc2". */
FeedForward feed_forward_new(Module *m, const char *name, int64_t dim, int64_t inner, Activation act);
/* x (..., dim) -> (..., dim) */
Tensor *feed_forward_forward(const FeedForward *f, Graph *g, Tensor *x);

#endif
