/* bench/attention: the SASRec self-attention block, forward and forward +
 * backward, against ../shared/peer/attention_torch.py on the same shapes.
 *
 *   block: y = LayerNorm(x + Dropout(out(attention(q(x), k(x), v(x))))), eps 1e-12,
 *          causal + key-padding mask, dropout off
 *   sdpa:  the attention op alone: softmax(q k^T / sqrt(d) + mask) v
 *
 * Input as the peer's: left-padded sequences whose lengths are drawn uniformly
 * from [L/2, L] (seeded). The block runs length-aware: only real rows are
 * computed (padded rows cannot reach a real one), and backward starts from
 * d y = 1 on the real rows. One JSON line per shape and op:
 *   {"op", "B", "L", "H", "heads", "threads", "fwd_ms", "fwdbwd_ms", "gflops", "fwdbwd_min_ms"}
 * with medians over --iters after --warmup (and the fastest forward + backward,
 * steadier than the median on a shared machine), and gflops = the dense matmul
 * FLOPs of forward + backward (padding included, as the peer computes them)
 * divided by fwdbwd_ms. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/profile.h"
#include "base/clock.h"
#include "base/parallel.h"
#include "nn/attention.h"
#include "nn/layer_norm.h"

typedef struct {
    int64_t B, L, H, heads;
    int iters, warmup, threads;
    uint64_t seed;
    int profile; /* print the per-op table of the block's forward + backward over the timed iterations */
} Shape;

typedef struct {
    Module m;
    Attention attn;
    LayerNorm ln;
    Tensor *x; /* (T, H) packed real rows, requires grad */
    SeqLayout layout;
    int64_t *offsets;
} Block;

static void block_init(Block *b, const Shape *s) {
    module_init(&b->m, s->seed);
    b->attn = attention_new(&b->m, "attn", s->H, (int)s->heads, 0, MASK_MINUS_10000);
    b->ln = layer_norm_new(&b->m, "ln", s->H, 1e-12);
    module_init_weights(&b->m, 0.02); /* the peer's init: N(0, 0.02) weights, zero biases, LayerNorm (1, 0) */
    Rng r = rng_new(s->seed, 1);
    int64_t lo = s->L / 2 > 1 ? (s->L + 1) / 2 : 1;
    b->offsets = malloc((size_t)(s->B + 1) * sizeof *b->offsets);
    b->offsets[0] = 0;
    for (int64_t i = 0; i < s->B; i++)
        b->offsets[i + 1] = b->offsets[i] + lo + (int64_t)rng_below(&r, (uint64_t)(s->L - lo + 1));
    b->x = tensor_normal(NN_SHAPE(b->offsets[s->B], s->H), 0, 1, &r);
    tensor_set_requires_grad(b->x, 1);
    b->layout = (SeqLayout){.n_seq = s->B, .offsets = b->offsets, .key_valid = NULL, .causal = 1};
}

static void block_free(Block *b) {
    tensor_free(b->x);
    free(b->offsets);
    module_free(&b->m);
}

static Tensor *block_forward(Block *b, Graph *g) {
    Tensor *a = attention_forward(&b->attn, &b->m, g, b->x, &b->layout);
    return layer_norm_residual_forward(&b->ln, g, b->x, a); /* LayerNorm(x + a) in one op */
}

static Tensor *sdpa_forward(Block *b, Graph *g, Tensor *q, Tensor *k, Tensor *v) {
    AttentionSpec spec = {.heads = b->attn.heads, .mask = MASK_MINUS_10000, .dropout = 0, .training = 0, .rng = NULL};
    return ag_attention(g, q, k, v, &b->layout, &spec);
}

