#include "models/sasrec/cli/model_dir.h"

#include <string.h>

#include "models/sasrec/data/idmap.h"
#include "nn/checkpoint.h"

int app_load_model(RunConfig *c, LoadedModel *lm, NnError *err) {
    memset(lm, 0, sizeof *lm);
    if (config_read_model(c->model_dir, c, err)) return -1;
    if (idmap_read_items(c->model_dir, &lm->vocab, err)) return -1;
    if (lm->vocab.n_items != c->model.n_items) {
        nn_fail(err, "%s: items.txt lists %lld items but config.json says %lld", c->model_dir,
                (long long)lm->vocab.n_items, (long long)c->model.n_items);
        dataset_free(&lm->vocab);
        return -1;
    }
    sasrec_init(&lm->model, &c->model, 0);
    char path[4096];
    if (checkpoint_load(config_path(path, sizeof path, c->model_dir, TRAIN_MODEL_FILE), &lm->model.m, NULL, err)) {
        app_free_model(lm);
        return -1;
    }
    return 0;
}

void app_free_model(LoadedModel *lm) {
    sasrec_free(&lm->model);
    dataset_free(&lm->vocab);
}
