#include "models/sasrec/eval.h"

#include <math.h>
#include <stdatomic.h>
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
#include "models/sasrec/score_check.h"
#include "models/sasrec/topk.h"
#include "tensor/kernels.h"

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
        visit(ctx, &b, sasrec_forward_last(s, g, &t)); /* (B, H) */
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

/* ---- ranking the model's scores ----
 *
 * A pass cuts its users into units and ranks the units in parallel, each unit whole in one thread: its
 * forward, its scores and their counting run serially there (nested loops run serially), so the two cores
 * never wait for each other inside the many small loops of a forward. A user's rank depends on its own row
 * alone (every kernel gives each row the same bits however rows are batched or cut), so the ranks are
 * those of one pass over the batches of opt->batch users, for any thread count and unit size. */

enum { COVERAGE_K = 20 }; /* the longest top-k whose coverage is measured */
static const int COVERAGE_CUTS[EVAL_COVERAGE_MAX] = {5, 10, 20};

enum {
    OUT_EXCLUDED = 1, /* the answer is excluded: a miss, ranked n_items + 1 */
    OUT_NONFINITE = 2 /* a NaN or infinite score: no rank (-1), score_check.h */
};

/* Full-ranking scores per unit x items tile: 512 KiB of float, so that a tile is counted while in cache. */
#define EVAL_SCORE_TILE (1 << 17)

typedef struct { /* one thread's scratch: a unit's batch, graph and buffers */
    Graph *graph;
    SeqBatch b;
    int64_t *users;     /* (unit) */
    real *answer;       /* (unit) full ranking: the answer's score of each row */
    unsigned char *out; /* (unit) full ranking: OUT_EXCLUDED or OUT_NONFINITE, else 0 */
    real *S;            /* (unit, block) full ranking: a tile of scores */
    real *ans;          /* (G (H + G)) full ranking: rank_full_start's scratch, G = ANSWER_GROUP */
    real *cand;         /* (1 + n_neg) sampled: a row's answer's score, then its negatives' */
    TopK *heap;         /* (unit) coverage: each row's running top-COVERAGE_K */
    real *heap_score;   /* (unit, COVERAGE_K) the heaps' buffers */
    int32_t *heap_item; /* (unit, COVERAGE_K) */
    uint8_t *best;      /* (n_items + 1) coverage: the best place this thread's rows gave each item */
    uint8_t *flag;      /* (block / RUN + 1) coverage: runs_at_least of one row's tile */
    int64_t *act;       /* (unit) full ranking with a cap: the rows still ranked */
    real *Uc;           /* (unit, H) full ranking with a cap: their user vectors, side by side */
    uint8_t *may_stop;  /* (unit) full ranking with a cap: no score of the row can overflow, so it may stop early */
} RankWorker;

typedef struct {
    Sasrec *s;
    const Dataset *ds;
    Split split;
    const EvalOptions *opt;
    int64_t *rank;          /* (n_users) */
    int coverage;           /* full ranking: also each row's top COVERAGE_K into best */
    int64_t cap;            /* full ranking: a row whose rank reaches it is left at that count (0: exact ranks) */
    double emax;            /* full ranking with a cap: the largest norm of a row of the item table (inf if any
                               is not finite) */
    uint8_t *best;          /* (n_items + 1) coverage: the best place any row gave each item, COVERAGE_K if none */
    int64_t first, end;     /* the pass: users [first, end) */
    int64_t unit;           /* users a unit */
    int64_t block;          /* full ranking: items per tile */
    real *ET;               /* (N + 1, H) full ranking: the item table by tiles, each (H, its items), contiguous;
                               NULL for a table over EVAL_COPY_MAX bytes (gemm then packs its rows) */
    RankWorker *w;          /* (workers) */
    _Atomic int64_t done;   /* users ranked, for the progress line */
    Progress bar;
} ModelRanker;

/* out[0] = <u, E[answer]>, out[1 + k] = <u, E[neg[k]]>, each as 16 lanes of h summed along h, then the lanes in
 * order; four candidates at once, each with the same operations in the same order (the rest one by one), so
 * that their serial sums of lanes overlap. */
