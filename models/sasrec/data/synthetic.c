#include "models/sasrec/data/synthetic.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/memory.h"
#include "base/rng.h"
#include "io/atomic_file.h"

/* How a next item is chosen (probabilities add to 1). */
#define P_LAST     0.75 /* a successor of the last item */
#define P_PREVIOUS 0.15 /* a successor of the item before it */
/* otherwise (10%): a popularity jump */
#define POPULARITY_SKEW 1.0 /* Zipf exponent of the jumps and first items */
#define SUCCESSOR_SKEW  0.3 /* Zipf exponent of the successors: milder, so that popularity alone predicts little */
static const double successor_weight[SYNTHETIC_SUCCESSORS] = {0.45, 0.25, 0.18, 0.12};

SyntheticOptions synthetic_default_options(void) {
    return (SyntheticOptions){.n_users = 2000, .n_items = 1000, .min_len = 5, .max_len = 40, .len_skew = 2, .seed = 42};
}

/* Cumulative weights 1/rank^exponent over items in a random order: cdf (n) for draw_cdf. */
static double *zipf_cdf(const int64_t *rank, int64_t n, double exponent) {
    double *cdf = nn_malloc((size_t)n * sizeof *cdf), total = 0;
    for (int64_t i = 0; i < n; i++) cdf[i] = total += pow((double)(rank[i] + 1), -exponent);
    for (int64_t i = 0; i < n; i++) cdf[i] /= total;
    return cdf;
}

