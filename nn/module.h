/* Module: the named parameters of a model, its train/eval mode and its
 * generators.
 *
 * Layers register their parameters in a Module under dotted names
 * ("encoder.layers.0.attn.query.weight"); the Module owns the tensors.
 * Initialisation and dropout draw from the module's generators, both derived
 * from the seed given to module_init, so a model is a function of its seed. */
#ifndef NN_MODULE_H
#define NN_MODULE_H

#include <stdio.h>

#include "autograd/autograd.h"

typedef struct {
    char *name;    /* full dotted name, owned */
    Tensor *value; /* owned; requires grad */
} Param;

/* Sees the output of each stage of a forward pass (for printing data flows). */
typedef void (*TraceFn)(void *ctx, const char *stage, const Tensor *t);

typedef struct Module {
    Param *params; /* in registration order */
    int n_params, cap;
    int training;    /* 1: dropout active (module_train) */
    Rng init_rng;    /* initialisation */
    Rng dropout_rng; /* dropout masks: each dropout call takes a new stream */
    TraceFn trace;   /* NULL, or called by layers with each stage's output */
    void *trace_ctx;
} Module;

/* An empty module in training mode whose generators derive from seed. */
void module_init(Module *m, uint64_t seed);
/* Frees every parameter (and its gradient). */
void module_free(Module *m);
/* Registers a new zero parameter named "<prefix>.<name>" (or "<name>" when prefix is empty). */
Tensor *module_param(Module *m, const char *prefix, const char *name, int ndim, const int64_t *shape);
/* The parameter with this full name, or NULL. */
Tensor *module_find(const Module *m, const char *name);
/* Writes "<prefix>.<name>" (or "<name>" when prefix is empty) into out and returns out. */
char *module_join(char *out, size_t size, const char *prefix, const char *name);
/* Total number of scalars in the parameters. */
int64_t module_num_params(const Module *m);
/* Prints one line per parameter (name, shape, count) and the total. */
void module_print(const Module *m, FILE *f);
/* Reports a stage's output to m's trace hook, if it has one. */
void module_trace(const Module *m, const char *stage, const Tensor *t);
/* Switches between training (dropout on) and evaluation mode. */
void module_train(Module *m, int training);
/* Zeroes every parameter's gradient. */
void module_zero_grad(Module *m);

/* ---- initialisation (all from an explicit generator) ---- */

/* Normal values with the given mean and std. */
void init_normal(Tensor *t, real mean, real std, Rng *rng);
/* Uniform values in [lo, hi). */
void init_uniform(Tensor *t, real lo, real hi, Rng *rng);
/* Xavier/Glorot uniform for a (fan_out, fan_in, ...) weight: U(-a, a), a = sqrt(6 / (fan_in + fan_out)). */
void init_xavier_uniform(Tensor *t, Rng *rng);
/* Every element set to value (zeros: 0, ones: 1). */
void init_constant(Tensor *t, real value);

#endif
