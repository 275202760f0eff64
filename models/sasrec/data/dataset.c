/* Loading: read and check the file, detect its format, parse it into raw
 * interactions (formats.c), then group them by user, sort by time, drop users
 * with too few interactions and number the items (here). */
#include "models/sasrec/data/dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/memory.h"
#include "models/sasrec/io/strmap.h"
#include "models/sasrec/io/textfile.h"
#include "io/utf8.h"
#include "models/sasrec/data/formats.h"
#include "models/sasrec/data/interactions.h"
#include "models/sasrec/data/sorted.h"

LoadOptions dataset_default_options(void) {
    return (LoadOptions){.format = FORMAT_AUTO, .min_interactions = DATASET_MIN_INTERACTIONS};
}

/* ---- stable sort of one user's interactions by time ---- */

typedef struct {
    TimeKey t;
    int32_t item;
} Timed;

static void merge_sort(Timed *a, Timed *tmp, int64_t n) {
    if (n <= 16) { /* insertion sort: stable, and quick on the short runs of most users */
        for (int64_t i = 1; i < n; i++) {
            Timed x = a[i];
            int64_t j = i;
            for (; j > 0 && timekey_cmp(a[j - 1].t, x.t) > 0; j--) a[j] = a[j - 1];
            a[j] = x;
        }
        return;
    }
    int64_t h = n / 2;
    merge_sort(a, tmp, h);
    merge_sort(a + h, tmp, n - h);
    if (timekey_cmp(a[h - 1].t, a[h].t) <= 0) return; /* already in order */
    memcpy(tmp, a, (size_t)h * sizeof *a);
    int64_t i = 0, j = h, k = 0;
    while (i < h && j < n) a[k++] = timekey_cmp(a[j].t, tmp[i].t) < 0 ? a[j++] : tmp[i++]; /* ties: left first */
    while (i < h) a[k++] = tmp[i++];
}

/* ---- from raw interactions to a Dataset ---- */

/* What build's steps share: the raw interactions, the vocabulary and the per-raw-id tables. */
typedef struct {
    const char *name;
    Interactions *in;
    const Dataset *vocab;
    int min_inter;
    int32_t *item_new; /* (raw items + 1) raw -> internal id, 0: none */
    int64_t *count;    /* (raw users + 1) kept interactions of each raw user; then each one's next free slot */
    int64_t *keep;     /* (raw users + 1) raw user -> kept index, or -1 */
    int64_t total;     /* interactions of the kept users */
} Build;

/* Counts each raw user's interactions (with known items), keeps those with at least min_inter; -1 when none is. */
static int build_keep_users(Build *bd, Dataset *out, NnError *err) {
    Interactions *in = bd->in;
    const Dataset *vocab = bd->vocab;
    if (vocab)
        for (int64_t r = 0; r < in->n_items; r++)
            bd->item_new[r] = dataset_item_id(vocab, in->item_tok[r], strlen(in->item_tok[r]));
    for (int64_t k = 0; k < in->n; k++) {
        if (vocab && !bd->item_new[in->item[k]])
            out->unknown_items++;
        else
            bd->count[in->user[k]]++;
    }
    int64_t n_users = 0;
    for (int64_t u = 0; u < in->n_users; u++) {
        if (bd->count[u] >= bd->min_inter && bd->count[u] > 0) {
            bd->keep[u] = n_users++;
            bd->total += bd->count[u];
        } else {
            bd->keep[u] = -1;
            out->skipped_users++;
            out->skipped_interactions += bd->count[u];
        }
    }
    out->n_users = n_users;
    if (n_users > 0) return 0;
    if (vocab && out->unknown_items == in->n)
        return nn_fail(err,
                       "%s: none of its %lld items is known to the model (%lld items); expected data with "
                       "the items the model was trained on",
                       bd->name, (long long)in->n_items, (long long)vocab->n_items);
    return nn_fail(err,
                   "%s: none of its %lld users has at least %d interactions%s; expected users with at least "
                   "%d (one each for training, validation and test)",
                   bd->name, (long long)in->n_users, bd->min_inter,
                   vocab && out->unknown_items ? " with items known to the model" : "", bd->min_inter);
}

