#include "models/sasrec/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "base/dist.h"
#include "base/error.h"
#include "base/memory.h"
#include "base/parallel.h"
#include "base/progress.h"
#include "base/simd.h"
#include "models/sasrec/data/sorted.h"
#include "models/sasrec/item_scores.h"
#include "models/sasrec/score_check.h"
#include "models/sasrec/topk.h"

EvalOptions eval_default_options(void) {
    return (EvalOptions){
        .protocol = PROTOCOL_SAMPLE, .seen = SEEN_EXCLUDE, .batch = 512, .samples = NULL, .graph = NULL, .resamples = 1000,
        .distributed = 0};
}

/* The model input of user u for split (valid: s[:-2], test: s[:-1]): its items and *n; the answer is seq[*n]. */
static const int32_t *seen_items(const Dataset *ds, int64_t u, Split split, int64_t *n) {
    int64_t len;
    const int32_t *seq = dataset_seq(ds, u, &len);
    *n = len - (split == SPLIT_VALID ? 2 : split == SPLIT_TEST ? 1 : 0);
    return seq;
}

static int is_seen(const int32_t *seq, int64_t n, int64_t item) {
    for (int64_t k = 0; k < n; k++)
        if (seq[k] == item) return 1;
    return 0;
}

/* ---- the users' vectors ---- */

/* eval_visit_users over the users [first, end) only; first a multiple of the batch size, so every batch is
 * the one a pass over all users makes. */
static void visit_range(Sasrec *s, const Dataset *ds, Split split, const EvalOptions *opt, int64_t first, int64_t end,
                        EvalUsersFn visit, void *ctx) {
    int was_training = s->m.training, grad = ag_set_grad_enabled(0);
    module_train(&s->m, 0);
    Graph *g = opt->graph ? opt->graph : graph_new();
    graph_reset(g);
    int64_t nb = opt->batch < ds->n_users ? opt->batch : ds->n_users;
    if (nb < 1) nb = 1;
    SeqBatch b;
    batch_alloc(&b, (int)nb, (int)s->cfg.max_len);
    int64_t *users = nn_malloc((size_t)nb * sizeof *users);
    Progress bar;
    char name[64];
    snprintf(name, sizeof name, "%s pass", batch_split_name(split));
    progress_start(&bar, name, "users", end - first);
    for (int64_t start = first; start < end; start += nb) {
        int n = (int)(end - start < nb ? end - start : nb);
        for (int i = 0; i < n; i++) users[i] = start + i;
        batch_fill(&b, ds, split, users, n, NULL, 0);
        Tokens t = sasrec_tokens(g, b.input, b.len, b.B, b.L, 1);
        visit(ctx, &b, sasrec_last(g, sasrec_forward(s, g, &t), &t)); /* (B, H) */
        graph_reset(g);
        progress_update(&bar, start + n - first, NULL);
    }
    progress_end(&bar);
    free(users);
    batch_free(&b);
    if (g != opt->graph) graph_free(g);
    module_train(&s->m, was_training);
    ag_set_grad_enabled(grad);
}

void eval_visit_users(Sasrec *s, const Dataset *ds, Split split, const EvalOptions *opt, EvalUsersFn visit, void *ctx) {
    visit_range(s, ds, split, opt, 0, ds->n_users, visit, ctx);
}

/* The users [*first, *end) this rank ranks: its contiguous share of the passes' batches. */
static void rank_share(const Dataset *ds, const EvalOptions *opt, int rank, int size, int64_t *first, int64_t *end) {
    int64_t nb = opt->batch < ds->n_users ? opt->batch : ds->n_users, b0, b1;
    if (nb < 1) nb = 1;
    dist_share((ds->n_users + nb - 1) / nb, rank, size, &b0, &b1);
    *first = b0 * nb;
    *end = b1 * nb < ds->n_users ? b1 * nb : ds->n_users;
}

/* ---- ranking the model's scores ---- */

