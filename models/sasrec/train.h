/* Training: epochs of shuffled batches with Adam, validation after each,
 * early stopping on a strict gain, the best weights kept and tested. */
#ifndef SASREC_TRAIN_H
#define SASREC_TRAIN_H

#include "models/sasrec/cli/config.h"
#include "models/sasrec/eval.h"

typedef enum {
    TRAIN_OK = 0,
    TRAIN_ERROR = 1,      /* a file could not be written */
    TRAIN_NOT_FINITE = 3, /* the loss became NaN or Inf */
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

/* Trains s on ds as c says, writing c->out/model.safetensors (best epoch),
 * log.jsonl and curve.svg as it goes; restores the best weights and evaluates
 * them on the test split. Prints one line per epoch to report (may be NULL)
 * and a progress bar to stderr when it is a terminal. */
TrainStatus train_run(Sasrec *s, const Dataset *ds, const RunConfig *c, const EvalOptions *eval, FILE *report,
                      TrainResult *res, NnError *err);
/* Seconds on a monotonic clock. */
double train_now(void);
/* Peak resident memory of this process in MiB (VmHWM), or -1 if unknown. */
double train_peak_rss_mib(void);

#endif