/* Each kept user's interactions sorted by time, stably, with their times (timed formats). */
static void build_sort_by_time(Build *bd, Dataset *out, Timed *timed) {
    int64_t longest = 0, n_users = out->n_users, total = bd->total;
    for (int64_t u = 0; u < n_users; u++)
        if (out->seq_start[u + 1] - out->seq_start[u] > longest) longest = out->seq_start[u + 1] - out->seq_start[u];
    Timed *tmp = nn_malloc(((size_t)longest / 2 + 1) * sizeof *tmp);
    for (int64_t u = 0; u < n_users; u++)
        merge_sort(timed + out->seq_start[u], tmp, out->seq_start[u + 1] - out->seq_start[u]);
    out->time = nn_malloc(((size_t)total + 1) * sizeof *out->time);
    for (int64_t k = 0; k < total; k++) {
        out->items[k] = timed[k].item;
        out->time[k] = timed[k].t;
    }
    free(tmp);
}

/* Groups the kept users' interactions by user, stably (file order within each user), then sorts them by time. */
static void build_group(Build *bd, Dataset *out) {
    Interactions *in = bd->in;
    int64_t n_users = out->n_users, total = bd->total;
    out->seq_start = nn_malloc(((size_t)n_users + 1) * sizeof *out->seq_start);
    out->items = nn_malloc(((size_t)total + 1) * sizeof *out->items);
    out->seq_start[0] = 0;
    for (int64_t u = 0; u < in->n_users; u++)
        if (bd->keep[u] >= 0) out->seq_start[bd->keep[u] + 1] = bd->count[u];
    for (int64_t u = 0; u < n_users; u++) out->seq_start[u + 1] += out->seq_start[u];
    int64_t *cursor = bd->count; /* reused: next free slot of each kept user */
    for (int64_t u = 0; u < in->n_users; u++)
        if (bd->keep[u] >= 0) cursor[u] = out->seq_start[bd->keep[u]];
    Timed *timed = in->timed ? nn_malloc(((size_t)total + 1) * sizeof *timed) : NULL;
    for (int64_t k = 0; k < in->n; k++) {
        int32_t u = in->user[k], r = in->item[k];
        if (bd->keep[u] < 0 || (bd->vocab && !bd->item_new[r])) continue;
        int64_t at = cursor[u]++;
        if (timed)
            timed[at] = (Timed){in->time[k], r};
        else
            out->items[at] = r;
    }
    if (timed) build_sort_by_time(bd, out, timed);
    free(timed);
}

/* Numbers the items in order of first appearance, unless the vocabulary fixes them, and moves the kept tokens
 * from the raw interactions into the Dataset. */
static void build_number(Build *bd, Dataset *out) {
    Interactions *in = bd->in;
    const Dataset *vocab = bd->vocab;
    int64_t n_items = vocab ? vocab->n_items : 0;
    for (int64_t k = 0; k < bd->total; k++) {
        int32_t r = out->items[k];
        if (!bd->item_new[r]) bd->item_new[r] = (int32_t)++n_items;
        out->items[k] = bd->item_new[r];
    }
    out->n_items = n_items;
    out->n_interactions = bd->total;
    out->user_ids = nn_malloc(((size_t)out->n_users + 1) * sizeof *out->user_ids);
    for (int64_t u = 0; u < in->n_users; u++)
        if (bd->keep[u] >= 0) out->user_ids[bd->keep[u]] = in->user_tok[u], in->user_tok[u] = NULL;
    out->item_ids = nn_calloc((size_t)n_items + 1, sizeof *out->item_ids);
    if (vocab) {
        for (int64_t i = 1; i <= n_items; i++) {
            size_t len = strlen(vocab->item_ids[i]);
            out->item_ids[i] = memcpy(nn_malloc(len + 1), vocab->item_ids[i], len + 1);
        }
    } else {
        for (int64_t r = 0; r < in->n_items; r++)
            if (bd->item_new[r]) out->item_ids[bd->item_new[r]] = in->item_tok[r], in->item_tok[r] = NULL;
    }
}

/* Counts the repeats: the same item again in one user's sequence. */
static void build_count_duplicates(Dataset *out) {
    int64_t *last_user = nn_malloc(((size_t)out->n_items + 1) * sizeof *last_user);
    for (int64_t i = 0; i <= out->n_items; i++) last_user[i] = -1;
    for (int64_t u = 0; u < out->n_users; u++)
        for (int64_t k = out->seq_start[u]; k < out->seq_start[u + 1]; k++) {
            if (last_user[out->items[k]] == u) out->duplicates++;
            last_user[out->items[k]] = u;
        }
    free(last_user);
}

