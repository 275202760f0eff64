/* Loading a trained model folder for eval, predict: settings, ids, weights. */
#ifndef NN_MODELS_SASREC_CLI_MODEL_DIR_H
#define NN_MODELS_SASREC_CLI_MODEL_DIR_H

#include "models/sasrec/cli/common.h"

typedef struct {
    Dataset vocab; /* the model's items (idmap) */
    Sasrec model;
} LoadedModel;

/* Reads c->model_dir's config.json (model settings into c->model), items.txt
 * and model.safetensors. -1 and a message naming the file on any problem. */
int app_load_model(RunConfig *c, LoadedModel *lm, NnError *err);
/* Frees what app_load_model built. */
void app_free_model(LoadedModel *lm);

#endif
