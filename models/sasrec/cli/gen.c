/* sasrec gen: a deterministic synthetic data set in the seq format, for
 * trying the program at any scale (models/sasrec/data/synthetic.h says how
 * the sequences are made). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "base/clock.h"
#include "models/sasrec/cli/commands.h"
#include "models/sasrec/cli/common.h"
#include "models/sasrec/data/synthetic.h"

static const char *USAGE =
    "usage: sasrec gen --out FILE [--users N] [--items M] [--avg-len L] [--max-len X] [--seed S]\n"
    "Writes a synthetic data set in the seq format (\"user item item ...\" per line): items with Zipf\n"
    "popularity and a learnable order (each item has 4 likely successors), lengths from --min-len to\n"
    "--max-len with mean --avg-len. The same flags give the same file, byte for byte.";

int app_gen(int argc, char **argv) {
    SyntheticOptions o = synthetic_default_options();
    o.n_users = 100000;
    o.n_items = 10000;
    double avg = 20;
    const char *out = NULL;
    Flag f[8];
    int n = 0, help = 0;
    f[n++] = F_INT("--users", &o.n_users, 1, 2147483647.0, "users (one sequence each)");
    f[n++] = F_INT("--items", &o.n_items, 1, 2147483646.0, "catalogue size (at least --max-len + 100)");
    f[n++] = F_DBL("--avg-len", &avg, 3, 1e6, 0, 0, "mean sequence length");
    f[n++] = F_INT("--min-len", &o.min_len, 3, 1e6, "shortest sequence");
    o.max_len = 0;
    f[n++] = F_INT("--max-len", &o.max_len, 0, 1e6, "longest sequence (0: 3 (avg - min) + min - 1, the skew of "
                                                   "the built-in data)");
    f[n++] = F_INT("--seed", &o.seed, 0, 9.2e18, "seed");
    f[n++] = F_STR("--out", &out, "the file to write (required)");
    NnError err;
    if (flags_parse("gen", argc, argv, f, n, &help, &err)) {
        fprintf(stderr, "sasrec %s\n", err.msg);
        return 2;
    }
    if (help) {
        flags_print_help(stdout, USAGE, f, n);
        return 0;
    }
    if (!out) {
        fprintf(stderr, "sasrec gen: --out FILE is required (where to write the data)\n");
        return 2;
    }
    if (!(avg > o.min_len)) {
        fprintf(stderr, "sasrec gen: --avg-len %g must lie above --min-len %d (the shortest sequence)\n", avg,
                o.min_len);
        return 2;
    }
    if (o.max_len == 0) { /* the skew of the built-in data, and never below the mean */
        o.max_len = (int)(3 * (avg - o.min_len) + o.min_len - 1 + 0.5);
        if (o.max_len < avg) o.max_len = (int)ceil(avg);
    }
    if (!(avg <= o.max_len)) {
        fprintf(stderr, "sasrec gen: --avg-len %g must lie above --min-len %d and at most --max-len %d\n", avg,
                o.min_len, o.max_len);
        return 2;
    }
    o.len_skew = synthetic_len_skew(o.min_len, o.max_len, avg);
    if (app_check_output("gen", "--out", out, NULL, 0, &err)) {
        fprintf(stderr, "sasrec %s\n", err.msg);
        return 2;
    }
    double t0 = clock_seconds();
    Dataset ds;
    if (synthetic_generate(&o, &ds, &err)) return app_fail("gen", &err, 2);
    if (synthetic_write_seq(&ds, out, &err)) {
        dataset_free(&ds);
        return app_fail("gen", &err, APP_EXIT_DATA); /* APP_EXIT_RESOURCES when the disk is full */
    }
    int64_t shortest = INT64_MAX, longest = 0; /* the lengths drawn, not the bounds asked for */
    for (int64_t u = 0; u < ds.n_users; u++) {
        int64_t len = ds.seq_start[u + 1] - ds.seq_start[u];
        shortest = len < shortest ? len : shortest;
        longest = len > longest ? len : longest;
    }
    printf("wrote %s: %lld users, %lld items, %lld interactions (mean length %.2f, shortest %lld, longest %lld), "
           "%.1f s\n", out, (long long)ds.n_users, (long long)ds.n_items, (long long)ds.n_interactions,
           (double)ds.n_interactions / (double)ds.n_users, (long long)shortest, (long long)longest,
           clock_seconds() - t0);
    dataset_free(&ds);
    return 0;
}
