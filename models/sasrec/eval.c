#include "models/sasrec/eval.h"

#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "models/sasrec/score_check.h"
#include "base/error.h"
#include "tensor/kernels.h"
#include "base/parallel.h"
#include "base/simd.h"

EvalOptions eval_default_options(void) {
    return (EvalOptions){
        .protocol = PROTOCOL_SAMPLE, .seen = SEEN_EXCLUDE, .batch = 512, .samples = NULL, .graph = NULL};
}

/* The rank of the answer among candidates: how many other candidates score at
 * least as high. skip[j] marks items that never rank (full ranking). */
static int64_t rank_full(const real *score, int64_t n, int64_t answer, const unsigned char *skip) {
    if (skip[answer]) return n; /* excluded: a miss */
    real a = score[answer];
    int64_t r = 0;
    for (int64_t j = 1; j < n; j++) r += !skip[j] && j != answer && score[j] >= a;
    return r;
}

/* The model input of user u for split (valid: s[:-2], test: s[:-1]): its items and *n. */
static const int32_t *seen_items(const Dataset *ds, int64_t u, Split split, int64_t *n) {
    int64_t len;
    const int32_t *seq = dataset_seq(ds, u, &len);
    *n = len - (split == SPLIT_VALID ? 2 : split == SPLIT_TEST ? 1 : 0);
    return seq;
}

/* Marks (on = 1) or unmarks the items of u's model input in skip. */
static void mark_seen(const Dataset *ds, int64_t u, Split split, unsigned char *skip, int on) {
    int64_t n;
    const int32_t *seq = seen_items(ds, u, split, &n);
    for (int64_t i = 0; i < n; i++) skip[seq[i]] = (unsigned char)on;
}

/* Ranks one batch given a function scoring the batch's users: scores (B, N + 1). */
static void rank_batch(const Dataset *ds, Split split, const EvalOptions *opt, const SeqBatch *b, const real *scores,
                       int64_t *rank) {
    int64_t N1 = ds->n_items + 1;
#pragma omp parallel
    {
        unsigned char *skip = opt->protocol == PROTOCOL_FULL ? nn_calloc((size_t)N1, 1) : NULL;
        real *zeroed =
            opt->protocol == PROTOCOL_FULL && opt->seen == SEEN_ZERO ? nn_malloc((size_t)N1 * sizeof(real)) : NULL;
#pragma omp for schedule(static)
        for (int i = 0; i < b->B; i++) {
            int64_t u = b->user[i], ans = b->answer[i];
            const real *sc = scores + (int64_t)i * N1;
            if (opt->protocol == PROTOCOL_SAMPLE) {
                const int32_t *neg = opt->samples->neg + u * opt->samples->n_neg;
                int64_t r = 0;
                for (int k = 0; k < opt->samples->n_neg; k++) r += sc[neg[k]] >= sc[ans];
                rank[i] = r;
            } else if (opt->seen == SEEN_EXCLUDE) {
                mark_seen(ds, u, split, skip, 1);
                skip[0] = 1;
                rank[i] = rank_full(sc, N1, ans, skip);
                mark_seen(ds, u, split, skip, 0);
            } else { /* seen items score 0 and compete */
                memcpy(zeroed, sc, (size_t)N1 * sizeof(real));
                int64_t n;
                const int32_t *seq = seen_items(ds, u, split, &n);
                for (int64_t k = 0; k < n; k++) zeroed[seq[k]] = 0;
                skip[0] = 1;
                rank[i] = rank_full(zeroed, N1, ans, skip);
            }
        }
        free(skip);
        free(zeroed);
    }
}

/* row[item] = <u, item_emb[item]> for the answer and the negatives. */
NN_VECTORIZE static void score_candidates(const Sasrec *s, const real *u, int64_t answer, const int32_t *neg, int n_neg,
                                          real *row) {
    const Tensor *E = s->item_emb.weight;
    int64_t H = E->shape[1];
    for (int k = -1; k < n_neg; k++) {
        int64_t item = k < 0 ? answer : neg[k];
        const real *e = E->data + item * H;
        real lane[16] = {0}, acc = 0;
        int64_t h = 0;
        for (; h + 16 <= H; h += 16)
            for (int l = 0; l < 16; l++) lane[l] += u[h + l] * e[h + l];
        for (int l = 0; l < 16; l++) acc += lane[l];
        for (; h < H; h++) acc += u[h] * e[h];
        row[item] = acc;
    }
}

int64_t eval_batch_users(int64_t requested, int64_t n_users, int64_t n_items) {
    int64_t nb = requested < n_users ? requested : n_users;
    while (nb > 1 && nb * (n_items + 1) > ((int64_t)1 << 26)) nb /= 2;
    return nb > 0 ? nb : 1;
}

void eval_score_all(const Sasrec *s, const Tensor *U, real *out) {
    const Tensor *E = s->item_emb.weight; /* (N + 1, H) */
    int64_t B = U->shape[0], H = U->shape[1], N1 = E->shape[0];
    gemm(B, N1, H, U->data, H, 1, E->data, 1, H, 0, out, N1);
}

/* Fills scores (b->B, N + 1) for the users of batch b. */
typedef void (*ScoreFn)(void *ctx, const SeqBatch *b, real *scores);

