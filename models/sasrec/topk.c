#include "models/sasrec/topk.h"

#include <math.h>
#include <stdlib.h>

#include "base/error.h"
#include "base/memory.h"
#include "base/simd.h"
#include "models/sasrec/item_scores.h"
#include "models/sasrec/score_check.h"

TopK topk_new(int64_t k, real *score, int32_t *item) { return (TopK){.k = k, .size = 0, .score = score, .item = item}; }

/* Whether (sa, ia) leaves before (sb, ib): a lower score, or an equal one with a higher id. */
static int worse(real sa, int32_t ia, real sb, int32_t ib) { return sa < sb || (sa == sb && ia > ib); }

static void swap(TopK *t, int64_t a, int64_t b) {
    real s = t->score[a];
    t->score[a] = t->score[b];
    t->score[b] = s;
    int32_t i = t->item[a];
    t->item[a] = t->item[b];
    t->item[b] = i;
}

static void sift_down(TopK *t, int64_t n, int64_t i) {
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(t->score[l], t->item[l], t->score[m], t->item[m])) m = l;
        if (r < n && worse(t->score[r], t->item[r], t->score[m], t->item[m])) m = r;
        if (m == i) return;
        swap(t, i, m);
        i = m;
    }
}

/* Offers items first .. first + n - 1, one by one. */
static void offer_run(TopK *t, const real *scores, int64_t first, int64_t n) {
    for (int64_t j = 0; j < n; j++) {
        real s = scores[j];
        int32_t id = (int32_t)(first + j);
        if (s != s) continue; /* NaN never ranks */
        if (t->size < t->k) { /* sift up */
            int64_t c = t->size++;
            t->score[c] = s;
            t->item[c] = id;
            while (c > 0) {
                int64_t p = (c - 1) / 2;
                if (!worse(t->score[c], t->item[c], t->score[p], t->item[p])) break;
                swap(t, c, p);
                c = p;
            }
        } else if (worse(t->score[0], t->item[0], s, id)) {
            t->score[0] = s;
            t->item[0] = id;
            sift_down(t, t->size, 0);
        }
    }
}

/* Whether any of x[0..n) is >= a (NaN never is). */
NN_VECTORIZE static int any_at_least(const real *x, int64_t n, real a) {
    int any = 0;
    for (int64_t j = 0; j < n; j++) any |= x[j] >= a;
    return any;
}

enum { RUN = 64 }; /* items checked at once against a full heap's root */

void topk_offer(TopK *t, const real *scores, int64_t first, int64_t n) {
    if (t->k <= 0) return;
    for (int64_t j = 0; j < n; j += RUN) {
        int64_t m = n - j < RUN ? n - j : RUN;
        /* a pair enters a full heap only with a score >= the root's: a run without one is skipped whole */
        if (t->size == t->k && !any_at_least(scores + j, m, t->score[0])) continue;
        offer_run(t, scores + j, first + j, m);
    }
}

int64_t topk_finish(TopK *t) {
    /* pop worst-first into the back: the arrays end best first */
    for (int64_t end = t->size - 1; end > 0; end--) {
        swap(t, 0, end);
        sift_down(t, end, 0);
    }
    return t->size;
}

typedef struct {
    TopK *heap;                    /* (B) */
    const int32_t *const *exclude; /* (B) lists, or NULL */
    const int64_t *n_exclude;      /* (B) */
    unsigned char *nonfinite;      /* (B) 1 once a score of the row was NaN or infinite */
} TopkCtx;

/* Marks the excluded items of the block (and padding) as NaN, then offers the block. */
static void topk_row(void *ctx, int64_t b, int64_t first, real *scores, int64_t n) {
    const TopkCtx *c = ctx;
    if (c->nonfinite[b]) return;
    if (!score_check_finite(scores + (first == 0), n - (first == 0))) { /* score_check.h: no ranking of such a row */
        c->nonfinite[b] = 1;
        return;
    }
    if (first == 0) scores[0] = NAN;
    if (c->exclude)
        for (int64_t k = 0; k < c->n_exclude[b]; k++) {
            int64_t j = c->exclude[b][k] - first;
            if (j >= 0 && j < n) scores[j] = NAN;
        }
    topk_offer(&c->heap[b], scores, first, n);
}

void topk_items(const Tensor *E, const real *U, int64_t B, int64_t k, const int32_t *const *exclude,
                const int64_t *n_exclude, int32_t *item, real *score, int64_t *count) {
    topk_items_transposed(E, NULL, U, B, k, exclude, n_exclude, item, score, count);
}

void topk_items_transposed(const Tensor *E, const real *ET, const real *U, int64_t B, int64_t k,
                           const int32_t *const *exclude, const int64_t *n_exclude, int32_t *item, real *score,
                           int64_t *count) {
    NN_CHECK(k >= 1 && E->shape[0] - 1 <= INT32_MAX, "topk_items", "k %lld must be >= 1 and the table %s within int32 ids",
             (long long)k, shape_str(E->ndim, E->shape).s);
    real *scratch = score ? NULL : nn_malloc((size_t)(B * k) * sizeof *scratch);
    real *sc = score ? score : scratch;
    TopK *heap = nn_malloc((size_t)(B > 0 ? B : 1) * sizeof *heap);
    for (int64_t b = 0; b < B; b++) heap[b] = topk_new(k, sc + b * k, item + b * k);
    TopkCtx c = {heap, exclude, n_exclude, nn_calloc((size_t)(B > 0 ? B : 1), 1)};
    item_scores_blocks_transposed(E, ET, U, B, topk_row, &c);
    for (int64_t b = 0; b < B; b++) count[b] = c.nonfinite[b] ? -1 : topk_finish(&heap[b]);
    free(c.nonfinite);
    free(heap);
    free(scratch);
}
