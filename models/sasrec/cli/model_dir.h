/* Loading a trained model folder for eval, predict: settings, ids, weights. */
#ifndef SASREC_APP_MODEL_H
#define SASREC_APP_MODEL_H

#include "models/sasrec/cli/common.h"

typedef struct {
    Dataset vocab; /* the model's items (idmap) */
    Sasrec model;
    int64_t n_items;
} LoadedModel;

/* Reads c->model's config.json (model settings into c), items.txt and
 * model.safetensors. -1 and a message naming the file on any problem. */
int app_load_model(RunConfig *c, LoadedModel *lm, NnError *err);
/* Frees what app_load_model built. */
void app_free_model(LoadedModel *lm);

#endif