typedef struct {
    const Sasrec *s;
    const Dataset *ds;
    Split split;
    const EvalOptions *opt;
    int64_t *rank;      /* (n_users) */
    const SeqBatch *b;  /* the batch being ranked */
    real *answer;       /* (batch) full ranking: the answer's score of each row */
    unsigned char *out; /* (batch) full ranking: OUT_EXCLUDED or OUT_NONFINITE, else 0 */
    real *cand;         /* (batch, 1 + n_neg) sampled: the answer's score, then the negatives' */
    const real *U;      /* (batch, H) sampled: the batch's user vectors */
    TopK *heap;         /* (batch) coverage: each row's running top-COVERAGE_K; NULL without coverage */
    real *heap_score;   /* (batch, COVERAGE_K) the heaps' buffers */
    int32_t *heap_item; /* (batch, COVERAGE_K) */
    uint8_t *best;      /* (n_items + 1) coverage: the best place any row gave each item, COVERAGE_K if none */
} ModelRanker;

enum { COVERAGE_K = 20 }; /* the longest top-k whose coverage is measured */
static const int COVERAGE_CUTS[EVAL_COVERAGE_MAX] = {5, 10, 20};

enum {
    OUT_EXCLUDED = 1, /* the answer is excluded: a miss, ranked n_items + 1 */
    OUT_NONFINITE = 2 /* a NaN or infinite score: no rank (-1), score_check.h */
};

/* out[0] = <u, item_emb[answer]>, out[1 + k] = <u, item_emb[neg[k]]>. */
NN_VECTORIZE static void score_candidates(const Sasrec *s, const real *u, int64_t answer, const int32_t *neg, int n_neg,
                                          real *out) {
    const Tensor *E = s->item_emb.weight;
    int64_t H = E->shape[1];
    for (int k = -1; k < n_neg; k++) {
        const real *e = E->data + (k < 0 ? answer : neg[k]) * H;
        real lane[16] = {0}, acc = 0;
        int64_t h = 0;
        for (; h + 16 <= H; h += 16)
            for (int l = 0; l < 16; l++) lane[l] += u[h + l] * e[h + l];
        for (int l = 0; l < 16; l++) acc += lane[l];
        for (; h < H; h++) acc += u[h] * e[h];
        out[k + 1] = acc;
    }
}

/* How many of x[0..n) are >= a (NaN never is). */
NN_VECTORIZE static int64_t count_at_least(const real *x, int64_t n, real a) {
    int64_t c = 0;
    for (int64_t j = 0; j < n; j++) c += x[j] >= a;
    return c;
}

/* One block of full-ranking scores of row i: items never ranked become NaN (the padding, the answer itself and,
 * with SEEN_EXCLUDE, the items of the input), with SEEN_ZERO the input's items score 0; the rest count when they
 * score at least the answer. With coverage the block goes to the row's top-k first, the answer still in it. */
static void rank_full_row(void *ctx, int64_t i, int64_t first, real *sc, int64_t n) {
    const ModelRanker *r = ctx;
    int64_t nseen, u = r->b->user[i];
    if (r->out[i] == OUT_NONFINITE) return;
    if (!score_check_finite(sc + (first == 0), n - (first == 0))) { /* every item's score, the padding's aside */
        r->out[i] = OUT_NONFINITE;
        r->rank[u] = -1;
        return;
    }
    if (r->out[i] && !r->heap) return;
    const int32_t *seq = seen_items(r->ds, u, r->split, &nseen);
    real fill = r->opt->seen == SEEN_EXCLUDE ? NAN : 0;
    for (int64_t k = 0; k < nseen; k++)
        if (seq[k] >= first && seq[k] < first + n) sc[seq[k] - first] = fill;
    if (first == 0) sc[0] = NAN;
    if (r->heap) topk_offer(&r->heap[i], sc, first, n);
    if (r->out[i]) return;
    int64_t ans = r->b->answer[i] - first;
    if (ans >= 0 && ans < n) sc[ans] = NAN;
    r->rank[u] += count_at_least(sc, n, r->answer[i]);
}

/* Coverage: the batch's finished top-k lists lower each listed item's best place. */
static void coverage_batch(const ModelRanker *r) {
    for (int i = 0; i < r->b->B; i++) {
        if (r->out[i] == OUT_NONFINITE) continue;
        int64_t cnt = topk_finish(&r->heap[i]);
        for (int64_t p = 0; p < cnt; p++) {
            uint8_t *best = &r->best[r->heap[i].item[p]];
            if (p < *best) *best = (uint8_t)p;
        }
    }
}

