/* Times the softmax cross-entropy over all classes of x w^T, forward and
 * backward, fused in tiles (ag_linear_cross_entropy) and unfused (the (rows,
 * classes) logits stored: ag_linear, then ag_cross_entropy). Defaults: one
 * Beauty training batch of the length-aware step (1504 real positions, hidden
 * 64, 12102 items).
 *
 * One JSON line per variant:
 *   {"op": "cross_entropy", "variant": "fused"|"unfused", "rows", "hidden",
 *    "classes", "tile_rows", "tile_classes", "ms" (median), "cpu_ms" (median
 *    process CPU time: steadier than ms on a shared machine), "gflops" (from ms), "threads"}
 * gflops counts the products of the logits' size each variant runs: 4 for
 * fused (the logits twice, dx, dw), 3 for unfused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "autograd/ops.h"
#include "base/clock.h"
#include "base/memory.h"
#include "base/parallel.h"
#include "base/rng.h"

static const char USAGE[] = "usage: cross_entropy [--rows N (1504)] [--hidden N (64)] [--classes N (12102)]\n"
                            "  [--tile-classes N (LCE_BLOCK_CLASSES)] [--tile-rows N (LCE_TILE_REALS / tile classes)]\n"
                            "  [--threads N (2)] [--iters N (10)] [--unfused 0|1 (1)]\n";

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static Tensor *param(int64_t r, int64_t c, uint64_t stream, double scale) {
    Tensor *t = tensor_zeros(2, (int64_t[]){r, c});
    Rng g = rng_new(0, stream);
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = (real)(scale * rng_normal(&g));
    tensor_set_requires_grad(t, 1);
    return t;
}

int main(int argc, char **argv) {
    long v[7] = {1504, 64, 12102, LCE_BLOCK_CLASSES, 0, 2, 10};
    int unfused = 1;
    const char *names[] = {"--rows", "--hidden", "--classes", "--tile-classes", "--tile-rows", "--threads", "--iters"};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            fputs(USAGE, stdout);
            return 0;
        }
        int k = 0;
        while (k < 7 && strcmp(argv[i], names[k]) != 0) k++;
        char *end = NULL;
        long x = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : 0;
        if (strcmp(argv[i], "--unfused") == 0 && end && *end == '\0') {
            unfused = x != 0;
        } else if (k == 7 || !end || *end != '\0' || x < 1) {
            fprintf(stderr, "cross_entropy: bad argument '%s' (try --help)\n", argv[i]);
            return 2;
        } else {
            v[k] = x;
        }
        i++;
    }
    int64_t N = v[0], H = v[1], C = v[2], tc = v[3], tr = v[4] ? v[4] : (LCE_TILE_REALS / tc > 0 ? LCE_TILE_REALS / tc : 1);
    nn_set_threads((int)v[5]);
    Tensor *x = param(N, H, 1, 1.0), *w = param(C, H, 2, 0.1);
    int64_t *target = nn_malloc((size_t)N * sizeof *target);
    for (int64_t r = 0; r < N; r++) target[r] = 1 + (r * 7919) % (C - 1);
    double *ms = nn_malloc((size_t)v[6] * sizeof *ms), *cpu = nn_malloc((size_t)v[6] * sizeof *cpu);
    Graph *g = graph_new();
    for (int variant = 0; variant < 1 + unfused; variant++) {
        for (int it = -1; it < v[6]; it++) { /* one warm-up run */
            double t0 = clock_seconds(), c0 = cpu_seconds();
            Tensor *loss = variant == 0 ? ag_linear_cross_entropy_tiled(g, x, w, target, N, 0, tr, tc)
                                        : ag_cross_entropy(g, ag_linear(g, x, w, NULL), target, N, 0);
            ag_backward(g, loss);
            graph_reset(g);
            if (it >= 0) {
                ms[it] = 1e3 * (clock_seconds() - t0);
                cpu[it] = 1e3 * (cpu_seconds() - c0);
            }
        }
        double med = clock_median(ms, (int)v[6]), products = variant == 0 ? 4 : 3;
        printf("{\"op\": \"cross_entropy\", \"variant\": \"%s\", \"rows\": %lld, \"hidden\": %lld, \"classes\": %lld, "
               "\"tile_rows\": %lld, \"tile_classes\": %lld, \"ms\": %.3f, \"cpu_ms\": %.3f, \"gflops\": %.1f, \"threads\": %ld}\n",
               variant == 0 ? "fused" : "unfused", (long long)N, (long long)H, (long long)C,
               (long long)(variant == 0 ? tr : N), (long long)(variant == 0 ? tc : C), med, clock_median(cpu, (int)v[6]),
               products * 2.0 * (double)N * (double)H * (double)C / (med * 1e6), v[5]);
        fflush(stdout);
    }
    graph_free(g);
    free(ms);
    free(cpu);
    free(target);
    tensor_free(x);
    tensor_free(w);
    return 0;
}
