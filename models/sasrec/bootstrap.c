#include "models/sasrec/bootstrap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/memory.h"
#include "base/parallel.h"
#include "base/rng.h"

enum { STREAM_RESAMPLE = 1, STREAM_SIGN = 2 }; /* the high word of Philox's counter: one stream per use */

/* Rows grouped by user: per user, the sums of its rows' values of each metric (G, M), and its row count (G).
 * The users whose sums are all 0 (every metric missed, the most common user) come last, from zero on: a draw
 * of one adds nothing, and the draws are uniform over the users whatever their order. */
typedef struct {
    int64_t G, zero; /* users; the first of those whose sums are all 0 */
    int M;
    double *sum;    /* (G, M) */
    int64_t *rows;  /* (G) */
    int64_t n;      /* rows in all */
    int one_row;    /* every user has one row */
} Groups;

/* The groups of the n rows: consecutive rows of the same user; B - A when rank_a is given, else B alone. */
static Groups groups_new(Protocol protocol, const int64_t *rank_a, const int64_t *rank_b, const int64_t *user,
                         int64_t n) {
    Groups g = {.M = METRICS_MAX, .n = n};
    g.sum = nn_calloc((size_t)(n ? n : 1) * METRICS_MAX, sizeof *g.sum);
    g.rows = nn_calloc((size_t)(n ? n : 1), sizeof *g.rows);
    for (int64_t i = 0; i < n; i++) {
        NN_CHECK(rank_b[i] >= 0 && (!rank_a || rank_a[i] >= 0), "bootstrap",
                 "row %lld has no rank (non-finite scores): refuse such a model before asking for its interval",
                 (long long)i);
        NN_CHECK(!user || i == 0 || user[i] >= user[i - 1], "bootstrap",
                 "row %lld's user %lld follows user %lld: give a user's rows together, users ascending", (long long)i,
                 (long long)user[i], (long long)user[i - 1]);
        if (i == 0 || !user || user[i] != user[i - 1]) g.G++;
        double vb[METRICS_MAX], va[METRICS_MAX] = {0};
        metrics_row(protocol, rank_b[i], vb);
        if (rank_a) metrics_row(protocol, rank_a[i], va);
        double *s = g.sum + (g.G - 1) * METRICS_MAX;
        for (int m = 0; m < METRICS_MAX; m++) s[m] += vb[m] - va[m];
        g.rows[g.G - 1]++;
    }
    g.one_row = g.G == n;
    return g;
}

/* Puts the users whose sums are all 0 after the others (each part in user order), setting g->zero. */
static void groups_zero_last(Groups *g) {
    double *sum = nn_malloc((size_t)(g->G ? g->G : 1) * (size_t)g->M * sizeof *sum);
    int64_t *rows = nn_malloc((size_t)(g->G ? g->G : 1) * sizeof *rows), to = 0;
    for (int zero = 0; zero < 2; zero++) {
        if (zero) g->zero = to;
        for (int64_t u = 0; u < g->G; u++) {
            int any = 0;
            for (int m = 0; m < g->M; m++) any |= g->sum[u * g->M + m] != 0;
            if (any == zero) continue;
            memcpy(sum + to * g->M, g->sum + u * g->M, (size_t)g->M * sizeof *sum);
            rows[to++] = g->rows[u];
        }
    }
    free(g->sum);
    free(g->rows);
    g->sum = sum;
    g->rows = rows;
}

static void groups_free(Groups *g) {
    free(g->sum);
    free(g->rows);
}

typedef struct {
    const Groups *g;
    uint64_t seed;
    int sign;     /* 0: resample users with replacement; 1: flip each user's sign */
    double *stat; /* (M, R) each metric's mean in each resample */
    int64_t R;
} Resampler;

/* SplitMix64: the stream of one resample, started from a Philox block of (seed, resample), so that resample b
 * is the same whichever thread draws it; a draw costs a few instructions, not a Philox block. */
static uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* floor(x * n / 2^64) for a 64-bit x and n < 2^32: a uniform draw in [0, n) from 64 random bits. */
static int64_t below(uint64_t x, int64_t n) {
    uint64_t hi = (x >> 32) * (uint64_t)n, lo = ((x & 0xffffffffu) * (uint64_t)n) >> 32;
    return (int64_t)((hi + lo) >> 32);
}

/* One resample b: the means over its rows of each metric into stat[m * R + b]. */
static void resample_one(const Resampler *r, int64_t b) {
    const Groups *g = r->g;
    double total[METRICS_MAX] = {0};
    int64_t rows = 0;
    uint32_t w[4];
    philox4x32(r->seed, (uint64_t)(r->sign ? STREAM_SIGN : STREAM_RESAMPLE) << 32 | (uint64_t)b, 0, w);
    uint64_t state = (uint64_t)w[0] << 32 | w[1], bits = 0;
    for (int64_t j = 0; j < g->G; j++) {
        int64_t u = j;
        double s = 1;
        if (r->sign) { /* a bit per user; the users of sum 0 add nothing either way */
            if ((j & 63) == 0) bits = splitmix(&state);
            if (j >= g->zero) break;
            s = (bits >> (j & 63)) & 1 ? -1 : 1;
        } else {
            u = below(splitmix(&state), g->G);
        }
        rows += g->one_row ? 1 : g->rows[u];
        if (u >= g->zero) continue;
        const double *v = g->sum + u * METRICS_MAX;
        for (int m = 0; m < METRICS_MAX; m++) total[m] += s * v[m];
    }
    if (r->sign) rows = g->n;
    for (int m = 0; m < g->M; m++) r->stat[m * r->R + b] = rows ? total[m] / (double)rows : 0;
}

