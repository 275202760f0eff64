/* Ranking metrics from the rank of each user's answer (0 = first).
 *   HR@k   = mean [r < k]                (= Recall@k with one answer)
 *   NDCG@k = mean [r < k] / log2(r + 2)
 *   MRR    = mean 1 / (r + 1)
 * The sampled protocol reports HR@1, HR@5, HR@10, NDCG@5, NDCG@10 and MRR;
 * full ranking HR@5, HR@10, HR@20, NDCG@5, NDCG@10, NDCG@20 (docs/sasrec.md,
 * section 5). */
#ifndef NN_MODELS_SASREC_METRICS_H
#define NN_MODELS_SASREC_METRICS_H

#include <stdint.h>
#include <stdio.h>

typedef enum { PROTOCOL_SAMPLE, PROTOCOL_FULL } Protocol;

#define METRICS_MAX 6

typedef struct {
    Protocol protocol;
    int n;                         /* number of metrics */
    const char *name[METRICS_MAX]; /* "HR@10", ... */
    double value[METRICS_MAX];     /* in [0, 1] */
    int64_t users;                 /* answers ranked */
    int64_t nonfinite;             /* users whose scores were NaN or infinite (rank < 0): the metrics are void */
} Metrics;

/* The protocol's METRICS_MAX metric names, in the order of Metrics.name. */
const char *const *metrics_names(Protocol protocol);
/* What one row whose answer ranks rank (>= 0) adds to each metric's sum, in that order (the metric is the mean). */
void metrics_row(Protocol protocol, int64_t rank, double value[METRICS_MAX]);
/* The protocol's metrics over n ranks; a negative rank marks a user whose scores could not be ranked. */
Metrics metrics_from_ranks(Protocol protocol, const int64_t *rank, int64_t n);
/* The value of the named metric, or -1 if the protocol lacks it. */
double metrics_get(const Metrics *m, const char *name);
/* The rank from which a row adds nothing to any of the protocol's metrics (every rank at or past it adds the
 * same zeros), or 0 when every rank counts (MRR): 20 under full ranking. */
int64_t metrics_rank_cap(Protocol protocol);
/* The metric early stopping watches: MRR (sampled) or NDCG@20 (full). */
const char *metrics_monitor(Protocol protocol);
/* Writes the metrics as JSON members ("HR@10": 0.4651, ...) without braces. */
void metrics_write_json(const Metrics *m, FILE *f);
/* "sample" or "full". */
const char *metrics_protocol_name(Protocol p);

#endif
