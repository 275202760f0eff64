#include "base/memory.h"
#include "models/sasrec/data/timesplit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Which part an interaction at t belongs to: 0 train, 1 valid, 2 test. */
static int part_of(TimeKey t, TimeKey valid_from, TimeKey test_from) {
    return timekey_cmp(t, valid_from) < 0 ? 0 : timekey_cmp(t, test_from) < 0 ? 1 : 2;
}

static char *copy_str(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(nn_malloc(n), s, n);
}

/* id (all->n_items + 1): all's item -> catalogue id (0: not in it); returns the catalogue's size. */
static int64_t catalogue_map(const Dataset *all, const Dataset *catalogue, TimeKey valid_from, int32_t *id) {
    int64_t n = 0;
    if (catalogue) {
        for (int64_t i = 1; i <= all->n_items; i++)
            id[i] = dataset_item_id(catalogue, all->item_ids[i], strlen(all->item_ids[i]));
        return catalogue->n_items;
    }
    for (int64_t k = 0; k < all->n_interactions; k++)
        if (timekey_cmp(all->time[k], valid_from) < 0 && !id[all->items[k]]) id[all->items[k]] = (int32_t)++n;
    return n;
}

/* The item ids of the catalogue's items (copies), into ds (n_items set). */
static void copy_item_ids(Dataset *ds, const Dataset *all, const Dataset *catalogue, const int32_t *id) {
    ds->item_ids = nn_calloc((size_t)ds->n_items + 1, sizeof *ds->item_ids);
    if (catalogue) {
        for (int64_t i = 1; i <= ds->n_items; i++) ds->item_ids[i] = copy_str(catalogue->item_ids[i]);
        return;
    }
    for (int64_t i = 1; i <= all->n_items; i++)
        if (id[i]) ds->item_ids[id[i]] = copy_str(all->item_ids[i]);
}

/* The training part: each user's catalogue interactions before valid_from, then 0, 0. */
static void build_train(const Dataset *all, const int32_t *id, TimeKey valid_from, TimeSplit *ts) {
    Dataset *tr = &ts->train;
    int64_t *count = nn_calloc((size_t)all->n_users + 1, sizeof *count), users = 0, total = 0;
    for (int64_t u = 0; u < all->n_users; u++) {
        for (int64_t k = all->seq_start[u]; k < all->seq_start[u + 1]; k++)
            count[u] += timekey_cmp(all->time[k], valid_from) < 0 && id[all->items[k]];
        if (count[u]) users++, total += count[u] + 2;
    }
    tr->n_users = users;
    tr->seq_start = nn_malloc(((size_t)users + 1) * sizeof *tr->seq_start);
    tr->items = nn_malloc(((size_t)total + 1) * sizeof *tr->items);
    tr->user_ids = nn_malloc(((size_t)users + 1) * sizeof *tr->user_ids);
    int64_t o = 0, v = 0;
    for (int64_t u = 0; u < all->n_users; u++) {
        if (!count[u]) continue;
        tr->seq_start[v] = o;
        tr->user_ids[v++] = copy_str(all->user_ids[u]);
        for (int64_t k = all->seq_start[u]; k < all->seq_start[u + 1]; k++)
            if (timekey_cmp(all->time[k], valid_from) < 0 && id[all->items[k]]) tr->items[o++] = id[all->items[k]];
        tr->items[o++] = 0, tr->items[o++] = 0;
    }
    tr->seq_start[users] = o;
    tr->n_interactions = total;
    ts->train_interactions = total - 2 * users;
    free(count);
}

/* The rows of part p (1 valid, 2 test): counted when rows is NULL (into *total the items they need), else
 * written. Each row: the user's earlier catalogue items, then the target. */
static void scan_rows(const Dataset *all, const int32_t *id, TimeKey vf, TimeKey tf, int p, TimeSplitPart *part,
                      Dataset *rows, int64_t *total) {
    int64_t r = 0, o = 0;
    int32_t *hist = nn_malloc(((size_t)all->n_interactions + 1) * sizeof *hist); /* the user's history so far */
    for (int64_t u = 0; u < all->n_users; u++) {
        int64_t h = 0;
        for (int64_t k = all->seq_start[u]; k < all->seq_start[u + 1]; k++) {
            int32_t item = id[all->items[k]];
            if (part_of(all->time[k], vf, tf) == p) {
                if (!rows) {
                    part->events++;
                    part->new_items += !item;
                    part->short_history += item && h < 2;
                }
                if (item && h >= 2) {
                    if (!rows) {
                        *total += h + 1;
                        part->rows++;
                    } else {
                        rows->seq_start[r] = o;
                        rows->user_ids[r++] = copy_str(all->user_ids[u]);
                        memcpy(rows->items + o, hist, (size_t)h * sizeof *hist);
                        rows->items[o + h] = item;
                        o += h + 1;
                    }
                }
            }
            if (item) hist[h++] = item;
        }
    }
    if (rows) rows->seq_start[r] = o;
    free(hist);
}