/* The one batching loop of every pass: the users of split in order, in
 * batches of eval_batch_users(batch, ...) with inputs of L positions; score
 * fills each batch's scores, visit uses them. */
static void for_each_batch(const Dataset *ds, Split split, int batch, int64_t L, ScoreFn score, void *score_ctx,
                           EvalVisitFn visit, void *visit_ctx) {
    int64_t N1 = ds->n_items + 1, nb = eval_batch_users(batch, ds->n_users, ds->n_items);
    SeqBatch b;
    batch_alloc(&b, (int)nb, (int)L);
    int64_t *users = nn_malloc((size_t)nb * sizeof *users);
    real *scores = nn_malloc((size_t)(nb * N1) * sizeof *scores);
    for (int64_t start = 0; start < ds->n_users; start += nb) {
        int n = (int)(ds->n_users - start < nb ? ds->n_users - start : nb);
        for (int i = 0; i < n; i++) users[i] = start + i;
        batch_fill(&b, ds, split, users, n, NULL, 0);
        score(score_ctx, &b, scores);
        visit(visit_ctx, &b, scores);
    }
    free(users);
    free(scores);
    batch_free(&b);
}

typedef struct {
    const Dataset *ds;
    Split split;
    const EvalOptions *opt;
    int64_t *rank; /* (n_users) */
} Ranker;

static void rank_visit(void *ctx, const SeqBatch *b, const real *scores) {
    const Ranker *r = ctx;
    int64_t *rank = r->rank + b->user[0], N1 = r->ds->n_items + 1;
    rank_batch(r->ds, r->split, r->opt, b, scores, rank);
    const SampleSet *sm = r->opt->protocol == PROTOCOL_SAMPLE ? r->opt->samples : NULL;
    for (int i = 0; i < b->B; i++) { /* a NaN or infinite score is no rank: score_check.h */
        const real *row = scores + (int64_t)i * N1;
        if (sm ? !scores_finite_at(row, b->answer[i], sm->neg + b->user[i] * sm->n_neg, sm->n_neg)
               : !scores_finite(row + 1, N1 - 1))
            rank[i] = -1;
    }
}

typedef struct {
    Sasrec *s;
    const SampleSet *samples; /* only the candidates' scores when non-NULL; every item's otherwise */
    Graph *g;
    int64_t n_items;
} ModelScorer;

static void score_model(void *ctx, const SeqBatch *b, real *scores) {
    ModelScorer *m = ctx;
    int64_t N1 = m->n_items + 1;
    const SampleSet *samples = m->samples;
    Tokens t = sasrec_tokens(m->g, b->input, b->len, b->B, b->L, 1);
    Tensor *U = sasrec_last(m->g, sasrec_forward(m->s, m->g, &t), &t); /* (B, H) */
    if (!samples) {
        eval_score_all(m->s, U, scores);
    } else { /* only the candidates' scores are needed */
#pragma omp parallel for schedule(static)
        for (int i = 0; i < b->B; i++)
            score_candidates(m->s, U->data + i * U->shape[1], b->answer[i], samples->neg + b->user[i] * samples->n_neg,
                             samples->n_neg, scores + (int64_t)i * N1);
    }
    graph_reset(m->g);
}

/* for_each_batch over the model's scores (every item's, or the candidates' of samples), in evaluation mode
 * without gradients; the model's mode and the no-grad flag are restored after. */
static void model_pass(Sasrec *s, const Dataset *ds, Split split, const EvalOptions *opt, const SampleSet *samples,
                       EvalVisitFn visit, void *ctx) {
    int was_training = s->m.training, grad = ag_set_grad_enabled(0);
    module_train(&s->m, 0);
    ModelScorer m = {s, samples, opt->graph ? opt->graph : graph_new(), ds->n_items};
    graph_reset(m.g);
    for_each_batch(ds, split, opt->batch, s->cfg.max_len, score_model, &m, visit, ctx);
    if (m.g != opt->graph) graph_free(m.g);
    module_train(&s->m, was_training);
    ag_set_grad_enabled(grad);
}

void eval_rank_model(Sasrec *s, const Dataset *ds, Split split, const EvalOptions *opt, int64_t *rank) {
    Ranker r = {ds, split, opt, rank};
    model_pass(s, ds, split, opt, opt->protocol == PROTOCOL_SAMPLE ? opt->samples : NULL, rank_visit, &r);
}

void eval_visit_scores(Sasrec *s, const Dataset *ds, Split split, const EvalOptions *opt, EvalVisitFn visit,
                       void *ctx) {
    model_pass(s, ds, split, opt, NULL, visit, ctx);
}

typedef struct {
    const real *pop; /* (N + 1) */
    int64_t n_items;
} PopularScorer;

static void score_popular(void *ctx, const SeqBatch *b, real *scores) {
    const PopularScorer *p = ctx;
    for (int i = 0; i < b->B; i++)
        memcpy(scores + (int64_t)i * (p->n_items + 1), p->pop, (size_t)(p->n_items + 1) * sizeof(real));
}

void eval_rank_popular(const Dataset *ds, Split split, const EvalOptions *opt, int64_t *rank) {
    int64_t N1 = ds->n_items + 1;
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
    PopularScorer p = {pop, ds->n_items};
    Ranker r = {ds, split, opt, rank};
    for_each_batch(ds, split, opt->batch, 1, score_popular, &p, rank_visit, &r);
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