/* Items are the batch's users under the sampled protocol: the answer against its negatives. */
static void rank_sampled_users(void *ctx, NnChunk ch) {
    const ModelRanker *r = ctx;
    const SampleSet *smp = r->opt->samples;
    const SeqBatch *b = r->b;
    int64_t H = r->s->item_emb.weight->shape[1];
    for (int64_t i = ch.begin; i < ch.end; i++) {
        real *c = r->cand + i * (1 + smp->n_neg);
        score_candidates(r->s, r->U + i * H, b->answer[i], smp->neg + b->user[i] * smp->n_neg, smp->n_neg, c);
        r->rank[b->user[i]] = score_check_finite(c, 1 + smp->n_neg) ? count_at_least(c + 1, smp->n_neg, c[0]) : -1;
    }
}

static void rank_model_visit(void *ctx, const SeqBatch *b, const Tensor *U) {
    ModelRanker *r = ctx;
    const Tensor *E = r->s->item_emb.weight;
    int64_t H = U->shape[1];
    r->b = b;
    if (r->opt->protocol == PROTOCOL_SAMPLE) {
        const SampleSet *smp = r->opt->samples;
        r->U = U->data;
        nn_parallel_for(b->B, (1 + smp->n_neg) * H, rank_sampled_users, r);
        return;
    }
    for (int i = 0; i < b->B; i++) { /* the answer's score, exactly as in its block */
        int64_t nseen, u = b->user[i], ans = b->answer[i];
        const int32_t *seq = seen_items(r->ds, u, r->split, &nseen);
        int seen = is_seen(seq, nseen, ans);
        r->out[i] = seen && r->opt->seen == SEEN_EXCLUDE ? OUT_EXCLUDED : 0;
        r->rank[u] = r->out[i] ? r->ds->n_items + 1 : 0;
        r->answer[i] = seen ? 0 : item_scores_one(E, U->data + i * H, ans);
        if (r->heap) r->heap[i] = topk_new(COVERAGE_K, r->heap_score + i * COVERAGE_K, r->heap_item + i * COVERAGE_K);
    }
    item_scores_blocks(E, U->data, b->B, rank_full_row, r);
    if (r->heap) coverage_batch(r);
}

/* Every rank's share of rank (n_users), in user order, onto every rank: integers, so nothing depends on size. */
static void gather_ranks(const Dataset *ds, const EvalOptions *opt, int size, int64_t first, int64_t *rank) {
    size_t *counts = nn_malloc((size_t)size * sizeof *counts);
    for (int k = 0; k < size; k++) {
        int64_t f, e;
        rank_share(ds, opt, k, size, &f, &e);
        counts[k] = (size_t)(e - f) * sizeof *rank;
    }
    int64_t *all = nn_malloc((size_t)(ds->n_users ? ds->n_users : 1) * sizeof *all);
    dist_allgather(rank + first, all, counts);
    memcpy(rank, all, (size_t)ds->n_users * sizeof *rank);
    free(all);
    free(counts);
}

/* Every rank's best places (n_items + 1) onto every rank, each item's best of all. */
static void gather_best(const Dataset *ds, int size, uint8_t *best) {
    size_t n1 = (size_t)ds->n_items + 1, *counts = nn_malloc((size_t)size * sizeof *counts);
    for (int k = 0; k < size; k++) counts[k] = n1;
    uint8_t *all = nn_malloc(n1 * (size_t)size);
    dist_allgather(best, all, counts);
    for (int k = 0; k < size; k++)
        for (size_t j = 0; j < n1; j++)
            if (all[k * n1 + j] < best[j]) best[j] = all[k * n1 + j];
    free(all);
    free(counts);
}

/* The ranking passes of this rank's users, then every rank's results on every rank. */
static void rank_model(ModelRanker *r, Sasrec *s) {
    int size = r->opt->distributed ? dist_size() : 1;
    int64_t first, end;
    rank_share(r->ds, r->opt, size > 1 ? dist_rank() : 0, size, &first, &end);
    visit_range(s, r->ds, r->split, r->opt, first, end, rank_model_visit, r);
    if (size > 1) gather_ranks(r->ds, r->opt, size, first, r->rank);
    if (size > 1 && r->best) gather_best(r->ds, size, r->best);
}

