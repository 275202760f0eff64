#include "models/sasrec/data/sample.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/memory.h"
#include "base/parallel.h"
#include "base/progress.h"
#include "base/rng.h"
#include "io/atomic_file.h"
#include "models/sasrec/io/textfile.h"
#include "io/utf8.h"
#include "models/sasrec/data/mt19937.h"

/* Per-item marks, one pass per user: 2u = in user u's sequence, 2u + 1 = already drawn/read for u. */
static int64_t *new_marks(const Dataset *ds) {
    int64_t *mark = nn_malloc(((size_t)ds->n_items + 1) * sizeof *mark);
    for (int64_t i = 0; i <= ds->n_items; i++) mark[i] = -1;
    return mark;
}

/* Marks user u's items; returns how many distinct ones. */
static int64_t mark_user(const Dataset *ds, int64_t u, int64_t *mark) {
    int64_t len, distinct = 0;
    const int32_t *s = dataset_seq(ds, u, &len);
    for (int64_t k = 0; k < len; k++)
        if (mark[s[k]] != 2 * u) mark[s[k]] = 2 * u, distinct++;
    return distinct;
}

static int is_space(char c) { return c == ' ' || c == '\t'; }

static int too_few_unseen(const Dataset *ds, int64_t u, int64_t avail, int n_neg, NnError *err);

static int read_line(const TextFile *f, const TextLine *l, const Dataset *ds, int n_neg, SampleSet *out,
                     int64_t *line_of_user, int64_t *mark, NnError *err) {
    const char *p = l->p;
    size_t i = 0, n = l->len;
    while (i < n && is_space(p[i])) i++;
    size_t us = i;
    while (i < n && !is_space(p[i])) i++;
    size_t ul = i - us;
    int64_t u = dataset_user_index(ds, p + us, ul);
    if (u < 0)
        return nn_fail(err,
                       "%s:%lld:%zu: user \"%s\" is not in the data (%lld users with at least %d interactions); "
                       "expected a sample file made for this data",
                       f->name, (long long)l->number, us + 1, utf8_quote(p + us, ul, 60).s, (long long)ds->n_users,
                       ds->min_interactions);
    if (line_of_user[u])
        return nn_fail(err, "%s:%lld: user \"%s\" has a line already (line %lld); expected one line per user", f->name,
                       (long long)l->number, ds->user_ids[u], (long long)line_of_user[u]);
    line_of_user[u] = l->number;
    mark_user(ds, u, mark);
    int32_t *neg = out->neg + u * n_neg;
    int k = 0;
    for (;;) {
        while (i < n && is_space(p[i])) i++;
        if (i >= n) break;
        size_t s = i;
        while (i < n && !is_space(p[i])) i++;
        if (k == n_neg)
            return nn_fail(err, "%s:%lld:%zu: user \"%s\" has more than %d negatives; expected exactly %d", f->name,
                           (long long)l->number, s + 1, ds->user_ids[u], n_neg, n_neg);
        int32_t id = dataset_item_id(ds, p + s, i - s);
        if (!id)
            return nn_fail(err,
                           "%s:%lld:%zu: negative \"%s\" is not an item of the data (%lld items); expected "
                           "item ids of this data",
                           f->name, (long long)l->number, s + 1, utf8_quote(p + s, i - s, 60).s,
                           (long long)ds->n_items);
        if (mark[id] == 2 * u)
            return nn_fail(err,
                           "%s:%lld:%zu: negative \"%s\" is in user \"%s\"'s own sequence; expected items the "
                           "user never interacted with (was this file made for other data?)",
                           f->name, (long long)l->number, s + 1, utf8_quote(p + s, i - s, 60).s,
                           utf8_quote(ds->user_ids[u], strlen(ds->user_ids[u]), 60).s);
        if (mark[id] == 2 * u + 1) out->duplicates++;
        mark[id] = 2 * u + 1;
        neg[k++] = id;
    }
    if (k < n_neg)
        return nn_fail(err, "%s:%lld: user \"%s\" has %d negative%s; expected exactly %d", f->name,
                       (long long)l->number, ds->user_ids[u], k, k == 1 ? "" : "s", n_neg);
    return 0;
}

