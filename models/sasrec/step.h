/* One training step of SASRec: the one place that runs
 *   tokens -> forward -> loss -> backward -> clip -> Adam -> zero gradients -> graph reset
 * for training (train.c), `sasrec explain`, the epoch benchmark and the tests. */
#ifndef NN_MODELS_SASREC_STEP_H
#define NN_MODELS_SASREC_STEP_H

#include "models/sasrec/batch.h"
#include "models/sasrec/train.h"
#include "nn/optim.h"

typedef struct {
    double loss;     /* the batch loss: the mean over its real targets */
    int64_t targets; /* real (non-padding) targets in the batch */
} StepResult;

/* One step on the training batch b (filled by batch_fill for SPLIT_TRAIN),
 * with tc's loss, clipping and layout (dense or length-aware), in s's current
 * mode. With tc->shards K > 1, or in an MPI job of several ranks, b is cut
 * into K fixed shards of users, each run into zeroed gradients with its own
 * dropout stream (module_dropout_stream of Adam's step count and the shard)
 * and its loss weighted by its share of b's targets; the shards are dealt to
 * the ranks and summed in shard order (nn/grad_sum.h), so the update is the
 * same bits for any rank count (docs/distributed.md). K = 1 in one process is
 * the plain step. The graph g is reset before it returns. A batch without real targets
 * (users with 3 items only) changes nothing and returns targets 0, loss 0. A
 * loss that is not finite is returned without any update (no backward, no
 * Adam step): the weights stay as they were. The loss tensor is reported to
 * g's trace hook as "loss" before backward, with the graph still whole. */
StepResult sasrec_step(Sasrec *s, Adam *opt, Graph *g, const SeqBatch *b, const TrainConfig *tc);

/* The pieces both steps share (step.c, step_sharded.c). */
/* The training loss of b at the rows of its tokens (tc's loss and layout), reported to s's trace hook, and
 * the real targets it has in *targets; NULL when there are none (nothing is recorded then). */
Tensor *step_loss(Sasrec *s, Graph *g, const SeqBatch *b, const TrainConfig *tc, int64_t *targets);
/* Clip, Adam, zero: the update from the gradients in s's parameters (each a row of g's profile, if any). */
void step_update(Sasrec *s, Adam *opt, Graph *g, const TrainConfig *tc);

#endif
