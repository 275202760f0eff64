#include "models/sasrec/batch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/memory.h"
#include "base/parallel.h"
#include "base/rng.h"
#include "io/utf8.h"

/* Domains keep the streams of one seed apart: negatives, shuffles (and whatever else uses the seed). */
#define DOMAIN_NEGATIVES 0x4E45474154495645ull /* "NEGATIVE" */
#define DOMAIN_SHUFFLE   0x53485546464C4500ull /* "SHUFFLE" */
#define DOMAIN_SHARED    0x5348415245440000ull /* "SHARED": negatives shared by a batch */
#define DOMAIN_POSITION  0x504F534954494F4Eull /* "POSITION": negatives drawn per target position */
#define DOMAIN_SEQUENCE  0x53455155454E4345ull /* "SEQUENCE": negatives drawn per sequence */

/* A Philox key for one (seed, domain, epoch): the epochs' streams never overlap. */
static uint64_t epoch_key(uint64_t seed, uint64_t domain, int epoch) {
    uint32_t w[4];
    philox4x32(seed, domain, (uint64_t)(uint32_t)epoch, w);
    return (uint64_t)w[0] | (uint64_t)w[1] << 32;
}

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
    free(b->shared);
    free(b->drawn);
    free(b->batch_log_q);
    free(b->pool_count);
    free(b->pool);
    memset(b, 0, sizeof *b);
}

const char *batch_split_name(Split s) {
    static const char *const names[] = {"train", "valid", "test", "submit"};
    return (unsigned)s < 4 ? names[s] : "?";
}

typedef struct {
    SeqBatch *b;
    const Dataset *ds;
    Split split;
    const int64_t *users;
    const NegSampler *ns;
    int epoch;
} FillLoop;

/* Rows [c.begin, c.end) of a batch: each row's cells (its negatives too, each a function of the user and
 * position alone) from its user only, so rows fill in any order and on any thread with the same result. */
static void fill_rows(void *ctx, NnChunk c) {
    const FillLoop *l = ctx;
    static const int held_out[] = {3, 2, 1, 0}; /* items after the input, by split */
    SeqBatch *b = l->b;
    Split split = l->split;
    int L = b->L;
    for (int64_t r = c.begin; r < c.end; r++) {
        int64_t u = l->users[r], len, *in = b->input + r * L, *pos = b->pos + r * L, *neg = b->neg + r * L;
        memset(in, 0, (size_t)L * sizeof *in);
        memset(pos, 0, (size_t)L * sizeof *pos);
        memset(neg, 0, (size_t)L * sizeof *neg);
        const int32_t *s = dataset_seq(l->ds, u, &len);
        int need = split == SPLIT_SUBMIT ? 1 : 3;
        NN_CHECK(len >= need, "batch_fill", "user %lld has %lld items; the %s split needs at least %d", (long long)u,
                 (long long)len, batch_split_name(split), need);
        int64_t m = len - held_out[split]; /* input is s[0..m) */
        int64_t k = m < L ? m : L;         /* of which the last k are kept */
        for (int64_t j = 0; j < k; j++) in[L - k + j] = s[m - k + j];
        if (split == SPLIT_TRAIN) /* targets, and their negatives unless the batch shares its own */
            for (int64_t j = 0; j < k; j++) {
                int64_t t = m - k + j + 1; /* the target's position in s */
                pos[L - k + j] = s[t];
                neg[L - k + j] = l->ns->n_shared ? 0 : batch_neg_draw(l->ns, l->epoch, u, t);
            }
        b->len[r] = (int32_t)k;
        b->answer[r] = split == SPLIT_VALID ? s[len - 2] : split == SPLIT_TEST ? s[len - 1] : 0;
        b->user[r] = u;
    }
}

