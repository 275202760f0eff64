/* bench/parallel: what a parallel loop costs in the pool of base/parallel.c.
 *
 *   {"op": "empty_loop", "seconds": .., "us_per_loop": .., "chunks": .., "threads": ..}
 *     a loop of `chunks` chunks whose body does nothing: starting the loop,
 *     claiming every chunk and waiting for the last one;
 *   {"op": "tiny_loops", ...}  loops just above NN_PARALLEL_MIN_WORK (a
 *     product of two vectors of 32768 floats), one after another, as the
 *     small ops of a training step run;
 *   {"op": "gaps", ...}  the same loops with 200 us of serial work between
 *     them (the pool's workers fall asleep in between and must be woken).
 * "seconds" is the median over --reps batches of --loops loops each. Run it
 * under bench/contention.sh to see the pool beside a busy process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/parallel.h"

static void nothing(void *ctx, NnChunk c) { (void)ctx, (void)c; }

typedef struct {
    const float *a, *b;
    float *out;
} Mul;

static void mul(void *ctx, NnChunk c) {
    const Mul *m = ctx;
    for (int64_t i = c.begin; i < c.end; i++) m->out[i] = m->a[i] * m->b[i];
}

/* Serial work of about `us` microseconds in the calling thread. */
static double spin_us(double us) {
    double t0 = clock_seconds(), x = 0;
    while ((clock_seconds() - t0) * 1e6 < us) x += 1;
    return x;
}

static int int_arg(const char *flag, const char *v, int *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || x < 1 || x > 10000000) {
        fprintf(stderr, "parallel: %s expects a whole number >= 1, got '%s'\n", flag, v);
        return -1;
    }
    *out = (int)x;
    return 0;
}

int main(int argc, char **argv) {
    int threads = nn_threads(), loops = 2000, reps = 7;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: parallel [--threads N (all CPUs)] [--loops N (2000)] [--reps N (7)]\n"
                   "Times empty and tiny parallel loops; one JSON line each.\n");
            return 0;
        }
        int *dest = strcmp(argv[i], "--threads") == 0 ? &threads
                    : strcmp(argv[i], "--loops") == 0 ? &loops
                    : strcmp(argv[i], "--reps") == 0  ? &reps
                                                      : NULL;
        if (!dest || i + 1 >= argc) {
            fprintf(stderr, "parallel: unknown flag or missing value '%s' (see --help)\n", argv[i]);
            return 2;
        }
        if (int_arg(argv[i], argv[i + 1], dest)) return 2;
        i++;
    }
    nn_set_threads(threads);
    enum { N = NN_PARALLEL_MIN_WORK, CHUNKS = 16 };
    float *a = malloc(N * sizeof *a), *b = malloc(N * sizeof *b), *out = malloc(N * sizeof *out);
    for (int i = 0; i < N; i++) a[i] = b[i] = (float)i;
    Mul m = {a, b, out};
    double *t = malloc((size_t)reps * sizeof *t), sink = 0;
    for (int kind = 0; kind < 3; kind++) {
        for (int r = -1; r < reps; r++) { /* r = -1 warms up */
            double t0 = clock_seconds();
            for (int k = 0; k < loops; k++) {
                if (kind == 0) nn_parallel_for(CHUNKS, NN_CHUNK_WORK, nothing, NULL);
                if (kind >= 1) nn_parallel_for(N + 1, 1, mul, &m);
                if (kind == 2) sink += spin_us(200);
            }
            if (r >= 0) t[r] = clock_seconds() - t0;
        }
        static const char *names[] = {"empty_loop", "tiny_loops", "gaps"};
        double s = clock_median(t, reps);
        printf("{\"op\": \"%s\", \"seconds\": %.4f, \"us_per_loop\": %.2f, \"loops\": %d, \"chunks\": %d, "
               "\"threads\": %d}\n",
               names[kind], s, s * 1e6 / loops, loops, kind == 0 ? CHUNKS : (N + 1 + NN_CHUNK_WORK - 1) / NN_CHUNK_WORK,
               threads);
        fflush(stdout);
    }
    free(t);
    free(a);
    free(b);
    free(out);
    return sink < 0;
}