NN_VECTORIZE static void score_candidates(const real *E, int64_t H, const real *u, int64_t answer,
                                          const int32_t *neg, int n_neg, real *out) {
    int k = -1;
    for (; k + 4 <= n_neg; k += 4) {
        const real *e0 = E + (k < 0 ? answer : neg[k]) * H, *e1 = E + neg[k + 1] * H, *e2 = E + neg[k + 2] * H,
                   *e3 = E + neg[k + 3] * H;
        real l0[16] = {0}, l1[16] = {0}, l2[16] = {0}, l3[16] = {0}, a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        int64_t h = 0;
        for (; h + 16 <= H; h += 16)
            for (int l = 0; l < 16; l++) {
                l0[l] += u[h + l] * e0[h + l];
                l1[l] += u[h + l] * e1[h + l];
                l2[l] += u[h + l] * e2[h + l];
                l3[l] += u[h + l] * e3[h + l];
            }
        for (int l = 0; l < 16; l++) {
            a0 += l0[l];
            a1 += l1[l];
            a2 += l2[l];
            a3 += l3[l];
        }
        for (; h < H; h++) {
            a0 += u[h] * e0[h];
            a1 += u[h] * e1[h];
            a2 += u[h] * e2[h];
            a3 += u[h] * e3[h];
        }
        out[k + 1] = a0;
        out[k + 2] = a1;
        out[k + 3] = a2;
        out[k + 4] = a3;
    }
    for (; k < n_neg; k++) {
        const real *e = E + (k < 0 ? answer : neg[k]) * H;
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

/* How many of x[0..n) are >= a, and in *finite whether all are finite: one pass for both. */
NN_VECTORIZE static int64_t count_at_least_finite(const real *x, int64_t n, real a, int *finite) {
    int c = 0, ok = 1;
    for (int64_t j = 0; j < n; j++) {
        c += x[j] >= a;
        ok &= isfinite(x[j]) != 0;
    }
    *finite = ok;
    return c;
}

enum { RUN = 64 }; /* items a top-k skips at once when none of them can enter */

/* flag[c] = whether any of x[RUN c .. RUN c + RUN) (the last run may be shorter) is >= t (NaN never is). */
NN_VECTORIZE static void runs_at_least(const real *x, int64_t n, real t, uint8_t *flag) {
    int64_t nr = n / RUN, j = nr * RUN;
    for (int64_t c = 0; c < nr; c++) {
        int any = 0;
        for (int l = 0; l < RUN; l++) any |= x[c * RUN + l] >= t;
        flag[c] = (uint8_t)any;
    }
    int any = 0;
    for (; j < n; j++) any |= x[j] >= t;
    flag[nr] = (uint8_t)any;
}

/* topk_offer of items first + j with scores x[j], one by one and only those that can enter: a full heap takes
 * a pair only with a score >= its root's, which only rises, so it ends the same. */
static void offer_runs(TopK *t, const real *x, int64_t first, int64_t n, uint8_t *flag) {
    runs_at_least(x, n, t->size < t->k ? -INFINITY : t->score[0], flag); /* the root only rises after */
    for (int64_t c = 0; c * RUN < n; c++) {
        if (!flag[c]) continue;
        for (int64_t j = c * RUN; j < n && j < c * RUN + RUN; j++)
            if (t->size < t->k || x[j] >= t->score[0]) topk_offer(t, x + j, first + j, 1);
    }
}

/* One tile of full-ranking scores of row i, as if items never ranked were NaN (the padding, the answer itself
 * and, with SEEN_EXCLUDE, the items of the input) and, with SEEN_ZERO, the input's items scored 0: the rest
 * count when they score at least the answer. The raw scores are counted and checked in one pass, then the
 * input's items and the answer corrected one by one (a repeated item corrects once: it is rewritten the first
 * time). With coverage the tile then goes to the row's top-k, the input's items rewritten, the answer still in. */
static void rank_full_row(const ModelRanker *r, RankWorker *w, int64_t i, int64_t first, real *sc, int64_t n) {
    int64_t nseen, u = w->b.user[i], lo = first == 0; /* the padding is neither counted nor checked */
    if (w->out[i] == OUT_NONFINITE) return;
    int ok;
    real a = w->answer[i], *x = sc + lo;
    TopK *heap = r->coverage ? &w->heap[i] : NULL;
    int64_t cnt;
    if (w->out[i])
        cnt = 0, ok = score_check_finite(x, n - lo);
    else
        cnt = count_at_least_finite(x, n - lo, a, &ok);
    if (!ok) {
        w->out[i] = OUT_NONFINITE;
        r->rank[u] = -1;
        return;
    }
    if (w->out[i] && !heap) return;
    const int32_t *seq = seen_items(r->ds, u, r->split, &nseen);
    real fill = r->opt->seen == SEEN_EXCLUDE ? NAN : 0;
    for (int64_t k = 0; k < nseen; k++) {
        int64_t j = seq[k] - first;
        if (j < 0 || j >= n) continue;
        cnt += (fill >= a) - (sc[j] >= a);
        sc[j] = fill;
    }
    if (lo) sc[0] = NAN;
    if (heap) offer_runs(heap, x, first + lo, n - lo, w->flag);
    if (w->out[i]) return;
    int64_t ans = w->b.answer[i] - first;
    if (ans >= 0 && ans < n) cnt -= sc[ans] >= a;
    r->rank[u] += cnt;
}

enum { ANSWER_GROUP = 32 }; /* rows whose answers' scores one small gemm computes */

/* Whether every score <u, e> is finite for any row e of the table, whose largest norm is emax: u finite and
 * |<u, e>| <= |u| emax (Cauchy-Schwarz) far below the largest real, rounding included. Such a row may stop
 * being ranked early: the tiles it skips could not have made it non-finite. */
static double norm2(const real *u, int64_t H) {
    double n2 = 0;
    for (int64_t h = 0; h < H; h++) n2 += (double)u[h] * (double)u[h];
    return n2;
}

static int cannot_overflow(const real *u, int64_t H, double emax) {
    double n2 = norm2(u, H);
    return isfinite(n2) && sqrt(n2) * emax < (sizeof(real) == sizeof(float) ? 1e36 : 1e300);
}

/* The largest norm of a row of E (N + 1, H), or inf if any value is not finite. */
static double table_norm_max(const Tensor *E) {
    int64_t H = E->shape[1];
    double best = 0;
    for (int64_t j = 0; j < E->shape[0]; j++) {
        double n2 = norm2(E->data + j * H, H);
        if (!isfinite(n2)) return INFINITY;
        if (n2 > best) best = n2;
    }
    return sqrt(best);
}

/* The answers' scores and flags of a unit's rows, exactly as in their tile: per group of rows, the product of
 * their user vectors with their answers' rows (gathered) gives each row's own score on its diagonal (gemm sums
 * every element in the same order whatever the product's size). */
static void rank_full_start(const ModelRanker *r, RankWorker *w, const real *U) {
    const Tensor *E = r->s->item_emb.weight;
    int64_t H = E->shape[1], B = w->b.B;
    real *rows = w->ans, *D = w->ans + ANSWER_GROUP * H; /* (G, H) the answers' rows, (G, G) the product */
    for (int64_t g0 = 0; g0 < B; g0 += ANSWER_GROUP) {
        int64_t gn = B - g0 < ANSWER_GROUP ? B - g0 : ANSWER_GROUP;
        for (int64_t i = 0; i < gn; i++)
            memcpy(rows + i * H, E->data + w->b.answer[g0 + i] * H, (size_t)H * sizeof *rows);
        gemm(gn, gn, H, U + g0 * H, H, 1, rows, 1, H, 0, D, gn);
        for (int64_t i = 0; i < gn; i++) w->answer[g0 + i] = D[i * gn + i];
    }
    for (int64_t i = 0; i < B; i++) {
        int64_t nseen, u = w->b.user[i], ans = w->b.answer[i];
        const int32_t *seq = seen_items(r->ds, u, r->split, &nseen);
        int seen = is_seen(seq, nseen, ans);
        w->out[i] = seen && r->opt->seen == SEEN_EXCLUDE ? OUT_EXCLUDED : 0;
        r->rank[u] = w->out[i] ? r->ds->n_items + 1 : 0;
        if (seen) w->answer[i] = 0; /* SEEN_ZERO: an answer among the input scores 0 */
        if (r->coverage)
            w->heap[i] = topk_new(COVERAGE_K, w->heap_score + i * COVERAGE_K, w->heap_item + i * COVERAGE_K);
        if (r->cap) w->may_stop[i] = cannot_overflow(U + i * H, H, r->emax);
    }
}

/* A unit under full ranking: the item table in tiles, each tile's scores (gemm: the same bits however the
 * table is cut, item_scores.h) counted row by row while in cache; then the rows' top-k into best. */
static void rank_full_unit(const ModelRanker *r, RankWorker *w, const real *U) {
    const Tensor *E = r->s->item_emb.weight;
    int64_t N1 = E->shape[0], H = E->shape[1], B = w->b.B, m = B;
    rank_full_start(r, w, U);
    for (int64_t i = 0; r->cap && i < B; i++) w->act[i] = i;
    const real *Ua = U; /* the rows still ranked: all of U, or with a cap those in Uc */
    for (int64_t c0 = 0; c0 < N1 && m > 0; c0 += r->block) {
        int64_t cn = N1 - c0 < r->block ? N1 - c0 : r->block;
        if (r->ET) /* U (m, H) x the tile (H, cn), read in place */
            gemm(m, cn, H, Ua, H, 1, r->ET + c0 * H, cn, 1, 0, w->S, cn);
        else /* U (m, H) x rows c0.. of E, transposed */
            gemm(m, cn, H, Ua, H, 1, E->data + c0 * H, 1, H, 0, w->S, cn);
        if (!r->cap) {
            for (int64_t i = 0; i < B; i++) rank_full_row(r, w, i, c0, w->S + i * cn, cn);
            continue;
        }
        int64_t kept = 0; /* rows whose count reached the cap (or whose rank is settled) stop, if they may */
        for (int64_t a = 0; a < m; a++) {
            int64_t i = w->act[a], u = w->b.user[i];
            rank_full_row(r, w, i, c0, w->S + a * cn, cn);
            if (w->may_stop[i] && (w->out[i] || r->rank[u] >= r->cap)) continue;
            if (Ua != w->Uc || kept != a) /* kept <= a: in place is safe; nothing to move until a row left */
                memmove(w->Uc + kept * H, Ua + a * H, (size_t)H * sizeof(real));
            w->act[kept++] = i;
        }
        m = kept, Ua = w->Uc;
    }
    for (int i = 0; r->coverage && i < B; i++) {
        if (w->out[i] == OUT_NONFINITE) continue;
        int64_t cnt = topk_finish(&w->heap[i]);
        for (int64_t p = 0; p < cnt; p++) {
            uint8_t *best = &w->best[w->heap[i].item[p]];
            if (p < *best) *best = (uint8_t)p;
        }
    }
}

/* A unit under the sampled protocol: each answer against its negatives. */
static void rank_sampled_unit(const ModelRanker *r, RankWorker *w, const real *U) {
    const SampleSet *smp = r->opt->samples;
    const Tensor *E = r->s->item_emb.weight;
    int64_t H = E->shape[1];
    for (int64_t i = 0; i < w->b.B; i++) {
        real *c = w->cand;
        int64_t u = w->b.user[i];
        score_candidates(E->data, H, U + i * H, w->b.answer[i], smp->neg + u * smp->n_neg, smp->n_neg, c);
        r->rank[u] = score_check_finite(c, 1 + smp->n_neg) ? count_at_least(c + 1, smp->n_neg, c[0]) : -1;
    }
}

/* Items are units: each one's forward (evaluation mode, no gradients), then its ranking, in this thread. */
static void rank_units(void *ctx, NnChunk ch) {
    ModelRanker *r = ctx;
    RankWorker *w = &r->w[ch.worker];
    for (int64_t k = ch.begin; k < ch.end; k++) {
        int64_t start = r->first + k * r->unit, n = r->end - start < r->unit ? r->end - start : r->unit;
        for (int64_t i = 0; i < n; i++) w->users[i] = start + i;
        batch_fill(&w->b, r->ds, r->split, w->users, (int)n, NULL, 0);
        Tokens t = sasrec_tokens(w->graph, w->b.input, w->b.len, w->b.B, w->b.L, 1);
        const real *U = sasrec_forward_last(r->s, w->graph, &t)->data; /* (B, H) */
        if (r->opt->protocol == PROTOCOL_SAMPLE)
            rank_sampled_unit(r, w, U);
        else
            rank_full_unit(r, w, U);
        graph_reset(w->graph);
        int64_t done = atomic_fetch_add(&r->done, n) + n;
        if (ch.worker == 0) progress_update(&r->bar, done, NULL); /* the calling thread's: one writer */
    }
}

/* The scratch of n workers for units of r->unit users; worker 0 reuses opt->graph, if any, and r->best. */
static RankWorker *workers_new(const ModelRanker *r, int n) {
    RankWorker *ws = nn_calloc((size_t)n, sizeof *ws);
    int64_t unit = r->unit, N1 = r->ds->n_items + 1, n_neg = r->opt->samples ? r->opt->samples->n_neg : 0,
            H = r->s->item_emb.weight->shape[1];
    for (int k = 0; k < n; k++) {
        RankWorker *w = &ws[k];
        w->graph = k == 0 && r->opt->graph ? r->opt->graph : graph_new();
        graph_reset(w->graph);
        batch_alloc(&w->b, (int)unit, (int)r->s->cfg.max_len);
        w->users = nn_malloc((size_t)unit * sizeof *w->users);
        if (r->opt->protocol == PROTOCOL_SAMPLE) {
            w->cand = nn_malloc((size_t)(1 + n_neg) * sizeof *w->cand);
            continue;
        }
        w->answer = nn_malloc((size_t)unit * sizeof *w->answer);
        w->out = nn_malloc((size_t)unit);
        w->S = nn_aligned_alloc((size_t)(unit * r->block) * sizeof *w->S);
        w->ans = nn_malloc((size_t)(ANSWER_GROUP * (H + ANSWER_GROUP)) * sizeof *w->ans);
        if (r->cap) {
            w->act = nn_malloc((size_t)unit * sizeof *w->act);
            w->Uc = nn_malloc((size_t)(unit * H) * sizeof *w->Uc);
            w->may_stop = nn_malloc((size_t)unit);
        }
        if (!r->coverage) continue;
        w->heap = nn_malloc((size_t)unit * sizeof *w->heap);
        w->heap_score = nn_malloc((size_t)(unit * COVERAGE_K) * sizeof *w->heap_score);
        w->heap_item = nn_malloc((size_t)(unit * COVERAGE_K) * sizeof *w->heap_item);
        w->flag = nn_malloc((size_t)(r->block / RUN + 1));
        w->best = k == 0 ? r->best : nn_malloc((size_t)N1);
        if (k > 0) memset(w->best, COVERAGE_K, (size_t)N1);
    }
    return ws;
}

/* Frees the workers, their best places first merged into r->best (a minimum: in any order the same). */
static void workers_free(const ModelRanker *r, RankWorker *ws, int n) {
    for (int k = 0; k < n; k++) {
        RankWorker *w = &ws[k];
        if (w->best && w->best != r->best) {
            for (int64_t j = 0; j <= r->ds->n_items; j++)
                if (w->best[j] < r->best[j]) r->best[j] = w->best[j];
            free(w->best);
        }
        if (w->graph != r->opt->graph) graph_free(w->graph);
        batch_free(&w->b);
        free(w->users);
        free(w->answer);
        free(w->out);
        free(w->S);
        free(w->ans);
        free(w->cand);
        free(w->heap);
        free(w->heap_score);
        free(w->heap_item);
        free(w->flag);
        free(w->act);
        free(w->Uc);
        free(w->may_stop);
    }
    free(ws);
}

/* The item table E (N + 1, H) in tiles of block items, each transposed to (H, its items) and contiguous, so
 * that every unit's gemm reads a tile in place instead of packing it again (the same scores, bit for bit:
 * gemm sums each element over k in the same order however it reads its operands). */
static real *tiles_transposed(const Tensor *E, int64_t block) {
    int64_t N1 = E->shape[0], H = E->shape[1];
    real *ET = nn_aligned_alloc((size_t)(N1 * H) * sizeof *ET);
    for (int64_t c0 = 0; c0 < N1; c0 += block) {
        int64_t cn = N1 - c0 < block ? N1 - c0 : block;
        real *t = ET + c0 * H;
        for (int64_t j = 0; j < cn; j++)
            for (int64_t h = 0; h < H; h++) t[h * cn + j] = E->data[(c0 + j) * H + h];
    }
    return ET;
}

/* The users [first, end) ranked in units: unit = the batch with one thread; with W threads the batch / W (the
 * memory of one batch in all), fewer when that leaves under 4 units a thread (small data), so threads share
 * the work evenly. */
static void rank_pass(ModelRanker *r, int64_t first, int64_t end) {
    int64_t nb = r->opt->batch < r->ds->n_users ? r->opt->batch : r->ds->n_users, n = end - first;
    if (nb < 1) nb = 1;
    if (n <= 0) return;
    int W = nn_parallel_width(2, NN_PARALLEL_MIN_WORK), was_training = r->s->m.training;
    int64_t unit = W > 1 ? nb / W : nb, even = (n + 4 * W - 1) / (4 * W);
    if (W > 1 && unit > even) unit = even;
    r->unit = unit > 0 ? unit : 1;
    r->first = first;
    r->end = end;
    r->block = EVAL_SCORE_TILE / r->unit > 256 ? EVAL_SCORE_TILE / r->unit : 256;
    if (r->block > r->ds->n_items + 1) r->block = r->ds->n_items + 1;
    const Tensor *E = r->s->item_emb.weight;
    if (r->opt->protocol == PROTOCOL_FULL && (double)E->numel * sizeof(real) <= EVAL_COPY_MAX)
        r->ET = tiles_transposed(E, r->block);
    if (r->opt->protocol != PROTOCOL_FULL || r->coverage) r->cap = 0; /* coverage needs every score */
    if (r->cap) r->emax = table_norm_max(E);
    int grad = ag_set_grad_enabled(0);
    module_train(&r->s->m, 0);
    r->w = workers_new(r, W);
    atomic_store(&r->done, 0);
    char name[64];
    snprintf(name, sizeof name, "%s pass", batch_split_name(r->split));
    progress_start(&r->bar, name, "users", n);
    nn_parallel_for((n + r->unit - 1) / r->unit, NN_PARALLEL_MIN_WORK, rank_units, r); /* a unit a chunk */
    progress_end(&r->bar);
    workers_free(r, r->w, W);
    free(r->ET);
    module_train(&r->s->m, was_training);
    ag_set_grad_enabled(grad);
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
static void rank_model(ModelRanker *r) {
    int size = r->opt->distributed ? dist_size() : 1;
    int64_t first, end;
    rank_share(r->ds, r->opt, size > 1 ? dist_rank() : 0, size, &first, &end);
    rank_pass(r, first, end);
    if (size > 1) gather_ranks(r->ds, r->opt, size, first, r->rank);
    if (size > 1 && r->best) gather_best(r->ds, size, r->best);
}

/* eval_rank_model, a row left at its count once that reaches cap (0: exact ranks). */
static void rank_capped(Sasrec *s, const Dataset *ds, Split split, const EvalOptions *opt, int64_t *rank,
                        int64_t cap) {
    NN_CHECK(opt->protocol != PROTOCOL_SAMPLE || (opt->samples && opt->samples->n_users == ds->n_users),
             "eval_rank_model", "the sampled protocol needs the negatives of every user of the data");
    ModelRanker r = {.s = s, .ds = ds, .split = split, .opt = opt, .rank = rank, .cap = cap};
    rank_model(&r);
}

void eval_rank_model(Sasrec *s, const Dataset *ds, Split split, const EvalOptions *opt, int64_t *rank) {
    rank_capped(s, ds, split, opt, rank, 0);
}

void eval_rank_model_coverage(Sasrec *s, const Dataset *ds, Split split, const EvalOptions *opt, int64_t *rank,
                              EvalCoverage *cov) {
    NN_CHECK(opt->protocol == PROTOCOL_FULL, "eval_rank_model_coverage",
             "coverage is measured under full ranking (opt->protocol PROTOCOL_FULL); the sampled protocol has no "
             "recommendation lists");
    int64_t N1 = ds->n_items + 1;
    ModelRanker r = {.s = s, .ds = ds, .split = split, .opt = opt, .rank = rank, .coverage = 1};
    r.best = nn_malloc((size_t)N1);
    memset(r.best, COVERAGE_K, (size_t)N1);
    rank_model(&r);
    *cov = (EvalCoverage){.n = EVAL_COVERAGE_MAX, .items = ds->n_items};
    for (int c = 0; c < cov->n; c++) {
        int64_t hit = 0;
        for (int64_t j = 1; j < N1; j++) hit += r.best[j] < COVERAGE_CUTS[c];
        cov->k[c] = COVERAGE_CUTS[c];
        cov->value[c] = ds->n_items ? (double)hit / (double)ds->n_items : 0;
    }
    free(r.best);
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
    /* only the metrics are wanted: a row stops being ranked once past every cutoff (the same metrics) */
    rank_capped(s, ds, split, opt, rank, metrics_rank_cap(opt->protocol));
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
