/* What sasrec train and eval add for retraining (docs/sasrec.md, "Retraining"): the time split (--split time)
 * and the warm start (train --init DIR). */
#ifndef NN_MODELS_SASREC_CLI_RETRAIN_H
#define NN_MODELS_SASREC_CLI_RETRAIN_H

#include "models/sasrec/cli/model_dir.h"
#include "models/sasrec/data/timesplit.h"
#include "models/sasrec/train.h"

/* What train holds for --split time and --init. */
typedef struct {
    TimeSplit ts;       /* --split time: the evaluation rows (the training part moves to train's Dataset) */
    Metrics popular;    /* --split time: the most-popular baseline on ts.test */
    LoadedModel parent; /* --init: the parent model */
} Retrain;

/* train: loads c->data into ds and prints its summary; with --split time, ds is the training part and ts the
 * evaluation rows (c->train.valid_rows and test_rows point into ts), both printed. */
int app_train_data(RunConfig *c, Dataset *ds, Retrain *rt, NnError *err);
/* eval of a model trained with --split time (c read from its config.json): loads c->data whole and cuts it at the
 * model's times with the model's items as the catalogue, printing both summaries; sets --eval full. */
int app_eval_time_split(RunConfig *c, const Dataset *items, TimeSplit *ts, NnError *err);
/* train --init (nothing without it): loads the parent folder c->init into rt and checks its settings against c's
 * (before any work); records its model digest in c. -1 and a message (the caller exits 2). */
int app_warm_start_load(RunConfig *c, Retrain *rt, NnError *err);
/* train: sasrec_init of s for ds (c->model, n_items set), then with --init the parent's weights, saying what was
 * kept. */
int app_init_model(const RunConfig *c, Sasrec *s, const Retrain *rt, const Dataset *ds, NnError *err);
/* Releases what rt holds and zeroes it (a zeroed Retrain is fine). */
void app_retrain_free(Retrain *rt);

#endif