void eval_rank_model(Sasrec *s, const Dataset *ds, Split split, const EvalOptions *opt, int64_t *rank) {
    int64_t nb = opt->batch > 0 ? opt->batch : 1, n_neg = opt->samples ? opt->samples->n_neg : 0;
    ModelRanker r = {.s = s, .ds = ds, .split = split, .opt = opt, .rank = rank};
    if (opt->protocol == PROTOCOL_SAMPLE) {
        NN_CHECK(opt->samples && opt->samples->n_users == ds->n_users, "eval_rank_model",
                 "the sampled protocol needs the negatives of every user of the data");
        r.cand = nn_malloc((size_t)(nb * (1 + n_neg)) * sizeof *r.cand);
    } else {
        r.answer = nn_malloc((size_t)nb * sizeof *r.answer);
        r.out = nn_malloc((size_t)nb);
    }
    rank_model(&r, s);
    free(r.cand);
    free(r.answer);
    free(r.out);
}

void eval_rank_model_coverage(Sasrec *s, const Dataset *ds, Split split, const EvalOptions *opt, int64_t *rank,
                              EvalCoverage *cov) {
    NN_CHECK(opt->protocol == PROTOCOL_FULL, "eval_rank_model_coverage",
             "coverage is measured under full ranking (opt->protocol PROTOCOL_FULL); the sampled protocol has no "
             "recommendation lists");
    int64_t nb = opt->batch > 0 ? opt->batch : 1, N1 = ds->n_items + 1;
    ModelRanker r = {.s = s, .ds = ds, .split = split, .opt = opt, .rank = rank};
    r.answer = nn_malloc((size_t)nb * sizeof *r.answer);
    r.out = nn_malloc((size_t)nb);
    r.heap = nn_malloc((size_t)nb * sizeof *r.heap);
    r.heap_score = nn_malloc((size_t)(nb * COVERAGE_K) * sizeof *r.heap_score);
    r.heap_item = nn_malloc((size_t)(nb * COVERAGE_K) * sizeof *r.heap_item);
    r.best = nn_malloc((size_t)N1);
    memset(r.best, COVERAGE_K, (size_t)N1);
    rank_model(&r, s);
    *cov = (EvalCoverage){.n = EVAL_COVERAGE_MAX, .items = ds->n_items};
    for (int c = 0; c < cov->n; c++) {
        int64_t hit = 0;
        for (int64_t j = 1; j < N1; j++) hit += r.best[j] < COVERAGE_CUTS[c];
        cov->k[c] = COVERAGE_CUTS[c];
        cov->value[c] = ds->n_items ? (double)hit / (double)ds->n_items : 0;
    }
    free(r.best);
    free(r.heap_item);
    free(r.heap_score);
    free(r.heap);
    free(r.answer);
    free(r.out);
}

void eval_coverage_write_json(const EvalCoverage *cov, FILE *f) {
    for (int c = 0; c < cov->n; c++)
        fprintf(f, "%s\"coverage@%d\": %.6f", c ? ", " : "", cov->k[c], cov->value[c]);
}

/* ---- most popular ---- */

