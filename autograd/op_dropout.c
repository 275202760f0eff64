/* Inverted dropout with a counter-based mask: element i of the mask is a pure
 * function of (seed, stream, i), whatever the thread count. */

#include "autograd/op.h"
#include "autograd/ops.h"
#include "base/error.h"
#include "base/simd.h"
#include "base/parallel.h"

#define DROP_CHUNK 4096 /* elements per chunk: a multiple of 4, the words of one Philox block */

/* gx += keep ? dy / (1 - p) : 0 (or gx = with add = 0) */
NN_VECTORIZE static void dropout_grad(const unsigned char *keep, const real *dy, real *gx, real scale, int add,
                                      int64_t n) {
    if (add)
        for (int64_t i = 0; i < n; i++) gx[i] += keep[i] ? dy[i] * scale : 0;
    else
        for (int64_t i = 0; i < n; i++) gx[i] = keep[i] ? dy[i] * scale : 0;
}

/* keep[i] = word i >= threshold, y = keep ? x / (1 - p) : 0 */
NN_VECTORIZE static void dropout_apply(const uint32_t *words, uint32_t threshold, const real *x, real *y,
                                       unsigned char *keep, real scale, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        keep[i] = (words[i] >> 8) >= threshold;
        y[i] = keep[i] ? x[i] * scale : 0;
    }
}

/* Elements come in pieces of DROP_PIECE (the Philox words of one piece sit on the stack). */
#define DROP_PIECE 256

#if defined(__x86_64__) && defined(__GNUC__) && !defined(NN_DOUBLE)
#include <immintrin.h>

#include "base/philox_avx512.h"
#define DROP_FAST 1

/* The first n / 64 * 64 elements of a piece at Philox block lo, with AVX-512: each word compared with the
 * threshold in its lane, the four 8-bit masks of a group interleaved into element order (element 4 b + l is
 * word l of block b); y and keep as dropout_apply makes them. Returns how many elements it did. */
__attribute__((target("avx512f,avx512bw,avx512vl,bmi2"))) static int64_t
dropout_apply_avx512(uint64_t key, uint64_t counter_hi, uint64_t lo, uint32_t threshold, const real *x, real *y,
                     unsigned char *keep, real scale, int64_t n) {
    const __m512i thr = _mm512_set1_epi64(threshold);
    const __m512 sc = _mm512_set1_ps(scale);
    const __m256i one = _mm256_set1_epi8(1);
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512i w[2][4];
        philox_avx512(key, counter_hi, lo + (uint64_t)(i / 4), 2, w);
        for (int gr = 0; gr < 2; gr++) {
            int64_t at = i + 32 * gr;
            uint32_t kept = _pdep_u32(_mm512_cmpge_epu64_mask(_mm512_srli_epi64(w[gr][0], 8), thr), 0x11111111u) |
                            _pdep_u32(_mm512_cmpge_epu64_mask(_mm512_srli_epi64(w[gr][1], 8), thr), 0x22222222u) |
                            _pdep_u32(_mm512_cmpge_epu64_mask(_mm512_srli_epi64(w[gr][2], 8), thr), 0x44444444u) |
                            _pdep_u32(_mm512_cmpge_epu64_mask(_mm512_srli_epi64(w[gr][3], 8), thr), 0x88888888u);
            _mm512_storeu_ps(y + at, _mm512_maskz_mul_ps((__mmask16)kept, _mm512_loadu_ps(x + at), sc));
            _mm512_storeu_ps(y + at + 16, _mm512_maskz_mul_ps((__mmask16)(kept >> 16), _mm512_loadu_ps(x + at + 16), sc));
            _mm256_storeu_si256((__m256i *)(keep + at), _mm256_maskz_mov_epi8(kept, one));
        }
    }
    return i;
}
#endif

