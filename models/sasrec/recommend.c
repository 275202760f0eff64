#include "models/sasrec/recommend.h"

#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "base/error.h"
#include "base/memory.h"
#include "models/sasrec/data/popularity.h"
#include "models/sasrec/item_scores.h"
#include "models/sasrec/topk.h"

void recommender_init(Recommender *r, Sasrec *model, const int64_t *popular, int cap) {
    NN_CHECK(cap >= 1, "recommender_init", "cap %d must be >= 1", cap);
    int64_t N = model->cfg.n_items, L = model->cfg.max_len;
    *r = (Recommender){.model = model, .popular = popular, .cap = cap, .g = graph_new(),
                       .ET = item_scores_transpose(model->item_emb.weight)};
    if (popular) {
        r->pop_order = nn_malloc((size_t)N * sizeof *r->pop_order);
        popularity_order(popular, N, r->pop_order);
    }
    r->input = nn_malloc((size_t)cap * (size_t)L * sizeof *r->input);
    r->len = nn_malloc((size_t)cap * sizeof *r->len);
    r->row = nn_malloc((size_t)cap * sizeof *r->row);
}

void recommender_free(Recommender *r) {
    graph_free(r->g);
    free(r->pop_order);
    free(r->ET);
    free(r->input);
    free(r->len);
    free(r->row);
    memset(r, 0, sizeof *r);
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The most popular items not in the request's exclusions. */
static void answer_popular(const Recommender *r, const RecRequest *q, RecAnswer *a) {
    a->count = 0;
    if (!r->pop_order) {
        a->from = REC_NO_FALLBACK;
        return;
    }
    a->from = REC_POPULAR;
    int32_t *ex = nn_malloc((size_t)(q->n_exclude > 0 ? q->n_exclude : 1) * sizeof *ex); /* sorted, for bsearch */
    if (q->n_exclude) memcpy(ex, q->exclude, (size_t)q->n_exclude * sizeof *ex);
    qsort(ex, (size_t)q->n_exclude, sizeof *ex, cmp_i32);
    for (int64_t j = 0; j < r->model->cfg.n_items && a->count < q->k; j++) {
        int32_t item = r->pop_order[j];
        if (q->n_exclude && bsearch(&item, ex, (size_t)q->n_exclude, sizeof *ex, cmp_i32)) continue;
        a->item[a->count] = item;
        a->score[a->count++] = (real)r->popular[item];
    }
    free(ex);
}

/* Encodes the requests of rows r->row[0..B) in one pass and ranks each against the item table. */
static void answer_model(Recommender *r, const RecRequest *req, RecAnswer *ans, int B) {
    Sasrec *s = r->model;
    int64_t L = s->cfg.max_len, kmax = 1, n_ex = 0;
    for (int b = 0; b < B; b++) {
        const RecRequest *q = &req[r->row[b]];
        int64_t n = q->n_items < L ? q->n_items : L; /* the last L items, left-padded */
        int64_t *in = r->input + b * L;
        memset(in, 0, (size_t)(L - n) * sizeof *in);
        for (int64_t t = 0; t < n; t++) in[L - n + t] = q->items[q->n_items - n + t];
        r->len[b] = (int32_t)n;
        if (q->k > kmax) kmax = q->k;
        n_ex += q->n_exclude + (q->exclude_seen ? q->n_items : 0);
    }
    /* each row's exclusions as one list: the request's own items (exclude_seen), then its exclude list */
    int32_t *ex = nn_malloc((size_t)(n_ex > 0 ? n_ex : 1) * sizeof *ex), *top = nn_malloc((size_t)(B * kmax) * sizeof *top);
    const int32_t **ex_row = nn_malloc((size_t)B * sizeof *ex_row);
    int64_t *n_ex_row = nn_malloc((size_t)B * sizeof *n_ex_row), *count = nn_malloc((size_t)B * sizeof *count);
    real *score = nn_malloc((size_t)(B * kmax) * sizeof *score);
    int32_t *at = ex;
    for (int b = 0; b < B; b++) {
        const RecRequest *q = &req[r->row[b]];
        ex_row[b] = at;
        if (q->exclude_seen) {
            memcpy(at, q->items, (size_t)q->n_items * sizeof *at);
            at += q->n_items;
        }
        if (q->n_exclude) memcpy(at, q->exclude, (size_t)q->n_exclude * sizeof *at);
        at += q->n_exclude;
        n_ex_row[b] = at - ex_row[b];
    }
    int was_training = s->m.training, grad = ag_set_grad_enabled(0);
    module_train(&s->m, 0);
    Tokens t = sasrec_tokens(r->g, r->input, r->len, B, L, 1);
    Tensor *U = sasrec_forward_last(s, r->g, &t); /* (B, H) */
    topk_items_transposed(s->item_emb.weight, r->ET, U->data, B, kmax, ex_row, n_ex_row, top, score, count);
    graph_reset(r->g);
    module_train(&s->m, was_training);
    ag_set_grad_enabled(grad);
    for (int b = 0; b < B; b++) {
        RecAnswer *a = &ans[r->row[b]];
        int64_t k = req[r->row[b]].k;
        a->from = count[b] < 0 ? REC_NOT_FINITE : REC_MODEL;
        a->count = count[b] < 0 ? 0 : count[b] < k ? count[b] : k;
        memcpy(a->item, top + b * kmax, (size_t)a->count * sizeof *a->item);
        memcpy(a->score, score + b * kmax, (size_t)a->count * sizeof *a->score);
    }
    free(ex), free(top), free(ex_row), free(n_ex_row), free(count), free(score);
}

void recommend(Recommender *r, const RecRequest *req, RecAnswer *ans, int64_t n) {
    int B = 0;
    for (int64_t i = 0; i < n; i++) {
        NN_CHECK(req[i].k >= 1 && req[i].n_items >= 0 && req[i].n_exclude >= 0, "recommend",
                 "request %lld: k %lld, %lld items, %lld excluded", (long long)i, (long long)req[i].k,
                 (long long)req[i].n_items, (long long)req[i].n_exclude);
        if (req[i].n_items == 0) {
            answer_popular(r, &req[i], &ans[i]);
            continue;
        }
        r->row[B++] = i;
        if (B == r->cap) {
            answer_model(r, req, ans, B);
            B = 0;
        }
    }
    if (B) answer_model(r, req, ans, B);
}
