#include "models/sasrec/batch.h"

#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "io/utf8.h"

/* Domains keep the streams of one seed apart: negatives, shuffles (and whatever else uses the seed). */
#define DOMAIN_NEGATIVES 0x4E45474154495645ull /* "NEGATIVE" */
#define DOMAIN_SHUFFLE   0x53485546464C4500ull /* "SHUFFLE" */

void batch_alloc(SeqBatch *b, int cap, int L) {
    NN_CHECK(cap >= 1 && L >= 1, "batch_alloc", "cap %d and L %d must be >= 1", cap, L);
    size_t n = (size_t)cap * (size_t)L;
    *b = (SeqBatch){.B = 0, .L = L, .cap = cap};
    b->input = nn_calloc(n, sizeof *b->input);
    b->pos = nn_calloc(n, sizeof *b->pos);
    b->neg = nn_calloc(n, sizeof *b->neg);
    b->len = nn_calloc((size_t)cap, sizeof *b->len);
    b->answer = nn_calloc((size_t)cap, sizeof *b->answer);
    b->user = nn_calloc((size_t)cap, sizeof *b->user);
}

void batch_free(SeqBatch *b) {
    free(b->input);
    free(b->pos);
    free(b->neg);
    free(b->len);
    free(b->answer);
    free(b->user);
    memset(b, 0, sizeof *b);
}

const char *batch_split_name(Split s) {
    static const char *const names[] = {"train", "valid", "test", "submit"};
    return (unsigned)s < 4 ? names[s] : "?";
}

void batch_fill(SeqBatch *b, const Dataset *ds, Split split, const int64_t *users, int n, const NegSampler *ns,
                int epoch) {
    NN_CHECK(n >= 0 && n <= b->cap, "batch_fill", "%d users for a batch of %d rows", n, b->cap);
    NN_CHECK((unsigned)split <= SPLIT_SUBMIT, "batch_fill", "unknown split %d", (int)split);
    NN_CHECK(split != SPLIT_TRAIN || (ns && ns->ds == ds), "batch_fill", "the train split needs a NegSampler for ds");
    static const int held_out[] = {3, 2, 1, 0}; /* items after the input, by split */
    int L = b->L;
    size_t cells = (size_t)n * (size_t)L;
    b->B = n;
    memset(b->input, 0, cells * sizeof *b->input);
    memset(b->pos, 0, cells * sizeof *b->pos);
    memset(b->neg, 0, cells * sizeof *b->neg);
    for (int r = 0; r < n; r++) {
        int64_t u = users[r], len;
        const int32_t *s = dataset_seq(ds, u, &len);
        int need = split == SPLIT_SUBMIT ? 1 : 3;
        NN_CHECK(len >= need, "batch_fill", "user %lld has %lld items; the %s split needs at least %d", (long long)u,
                 (long long)len, batch_split_name(split), need);
        int64_t m = len - held_out[split]; /* input is s[0..m) */
        int64_t k = m < L ? m : L;         /* of which the last k are kept */
        int64_t *in = b->input + (size_t)r * L + (L - k);
        for (int64_t j = 0; j < k; j++) in[j] = s[m - k + j];
        if (split == SPLIT_TRAIN) {
            int64_t *pos = b->pos + (size_t)r * L + (L - k), *neg = b->neg + (size_t)r * L + (L - k);
            for (int64_t j = 0; j < k; j++) {
                int64_t t = m - k + j + 1; /* the target's position in s */
                pos[j] = s[t];
                neg[j] = batch_neg_draw(ns, epoch, u, t);
            }
        }
        b->len[r] = (int32_t)k;
        b->answer[r] = split == SPLIT_VALID ? s[len - 2] : split == SPLIT_TEST ? s[len - 1] : 0;
        b->user[r] = u;
    }
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int batch_neg_prepare(NegSampler *ns, const Dataset *ds, uint64_t seed, NnError *err) {
    *ns = (NegSampler){.ds = ds, .seed = seed};
    ns->uniq_start = nn_malloc(((size_t)ds->n_users + 1) * sizeof *ns->uniq_start);
    ns->uniq = nn_malloc(((size_t)ds->n_interactions + 1) * sizeof *ns->uniq);
    int64_t o = 0;
    for (int64_t u = 0; u < ds->n_users; u++) {
        int64_t len;
        const int32_t *s = dataset_seq(ds, u, &len);
        int32_t *set = ns->uniq + o;
        memcpy(set, s, (size_t)len * sizeof *set);
        qsort(set, (size_t)len, sizeof *set, cmp_i32);
        int64_t d = 0;
        for (int64_t k = 0; k < len; k++)
            if (d == 0 || set[k] != set[d - 1]) set[d++] = set[k];
        ns->uniq_start[u] = o;
        o += d;
        if (d >= ds->n_items) {
            ns->uniq_start[u + 1] = o;
            batch_neg_free(ns);
            return nn_fail(err,
                           "user \"%s\" interacted with every one of the %lld items, so no training negative "
                           "exists for them; expected every user to leave at least one item out (remove this user "
                           "or add items)",
                           utf8_quote(ds->user_ids[u], strlen(ds->user_ids[u]), 60).s, (long long)ds->n_items);
        }
    }
    ns->uniq_start[ds->n_users] = o;
    return 0;
}

void batch_neg_free(NegSampler *ns) {
    free(ns->uniq_start);
    free(ns->uniq);
    memset(ns, 0, sizeof *ns);
}

int batch_neg_in_seq(const NegSampler *ns, int64_t u, int32_t item) {
    const int32_t *a = ns->uniq + ns->uniq_start[u];
    int64_t lo = 0, hi = ns->uniq_start[u + 1] - ns->uniq_start[u];
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (a[mid] < item)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ns->uniq_start[u + 1] - ns->uniq_start[u] && a[lo] == item;
}

/* A Philox key for one (seed, domain, epoch): the epochs' streams never overlap. */
static uint64_t epoch_key(uint64_t seed, uint64_t domain, int epoch) {
    uint32_t w[4];
    philox4x32(seed, domain, (uint64_t)(uint32_t)epoch, w);
    return (uint64_t)w[0] | (uint64_t)w[1] << 32;
}

int32_t batch_neg_draw(const NegSampler *ns, int epoch, int64_t u, int64_t position) {
    NN_CHECK(epoch >= 0 && u >= 0 && u < ns->ds->n_users && position >= 0 && position < ((int64_t)1 << 32),
             "batch_neg_draw", "epoch %d, user %lld, position %lld out of range", epoch, (long long)u,
             (long long)position);
    /* attempt a is the a-th draw of the stream (user, position) */
    Rng r = rng_new(epoch_key(ns->seed, DOMAIN_NEGATIVES, epoch), (uint64_t)u << 32 | (uint64_t)position);
    for (;;) {
        int32_t item = 1 + (int32_t)rng_below(&r, (uint64_t)ns->ds->n_items);
        if (!batch_neg_in_seq(ns, u, item)) return item;
    }
}

void batch_shuffle(uint64_t seed, int epoch, int64_t n, int64_t *perm) {
    NN_CHECK(epoch >= 0 && n >= 0, "batch_shuffle", "epoch %d, n %lld", epoch, (long long)n);
    Rng r = rng_new(epoch_key(seed, DOMAIN_SHUFFLE, epoch), 0);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below(&r, (uint64_t)i + 1);
        int64_t t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
}