static int build(const char *name, Interactions *in, int min_inter, const Dataset *vocab, Dataset *out, NnError *err) {
    Build bd = {.name = name, .in = in, .vocab = vocab, .min_inter = min_inter};
    bd.item_new = nn_calloc((size_t)in->n_items + 1, sizeof *bd.item_new);
    bd.count = nn_calloc((size_t)in->n_users + 1, sizeof *bd.count);
    bd.keep = nn_malloc(((size_t)in->n_users + 1) * sizeof *bd.keep);
    int rc = build_keep_users(&bd, out, err);
    if (rc == 0) {
        build_group(&bd, out);
        build_number(&bd, out);
        build_count_duplicates(out);
    }
    free(bd.item_new);
    free(bd.count);
    free(bd.keep);
    return rc ? rc : dataset_build_maps(out, err);
}

int dataset_load_buffer(const char *name, const char *data, size_t size, const LoadOptions *opt,
                        const Dataset *item_vocab, Dataset *out, NnError *err) {
    TextFile f;
    textfile_wrap(name, data, size, &f);
    LoadOptions defaults = dataset_default_options();
    if (!opt) opt = &defaults;
    NN_CHECK((unsigned)opt->format <= FORMAT_UDATA, "dataset_load", "format %d is not a file format", (int)opt->format);
    NN_CHECK(opt->min_interactions >= 0, "dataset_load", "min_interactions %d < 0", opt->min_interactions);
    NN_CHECK(!item_vocab || item_vocab->item_map, "dataset_load", "item_vocab has no item map");
    memset(out, 0, sizeof *out);
    if (textfile_check(&f, err)) return -1;
    DataFormat fmt = opt->format;
    char why[200] = "";
    if (fmt == FORMAT_AUTO && formats_detect(&f, &fmt, why, sizeof why, err)) return -1;
    Interactions in;
    interactions_init(&in, fmt == FORMAT_CSV || fmt == FORMAT_DAT || fmt == FORMAT_UDATA);
    int rc = formats_parse(&f, fmt, opt, &in, err);
    if (rc && opt->format == FORMAT_AUTO && err) { /* say why this format was assumed */
        size_t n = strlen(err->msg);
        snprintf(err->msg + n, sizeof err->msg - n, " [read as %s because %s; choose another with --format]",
                 dataset_format_name(fmt), why);
    }
    out->format = fmt;
    out->min_interactions = opt->min_interactions;
    out->n_lines = in.n_lines;
    if (rc == 0) rc = build(name, &in, opt->min_interactions, item_vocab, out, err);
    interactions_free(&in);
    if (rc) dataset_free(out);
    return rc;
}

int dataset_load(const char *path, const LoadOptions *opt, const Dataset *item_vocab, Dataset *out, NnError *err) {
    TextFile f;
    memset(out, 0, sizeof *out);
    if (textfile_read_exact(path, &f, err)) return -1; /* dataset_load_buffer skips the mark, once */
    int rc = dataset_load_buffer(path, f.data, f.size, opt, item_vocab, out, err);
    textfile_free(&f);
    return rc;
}

void dataset_free(Dataset *ds) {
    if (ds->user_ids)
        for (int64_t u = 0; u < ds->n_users; u++) free(ds->user_ids[u]);
    if (ds->item_ids)
        for (int64_t i = 0; i <= ds->n_items; i++) free(ds->item_ids[i]);
    free(ds->user_ids);
    free(ds->item_ids);
    free(ds->seq_start);
    free(ds->items);
    free(ds->time);
    strmap_free(ds->user_map);
    strmap_free(ds->item_map);
    memset(ds, 0, sizeof *ds);
}