/* Times op (0 block, 1 sdpa) at one shape and prints its JSON line. */
static void run(const Shape *s, int op) {
    Block b;
    block_init(&b, s);
    Graph *g = graph_new();
    int64_t T = b.x->shape[0];
    Rng r = rng_new(s->seed, 2);
    Tensor *q = tensor_normal(NN_SHAPE(T, s->H), 0, 1, &r), *k = tensor_normal(NN_SHAPE(T, s->H), 0, 1, &r),
           *v = tensor_normal(NN_SHAPE(T, s->H), 0, 1, &r);
    Tensor *ins[3] = {q, k, v};
    for (int i = 0; i < 3; i++) tensor_set_requires_grad(ins[i], 1);
    Tensor *ones = tensor_full(NN_SHAPE(T, s->H), 1);
    Profile *prof = s->profile && op == 0 ? profile_new() : NULL;
    if (prof && s->threads == 1) profile_set_clock(prof, PROFILE_THREAD_CPU); /* immune to a busy machine */
    double *fwd = malloc((size_t)s->iters * sizeof *fwd), *both = malloc((size_t)s->iters * sizeof *both);
    for (int pass = 0; pass < 2; pass++) /* pass 0 forward only, pass 1 forward + backward */
        for (int it = -s->warmup; it < s->iters; it++) {
            module_zero_grad(&b.m);
            for (int i = 0; i < 3; i++) tensor_zero_grad(ins[i]);
            tensor_zero_grad(b.x);
            graph_reset(g);
            if (prof && pass == 1 && it == 0) graph_set_profile(g, prof);
            if (prof && pass == 1 && it >= 0) profile_start(prof);
            double t0 = clock_seconds();
            Tensor *y = op == 0 ? block_forward(&b, g) : sdpa_forward(&b, g, q, k, v);
            if (pass == 1) ag_backward_with(g, y, ones);
            double t1 = clock_seconds();
            if (prof && pass == 1 && it >= 0) profile_stop(prof);
            if (it >= 0) (pass ? both : fwd)[it] = 1e3 * (t1 - t0);
        }
    double L = (double)s->L, H = (double)s->H, B = (double)s->B;
    double attn_flops = 12 * B * L * L * H;        /* QK^T and PV, forward and twice backward */
    double proj_flops = 3 * 4 * 2 * B * L * H * H; /* four projections, forward and backward */
    double flops = op == 0 ? attn_flops + proj_flops : attn_flops;
    double f = clock_median(fwd, s->iters), fb = clock_median(both, s->iters), fb_min = both[0];
    for (int it = 1; it < s->iters; it++) fb_min = both[it] < fb_min ? both[it] : fb_min;
    printf("{\"op\": \"%s\", \"B\": %lld, \"L\": %lld, \"H\": %lld, \"heads\": %lld, \"threads\": %d, "
           "\"fwd_ms\": %.4f, \"fwdbwd_ms\": %.4f, \"gflops\": %.2f, \"fwdbwd_min_ms\": %.4f}\n",
           op == 0 ? "block" : "sdpa", (long long)s->B, (long long)s->L, (long long)s->H, (long long)s->heads,
           s->threads, f, fb, flops / (fb * 1e6), fb_min);
    if (prof) {
        graph_set_profile(g, NULL);
        profile_print(prof, stdout);
        profile_free(prof);
    }
    fflush(stdout);
    free(fwd);
    free(both);
    tensor_free(ones);
    for (int i = 0; i < 3; i++) tensor_free(ins[i]);
    graph_free(g);
    block_free(&b);
}

static int parse_int(const char *flag, const char *v, int64_t lo, int64_t *out) {
    char *end;
    long long x = strtoll(v, &end, 10);
    if (*v == '\0' || *end != '\0' || x < lo) {
        fprintf(stderr, "attention: %s expects a whole number >= %lld, got '%s'\n", flag, (long long)lo, v);
        return -1;
    }
    *out = x;
    return 0;
}

int main(int argc, char **argv) {
    Shape s = {256, 50, 64, 2, 30, 5, 2, 42, 0};
    int grid = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int64_t v;
        if (strcmp(a, "--grid") == 0) {
            grid = 1;
            continue;
        }
        if (strcmp(a, "--profile") == 0) {
            s.profile = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0) {
            puts("usage: bench/attention [--batch B --seq L --hidden H --heads h] [--grid] [--iters N] [--warmup N] "
                 "[--threads N] [--seed S] [--profile]");
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "attention: %s needs a value (or unknown flag; see --help)\n", a);
            return 2;
        }
        const char *val = argv[++i];
        int64_t *dest = strcmp(a, "--batch") == 0    ? &s.B
                        : strcmp(a, "--seq") == 0    ? &s.L
                        : strcmp(a, "--hidden") == 0 ? &s.H
                        : strcmp(a, "--heads") == 0  ? &s.heads
                                                     : NULL;
        if (dest) {
            if (parse_int(a, val, 1, dest)) return 2;
        } else if (strcmp(a, "--iters") == 0 || strcmp(a, "--warmup") == 0 || strcmp(a, "--threads") == 0 ||
                   strcmp(a, "--seed") == 0) {
            if (parse_int(a, val, strcmp(a, "--warmup") == 0 || strcmp(a, "--seed") == 0 ? 0 : 1, &v)) return 2;
            if (a[2] == 'i')
                s.iters = (int)v;
            else if (a[2] == 'w')
                s.warmup = (int)v;
            else if (a[2] == 't')
                s.threads = (int)v;
            else
                s.seed = (uint64_t)v;
        } else {
            fprintf(stderr, "attention: unknown flag '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (s.H % s.heads) {
        fprintf(stderr, "attention: --hidden %lld is not divisible by --heads %lld\n", (long long)s.H,
                (long long)s.heads);
        return 2;
    }
    nn_set_threads(s.threads);
    const int64_t shapes[4][4] = {{256, 50, 64, 2}, {128, 200, 50, 1}, {256, 200, 64, 2}, {32, 512, 128, 4}};
    for (int k = 0; k < (grid ? 4 : 1); k++) {
        Shape sh = s;
        if (grid) {
            sh.B = shapes[k][0];
            sh.L = shapes[k][1];
            sh.H = shapes[k][2];
            sh.heads = shapes[k][3];
        }
        run(&sh, 0);
        run(&sh, 1);
    }
    return 0;
}
