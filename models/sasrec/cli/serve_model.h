/* The model sasrec serve answers with, loaded so that it can be replaced
 * while serving (docs/sasrec.md, section 7.3): the folder's identity (its
 * inode and the SHA-256 of its config.json) is taken before and after the
 * load and must agree, so a model is never built from two folders when
 * train swaps one in meanwhile; serve_model_changed tells the loop, between
 * passes, that the folder has been replaced since. */
#ifndef NN_MODELS_SASREC_CLI_SERVE_MODEL_H
#define NN_MODELS_SASREC_CLI_SERVE_MODEL_H

#include <sys/types.h>

#include "models/sasrec/cli/model_dir.h"
#include "models/sasrec/recommend.h"

typedef struct {
    RunConfig c;     /* the flags, with this folder's model settings */
    LoadedModel lm;
    Recommender rec; /* passes of up to c.serve.batch requests */
    char digest[65]; /* SHA-256 of config.json, hex */
    dev_t dev;       /* the folder's identity when it was loaded */
    ino_t ino;
} ServeModel;

/* Loads flags->model_dir into m (recommender included) and checks that its scores are finite; -1 and the
 * reason (err->resource when memory lacks) otherwise, with nothing left to free. */
int serve_model_load(ServeModel *m, const RunConfig *flags, NnError *err);
/* Frees what serve_model_load built. */
void serve_model_free(ServeModel *m);
/* 1 if m's folder has been replaced or changed since it was loaded (or cannot be looked at now), else 0. */
int serve_model_changed(const ServeModel *m);

#endif