const int32_t *dataset_seq(const Dataset *ds, int64_t u, int64_t *len) {
    NN_CHECK(u >= 0 && u < ds->n_users, "dataset_seq", "user %lld out of range [0, %lld)", (long long)u,
             (long long)ds->n_users);
    *len = ds->seq_start[u + 1] - ds->seq_start[u];
    return ds->items + ds->seq_start[u];
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int64_t dataset_user_items(const Dataset *ds, int64_t u, int32_t *out) {
    int64_t len;
    const int32_t *s = dataset_seq(ds, u, &len);
    memcpy(out, s, (size_t)len * sizeof *out);
    if (len <= 32) /* most users: an insertion sort beats qsort's calls */
        for (int64_t i = 1; i < len; i++) {
            int32_t x = out[i];
            int64_t j = i;
            for (; j > 0 && out[j - 1] > x; j--) out[j] = out[j - 1];
            out[j] = x;
        }
    else
        qsort(out, (size_t)len, sizeof *out, cmp_i32);
    int64_t d = 0;
    for (int64_t k = 0; k < len; k++)
        if (d == 0 || out[k] != out[d - 1]) out[d++] = out[k];
    return d;
}

int dataset_items_contain(const int32_t *set, int64_t n, int32_t item) {
    int64_t lo = sorted_lower_bound(set, n, sizeof *set, &item, sorted_cmp_i32);
    return lo < n && set[lo] == item;
}

int32_t dataset_item_id(const Dataset *ds, const char *raw, size_t len) {
    int64_t v = ds->item_map ? strmap_get(ds->item_map, raw, len) : -1;
    return v < 0 ? 0 : (int32_t)v;
}

int64_t dataset_user_index(const Dataset *ds, const char *raw, size_t len) {
    return ds->user_map ? strmap_get(ds->user_map, raw, len) : -1;
}

int dataset_build_maps(Dataset *ds, NnError *err) {
    strmap_free(ds->user_map);
    strmap_free(ds->item_map);
    ds->user_map = strmap_new((size_t)ds->n_users);
    ds->item_map = strmap_new((size_t)ds->n_items);
    for (int64_t u = 0; u < ds->n_users; u++) {
        size_t len = strlen(ds->user_ids[u]);
        int64_t old = strmap_put(ds->user_map, ds->user_ids[u], len, u);
        if (old >= 0)
            return nn_fail(err, "user \"%s\" appears twice (users %lld and %lld); expected distinct user ids",
                           utf8_quote(ds->user_ids[u], len, 60).s, (long long)old, (long long)u);
    }
    for (int64_t i = 1; i <= ds->n_items; i++) {
        size_t len = strlen(ds->item_ids[i]);
        int64_t old = strmap_put(ds->item_map, ds->item_ids[i], len, i);
        if (old >= 0)
            return nn_fail(err, "item \"%s\" appears twice (ids %lld and %lld); expected distinct item ids",
                           utf8_quote(ds->item_ids[i], len, 60).s, (long long)old, (long long)i);
    }
    return 0;
}

static const char *const format_names[] = {"auto", "seq", "pairs", "csv", "dat", "udata", "synthetic"};

const char *dataset_format_name(DataFormat f) {
    return (unsigned)f < sizeof format_names / sizeof *format_names ? format_names[f] : "?";
}

int dataset_format_parse(const char *name, DataFormat *out, NnError *err) {
    for (unsigned f = 0; f <= FORMAT_UDATA; f++)
        if (strcmp(name, format_names[f]) == 0) {
            *out = (DataFormat)f;
            return 0;
        }
    return nn_fail(err, "unknown data format \"%s\"; expected one of auto, seq, pairs, csv, dat, udata",
                   utf8_quote(name, strlen(name), 60).s);
}

void dataset_summary(const Dataset *ds, char *buf, size_t size) {
    double avg = ds->n_users ? (double)ds->n_interactions / (double)ds->n_users : 0.0;
    int n = snprintf(buf, size, "%s: %lld users, %lld items, %lld interactions (%.2f per user)",
                     dataset_format_name(ds->format), (long long)ds->n_users, (long long)ds->n_items,
                     (long long)ds->n_interactions, avg);
    if (n < 0 || (size_t)n >= size) return;
    n += snprintf(buf + n, size - (size_t)n, "; skipped %lld users with fewer than %d interactions (%lld interactions)",
                  (long long)ds->skipped_users, ds->min_interactions, (long long)ds->skipped_interactions);
    if (n < 0 || (size_t)n >= size) return;
    n += snprintf(buf + n, size - (size_t)n, "; %lld repeated interactions kept", (long long)ds->duplicates);
    if (ds->unknown_items && n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, "; %lld interactions with items unknown to the model dropped",
                 (long long)ds->unknown_items);
}
