/* Training: epochs of shuffled batches, one sasrec_step each (step.h),
 * validation after each epoch, early stopping on a strict gain, the best
 * weights kept and tested (docs/sasrec.md, sections 4 and 6). */
#ifndef NN_MODELS_SASREC_TRAIN_H
#define NN_MODELS_SASREC_TRAIN_H

#include <stdatomic.h>
#include <stdio.h>

#include "autograd/profile.h"
#include "models/sasrec/eval.h"
#include "nn/optim.h"

/* Files train_run writes into its folder. */
#define TRAIN_MODEL_FILE "model.safetensors" /* the weights of the best epoch so far */
#define TRAIN_LOG_FILE   "log.jsonl"         /* one JSON line per epoch */
#define TRAIN_CURVE_FILE "curve.svg"         /* the loss and the validation metric per epoch */
#define TRAIN_RESUME_FILE "resume.safetensors" /* tc->resumable: the state after the last finished epoch */

/* How the weights move after each step. */
typedef enum {
    OPT_ADAM,      /* Adam over every element (the seed) */
    OPT_LAZY_ADAM, /* the item table's rows a step used, as torch.optim.SparseAdam; the rest as Adam */
} OptimizerKind;

/* The settings of a training run: those of each step and those of the loop. */
typedef struct {
    int64_t batch;       /* users per step, 256 */
    int epochs;          /* most epochs, 200 */
    int patience;        /* epochs without a strict gain of the validation metric before stopping, 10 */
    uint64_t seed;       /* initialisation, dropout, negatives and shuffling, 42 */
    double lr;           /* Adam's learning rate, 1e-3 */
    double weight_decay; /* Adam's L2 weight decay, 0 */
    double clip;         /* the largest global gradient norm; 0: no clipping (the default) */
    LossKind loss;       /* LOSS_BCE: one negative per position (the seed); LOSS_CE: softmax over all items;
                            LOSS_SAMPLED, LOSS_GBCE: over the negatives each batch shares */
    int64_t negatives;   /* LOSS_SAMPLED, LOSS_GBCE: negatives shared by each batch, 256 */
    NegDist neg_dist;    /* LOSS_SAMPLED: uniform draws (default), by popularity, in-batch or mixed, log-Q corrected */
    NegScope neg_scope;  /* LOSS_SAMPLED, LOSS_GBCE: K per batch (default), per sequence or per position */
    double gbce_t;       /* LOSS_GBCE: gSASRec's calibration t in [0, 1], 0.75 */
    OptimizerKind optimizer; /* OPT_ADAM (default) or OPT_LAZY_ADAM */
    int dense;           /* 1: the dense step over padding too (same result, slower); 0: length-aware */
    int shards;          /* fixed shards of users each batch is cut into, their gradients summed in order
                            (step.h); under MPI they are dealt to the ranks. 1: the whole batch at once */
    const atomic_int *stop; /* NULL, or a flag another thread (a signal) sets nonzero: stop after the current step */
    const Dataset *valid_rows, *test_rows; /* NULL: the leave-one-out splits of the training data; else evaluation
                                              rows (data/timesplit.h) scored as their SPLIT_TEST */
    const Metrics *test_popular; /* with test_rows: the most-popular baseline on them (the caller ranks it) */
    int resumable;       /* 1: after every epoch, the state to resume from into dir/TRAIN_RESUME_FILE
                            (models/sasrec/train_resume.h); 0: not written */
    int resume;          /* 1: start from dir/TRAIN_RESUME_FILE when it exists (on rank 0, shared with every
                            rank), appending to the log as it was then; 0: from the start */
    Profile *profile;    /* NULL, or where every training step's ops are timed, batch fill included
                            (autograd/profile.h): the whole run's steps summed op by op */
} TrainConfig;

typedef enum {
    TRAIN_OK = 0,
    TRAIN_ERROR = 1,      /* a file could not be written */
    TRAIN_STOPPED = 2,    /* *tc->stop was set */
    TRAIN_NOT_FINITE = 3, /* the loss, or a validation score, became NaN or Inf */
} TrainStatus;

typedef struct {
    int epochs_run, best_epoch; /* best_epoch -1 if no epoch finished */
    double best_valid;          /* the monitored validation metric at best_epoch */
    int early_stopped;
    double first_loss, last_loss;       /* mean training loss of the first and last epoch */
    double train_seconds, eval_seconds; /* totals over epochs */
    double train_median, eval_median;   /* seconds of the median epoch and validation pass */
    Metrics test, popular;              /* test metrics of the best weights, and of most-popular */
} TrainResult;

/* The seed's settings (above). */
TrainConfig train_default_config(void);
/* Whether the loss scores every target against negatives shared by its batch (sampled, gBCE). */
int train_shares_negatives(LossKind loss);
/* The training negatives tc's loss needs (one per target, or tc->negatives per batch); -1 as batch_neg_prepare. */
int train_negatives(NegSampler *ns, const Dataset *ds, const TrainConfig *tc, NnError *err);
/* Fills b with batch `index` of epoch: users[0..n), their targets and negatives (shared ones if ns shares). */
void train_fill(SeqBatch *b, const Dataset *ds, const NegSampler *ns, const int64_t *users, int n, int epoch,
                int64_t index);
/* Adam's settings for tc: lr, weight decay, lazy for OPT_LAZY_ADAM. */
AdamConfig train_adam_config(const TrainConfig *tc);
/* Trains s on ds as tc says, writing dir/TRAIN_MODEL_FILE (best epoch),
 * TRAIN_LOG_FILE and TRAIN_CURVE_FILE as it goes; restores the best weights
 * and evaluates them on the test split under eval. Prints one line per epoch
 * to report (may be NULL) and the progress of each epoch (base/progress.h).
 * Every file is written in full or not at all; a status other than TRAIN_OK
 * may leave dir holding the best epoch so far. dir NULL: no files (the ranks
 * of an MPI job other than the first; every rank runs the same loop). A run
 * resumed from the state of epoch k (tc->resume) ends with the same bits as
 * one that was never stopped. */
TrainStatus train_run(Sasrec *s, const Dataset *ds, const TrainConfig *tc, const EvalOptions *eval, const char *dir,
                      FILE *report, TrainResult *res, NnError *err);

#endif
