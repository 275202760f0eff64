/* How sure a metric is: 95% intervals by the bootstrap over users, and the
 * paired comparison of two models on the same evaluation rows, from the
 * per-row ranks of eval.h (docs/sasrec.md, section 5).
 *
 * Rows are grouped by user (user NULL: one row per user, as leave-one-out
 * gives); a resample draws as many users as there are, uniformly with
 * replacement, and takes every row of each drawn user; a metric of a
 * resample is the mean over its rows. The interval is the 2.5% and 97.5%
 * percentiles of the resamples' values (linear between order statistics).
 *
 * The paired test: per user, the sum of B's row values minus A's. The
 * interval of the mean difference is the bootstrap's as above; the two-sided
 * p-value is a sign-flip (paired permutation) test: under "A and B are
 * exchangeable on every user" each user's difference keeps or flips its sign
 * with probability 1/2, and p = (1 + #{resamples with |mean| >= |observed|})
 * / (1 + resamples). Identical ranks give a difference of 0 and p = 1.
 *
 * Each resample draws from its own SplitMix64 stream, started from the
 * Philox block (base/rng.h) of (seed, resample): the result depends on the
 * seed and the ranks alone, not on the thread count (resamples are shared
 * among threads whole) or on how an MPI job shared the ranking (eval gathers
 * the ranks to every rank). */
#ifndef NN_MODELS_SASREC_BOOTSTRAP_H
#define NN_MODELS_SASREC_BOOTSTRAP_H

#include "models/sasrec/metrics.h"

#define BOOTSTRAP_RESAMPLES 1000    /* eval's and compare's --resamples */
#define BOOTSTRAP_MAX_RESAMPLES 1000000

typedef struct {
    int n;                         /* metrics, in Metrics' order */
    const char *name[METRICS_MAX]; /* "HR@10", ... */
    double value[METRICS_MAX];     /* the metric over every row */
    double lo[METRICS_MAX], hi[METRICS_MAX]; /* its 95% interval */
    int resamples;
    uint64_t seed;
    int64_t users; /* groups resampled */
} MetricsInterval;

typedef struct {
    int n;
    const char *name[METRICS_MAX];
    double diff[METRICS_MAX];                /* B - A over every row */
    double lo[METRICS_MAX], hi[METRICS_MAX]; /* the 95% bootstrap interval of the difference */
    double p[METRICS_MAX];                   /* two-sided sign-flip p-value, in (0, 1] */
    int64_t better[METRICS_MAX], worse[METRICS_MAX]; /* users whose rows score higher (lower) under B */
    int resamples;
    uint64_t seed;
    int64_t users;
} MetricsPaired;

/* The 95% interval of each metric of the protocol over the n ranks (each >= 0; eval refuses non-finite
 * scores first), user (n) each row's user with a user's rows together, or NULL (a row per user). */
MetricsInterval bootstrap_interval(Protocol protocol, const int64_t *rank, const int64_t *user, int64_t n,
                                   int resamples, uint64_t seed);
/* B - A on the same n rows: rank_a and rank_b the ranks of the same rows under A and B. */
MetricsPaired bootstrap_paired(Protocol protocol, const int64_t *rank_a, const int64_t *rank_b, const int64_t *user,
                               int64_t n, int resamples, uint64_t seed);
/* Each of n rows' user, numbered 0, 1, ... in order, for rows whose user_ids name their user with a user's rows
 * together (the evaluation rows of --split time, several per user); the caller frees it. */
int64_t *bootstrap_row_users(char *const *user_ids, int64_t n);
/* The 2.5% and 97.5% percentiles of x (n >= 1, reordered: sorted ascending), linear between order statistics. */
void bootstrap_percentiles(double *x, int64_t n, double *lo, double *hi);

#endif
