/* The resumable state of a training run (sasrec train --resume): what one
 * finished epoch leaves for the next, saved after every epoch into one
 * safetensors file written atomically, so that a process killed at any moment
 * leaves the state of its last finished epoch or of the one before.
 *
 * The file holds the weights ("<name>"), Adam's moments ("adam.m.<name>",
 * "adam.v.<name>"), the weights of the best epoch ("best.<name>"), and in its
 * metadata, exactly (doubles as C99 hex floats): Adam's step count and each
 * parameter's skipped steps (lazy Adam keeps no other state per row), the
 * module's two generators (dropout draws advance its state; shuffling and the
 * training negatives are functions of (seed, epoch[, batch]) and need none),
 * the early-stopping state, the per-epoch losses, metrics and times, and the
 * length of the training log after the epoch. Loading them gives the run the
 * state an uninterrupted run has after that epoch, to the bit. */
#ifndef NN_MODELS_SASREC_TRAIN_RESUME_H
#define NN_MODELS_SASREC_TRAIN_RESUME_H

#include "models/sasrec/train.h"

/* What the loop keeps between epochs besides the weights and the optimizer. */
typedef struct {
    TrainResult *res; /* epochs_run, best_epoch, best_valid, early_stopped, losses and seconds so far */
    int counter;      /* epochs since the best one (early stopping) */
    int64_t log_bytes; /* length of TRAIN_LOG_FILE after the last finished epoch */
    int cap;          /* entries of the arrays below (the run's most epochs) */
    double *losses, *scores, *train_s, *eval_s; /* per finished epoch */
    Tensor **best;    /* (the module's n_params) the weights of the best epoch */
} TrainProgress;

/* Writes m's weights, opt's state, m's generators and p to path atomically; -1 and a message on failure. */
int train_resume_save(const char *path, const Module *m, const Adam *opt, const TrainProgress *p, NnError *err);
/* Reads path into m, opt and p: 1 when loaded, 0 when there is no file, -1 and a message naming the file
 * when it is not a state of this run's model (m, opt and p may then be partly changed). */
int train_resume_load(const char *path, Module *m, Adam *opt, TrainProgress *p, NnError *err);
/* Gives every rank of an MPI job rank 0's m, opt and p (each rank calls it at the same point). */
void train_resume_share(Module *m, Adam *opt, TrainProgress *p);

#endif
