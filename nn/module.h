/* Module: the named parameters of a model, its train/eval mode and its
 * generators.
 *
 * Layers register their parameters in a Module under dotted names
 * ("encoder.layers.0.attn.query.weight") and say what kind each one is (a
 * weight, a bias, a gain, an embedding table); the Module owns the tensors.
 * Initialisation and dropout draw from the module's generators, both derived
 * from the seed given to module_init, so a model is a function of its seed.
 *
 * Initialisation happens in two steps, as in PyTorch: each layer's
 * constructor gives its parameters PyTorch's default for that layer, drawing
 * from init_rng; a model that wants another scheme then re-initialises all
 * parameters by kind in one call (module_init_weights, S3-Rec's
 * model.apply(init_weights)), drawing from the same generator after the
 * constructors' draws. */
#ifndef NN_NN_MODULE_H
#define NN_NN_MODULE_H

#include <stdio.h>

#include "autograd/autograd.h"

/* What a parameter is, recorded when it is made: initialisation dispatches on it. */
typedef enum {
    PARAM_WEIGHT, /* a weight multiplying the input (Linear) */
    PARAM_BIAS,   /* an additive bias (Linear, LayerNorm) */
    PARAM_GAIN,   /* a multiplicative gain around 1 (LayerNorm's weight) */
    PARAM_TABLE,  /* an embedding table, one row per id */
} ParamKind;

typedef struct {
    char *name;     /* full dotted name, owned */
    Tensor *value;  /* owned; requires grad */
    ParamKind kind; /* what it is */
} Param;

typedef struct Module {
    Param *params; /* in registration order */
    int n_params, cap;
    int training;    /* 1: dropout active (module_train) */
    Rng init_rng;    /* initialisation */
    Rng dropout_rng; /* dropout masks: each dropout call takes a new stream */
} Module;

/* An empty module in training mode whose generators derive from seed. */
void module_init(Module *m, uint64_t seed);
/* Frees every parameter (and its gradient). */
void module_free(Module *m);
/* Registers a new zero parameter of the given kind named "<prefix>.<name>" (or "<name>" when prefix is empty). */
Tensor *module_param(Module *m, const char *prefix, const char *name, ParamKind kind, int ndim, const int64_t *shape);
/* The parameter with this full name, or NULL. */
Tensor *module_find(const Module *m, const char *name);
/* Writes "<prefix>.<name>" (or "<name>" when prefix is empty) into out and returns out. */
char *module_join(char *out, size_t size, const char *prefix, const char *name);
/* Total number of scalars in the parameters. */
int64_t module_num_params(const Module *m);
/* Prints one line per parameter (name, shape, count) and the total. */
void module_print(const Module *m, FILE *f);
/* Switches between training (dropout on) and evaluation mode. */
void module_train(Module *m, int training);
/* Zeroes every parameter's gradient. */
void module_zero_grad(Module *m);
/* Restarts m's dropout generator on a stream that is a function of (m's seed, step, part) alone: the
 * masks of one part of a data-parallel step then do not depend on which parts ran before it, or where. */
void module_dropout_stream(Module *m, uint64_t step, uint64_t part);

/* ---- initialisation (all from an explicit generator) ---- */

/* Normal values with the given mean and std. */
void init_normal(Tensor *t, real mean, real std, Rng *rng);
/* Uniform values in [lo, hi). */
void init_uniform(Tensor *t, real lo, real hi, Rng *rng);
/* Every element set to value (zeros: 0, ones: 1). */
void init_constant(Tensor *t, real value);
/* Re-initialises every parameter of m by kind, in registration order: weights
 * and tables N(0, std) from m's init_rng, biases 0, gains 1 (BERT's and
 * S3-Rec's init_weights). A padding row of a table is the caller's to zero. */
void module_init_weights(Module *m, real std);

#endif
