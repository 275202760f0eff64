/* Fused scaled dot-product attention over sequences of varying length.
 *
 * One work item is one (sequence, head): items write disjoint rows and
 * columns, so threads never share an output and the result is the same for
 * any thread count. The probabilities P (n x n per item) are kept for the
 * backward pass, as are the dropout keep bits. */
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "tensor/error.h"
#include "tensor/rmath.h"

typedef struct {
    AttentionSpec spec;     /* offsets and key_valid copied into the arena */
    int64_t head_dim;
    int64_t *prob_start;    /* (n_seq + 1) start of sequence s's blocks in prob */
    real *prob;             /* per (seq, head): (n, n) softmax probabilities, 0 where masked */
    unsigned char *keep;    /* like prob: dropout keep bits, or NULL without dropout */
    int64_t *row_end;       /* (rows) keys [0, row_end) may have nonzero probability */
    unsigned char *row_sees; /* (rows) 1 if the query has a visible key, 0 if all are masked */
    real drop_scale;        /* 1 / (1 - p) */
} AttnSaved;

static inline real dot(const real *a, const real *b, int64_t n) {
    real lane[8] = {0};
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int l = 0; l < 8; l++) lane[l] += a[k + l] * b[k + l];
    real acc = ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
    for (; k < n; k++) acc += a[k] * b[k];
    return acc;
}

static inline void axpy(real *y, real a, const real *x, int64_t n) {
    for (int64_t k = 0; k < n; k++) y[k] += a * x[k];
}

static int allowed(const AttentionSpec *sp, int64_t r0, int64_t i, int64_t j) {
    if (sp->neg_inf && j == i) return 1; /* with -inf masking a query always sees itself */
    if (sp->causal && j > i) return 0;
    if (sp->key_valid && !sp->key_valid[r0 + j]) return 0;
    return 1;
}

/* Forward for one (sequence, head). */
static void attend(const AttnSaved *s, int64_t seq, int head, const Tensor *q, const Tensor *k, const Tensor *v,
                   real *out, int64_t H, uint64_t seed, uint64_t stream) {
    const AttentionSpec *sp = &s->spec;
    int64_t r0 = sp->offsets[seq], n = sp->offsets[seq + 1] - r0, d = s->head_dim, c0 = head * d;
    real scale = 1 / R_SQRT((real)d);
    real *P = s->prob + s->prob_start[seq] + (int64_t)head * n * n;
    unsigned char *keep = s->keep ? s->keep + s->prob_start[seq] + (int64_t)head * n * n : NULL;
    uint32_t threshold = (uint32_t)((double)sp->dropout * 16777216.0);
    for (int64_t i = 0; i < n; i++) {
        const real *qi = q->data + (r0 + i) * q->stride[0] + c0;
        real *p = P + i * n;
        int any = s->row_sees[r0 + i];
        /* keys of this row: visible ones; or, fully masked, all (-10000) or itself (-inf) */
        int64_t end = s->row_end[r0 + i];
        real m = -INFINITY;
        for (int64_t j = 0; j < end; j++) {
            int in = any ? allowed(sp, r0, i, j) : 1; /* fully masked (-10000): raw scores of all keys */
            p[j] = in ? dot(qi, k->data + (r0 + j) * k->stride[0] + c0, d) * scale : -INFINITY;
            if (p[j] > m) m = p[j];
        }
        real sum = 0;
        for (int64_t j = 0; j < end; j++) {
            p[j] = p[j] == -INFINITY ? 0 : R_EXP(p[j] - m);
            sum += p[j];
        }
        real inv = 1 / sum;
        for (int64_t j = 0; j < end; j++) p[j] *= inv;
        for (int64_t j = end; j < n; j++) p[j] = 0;
        real *o = out + (r0 + i) * H + c0;
        memset(o, 0, (size_t)d * sizeof(real));
        for (int64_t j = 0; j < end; j++) {
            real w = p[j];
            if (keep) {
                /* the keep bit of probability (seq, head, i, j): a pure function of that index */
                uint64_t index = (uint64_t)(s->prob_start[seq] + (int64_t)head * n * n + i * n + j);
                uint32_t word[4];
                philox4x32(seed, stream, index >> 2, word);
                keep[i * n + j] = (word[index & 3] >> 8) >= threshold;
                w = keep[i * n + j] ? w * s->drop_scale : 0;
            }
            if (w != 0) axpy(o, w, v->data + (r0 + j) * v->stride[0] + c0, d);
        }
    }
}

