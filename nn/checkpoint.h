/* Checkpoints: a Module's parameters (and optionally Adam's or SGD's state) in
 * one safetensors file, saved atomically and loaded only if it matches.
 *
 * Parameters are stored under their names; Adam's moments under
 * "optim.m.<name>" and "optim.v.<name>", its step count in the metadata key
 * "optim.step"; SGD's momentum buffers under "optim.buf.<name>" (for the
 * parameters that have one), with the metadata "optim.kind" = "sgd". A file of
 * either kind loads into the model alone; the optimizer state only into its own
 * kind of optimizer. Loading checks every name, dtype and shape against the model,
 * and that every value is finite (a NaN weight is refused, naming its tensor),
 * before it changes anything, so a refused file leaves the model as it was. */
#ifndef NN_NN_CHECKPOINT_H
#define NN_NN_CHECKPOINT_H

#include "nn/optim.h"
#include "base/error.h"

/* Writes m's parameters (and opt's state when opt is non-NULL) and n_meta
 * extra metadata strings to path atomically; -1 and a message on failure. */
int checkpoint_save(const char *path, const Module *m, const Adam *opt, int n_meta, const char *const *meta_keys,
                    const char *const *meta_values, NnError *err);
/* Loads path into m (and into opt when non-NULL: the file must then hold an
 * optimizer state). The file must hold exactly m's parameters with m's shapes;
 * -1 and a message saying what differs otherwise, m untouched. */
int checkpoint_load(const char *path, Module *m, Adam *opt, NnError *err);

/* checkpoint_save with SGD's momentum buffers (sgd non-NULL) in place of Adam's state. */
int checkpoint_save_sgd(const char *path, const Module *m, const Sgd *sgd, int n_meta, const char *const *meta_keys,
                        const char *const *meta_values, NnError *err);
/* checkpoint_load into m and sgd (non-NULL): the file must hold SGD's state, and an SGD with momentum
 * to take its buffers; a parameter without a buffer in the file has none after loading. */
int checkpoint_load_sgd(const char *path, Module *m, Sgd *sgd, NnError *err);

typedef struct SafeTensors SafeTensors;
/* checkpoint_load on a file already read (io/safetensors.h); name stands for its path in messages. */
int checkpoint_apply(const SafeTensors *st, const char *name, Module *m, Adam *opt, NnError *err);

#endif