static void build_rows(const Dataset *all, const int32_t *id, TimeKey vf, TimeKey tf, int p, int64_t n_items,
                       TimeSplitPart *part, Dataset *rows) {
    int64_t total = 0;
    scan_rows(all, id, vf, tf, p, part, NULL, &total);
    rows->n_users = part->rows;
    rows->n_items = n_items;
    rows->n_interactions = total;
    rows->seq_start = nn_malloc(((size_t)part->rows + 1) * sizeof *rows->seq_start);
    rows->items = nn_malloc(((size_t)total + 1) * sizeof *rows->items);
    rows->user_ids = nn_malloc(((size_t)part->rows + 1) * sizeof *rows->user_ids);
    scan_rows(all, id, vf, tf, p, part, rows, &total);
}

/* The counts of the parts and the data's time range, for messages. */
static void describe(const Dataset *all, const TimeSplit *ts, char *buf, size_t size) {
    TimeKey lo = all->time[0], hi = all->time[0];
    for (int64_t k = 1; k < all->n_interactions; k++) {
        if (timekey_cmp(all->time[k], lo) < 0) lo = all->time[k];
        if (timekey_cmp(all->time[k], hi) > 0) hi = all->time[k];
    }
    char a[48], b[48];
    timekey_format(lo, a, sizeof a);
    timekey_format(hi, b, sizeof b);
    int64_t rest = all->n_interactions - ts->valid_part.events - ts->test_part.events;
    snprintf(buf, size, "of its %lld interactions, from time %s to %s: %lld before --valid-from, %lld in the "
             "validation period, %lld at or after --test-from",
             (long long)all->n_interactions, a, b, (long long)rest, (long long)ts->valid_part.events,
             (long long)ts->test_part.events);
}

/* A part with no row to score: -1 naming the flag to move. */
static int empty_part(const char *name, const char *what, const TimeSplitPart *p, const char *counts,
                      const char *fix, NnError *err) {
    if (p->events == 0)
        return nn_fail(err, "%s: no interaction falls in the %s period (%s); %s", name, what, counts, fix);
    return nn_fail(err,
                   "%s: none of the %lld %s interactions can be scored: %lld are of items the training part does "
                   "not hold, %lld have fewer than 2 earlier interactions (%s); %s",
                   name, (long long)p->events, what, (long long)p->new_items, (long long)p->short_history, counts,
                   fix);
}

int timesplit_build(const char *name, const Dataset *all, TimeKey valid_from, TimeKey test_from,
                    const Dataset *catalogue, TimeSplit *out, NnError *err) {
    memset(out, 0, sizeof *out);
    NN_CHECK(timekey_cmp(valid_from, test_from) <= 0, "timesplit_build", "valid_from after test_from");
    if (!all->time)
        return nn_fail(err,
                       "%s: --split time needs the time of each interaction, and %s data has none; use a file "
                       "that carries times: csv (with a time column), dat (MovieLens ratings.dat) or udata "
                       "(MovieLens u.data)",
                       name, dataset_format_name(all->format));
    int32_t *id = nn_calloc((size_t)all->n_items + 1, sizeof *id);
    int64_t n_items = catalogue_map(all, catalogue, valid_from, id);
    build_train(all, id, valid_from, out);
    out->train.n_items = n_items;
    copy_item_ids(&out->train, all, catalogue, id);
    out->train.format = all->format;
    build_rows(all, id, valid_from, test_from, 1, n_items, &out->valid_part, &out->valid);
    build_rows(all, id, valid_from, test_from, 2, n_items, &out->test_part, &out->test);
    free(id);
    char counts[400];
    describe(all, out, counts, sizeof counts);
    int rc = 0;
    if (!catalogue && out->train_interactions == 0)
        rc = nn_fail(err, "%s: no interaction is before --valid-from (%s); choose a later --valid-from", name, counts);
    else if (out->test_part.rows == 0)
        rc = empty_part(name, "test", &out->test_part, counts, "choose an earlier --test-from", err);
    else if (!catalogue && out->valid_part.rows == 0)
        rc = empty_part(name, "validation", &out->valid_part, counts,
                        "choose an earlier --valid-from (validation is what early stopping watches)", err);
    if (rc == 0 && !catalogue) rc = dataset_build_maps(&out->train, err);
    if (rc) timesplit_free(out);
    return rc;
}

void timesplit_free(TimeSplit *ts) {
    dataset_free(&ts->train);
    dataset_free(&ts->valid);
    dataset_free(&ts->test);
    memset(ts, 0, sizeof *ts);
}

static int part_summary(char *buf, size_t size, const char *what, const TimeSplitPart *p) {
    return snprintf(buf, size, "; %s: %lld interactions, %lld rows scored, %lld left out as new items, %lld with "
                    "fewer than 2 earlier interactions", what, (long long)p->events, (long long)p->rows,
                    (long long)p->new_items, (long long)p->short_history);
}

void timesplit_summary(const TimeSplit *ts, char *buf, size_t size) {
    int n = snprintf(buf, size, "time split: train %lld interactions of %lld users over %lld items",
                     (long long)ts->train_interactions, (long long)ts->train.n_users, (long long)ts->train.n_items);
    if (n < 0 || (size_t)n >= size) return;
    int m = part_summary(buf + n, size - (size_t)n, "valid", &ts->valid_part);
    if (m < 0 || (size_t)(n += m) >= size) return;
    part_summary(buf + n, size - (size_t)n, "test", &ts->test_part);
}
