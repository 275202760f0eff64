/* Times gemm on float products (the bench/% rule links the float library):
 * square 512, 1024, 2048, the tall and wide 4096 x 4096 x 256 products, and
 * the products of a SASRec step (batch 256, length 50, hidden 64, 12103 items
 * on Beauty). At more than one thread each shape is timed at one thread too
 * ("gflops_1t"), and a shape that runs slower on more threads fails the run:
 * a line on stderr naming it, and exit 1.
 *
 * One JSON line per shape, with the keys of /work/shared/peer/matmul_torch.py
 * so the two can be compared line by line:
 *   {"op": "matmul", "M": .., "K": .., "N": .., "ms": .., "gflops": .., "threads": ..}
 * ms is the median of --iters runs after --warmup runs. Operands are
 * row-major, filled with normal values from a seeded generator. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/memory.h"
#include "tensor/kernels.h"
#include "base/parallel.h"
#include "base/rng.h"

static const int64_t SHAPES[][3] = {/* M, K, N */
                                    {512, 512, 512},    {1024, 1024, 1024}, {2048, 2048, 2048},
                                    {4096, 256, 4096},  {4096, 4096, 256},  {256, 4096, 4096},
                                    {12800, 64, 64},    {12800, 64, 256},   {256, 64, 12103}};

static const char USAGE[] = "usage: matmul [--threads N (2)] [--iters N (20)] [--warmup N (3)] [--help]\n";

/* Parses the value of flag argv[*i] as an integer >= lo into *out; 0 on success. */
static int int_flag(int argc, char **argv, int *i, int lo, int *out) {
    const char *flag = argv[*i];
    if (*i + 1 >= argc) {
        fprintf(stderr, "matmul: %s needs a value\n", flag);
        return -1;
    }
    char *end;
    long v = strtol(argv[++*i], &end, 10);
    if (*end != '\0' || end == argv[*i] || v < lo || v > 1000000) {
        fprintf(stderr, "matmul: %s '%s': expected an integer >= %d\n", flag, argv[*i], lo);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* n standard normal values from stream `stream` of seed 0. */
static real *randn(int64_t n, uint64_t stream) {
    real *x = nn_aligned_alloc((size_t)n * sizeof(real));
    Rng r = rng_new(0, stream);
    for (int64_t i = 0; i < n; i++) x[i] = (real)rng_normal(&r);
    return x;
}

/* The median milliseconds of iters products (M, K) (K, N) at `threads` threads, after warmup untimed ones. */
static double time_gemm(int threads, int64_t M, int64_t N, int64_t K, const real *a, const real *b, real *c, int warmup,
                        int iters, double *times) {
    nn_set_threads(threads);
    for (int i = 0; i < warmup; i++) gemm(M, N, K, a, K, 1, b, N, 1, 0, c, N);
    for (int i = 0; i < iters; i++) {
        double t0 = clock_seconds();
        gemm(M, N, K, a, K, 1, b, N, 1, 0, c, N);
        times[i] = 1e3 * (clock_seconds() - t0);
    }
    return clock_median(times, iters);
}

int main(int argc, char **argv) {
    int threads = 2, iters = 20, warmup = 3;
    for (int i = 1; i < argc; i++) {
        int bad = 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(USAGE, stdout);
            return 0;
        } else if (strcmp(argv[i], "--threads") == 0) {
            bad = int_flag(argc, argv, &i, 1, &threads);
        } else if (strcmp(argv[i], "--iters") == 0) {
            bad = int_flag(argc, argv, &i, 1, &iters);
        } else if (strcmp(argv[i], "--warmup") == 0) {
            bad = int_flag(argc, argv, &i, 0, &warmup);
        } else {
            fprintf(stderr, "matmul: unknown argument '%s' (try --help)\n", argv[i]);
            bad = 1;
        }
        if (bad) return 2;
    }
    double *times = malloc((size_t)iters * sizeof(double));
    int slower = 0;
    for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0]; s++) {
        int64_t M = SHAPES[s][0], K = SHAPES[s][1], N = SHAPES[s][2];
        real *a = randn(M * K, 2 * s), *b = randn(K * N, 2 * s + 1), *c = randn(M * N, 99);
        double ms = time_gemm(threads, M, N, K, a, b, c, warmup, iters, times);
        double gflops = 2.0 * M * K * N / (ms * 1e6);
        printf("{\"op\": \"matmul\", \"M\": %lld, \"K\": %lld, \"N\": %lld, \"ms\": %.4f, \"gflops\": %.2f, "
               "\"threads\": %d",
               (long long)M, (long long)K, (long long)N, ms, gflops, threads);
        if (threads > 1) {
            double ms1 = time_gemm(1, M, N, K, a, b, c, warmup, iters, times);
            printf(", \"gflops_1t\": %.2f, \"speedup\": %.2f", 2.0 * M * K * N / (ms1 * 1e6), ms1 / ms);
            if (ms > ms1) {
                fprintf(stderr, "matmul: FAIL: %lld x %lld x %lld is slower at %d threads (%.1f GFLOP/s) than at 1 (%.1f)\n",
                        (long long)M, (long long)K, (long long)N, threads, gflops, 2.0 * M * K * N / (ms1 * 1e6));
                slower = 1;
            }
        }
        printf("}\n");
        fflush(stdout);
        free(a);
        free(b);
        free(c);
    }
    free(times);
    return slower;
}