static void resample_range(void *ctx, NnChunk c) {
    for (int64_t b = c.begin; b < c.end; b++) resample_one(ctx, b);
}

/* Every resample's means, (M, R); the caller frees them. */
static double *resample_all(const Groups *g, int resamples, uint64_t seed, int sign) {
    NN_CHECK(resamples >= 1 && resamples <= BOOTSTRAP_MAX_RESAMPLES && g->G < ((int64_t)1 << 32), "bootstrap",
             "resamples %d must be in [1, %d] and users %lld below 2^32", resamples, BOOTSTRAP_MAX_RESAMPLES,
             (long long)g->G);
    Resampler r = {g, seed, sign, nn_malloc((size_t)g->M * (size_t)resamples * sizeof(double)), resamples};
    nn_parallel_for(resamples, g->G * 4, resample_range, &r);
    return r.stat;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bootstrap_percentiles(double *x, int64_t n, double *lo, double *hi) {
    NN_CHECK(n >= 1, "bootstrap_percentiles", "no values (n = %lld)", (long long)n);
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    double q[2] = {0.025, 0.975}, *out[2] = {lo, hi};
    for (int k = 0; k < 2; k++) {
        double h = q[k] * (double)(n - 1);
        int64_t i = (int64_t)floor(h);
        *out[k] = i + 1 < n ? x[i] + (h - (double)i) * (x[i + 1] - x[i]) : x[i];
    }
}

/* The mean over every row of each metric (the groups' sums in user order). */
static void means(const Groups *g, double *mean) {
    for (int m = 0; m < g->M; m++) {
        double s = 0;
        for (int64_t u = 0; u < g->G; u++) s += g->sum[u * g->M + m];
        mean[m] = g->n ? s / (double)g->n : 0;
    }
}

MetricsInterval bootstrap_interval(Protocol protocol, const int64_t *rank, const int64_t *user, int64_t n,
                                   int resamples, uint64_t seed) {
    MetricsInterval out = {.n = METRICS_MAX, .resamples = resamples, .seed = seed};
    Groups g = groups_new(protocol, NULL, rank, user, n);
    out.users = g.G;
    for (int m = 0; m < METRICS_MAX; m++) out.name[m] = metrics_names(protocol)[m];
    means(&g, out.value);
    groups_zero_last(&g);
    if (g.G > 0) {
        double *stat = resample_all(&g, resamples, seed, 0);
        for (int m = 0; m < METRICS_MAX; m++) bootstrap_percentiles(stat + m * resamples, resamples, &out.lo[m], &out.hi[m]);
        free(stat);
    }
    groups_free(&g);
    return out;
}

/* The sign-flip p-value of each metric's observed mean difference. */
static void sign_flip(const Groups *g, int resamples, uint64_t seed, MetricsPaired *out) {
    double *stat = resample_all(g, resamples, seed, 1);
    for (int m = 0; m < g->M; m++) {
        double obs = fabs(out->diff[m]), tol = 1e-12; /* the same sum in another order may round apart */
        int64_t as_far = 0;
        for (int b = 0; b < resamples; b++) as_far += fabs(stat[m * resamples + b]) >= obs - tol;
        out->p[m] = (double)(1 + as_far) / (double)(1 + resamples);
    }
    free(stat);
}

MetricsPaired bootstrap_paired(Protocol protocol, const int64_t *rank_a, const int64_t *rank_b, const int64_t *user,
                               int64_t n, int resamples, uint64_t seed) {
    NN_CHECK(rank_a && rank_b, "bootstrap_paired", "both models' ranks are needed");
    MetricsPaired out = {.n = METRICS_MAX, .resamples = resamples, .seed = seed};
    Groups g = groups_new(protocol, rank_a, rank_b, user, n);
    out.users = g.G;
    for (int m = 0; m < METRICS_MAX; m++) {
        out.name[m] = metrics_names(protocol)[m];
        out.p[m] = 1;
        for (int64_t u = 0; u < g.G; u++) {
            out.better[m] += g.sum[u * g.M + m] > 0;
            out.worse[m] += g.sum[u * g.M + m] < 0;
        }
    }
    means(&g, out.diff);
    groups_zero_last(&g);
    if (g.G > 0) {
        double *stat = resample_all(&g, resamples, seed, 0);
        for (int m = 0; m < METRICS_MAX; m++) bootstrap_percentiles(stat + m * resamples, resamples, &out.lo[m], &out.hi[m]);
        free(stat);
        sign_flip(&g, resamples, seed, &out);
    }
    groups_free(&g);
    return out;
}

int64_t *bootstrap_row_users(char *const *user_ids, int64_t n) {
    int64_t *user = nn_malloc((size_t)(n ? n : 1) * sizeof *user);
    for (int64_t i = 0; i < n; i++)
        user[i] = i == 0 ? 0 : user[i - 1] + (strcmp(user_ids[i], user_ids[i - 1]) != 0);
    return user;
}