int sample_read_buffer(const char *name, const char *data, size_t size, const Dataset *ds, int n_neg, SampleSet *out,
                       NnError *err) {
    NN_CHECK(n_neg >= 1, "sample_read", "n_neg %d < 1", n_neg);
    memset(out, 0, sizeof *out);
    TextFile f;
    textfile_wrap(name, data, size, &f);
    if (textfile_check(&f, err)) return -1;
    out->n_users = ds->n_users;
    out->n_neg = n_neg;
    out->neg = nn_calloc((size_t)ds->n_users * (size_t)n_neg + 1, sizeof *out->neg);
    int64_t *line_of_user = nn_calloc((size_t)ds->n_users + 1, sizeof *line_of_user);
    int64_t *mark = new_marks(ds);
    LineReader r = textfile_lines(&f);
    TextLine l;
    int64_t lines = 0;
    int rc = 0;
    while (rc == 0 && textfile_next_nonblank(&r, &l)) {
        lines++;
        rc = read_line(&f, &l, ds, n_neg, out, line_of_user, mark, err);
    }
    if (rc == 0 && lines == 0)
        rc = nn_fail(err, "%s is empty; expected one line \"user neg1 ... neg%d\" per user of the data", name, n_neg);
    if (rc == 0) {
        int64_t missing = 0, first = -1;
        for (int64_t u = 0; u < ds->n_users; u++)
            if (!line_of_user[u] && missing++ == 0) first = u;
        if (missing) {
            rc = nn_fail(err,
                         "%s: user \"%s\" of the data has no line (%lld of the %lld users have none); expected "
                         "one line \"user neg1 ... neg%d\" per user of the data",
                         name, utf8_quote(ds->user_ids[first], strlen(ds->user_ids[first]), 60).s, (long long)missing,
                         (long long)ds->n_users, n_neg);
        }
    }
    free(line_of_user);
    free(mark);
    if (rc) sample_free(out);
    return rc;
}

int sample_read(const char *path, const Dataset *ds, int n_neg, SampleSet *out, NnError *err) {
    TextFile f;
    memset(out, 0, sizeof *out);
    if (textfile_read_exact(path, &f, err)) return -1; /* sample_read_buffer skips the mark, once */
    int rc = sample_read_buffer(path, f.data, f.size, ds, n_neg, out, err);
    textfile_free(&f);
    return rc;
}

int sample_generate(const Dataset *ds, int n_neg, uint64_t seed, SampleSet *out, NnError *err) {
    NN_CHECK(n_neg >= 1, "sample_generate", "n_neg %d < 1", n_neg);
    memset(out, 0, sizeof *out);
    if (ds->n_items < n_neg)
        return nn_fail(err, "the data has %lld items, fewer than the %d negatives drawn per user for evaluation",
                       (long long)ds->n_items, n_neg);
    out->n_users = ds->n_users;
    out->n_neg = n_neg;
    out->neg = nn_malloc(((size_t)ds->n_users * (size_t)n_neg + 1) * sizeof *out->neg);
    int64_t *mark = new_marks(ds);
    int64_t *perm = nn_malloc((size_t)ds->n_items * sizeof *perm);
    Mt19937 mt;
    mt19937_seed(&mt, (uint32_t)seed);
    Progress bar;
    progress_start(&bar, "evaluation negatives", "users", ds->n_users);
    for (int64_t u = 0; u < ds->n_users; u++) {
        progress_update(&bar, u, NULL);
        int64_t avail = ds->n_items - mark_user(ds, u, mark);
        if (avail < n_neg) {
            progress_end(&bar);
            free(mark);
            free(perm);
            sample_free(out);
            return too_few_unseen(ds, u, avail, n_neg, err);
        }
        /* generate_test.py: while fewer than n_neg, take rs.choice(all_item, n_neg, replace=False) (the first
         * n_neg of a permutation of all items) and keep those not in the user's sequence */
        int32_t *neg = out->neg + u * n_neg;
        for (int k = 0; k < n_neg;) {
            mt19937_permutation(&mt, ds->n_items, perm);
            for (int t = 0; t < n_neg && k < n_neg; t++) {
                int32_t item = (int32_t)perm[t] + 1; /* all_item lists the items in order of first appearance */
                if (mark[item] != 2 * u) neg[k++] = item;
            }
        }
    }
    progress_end(&bar);
    free(mark);
    free(perm);
    return 0;
}

/* The message of a user who leaves fewer than n_neg items to draw from. */
static int too_few_unseen(const Dataset *ds, int64_t u, int64_t avail, int n_neg, NnError *err) {
    return nn_fail(err,
                   "user \"%s\" interacted with %lld of the %lld items, which leaves %lld to draw %d "
                   "negatives from; expected at least %d items the user never interacted with",
                   utf8_quote(ds->user_ids[u], strlen(ds->user_ids[u]), 60).s, (long long)(ds->n_items - avail),
                   (long long)ds->n_items, (long long)avail, n_neg, n_neg);
}

#define DOMAIN_EVAL_NEGATIVES 0x4556414C4E454700ull /* "EVALNEG" */

/* n_neg distinct items of 1..N outside set[0..d) (ascending), uniformly, into neg. */
static void draw_unseen(const int32_t *set, int64_t d, int64_t N, int n_neg, Rng *r, int32_t *neg) {
    int64_t avail = N - d;
    if (2 * avail < N || avail < 2 * (int64_t)n_neg) { /* most of the catalogue seen: pick from the unseen list */
        int32_t *list = nn_malloc((size_t)avail * sizeof *list);
        int64_t n = 0, k = 0;
        for (int32_t item = 1; item <= N; item++) {
            while (k < d && set[k] < item) k++;
            if (k == d || set[k] != item) list[n++] = item;
        }
        for (int i = 0; i < n_neg; i++) { /* the first n_neg of a Fisher-Yates shuffle */
            int64_t j = i + (int64_t)rng_below(r, (uint64_t)(avail - i));
            int32_t t = list[i];
            list[i] = list[j], list[j] = t;
            neg[i] = list[i];
        }
        free(list);
        return;
    }
    for (int i = 0; i < n_neg;) { /* every draw is accepted with probability >= 1/4 */
        int32_t item = 1 + (int32_t)rng_below(r, (uint64_t)N);
        int seen = dataset_items_contain(set, d, item);
        for (int j = 0; j < i; j++) seen |= neg[j] == item;
        if (!seen) neg[i++] = item;
    }
}