void batch_fill(SeqBatch *b, const Dataset *ds, Split split, const int64_t *users, int n, const NegSampler *ns,
                int epoch) {
    NN_CHECK(n >= 0 && n <= b->cap, "batch_fill", "%d users for a batch of %d rows", n, b->cap);
    NN_CHECK((unsigned)split <= SPLIT_SUBMIT, "batch_fill", "unknown split %d", (int)split);
    NN_CHECK(split != SPLIT_TRAIN || (ns && ns->ds == ds), "batch_fill", "the train split needs a NegSampler for ds");
    b->B = n;
    FillLoop l = {b, ds, split, users, ns, epoch};
    /* a row costs its cells, and with drawn negatives a draw (a Philox block, a search of the user's items) each */
    int draws = split == SPLIT_TRAIN && !ns->n_shared;
    nn_parallel_for(n, (int64_t)b->L * (draws ? 1024 : 16), fill_rows, &l);
}

int batch_neg_prepare(NegSampler *ns, const Dataset *ds, uint64_t seed, NnError *err) {
    *ns = (NegSampler){.ds = ds, .seed = seed};
    ns->uniq_start = nn_malloc(((size_t)ds->n_users + 1) * sizeof *ns->uniq_start);
    ns->uniq = nn_malloc(((size_t)ds->n_interactions + 1) * sizeof *ns->uniq);
    int64_t o = 0;
    for (int64_t u = 0; u < ds->n_users; u++) {
        int64_t d = dataset_user_items(ds, u, ns->uniq + o);
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

void batch_neg_share(NegSampler *ns, int64_t k, NegDist dist) {
    NN_CHECK(k >= 1 && (unsigned)dist <= NEG_MIXED, "batch_neg_share", "%lld negatives, distribution %d",
             (long long)k, (int)dist);
    const Dataset *ds = ns->ds;
    ns->n_shared = k;
    ns->dist = dist;
    if (dist != NEG_POP) return;
    int64_t N = ds->n_items;
    ns->cum = nn_calloc((size_t)N + 1, sizeof *ns->cum);
    ns->log_q = nn_calloc((size_t)N + 1, sizeof *ns->log_q);
    for (int64_t u = 0; u < ds->n_users; u++) { /* counts in the training part s[:-2], in cum for now */
        int64_t len;
        const int32_t *seq = dataset_seq(ds, u, &len);
        for (int64_t j = 0; j + 2 < len; j++) ns->cum[seq[j]]++;
    }
    for (int64_t j = 1; j <= N; j++) ns->cum[j] += 1 + ns->cum[j - 1]; /* weight 1 + count */
    double total = (double)ns->cum[N];
    for (int64_t j = 1; j <= N; j++) ns->log_q[j] = (real)log((double)(ns->cum[j] - ns->cum[j - 1]) / total);
}

void batch_neg_scope(NegSampler *ns, NegScope scope) {
    NN_CHECK(ns->n_shared >= 1 && (unsigned)scope <= NEG_SCOPE_POSITION, "batch_neg_scope",
             "scope %d for a sampler sharing %lld negatives: call batch_neg_share first", (int)scope,
             (long long)ns->n_shared);
    ns->scope = scope;
}

/* Draw k of K from ns's distribution (mixed: the first K/2 uniformly, the rest in-batch); pool[0..n_pool)
 * is the batch's urn of targets. */
/* The law of draw k (mixed: the first half uniform, the rest in-batch; in-batch without targets: uniform). */
static NegDist draw_dist(const NegSampler *ns, int64_t k, int64_t n_pool) {
    NegDist d = ns->dist == NEG_MIXED ? (k < ns->n_shared / 2 ? NEG_UNIFORM : NEG_IN_BATCH) : ns->dist;
    return d == NEG_IN_BATCH && n_pool == 0 ? NEG_UNIFORM : d; /* a batch without targets is skipped anyway */
}

/* How many values a draw of law d picks among: items, the batch's targets, or the popularity counts' total. */
static uint64_t draw_range(const NegSampler *ns, NegDist d, int64_t n_pool) {
    return d == NEG_UNIFORM ? (uint64_t)ns->ds->n_items : d == NEG_IN_BATCH ? (uint64_t)n_pool
                                                                          : (uint64_t)ns->cum[ns->ds->n_items];
}

/* The item of law d for the uniform value x in [0, draw_range). */
static int64_t draw_value(const NegSampler *ns, NegDist d, uint64_t x, const int64_t *pool) {
    if (d == NEG_UNIFORM) return 1 + (int64_t)x;
    if (d == NEG_IN_BATCH) return pool[x];
    int64_t lo = 1, hi = ns->ds->n_items; /* the first j with cum[j] > x */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (ns->cum[mid] > (int64_t)x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static int64_t draw_item(const NegSampler *ns, Rng *r, int64_t k, const int64_t *pool, int64_t n_pool) {
    NegDist d = draw_dist(ns, k, n_pool);
    return draw_value(ns, d, rng_below(r, draw_range(ns, d, n_pool)), pool);
}

/* K draws from a fresh rng into out, as K calls of draw_item make them: the 2 K words they take drawn at once
 * (words: 2 K scratch), each pair one 64-bit value that rng_below's rejection keeps (a value it would reject,
 * about range / 2^64 likely, sends the row to draw_item). */
static void draw_k(const NegSampler *ns, Rng rng, int32_t *out, int64_t K, const int64_t *pool, int64_t n_pool,
                   uint32_t *words) {
    Rng start = rng;
    rng_fill_u32(&rng, words, 2 * K);
    uint64_t range = 0, limit = 0;
    for (int64_t i = 0; i < K; i++) {
        NegDist d = draw_dist(ns, i, n_pool);
        uint64_t n = draw_range(ns, d, n_pool), x = (uint64_t)words[2 * i] << 32 | words[2 * i + 1];
        if (n != range) range = n, limit = UINT64_MAX - UINT64_MAX % n;
        if (x >= limit) {
            for (int64_t j = 0; j < K; j++) out[j] = (int32_t)draw_item(ns, &start, j, pool, n_pool);
            return;
        }
        out[i] = (int32_t)draw_value(ns, d, x % n, pool);
    }
}

/* The batch's real targets into b->pool, in row order; in-batch and mixed draws: their log q into
 * b->batch_log_q (q(i) = u / N + (1 - u) count(i) / targets, u the uniform share of the K). An item that is
 * no target of the batch has q = u / N, the same for every batch: the table keeps that value for all items
 * but the batch's targets, which are set here and put back at the next batch, so that a batch costs its
 * targets, not a log for each item of the catalogue (1M at 1M items). */
static int64_t fill_pool(SeqBatch *b, const NegSampler *ns) {
    int64_t n = 0, N = ns->ds->n_items, K = ns->n_shared;
    int in_batch = ns->dist == NEG_IN_BATCH || ns->dist == NEG_MIXED;
    double u = ns->dist == NEG_MIXED ? (double)(K / 2) / (double)K : 0, rest = u / (double)N;
    if (!b->pool) b->pool = nn_malloc((size_t)b->cap * (size_t)b->L * sizeof *b->pool);
    for (int64_t i = 0; i < b->log_q_set; i++) b->batch_log_q[b->pool[i]] = b->log_q_rest; /* the last batch's */
    b->log_q_set = 0;
    for (int64_t i = 0; i < (int64_t)b->B * b->L; i++)
        if (b->pos[i]) b->pool[n++] = b->pos[i];
    b->log_q = ns->log_q;
    if (!in_batch) return n;
    if (b->log_q_items != N || b->log_q_u != u) {
        b->batch_log_q = nn_realloc(b->batch_log_q, ((size_t)N + 1) * sizeof *b->batch_log_q);
        free(b->pool_count);
        b->pool_count = nn_calloc((size_t)N + 1, sizeof *b->pool_count);
        b->log_q_rest = rest > 0 ? (real)log(rest) : 0; /* 0: never drawn, never a target */
        for (int64_t j = 0; j <= N; j++) b->batch_log_q[j] = b->log_q_rest;
        b->log_q_items = N;
        b->log_q_u = u;
    }
    int32_t *count = b->pool_count; /* all 0 between batches */
    for (int64_t i = 0; i < n; i++) count[b->pool[i]]++;
    for (int64_t i = 0; i < n; i++) {
        int64_t j = b->pool[i];
        if (!count[j]) continue; /* a repeated target, done */
        double q = rest + (1 - u) * (double)count[j] / (double)n;
        b->batch_log_q[j] = q > 0 ? (real)log(q) : 0;
        count[j] = 0;
    }
    b->log_q_set = n;
    b->log_q = b->batch_log_q;
    return n;
}

typedef struct {
    SeqBatch *b;
    const NegSampler *ns;
    uint64_t key;
    int64_t n_pool;
} DrawRows;

/* Rows [c.begin, c.end) of the batch: each row's draws are a function of (key, user, position) alone, so rows
 * may be drawn by any thread in any order. */
static void draw_row_range(void *ctx, NnChunk c) {
    const DrawRows *d = ctx;
    SeqBatch *b = d->b;
    const NegSampler *ns = d->ns;
    int64_t K = ns->n_shared, L = b->L;
    uint32_t *words = nn_malloc((size_t)(2 * K) * sizeof *words);
    for (int64_t r = c.begin; r < c.end; r++) {
        int64_t u = b->user[r], len, k = b->len[r];
        dataset_seq(ns->ds, u, &len);
        if (ns->scope != NEG_SCOPE_POSITION) {
            draw_k(ns, rng_new(d->key, (uint64_t)u), b->drawn + r * K, K, b->pool, d->n_pool, words);
            continue;
        }
        int32_t *row = b->drawn + r * L * K;
        memset(row, 0, (size_t)((L - k) * K) * sizeof *row);
        for (int64_t j = 0; j < k; j++) {
            int64_t t = len - 3 - k + j + 1; /* the target's position in s (batch_fill) */
            draw_k(ns, rng_new(d->key, (uint64_t)u << 32 | (uint64_t)t), row + (L - k + j) * K, K, b->pool,
                   d->n_pool, words);
        }
    }
    free(words);
}

/* K negatives per position (the target's position t in s keys the draws) or per sequence into b->drawn, the
 * batch's rows split among threads. */
static void draw_rows(SeqBatch *b, const NegSampler *ns, int epoch, int64_t n_pool) {
    int64_t K = ns->n_shared, L = b->L, per_pos = ns->scope == NEG_SCOPE_POSITION;
    size_t cells = (size_t)b->cap * (size_t)(per_pos ? L : 1) * (size_t)K;
    if (b->n_drawn != K || b->per_position != per_pos) {
        free(b->drawn);
        b->drawn = nn_malloc(cells * sizeof *b->drawn);
        b->n_drawn = K, b->per_position = (int)per_pos;
    }
    DrawRows d = {b, ns, epoch_key(ns->seed, per_pos ? DOMAIN_POSITION : DOMAIN_SEQUENCE, epoch), n_pool};
    nn_parallel_for(b->B, (per_pos ? L : 1) * K * 8, draw_row_range, &d);
}

void batch_draw_shared(SeqBatch *b, const NegSampler *ns, int epoch, int64_t index) {
    NN_CHECK(ns->n_shared >= 1 && epoch >= 0 && index >= 0, "batch_draw_shared",
             "the sampler shares %lld negatives; epoch %d, batch %lld", (long long)ns->n_shared, epoch,
             (long long)index);
    int64_t k = ns->n_shared, n_pool = fill_pool(b, ns);
    if (ns->scope != NEG_SCOPE_BATCH) {
        draw_rows(b, ns, epoch, n_pool);
        return;
    }
    if (b->n_shared != k) {
        b->shared = nn_realloc(b->shared, (size_t)k * sizeof *b->shared);
        b->n_shared = k;
    }
    Rng r = rng_new(epoch_key(ns->seed, DOMAIN_SHARED, epoch), (uint64_t)index);
    for (int64_t i = 0; i < k; i++) b->shared[i] = draw_item(ns, &r, i, b->pool, n_pool);
}

void batch_neg_free(NegSampler *ns) {
    free(ns->uniq_start);
    free(ns->uniq);
    free(ns->cum);
    free(ns->log_q);
    memset(ns, 0, sizeof *ns);
}

int batch_neg_in_seq(const NegSampler *ns, int64_t u, int32_t item) {
    return dataset_items_contain(ns->uniq + ns->uniq_start[u], ns->uniq_start[u + 1] - ns->uniq_start[u], item);
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
