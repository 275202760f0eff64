/* The sharded training step (tc->shards K > 1, or an MPI job of several
 * ranks): the same update, to the bit, for any rank count (docs/distributed.md). */
#ifndef NN_MODELS_SASREC_STEP_SHARDED_H
#define NN_MODELS_SASREC_STEP_SHARDED_H

#include "models/sasrec/step.h"

/* Shard k of K holds b's users dist_share(B, k, K); this rank runs the shards
 * dist_share(K, rank, size), each into zeroed gradients with its own dropout
 * stream, its loss scaled by its share of the batch's targets (so the shards'
 * sum is the batch's mean); the gradients and losses are summed in shard order
 * across ranks (grad_sum_chain), and every rank takes the same update (none
 * when the sum is not finite). The graph g is reset after each shard. */
StepResult step_sharded(Sasrec *s, Adam *opt, Graph *g, const SeqBatch *b, const TrainConfig *tc);

#endif