/* Backward for one (sequence, head): dq, dk, dv are (rows, H) contiguous, or NULL. */
static void attend_backward(const AttnSaved *s, int64_t seq, int head, const Tensor *q, const Tensor *k,
                            const Tensor *v, const real *dout, real *dq, real *dk, real *dv, int64_t H, real *dp) {
    const AttentionSpec *sp = &s->spec;
    int64_t r0 = sp->offsets[seq], n = sp->offsets[seq + 1] - r0, d = s->head_dim, c0 = head * d;
    real scale = 1 / R_SQRT((real)d);
    const real *P = s->prob + s->prob_start[seq] + (int64_t)head * n * n;
    const unsigned char *keep = s->keep ? s->keep + s->prob_start[seq] + (int64_t)head * n * n : NULL;
    for (int64_t i = 0; i < n; i++) {
        const real *p = P + i * n, *doi = dout + (r0 + i) * H + c0;
        int64_t end = s->row_end[r0 + i];
        /* dP~ = dO V^T; dV += P~^T dO; dP = dP~ * keep / (1 - p) */
        real rowdot = 0;
        for (int64_t j = 0; j < end; j++) {
            real drop = keep ? (keep[i * n + j] ? s->drop_scale : 0) : 1;
            const real *vj = v->data + (r0 + j) * v->stride[0] + c0;
            dp[j] = p[j] == 0 ? 0 : dot(doi, vj, d) * drop;
            if (dv && p[j] * drop != 0) axpy(dv + (r0 + j) * H + c0, p[j] * drop, doi, d);
            rowdot += p[j] * dp[j];
        }
        /* dS = P (dP - sum_j P dP), through the 1/sqrt(d) scale into dQ and dK */
        real *dqi = dq ? dq + (r0 + i) * H + c0 : NULL;
        const real *qi = q->data + (r0 + i) * q->stride[0] + c0;
        for (int64_t j = 0; j < end; j++) {
            if (p[j] == 0) continue;
            real ds = p[j] * (dp[j] - rowdot) * scale;
            if (dqi) axpy(dqi, ds, k->data + (r0 + j) * k->stride[0] + c0, d);
            if (dk) axpy(dk + (r0 + j) * H + c0, ds, qi, d);
        }
    }
}

static void attention_backward(Graph *g, Node *n) {
    const AttnSaved *s = n->saved;
    Tensor *q = n->in[0], *k = n->in[1], *v = n->in[2], *y = n->out;
    int64_t H = y->shape[1], nseq = s->spec.n_seq, heads = s->spec.heads, maxn = 0;
    for (int64_t b = 0; b < nseq; b++)
        if (s->spec.offsets[b + 1] - s->spec.offsets[b] > maxn) maxn = s->spec.offsets[b + 1] - s->spec.offsets[b];
    real *dq = q->requires_grad ? ag_grad(g, q)->data : NULL;
    real *dk = k->requires_grad ? ag_grad(g, k)->data : NULL;
    real *dv = v->requires_grad ? ag_grad(g, v)->data : NULL;
#pragma omp parallel
    {
        real *dp = nn_malloc((size_t)(maxn ? maxn : 1) * sizeof(real));
#pragma omp for schedule(dynamic, 4)
        for (int64_t w = 0; w < nseq * heads; w++)
            attend_backward(s, w / heads, (int)(w % heads), q, k, v, y->grad->data, dq, dk, dv, H, dp);
        free(dp);
    }
}