static int64_t draw_cdf(const double *cdf, int64_t n, Rng *r) {
    double x = rng_uniform(r);
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (cdf[mid] <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int draw_successor_slot(Rng *r) {
    double x = rng_uniform(r), acc = 0;
    for (int k = 0; k < SYNTHETIC_SUCCESSORS - 1; k++)
        if (x < (acc += successor_weight[k])) return k;
    return SYNTHETIC_SUCCESSORS - 1;
}

static char *format_id(char prefix, int64_t n) {
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%c%lld", prefix, (long long)n);
    return memcpy(nn_malloc((size_t)len + 1), buf, (size_t)len + 1);
}

static int check_options(const SyntheticOptions *opt, NnError *err) {
    if (opt->n_users < 1 || opt->n_users > INT32_MAX)
        return nn_fail(err, "synthetic data: %lld users; expected 1 to %d", (long long)opt->n_users, INT32_MAX);
    if (opt->min_len < 3 || opt->max_len < opt->min_len)
        return nn_fail(err, "synthetic data: lengths %d..%d; expected 3 <= min_len <= max_len", opt->min_len,
                       opt->max_len);
    if (!(opt->len_skew > 0 && opt->len_skew <= 1000))
        return nn_fail(err, "synthetic data: length skew %g; expected a number in (0, 1000]", opt->len_skew);
    if (opt->n_items < (int64_t)opt->max_len + 100 || opt->n_items > INT32_MAX - 1)
        return nn_fail(err,
                       "synthetic data: %lld items; expected at least max_len + 100 = %d (so that 99 negatives "
                       "exist for every user) and at most %d",
                       (long long)opt->n_items, opt->max_len + 100, INT32_MAX - 1);
    return 0;
}

/* The popularity ranks 0..n-1 in a random order. */
static int64_t *shuffled_ranks(int64_t n, Rng *r) {
    int64_t *rank = nn_malloc((size_t)n * sizeof *rank);
    for (int64_t i = 0; i < n; i++) rank[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below(r, (uint64_t)i + 1), t = rank[i];
        rank[i] = rank[j], rank[j] = t;
    }
    return rank;
}

/* Each item's successors (distinct, not itself), drawn by succ_pop: (n, SYNTHETIC_SUCCESSORS). */
static int64_t *draw_successors(const double *succ_pop, int64_t n, Rng *r) {
    int64_t *succ = nn_malloc((size_t)n * SYNTHETIC_SUCCESSORS * sizeof *succ);
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < SYNTHETIC_SUCCESSORS;) {
            int64_t j = draw_cdf(succ_pop, n, r);
            int dup = j == i;
            for (int q = 0; q < k; q++) dup |= succ[i * SYNTHETIC_SUCCESSORS + q] == j;
            if (!dup) succ[i * SYNTHETIC_SUCCESSORS + k++] = j;
        }
    return succ;
}

/* User u's len items into seq (generator indices), none twice (last_user[item] == u marks those taken). */
static void draw_user(const int64_t *succ, const double *pop, int64_t n, int64_t u, int len, int64_t *seq,
                      int64_t *last_user, Rng *r) {
    for (int t = 0; t < len; t++) {
        int64_t item = -1;
        for (int attempt = 0; item < 0 || last_user[item] == u; attempt++) {
            double c = rng_uniform(r);
            if (t > 0 && attempt < 8 && c < P_LAST)
                item = succ[seq[t - 1] * SYNTHETIC_SUCCESSORS + draw_successor_slot(r)];
            else if (t > 1 && attempt < 8 && c < P_LAST + P_PREVIOUS)
                item = succ[seq[t - 2] * SYNTHETIC_SUCCESSORS + draw_successor_slot(r)];
            else
                item = draw_cdf(pop, n, r);
        }
        last_user[item] = u;
        seq[t] = item;
    }
}

/* Every user's sequence, as generator item indices: user u's are (*seq)[start[u] .. start[u + 1]). Returns
 * the total. */
static int64_t draw_users(const SyntheticOptions *opt, const int64_t *succ, const double *pop, Rng *r, int64_t *start,
                          int64_t **seq_out) {
    int64_t n = opt->n_items, U = opt->n_users;
    int64_t cap = U * (opt->min_len + opt->max_len) / 2 + 16, total = 0;
    int64_t *seq = nn_malloc((size_t)cap * sizeof *seq);
    int64_t *last_user = nn_malloc((size_t)n * sizeof *last_user); /* no repeats within a user */
    for (int64_t i = 0; i < n; i++) last_user[i] = -1;
    for (int64_t u = 0; u < U; u++) {
        double x = rng_uniform(r);
        double xp = opt->len_skew == 2 ? x * x : pow(x, opt->len_skew); /* 2: skewed to short (the seed's) */
        int len = opt->min_len + (int)(xp * (opt->max_len - opt->min_len + 1));
        if (total + len > cap) seq = nn_realloc(seq, (size_t)(cap = 2 * (total + len)) * sizeof *seq);
        start[u] = total;
        draw_user(succ, pop, n, u, len, seq + total, last_user, r);
        total += len;
    }
    start[U] = total;
    free(last_user);
    *seq_out = seq;
    return total;
}

/* The sequences into out: items numbered by first appearance, as the loader does. */
static void fill_dataset(int64_t U, int64_t n, const int64_t *start, const int64_t *seq, int64_t total, Dataset *out) {
    int32_t *id = nn_calloc((size_t)n, sizeof *id);
    out->n_users = U;
    out->seq_start = nn_malloc(((size_t)U + 1) * sizeof *out->seq_start);
    out->items = nn_malloc(((size_t)total + 1) * sizeof *out->items);
    out->user_ids = nn_malloc((size_t)U * sizeof *out->user_ids);
    out->item_ids = nn_calloc((size_t)n + 1, sizeof *out->item_ids);
    int32_t n_items = 0;
    for (int64_t u = 0; u <= U; u++) out->seq_start[u] = start[u];
    for (int64_t k = 0; k < total; k++) {
        int64_t i = seq[k];
        if (!id[i]) {
            id[i] = ++n_items;
            out->item_ids[n_items] = format_id('i', i + 1);
        }
        out->items[k] = id[i];
    }
    for (int64_t u = 0; u < U; u++) out->user_ids[u] = format_id('u', u + 1);
    out->n_items = n_items;
    out->n_interactions = total;
    out->format = FORMAT_SYNTHETIC;
    out->min_interactions = DATASET_MIN_INTERACTIONS;
    free(id);
}

int synthetic_generate(const SyntheticOptions *opt, Dataset *out, NnError *err) {
    memset(out, 0, sizeof *out);
    if (check_options(opt, err)) return -1;
    int64_t n = opt->n_items, U = opt->n_users;
    Rng r = rng_new(opt->seed, 0x53594E5448000000ull); /* "SYNTH" */
    /* popularity ranks in a random order, then each item's successors */
    int64_t *rank = shuffled_ranks(n, &r);
    double *pop = zipf_cdf(rank, n, POPULARITY_SKEW), *succ_pop = zipf_cdf(rank, n, SUCCESSOR_SKEW);
    int64_t *succ = draw_successors(succ_pop, n, &r);
    int64_t *start = nn_malloc(((size_t)U + 1) * sizeof *start), *seq;
    int64_t total = draw_users(opt, succ, pop, &r, start, &seq);
    fill_dataset(U, n, start, seq, total, out);
    free(rank), free(pop), free(succ_pop), free(succ), free(start), free(seq);
    return dataset_build_maps(out, err);
}

double synthetic_len_skew(int min_len, int max_len, double avg_len) {
    NN_CHECK(min_len < avg_len && avg_len <= max_len, "synthetic_len_skew", "mean %g outside (%d, %d]", avg_len,
             min_len, max_len);
    return (double)(max_len - min_len + 1) / (avg_len - min_len) - 1;
}

int synthetic_write_seq(const Dataset *ds, const char *path, NnError *err) {
    AtomicFile *af = atomic_open(path, err);
    if (!af) return -1;
    FILE *f = atomic_stream(af);
    for (int64_t u = 0; u < ds->n_users; u++) {
        int64_t len;
        const int32_t *s = dataset_seq(ds, u, &len);
        errno = 0;
        fputs(ds->user_ids[u], f);
        for (int64_t k = 0; k < len; k++) {
            fputc(' ', f);
            fputs(ds->item_ids[s[k]], f);
        }
        fputc('\n', f);
        if (ferror(f)) { /* stop at the first failed write, with its reason (a full disk sets err->resource) */
            int e = errno ? errno : EIO;
            atomic_abort(af);
            return nn_fail_os(err, e, "%s: writing user %lld of %lld failed", path, (long long)u + 1,
                              (long long)ds->n_users);
        }
    }
    return atomic_commit(af, err);
}
