/* bench/stream: the machine's memory bandwidth, as McCalpin's STREAM measures
 * it, for the roofline of docs/design.md: copy (c = a), scale (b = s c), add
 * (c = a + b) and triad (a = b + s c) over float arrays far larger than the
 * caches, split over the thread pool. Bytes are STREAM's: 2 arrays for copy
 * and scale, 3 for add and triad (write-allocate traffic not counted). One
 * JSON line per kernel and thread count, the median of --reps runs:
 *   {"kernel", "threads", "mib_per_array", "gb_per_s", "clock"}
 * On a busy machine, --clock cpu times one thread by its own CPU time, which
 * the other programs' turns on the core do not inflate (they still share the
 * memory bus): the bandwidth a running step sees. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/parallel.h"

typedef struct {
    float *a, *b, *c; /* (n) each */
    int kernel;       /* 0 copy, 1 scale, 2 add, 3 triad */
} Stream;

static void stream_chunk(void *ctx, NnChunk ch) {
    const Stream *s = ctx;
    float *a = s->a, *b = s->b, *c = s->c, q = 3.0f;
    switch (s->kernel) {
    case 0: for (int64_t i = ch.begin; i < ch.end; i++) c[i] = a[i]; break;
    case 1: for (int64_t i = ch.begin; i < ch.end; i++) b[i] = q * c[i]; break;
    case 2: for (int64_t i = ch.begin; i < ch.end; i++) c[i] = a[i] + b[i]; break;
    default: for (int64_t i = ch.begin; i < ch.end; i++) a[i] = b[i] + q * c[i]; break;
    }
}

/* Seconds on the wall clock, or of this thread's CPU time (cpu). */
static double now(int cpu) {
    if (!cpu) return clock_seconds();
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int int_arg(const char *flag, const char *v, int lo, int *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || x < lo || x > 1000000) {
        fprintf(stderr, "stream: %s expects a whole number >= %d, got '%s'\n", flag, lo, v);
        return -1;
    }
    *out = (int)x;
    return 0;
}

int main(int argc, char **argv) {
    int mib = 64, reps = 9, max_threads = nn_threads(), cpu = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--clock") == 0 && i + 1 < argc &&
            (strcmp(argv[i + 1], "cpu") == 0 || strcmp(argv[i + 1], "wall") == 0)) {
            cpu = strcmp(argv[++i], "cpu") == 0;
            continue;
        }
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: stream [--mib N (64 per array)] [--reps N (9)] [--threads N (all CPUs)] [--clock wall|cpu]\n"
                   "Memory bandwidth (STREAM copy, scale, add, triad) at 1..N threads; one JSON line each.\n"
                   "--clock cpu: one thread, timed by its CPU time (for a busy machine).\n");
            return 0;
        }
        int *dest = strcmp(argv[i], "--mib") == 0 ? &mib : strcmp(argv[i], "--reps") == 0 ? &reps
                    : strcmp(argv[i], "--threads") == 0                                 ? &max_threads
                                                                                        : NULL;
        if (!dest || i + 1 >= argc) {
            fprintf(stderr, "stream: unknown flag or missing value '%s' (see --help)\n", argv[i]);
            return 2;
        }
        if (int_arg(argv[i], argv[i + 1], 1, dest)) return 2;
        i++;
    }
    int64_t n = (int64_t)mib * 1024 * 1024 / (int64_t)sizeof(float);
    Stream s = {malloc((size_t)n * sizeof(float)), malloc((size_t)n * sizeof(float)), malloc((size_t)n * sizeof(float)), 0};
    double *t = malloc((size_t)reps * sizeof *t);
    if (!s.a || !s.b || !s.c || !t) {
        fprintf(stderr, "stream: cannot allocate 3 arrays of %d MiB; try a smaller --mib\n", mib);
        return 4;
    }
    for (int64_t i = 0; i < n; i++) s.a[i] = 1, s.b[i] = 2, s.c[i] = 0; /* every page touched before timing */
    static const char *const names[] = {"copy", "scale", "add", "triad"};
    static const int arrays[] = {2, 2, 3, 3};
    if (cpu) max_threads = 1; /* the other threads' time is not on this one's clock */
    for (int threads = 1; threads <= max_threads; threads++) {
        nn_set_threads(threads);
        for (s.kernel = 0; s.kernel < 4; s.kernel++) {
            for (int r = -1; r < reps; r++) { /* r = -1 warms up */
                double t0 = now(cpu);
                nn_parallel_for(n, 1, stream_chunk, &s);
                if (r >= 0) t[r] = now(cpu) - t0;
            }
            double gb = (double)arrays[s.kernel] * (double)n * sizeof(float) / clock_median(t, reps) * 1e-9;
            printf("{\"kernel\": \"%s\", \"threads\": %d, \"mib_per_array\": %d, \"gb_per_s\": %.2f, \"clock\": \"%s\"}\n",
                   names[s.kernel], threads, mib, gb, cpu ? "cpu" : "wall");
        }
    }
    printf("{\"check\": %.1f}\n", (double)s.a[n / 2]); /* the arrays' values are used: no loop is dead */
    free(s.a);
    free(s.b);
    free(s.c);
    free(t);
    return 0;
}