typedef struct {
    const Dataset *ds;
    int32_t *sets;     /* each user's sorted distinct items, at the user's own offset */
    int64_t *distinct; /* (users) how many */
    uint64_t key;      /* the draws' Philox key */
    int n_neg;
    int32_t *neg; /* (users, n_neg) */
} FastLoop;

/* Items are users: their sorted distinct items (no scratch shared between threads). */
static void distinct_users(void *ctx, NnChunk c) {
    const FastLoop *l = ctx;
    for (int64_t u = c.begin; u < c.end; u++)
        l->distinct[u] = dataset_user_items(l->ds, u, l->sets + l->ds->seq_start[u]);
}

/* Items are users: each one's draws come from its own stream (key, u). */
static void draw_users(void *ctx, NnChunk c) {
    const FastLoop *l = ctx;
    for (int64_t u = c.begin; u < c.end; u++) {
        Rng r = rng_new(l->key, (uint64_t)u);
        draw_unseen(l->sets + l->ds->seq_start[u], l->distinct[u], l->ds->n_items, l->n_neg, &r,
                    l->neg + u * l->n_neg);
    }
}

int sample_generate_fast(const Dataset *ds, int n_neg, uint64_t seed, SampleSet *out, NnError *err) {
    NN_CHECK(n_neg >= 1, "sample_generate_fast", "n_neg %d < 1", n_neg);
    memset(out, 0, sizeof *out);
    if (ds->n_items < n_neg)
        return nn_fail(err, "the data has %lld items, fewer than the %d negatives drawn per user for evaluation",
                       (long long)ds->n_items, n_neg);
    int64_t U = ds->n_users;
    /* each user's sorted distinct items, at the user's own offset: no scratch shared between threads */
    int32_t *sets = nn_malloc(((size_t)ds->n_interactions + 1) * sizeof *sets);
    int64_t *distinct = nn_malloc(((size_t)U + 1) * sizeof *distinct);
    FastLoop l = {ds, sets, distinct, 0, n_neg, NULL};
    nn_parallel_for(U, 128, distinct_users, &l); /* a user's items: about 128 work units */
    for (int64_t u = 0; u < U; u++)
        if (ds->n_items - distinct[u] < n_neg) {
            int rc = too_few_unseen(ds, u, ds->n_items - distinct[u], n_neg, err);
            free(sets);
            free(distinct);
            return rc;
        }
    out->n_users = U;
    out->n_neg = n_neg;
    out->neg = nn_malloc(((size_t)U * (size_t)n_neg + 1) * sizeof *out->neg);
    uint32_t w[4];
    philox4x32(seed, DOMAIN_EVAL_NEGATIVES, 0, w);
    l.key = (uint64_t)w[0] | (uint64_t)w[1] << 32;
    l.neg = out->neg;
    nn_parallel_for(U, 512, draw_users, &l); /* n_neg draws: about 512 work units */
    free(sets);
    free(distinct);
    return 0;
}

SampleMethod sample_auto_method(const Dataset *ds) {
    return (double)ds->n_users * (double)ds->n_items <= SAMPLE_S3REC_MAX_COST ? SAMPLE_S3REC : SAMPLE_FAST;
}

const char *sample_method_name(SampleMethod m) {
    static const char *const names[] = {"auto", "s3rec", "fast"};
    return (unsigned)m < 3 ? names[m] : "?";
}

static int has_space(const char *s) {
    for (; *s; s++)
        if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') return 1;
    return 0;
}

int sample_write(const char *path, const Dataset *ds, const SampleSet *s, NnError *err) {
    NN_CHECK(s->n_users == ds->n_users, "sample_write", "sample set for %lld users, data has %lld",
             (long long)s->n_users, (long long)ds->n_users);
    AtomicFile *af = atomic_open(path, err);
    if (!af) return -1;
    FILE *fp = atomic_stream(af);
    for (int64_t u = 0; u < ds->n_users; u++) {
        const char *id = ds->user_ids[u];
        for (int k = -1; k < s->n_neg; k++) {
            if (k >= 0) id = ds->item_ids[s->neg[u * s->n_neg + k]];
            if (has_space(id)) {
                atomic_abort(af);
                return nn_fail(err,
                               "cannot write %s: the %s id \"%s\" holds whitespace, which a sample file (ids "
                               "separated by spaces) cannot represent",
                               path, k < 0 ? "user" : "item", utf8_quote(id, strlen(id), 60).s);
            }
            fputs(id, fp);
            fputc(k + 1 < s->n_neg ? ' ' : '\n', fp);
        }
    }
    return atomic_commit(af, err);
}

void sample_free(SampleSet *s) {
    free(s->neg);
    memset(s, 0, sizeof *s);
}
