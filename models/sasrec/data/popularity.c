#include "models/sasrec/data/popularity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/memory.h"
#include "base/rng.h"
#include "io/atomic_file.h"
#include "models/sasrec/io/textfile.h"
#include "tensor/real.h"

#define COUNT_MAX ((int64_t)1 << 62)

void popularity_count(const Dataset *ds, int64_t *count) {
    memset(count, 0, (size_t)(ds->n_items + 1) * sizeof *count);
    for (int64_t u = 0; u < ds->n_users; u++) {
        int64_t len;
        const int32_t *seq = dataset_seq(ds, u, &len);
        for (int64_t j = 0; j + 2 < len; j++) count[seq[j]]++;
    }
}

int popularity_write(const char *dir, const Dataset *ds, NnError *err) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, POPULARITY_FILE) >= (int)sizeof path)
        return nn_fail(err, "cannot write %s/%s: the path is too long", dir, POPULARITY_FILE);
    int64_t *count = nn_malloc((size_t)(ds->n_items + 1) * sizeof *count);
    popularity_count(ds, count);
    AtomicFile *af = atomic_open(path, err);
    if (!af) {
        free(count);
        return -1;
    }
    FILE *f = atomic_stream(af);
    for (int64_t j = 1; j <= ds->n_items; j++) fprintf(f, "%lld\n", (long long)count[j]);
    free(count);
    return atomic_commit(af, err);
}

/* A whole number in [0, COUNT_MAX] spelled by the len bytes at p; -1 otherwise. */
static int64_t parse_count(const char *p, size_t len) {
    if (len == 0 || len > 19) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v <= COUNT_MAX ? v : -1;
}

int popularity_read_buffer(const char *name, const char *data, size_t size, int64_t n_items, int64_t *count,
                           NnError *err) {
    TextFile f;
    textfile_wrap(name, data, size, &f);
    if (textfile_check(&f, err)) return -1;
    LineReader r = textfile_lines(&f);
    TextLine line;
    count[0] = 0;
    int64_t k = 0;
    while (textfile_next_nonblank(&r, &line)) {
        if (++k > n_items)
            return nn_fail(err, "%s: line %lld: more lines than the model's %lld items; expected one count per item",
                           name, (long long)line.number, (long long)n_items);
        int64_t v = parse_count(line.p, line.len);
        if (v < 0)
            return nn_fail(err, "%s: line %lld: expected a whole number of interactions, found \"%.*s\"", name,
                           (long long)line.number, (int)(line.len < 40 ? line.len : 40), line.p);
        count[k] = v;
    }
    if (k != n_items)
        return nn_fail(err, "%s holds %lld counts, the model has %lld items; expected one count per item", name,
                       (long long)k, (long long)n_items);
    return 0;
}

typedef struct {
    int64_t count;
    int32_t item;
} Ranked;

static int by_count(const void *a, const void *b) {
    const Ranked *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

void popularity_order(const int64_t *count, int64_t n_items, int32_t *order) {
    Ranked *r = nn_malloc((size_t)(n_items > 0 ? n_items : 1) * sizeof *r);
    for (int64_t j = 0; j < n_items; j++) r[j] = (Ranked){count[j + 1], (int32_t)(j + 1)};
    qsort(r, (size_t)n_items, sizeof *r, by_count);
    for (int64_t j = 0; j < n_items; j++) order[j] = r[j].item;
    free(r);
}

void popularity_rank_rows(const int64_t *count, const Dataset *rows, int seen_zero, int64_t *rank) {
    int64_t N = rows->n_items;
    real *pop = nn_calloc((size_t)N + 1, sizeof *pop); /* in the precision and order of eval_rank_popular */
    for (int64_t j = 1; j <= N; j++) {
        uint32_t w[4];
        philox4x32(0x907, 0, (uint64_t)j, w);
        pop[j] = (real)count[j];
        pop[j] += (real)(0.5 * rng_word_to_unit(w[0]));
    }
    int64_t *stamp = nn_calloc((size_t)N + 1, sizeof *stamp); /* stamp[j] = r + 1: item j is in row r's input */
    for (int64_t r = 0; r < rows->n_users; r++) {
        int64_t len;
        const int32_t *seq = dataset_seq(rows, r, &len);
        int32_t ans = seq[len - 1];
        for (int64_t k = 0; k + 1 < len; k++) stamp[seq[k]] = r + 1;
        int seen = stamp[ans] == r + 1;
        if (seen && !seen_zero) {
            rank[r] = N + 1;
            continue;
        }
        real a = seen ? 0 : pop[ans];
        int64_t n = 0;
        for (int64_t j = 1; j <= N; j++) {
            if (j == ans) continue;
            if (stamp[j] == r + 1)
                n += seen_zero && (real)0 >= a; /* an input item: never ranked, or scoring 0 */
            else
                n += pop[j] >= a;
        }
        rank[r] = n;
    }
    free(stamp);
    free(pop);
}