/* Elements [0, n) of the stream from element i0 (a multiple of 4): keep, and y = keep ? x / (1 - p) : 0. */
static void dropout_piece(uint64_t seed, uint64_t stream, int64_t i0, uint32_t threshold, const real *x, real *y,
                          unsigned char *keep, real scale, int64_t n) {
    int64_t done = 0;
#ifdef DROP_FAST
    if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("bmi2"))
        done = dropout_apply_avx512(seed, stream, (uint64_t)(i0 / 4), threshold, x, y, keep, scale, n);
#endif
    if (done == n) return;
    uint32_t words[DROP_PIECE];
    philox4x32_blocks(seed, stream, (uint64_t)((i0 + done) / 4), (n - done + 3) / 4, words);
    dropout_apply(words, threshold, x + done, y + done, keep + done, scale, n - done);
}

typedef struct {
    int64_t count;               /* elements */
    const real *x;               /* (count) forward input */
    uint64_t seed, stream;       /* of the mask's Philox words */
    uint32_t threshold;          /* drop when the top 24 bits of a word fall below */
    const real *dy;              /* (count) backward: output gradient */
    real *y;                     /* (count) forward output, or backward input gradient */
    unsigned char *keep;         /* (count) */
    real scale;                  /* 1 / (1 - p) */
    int add;                     /* backward: 0 when the input gradient was made unfilled */
} DropLoop;

/* Elements [begin, end) of the forward pass, in whole chunks of DROP_CHUNK; element i uses word i % 4 of
 * block i / 4 of the stream. */
static void forward_range(void *ctx, NnChunk c) {
    const DropLoop *l = ctx;
    for (int64_t i0 = c.begin * DROP_CHUNK; i0 < c.end * DROP_CHUNK && i0 < l->count; i0 += DROP_PIECE) {
        int64_t m = l->count - i0 < DROP_PIECE ? l->count - i0 : DROP_PIECE;
        dropout_piece(l->seed, l->stream, i0, l->threshold, l->x + i0, l->y + i0, l->keep + i0, l->scale, m);
    }
}

static void backward_range(void *ctx, NnChunk c) {
    const DropLoop *l = ctx;
    dropout_grad(l->keep + c.begin, l->dy + c.begin, l->y + c.begin, l->scale, l->add, c.end - c.begin);
}

/* saved = keep mask (one byte per element); f[0] = 1 / (1 - p) */
static void dropout_backward(Graph *g, Node *n) {
    int fresh;
    real *gx = ag_grad_whole(g, n->in[0], &fresh)->data;
    DropLoop l = {n->out->numel, NULL, 0, 0, 0, n->out->grad->data, gx, n->saved, n->f[0], !fresh};
    nn_parallel_elements(l.count, 1, backward_range, &l);
}

Tensor *ag_dropout(Graph *g, Tensor *x, real p, int training, Rng *rng) {
    AG_CHECK_INPUTS(g, "dropout", x);
    NN_CHECK(p >= 0 && p < 1, "dropout", "probability %g outside [0, 1)", (double)p);
    if (!training || p == 0) return x;
    NN_CHECK(rng != NULL, "dropout", "training with probability %g and no generator (rng NULL): pass the one whose "
             "streams the masks come from, e.g. the module's &m->dropout_rng", (double)p);
    uint64_t seed = rng->seed, stream = rng_u64(rng);
    uint32_t threshold = (uint32_t)((double)p * 16777216.0); /* drop when the top 24 bits fall below */
    int64_t count = x->numel, nchunks = (count + DROP_CHUNK - 1) / DROP_CHUNK;
    unsigned char *keep = arena_alloc(graph_arena(g), (size_t)(count ? count : 1));
    const real *xv = ag_row_major(g, x);
    Tensor *y = ag_new(g, x->ndim, x->shape);
    real scale = 1 / (1 - p);
    DropLoop l = {count, xv, seed, stream, threshold, NULL, y->data, keep, scale, 0};
    nn_parallel_for(nchunks, DROP_CHUNK, forward_range, &l);
    Node *n = ag_record(g, "dropout", dropout_backward, y, 1, &x);
    if (n) {
        n->saved = keep;
        n->f[0] = scale;
    }
    return y;
}
