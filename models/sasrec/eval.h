/* Evaluation: the rank of each user's held-out answer under the sampled
 * protocol (answer + n_neg negatives) or full ranking (every item), and the
 * most-popular baseline ranked the same way. Ties count against the answer
 * (docs/sasrec.md, section 5).
 *
 * Full ranking scores the item table in blocks (models/sasrec/item_scores.h),
 * so a pass holds O(batch x block) scores, never O(batch x items); the ranks
 * are those of scoring every item at once, bit for bit.
 *
 * A ranking pass cuts its users into units (the batch with one thread, the
 * batch / threads with more) and ranks units in parallel, each unit's forward,
 * scores and counting in one thread; every rank depends on its user's row
 * alone, so it is the same for any thread count and batch size. Each thread
 * has its own graph: the first opt->graph (if given), the others new ones for
 * the pass, so training with 2 threads holds a second arena of a unit's
 * forward besides its own (Beauty: peak RSS 78 -> 142 MiB with --eval full);
 * memory_plan counts every thread's units and the table's copy. */
#ifndef NN_MODELS_SASREC_EVAL_H
#define NN_MODELS_SASREC_EVAL_H

#include <stdio.h>

#include "models/sasrec/batch.h"
#include "models/sasrec/metrics.h"
#include "models/sasrec/model.h"
#include "models/sasrec/data/sample.h"

/* Full ranking copies the item table once per pass as transposed tiles when it is at most this many bytes. */
#define EVAL_COPY_MAX (16 << 20)

typedef enum {
    SEEN_EXCLUDE, /* items of the model input never rank (the default) */
    SEEN_ZERO,    /* their score is set to 0, as the seed does */
} SeenPolicy;

typedef struct {
    Protocol protocol;        /* PROTOCOL_SAMPLE (the seed) or PROTOCOL_FULL */
    SeenPolicy seen;          /* full ranking only; SEEN_EXCLUDE */
    int batch;                /* users per forward pass, 512 */
    const SampleSet *samples; /* sampled protocol: the negatives (the caller's; NULL by default) */
    Graph *graph;             /* scratch graph to reuse across passes (its arena keeps its size); NULL: a new one */
    int resamples;            /* eval and compare: bootstrap resamples of the 95% intervals (bootstrap.h), 1000; 0:
                                 none. The ranking ignores it */
    int distributed;          /* 1: in an MPI job each rank ranks its share of the batches, and the ranks are
                                 gathered to every rank (eval_rank_model); the same ranks as one process */
} EvalOptions;

/* Catalogue coverage of the recommendations (full ranking): the share of items 1..N that appear in at least one
 * row's top k, the top k being the items the row ranks highest under the same rules as its answer (excluded items
 * never rank, ties to the lower id: topk.h) with the answer competing like any other item. */
#define EVAL_COVERAGE_MAX 3 /* cutoffs 5, 10, 20: those of the full protocol's metrics */
typedef struct {
    int n;                              /* cutoffs */
    int k[EVAL_COVERAGE_MAX];           /* 5, 10, 20 */
    double value[EVAL_COVERAGE_MAX];    /* in [0, 1] */
    int64_t items;                      /* the catalogue: N */
} EvalCoverage;

/* The user vectors of one batch: U (b->B, H), row i for user b->user[i]. */
typedef void (*EvalUsersFn)(void *ctx, const SeqBatch *b, const Tensor *U);

/* The defaults above. */
EvalOptions eval_default_options(void);

/* Ranks (n_users) of the answers of split (SPLIT_VALID or SPLIT_TEST) under the model. */
void eval_rank_model(Sasrec *s, const Dataset *ds, Split split, const EvalOptions *opt, int64_t *rank);
/* eval_rank_model under full ranking, and the coverage of the rows' top-k lists into *cov. */
void eval_rank_model_coverage(Sasrec *s, const Dataset *ds, Split split, const EvalOptions *opt, int64_t *rank,
                              EvalCoverage *cov);
/* Writes the coverage as JSON members ("coverage@10": 0.1234, ...) without braces. */
void eval_coverage_write_json(const EvalCoverage *cov, FILE *f);
/* The same ranks for the most-popular baseline: items scored by how often they
 * occur in the training part (all but each user's last two items), ties broken
 * at random by a fixed hash of the item. */
void eval_rank_popular(const Dataset *ds, Split split, const EvalOptions *opt, int64_t *rank);
/* Metrics of the model on split. */
Metrics eval_model(Sasrec *s, const Dataset *ds, Split split, const EvalOptions *opt);
/* Metrics of the most-popular baseline on split. */
Metrics eval_popular(const Dataset *ds, Split split, const EvalOptions *opt);
/* Runs the model (evaluation mode, no gradients) over every user of split in
 * user order, in batches of opt->batch users, and hands each batch with its
 * user vectors to visit: the loop of the ranking passes, for callers that
 * rank in their own way (sasrec predict, with topk_items). */
void eval_visit_users(Sasrec *s, const Dataset *ds, Split split, const EvalOptions *opt, EvalUsersFn visit, void *ctx);

#endif
