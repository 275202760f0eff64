/* The memory plan of a run: before allocating, estimate what a command will
 * hold at its peak (parameters, optimizer state, one step's activations, one
 * evaluation pass) from its flags and its data, and refuse with the estimate,
 * what dominates it and the flag to change when it exceeds the memory
 * available (base/memory.h), instead of aborting half way.
 *
 * The activation figures are per computed position and per attention entry,
 * fitted to measured peak RSS (memory_plan.c), applied to the largest batch
 * the run will see: exactly for evaluation (users in order), and for
 * shuffled training batches (training inputs: len - 3) the expected largest
 * of an epoch's batches, the mean plus sqrt(2 ln batches) standard
 * deviations. The sampled losses add their (T x K) logits, gradients and
 * probabilities. memory_plan_check compares the total with the memory
 * available and with what the address-space and data limits (ulimit -v,
 * ulimit -d) leave. */
#ifndef NN_MODELS_SASREC_MEMORY_PLAN_H
#define NN_MODELS_SASREC_MEMORY_PLAN_H

#include "base/error.h"
#include "models/sasrec/data/dataset.h"
#include "models/sasrec/eval.h"
#include "models/sasrec/model.h"
#include "models/sasrec/train.h"

typedef enum { PLAN_TRAIN, PLAN_EVAL, PLAN_PREDICT, PLAN_EXPLAIN } PlanCommand;

typedef struct {
    double params;      /* bytes: the weights */
    double optimizer;   /* train, explain: gradients, Adam's two moments, train's copy of the best epoch */
    double activations; /* train, explain: one training step (forward and backward) of the largest batch */
    double eval;        /* one evaluation (or predict) pass of the largest batch, and its per-user buffers */
    double total;       /* the sum */
    const char *dominant; /* "parameters", "optimizer state", "activations" or "evaluation buffers" */
    const char *advice;   /* the flags that shrink the dominant part */
} MemoryPlan;

/* The plan of command cmd over ds with model mc (mc->n_items set), training settings tc (train, explain) and
 * evaluation settings eo (eo->batch; the protocol); k is predict's items per user. */
MemoryPlan memory_plan(PlanCommand cmd, const SasrecConfig *mc, const TrainConfig *tc, const EvalOptions *eo,
                       const Dataset *ds, int64_t k);
/* 0 if plan fits the memory available (or that is unknown); else -1 and a message naming the estimate, its
 * largest part, the memory available and where that figure comes from, and the flag to change. */
int memory_plan_check(const MemoryPlan *plan, NnError *err);

#endif