static int cmp_real(const void *a, const void *b) {
    real x = *(const real *)a, y = *(const real *)b;
    return (x > y) - (x < y);
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* How many of sorted[0..n) (ascending) are >= a. */
static int64_t count_sorted_at_least(const real *sorted, int64_t n, real a) {
    return n - sorted_lower_bound(sorted, n, sizeof *sorted, &a, sorted_cmp_real);
}

typedef struct {
    const Dataset *ds;
    Split split;
    const EvalOptions *opt;
    const real *pop, *sorted; /* (N + 1) each item's score; (N) items 1..N's, ascending */
    int64_t *rank;            /* (n_users) */
} PopularLoop;

/* Items are users, ranked by popularity. */
static void rank_popular_users(void *ctx, NnChunk c) {
    const PopularLoop *l = ctx;
    const Dataset *ds = l->ds;
    const EvalOptions *opt = l->opt;
    const real *pop = l->pop, *sorted = l->sorted;
    int64_t *rank = l->rank, N = ds->n_items, N1 = N + 1;
    Split split = l->split;
    int32_t *mine = NULL; /* a user's distinct input items */
    int64_t cap = 0;
    for (int64_t u = c.begin; u < c.end; u++) {
        int64_t n;
        const int32_t *seq = seen_items(ds, u, split, &n);
        int32_t ans = seq[n];
        if (opt->protocol == PROTOCOL_SAMPLE) {
            const int32_t *neg = opt->samples->neg + u * opt->samples->n_neg;
            int64_t r = 0;
            for (int k = 0; k < opt->samples->n_neg; k++) r += pop[neg[k]] >= pop[ans];
            rank[u] = r;
            continue;
        }
        if (n > cap) mine = nn_realloc(mine, (size_t)(cap = n) * sizeof *mine);
        memcpy(mine, seq, (size_t)n * sizeof *mine);
        qsort(mine, (size_t)n, sizeof *mine, cmp_i32);
        int seen = n > 0 && bsearch(&ans, mine, (size_t)n, sizeof *mine, cmp_i32) != NULL;
        if (seen && opt->seen == SEEN_EXCLUDE) {
            rank[u] = N1; /* excluded: a miss */
            continue;
        }
        real a = seen ? 0 : pop[ans]; /* with SEEN_ZERO an answer among the input scores 0 */
        /* items 1..N other than the answer at >= a, then the input items moved to their score under the policy */
        int64_t r = count_sorted_at_least(sorted, N, a) - (pop[ans] >= a);
        for (int64_t k = 0; k < n; k++) {
            if ((k > 0 && mine[k] == mine[k - 1]) || mine[k] == ans) continue;
            r -= pop[mine[k]] >= a;
            if (opt->seen == SEEN_ZERO) r += 0 >= a;
        }
        rank[u] = r;
    }
    free(mine);
}

/* Every user's answer ranked by one score per item, the same for everyone (pop (N + 1)), without scoring each
 * user: the items scoring at least the answer's, from the sorted scores, corrected for the user's input items. */
void eval_rank_popular(const Dataset *ds, Split split, const EvalOptions *opt, int64_t *rank) {
    int64_t N = ds->n_items, N1 = N + 1;
    real *pop = nn_calloc((size_t)N1, sizeof *pop);
    for (int64_t u = 0; u < ds->n_users; u++) {
        int64_t len;
        const int32_t *seq = dataset_seq(ds, u, &len);
        for (int64_t k = 0; k + 2 < len; k++) pop[seq[k]] += 1;
    }
    for (int64_t j = 1; j < N1; j++) { /* a tie-break in [0, 0.5): keeps the order of distinct counts */
        uint32_t w[4];
        philox4x32(0x907, 0, (uint64_t)j, w);
        pop[j] += (real)(0.5 * rng_word_to_unit(w[0]));
    }
    real *sorted = nn_malloc((size_t)(N ? N : 1) * sizeof *sorted); /* the scores of items 1..N, ascending */
    memcpy(sorted, pop + 1, (size_t)N * sizeof *sorted);
    qsort(sorted, (size_t)N, sizeof *sorted, cmp_real);
    PopularLoop l = {ds, split, opt, pop, sorted, rank};
    nn_parallel_for(ds->n_users, 64, rank_popular_users, &l);
    free(sorted);
    free(pop);
}

Metrics eval_model(Sasrec *s, const Dataset *ds, Split split, const EvalOptions *opt) {
    int64_t *rank = nn_malloc((size_t)(ds->n_users ? ds->n_users : 1) * sizeof *rank);
    eval_rank_model(s, ds, split, opt, rank);
    Metrics m = metrics_from_ranks(opt->protocol, rank, ds->n_users);
    free(rank);
    return m;
}

Metrics eval_popular(const Dataset *ds, Split split, const EvalOptions *opt) {
    int64_t *rank = nn_malloc((size_t)(ds->n_users ? ds->n_users : 1) * sizeof *rank);
    eval_rank_popular(ds, split, opt, rank);
    Metrics m = metrics_from_ranks(opt->protocol, rank, ds->n_users);
    free(rank);
    return m;
}