Tensor *ag_attention(Graph *g, Tensor *q, Tensor *k, Tensor *v, const AttentionSpec *spec) {
    char s1[128], s2[128], s3[128];
    NN_CHECK(q->ndim == 2 && tensor_same_shape(q, k) && tensor_same_shape(q, v) && q->stride[1] == 1 &&
                 k->stride[1] == 1 && v->stride[1] == 1,
             "attention", "q %s, k %s, v %s must be (rows, H) with a contiguous last dim",
             shape_str(q->ndim, q->shape, s1, sizeof s1), shape_str(k->ndim, k->shape, s2, sizeof s2),
             shape_str(v->ndim, v->shape, s3, sizeof s3));
    int64_t rows = q->shape[0], H = q->shape[1];
    NN_CHECK(spec->heads >= 1 && H % spec->heads == 0, "attention", "H = %lld is not a multiple of %d heads",
             (long long)H, spec->heads);
    NN_CHECK(spec->n_seq >= 0 && spec->offsets[0] == 0 && spec->offsets[spec->n_seq] == rows, "attention",
             "offsets must run from 0 to the %lld rows", (long long)rows);
    NN_CHECK(spec->dropout >= 0 && spec->dropout < 1, "attention", "dropout %g outside [0, 1)", (double)spec->dropout);
    Arena *a = graph_arena(g);
    AttnSaved *s = arena_calloc(a, sizeof *s);
    s->spec = *spec;
    int64_t *off = arena_alloc(a, (size_t)(spec->n_seq + 1) * sizeof *off);
    memcpy(off, spec->offsets, (size_t)(spec->n_seq + 1) * sizeof *off);
    s->spec.offsets = off;
    if (spec->key_valid) {
        unsigned char *kv = arena_alloc(a, (size_t)rows);
        memcpy(kv, spec->key_valid, (size_t)rows);
        s->spec.key_valid = kv;
    }
    s->spec.rng = NULL;
    s->head_dim = H / spec->heads;
    s->prob_start = arena_alloc(a, (size_t)(spec->n_seq + 1) * sizeof(int64_t));
    s->prob_start[0] = 0;
    for (int64_t b = 0; b < spec->n_seq; b++) {
        int64_t len = off[b + 1] - off[b];
        NN_CHECK(len >= 0, "attention", "offsets decrease at sequence %lld", (long long)b);
        s->prob_start[b + 1] = s->prob_start[b] + len * len * spec->heads;
    }
    s->prob = arena_alloc(a, (size_t)s->prob_start[spec->n_seq] * sizeof(real));
    int drop = spec->training && spec->dropout > 0;
    s->keep = drop ? arena_alloc(a, (size_t)s->prob_start[spec->n_seq]) : NULL;
    s->drop_scale = 1 / (1 - spec->dropout);
    uint64_t seed = drop ? spec->rng->seed : 0, stream = drop ? rng_u64(spec->rng) : 0;
    /* keys [0, row_end) of each query can carry weight */
    s->row_end = arena_alloc(a, (size_t)rows * sizeof(int64_t));
    s->row_sees = arena_alloc(a, (size_t)rows);
    for (int64_t b = 0; b < spec->n_seq; b++) {
        int64_t r0 = off[b], n = off[b + 1] - r0;
        for (int64_t i = 0; i < n; i++) {
            int any = 0;
            for (int64_t j = 0; j <= (spec->causal ? i : n - 1) && !any; j++) any = allowed(&s->spec, r0, i, j);
            s->row_sees[r0 + i] = (unsigned char)any;
            s->row_end[r0 + i] = any && spec->causal ? i + 1 : n;
        }
    }
    Tensor *y = ag_new(g, 2, (int64_t[]){rows, H});
#pragma omp parallel for schedule(dynamic, 4)
    for (int64_t w = 0; w < spec->n_seq * spec->heads; w++)
        attend(s, w / spec->heads, (int)(w % spec->heads), q, k, v, y->data, H, seed, stream);
    Node *n = ag_record(g, "attention", attention_backward, y, 3, (Tensor *[]){q, k, v});
    if (n) n->saved = s;
    return y;
}
