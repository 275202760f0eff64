#include "models/sasrec/cli/rank_inputs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dist.h"
#include "base/memory.h"
#include "models/sasrec/io/regular_file.h"
#include "models/sasrec/io/sha256.h"

#define MAX_INPUT ((uint64_t)1 << 50) /* no bound on a data file's size here: dataset_load has its own */

/* What one rank contributes: fixed size, so every rank's part is at the same offset. */
typedef struct {
    char data[72];      /* SHA-256 of --data's bytes, "synthetic", or "unreadable" */
    char samples[72];   /* SHA-256 of --sample-file's bytes, or "none" */
    char settings[72];  /* SHA-256 of the flags that must agree */
    char data_path[256]; /* --data as this rank gave it (cut), for the message */
    char sample_path[256];
} RankDigest;

static int excluded(const char *name, size_t len) {
    static const char *const skip[] = {"--data", "--sample-file", "--out", "--threads", "--force"};
    for (size_t i = 0; i < sizeof skip / sizeof *skip; i++)
        if (strlen(skip[i]) == len && strncmp(name, skip[i], len) == 0) return 1;
    return 0;
}

/* The flags as given, without the excluded ones and their values ("--flag value" or "--flag=value"). */
static Sha256Hex settings_digest(int n, char **args) {
    Sha256 h = sha256_new();
    for (int i = 0; i < n; i++) {
        const char *a = args[i], *eq = strchr(a, '=');
        size_t len = strncmp(a, "--", 2) == 0 && eq ? (size_t)(eq - a) : strlen(a);
        if (strncmp(a, "--", 2) == 0 && excluded(a, len)) {
            if (!eq && strcmp(a, "--force") != 0) i++; /* its value */
            continue;
        }
        sha256_update(&h, a, strlen(a) + 1);
    }
    return sha256_hex(&h);
}

static void file_digest(const char *path, const char *absent, char *out, size_t size) {
    Sha256Hex d;
    NnError e;
    if (!path)
        snprintf(out, size, "%s", absent);
    else if (regular_file_sha256(path, MAX_INPUT, &d, &e) == 0)
        snprintf(out, size, "%s", d.s);
    else
        snprintf(out, size, "unreadable");
}

/* Appends text to err's message (cut at its end). */
static void append(NnError *err, const char *text) {
    size_t used = strlen(err->msg);
    snprintf(err->msg + used, sizeof err->msg - used, "%s", text);
}

int rank_inputs_check(const RunConfig *c, int n, char **args, NnError *err) {
    int size = dist_size();
    if (size < 2) return 0;
    RankDigest mine;
    memset(&mine, 0, sizeof mine);
    file_digest(c->data, "synthetic", mine.data, sizeof mine.data);
    file_digest(c->sample_file, "none", mine.samples, sizeof mine.samples);
    snprintf(mine.settings, sizeof mine.settings, "%s", settings_digest(n, args).s);
    snprintf(mine.data_path, sizeof mine.data_path, "%s", c->data ? c->data : "(built-in synthetic data)");
    snprintf(mine.sample_path, sizeof mine.sample_path, "%s", c->sample_file ? c->sample_file : "(none)");
    RankDigest *all = nn_malloc((size_t)size * sizeof *all);
    size_t *counts = nn_malloc((size_t)size * sizeof *counts);
    for (int r = 0; r < size; r++) counts[r] = sizeof mine;
    dist_allgather(&mine, all, counts);
    free(counts);
    nn_fail(err, "train: the %d ranks do not read the same inputs:", size);
    int differ = 0;
    const RankDigest *first = &all[0];
    for (int r = 1; r < size; r++) {
        const RankDigest *d = &all[r];
        char line[1024];
        if (strcmp(d->data, first->data) != 0) {
            snprintf(line, sizeof line, "%s rank %d's --data %s (SHA-256 %.12s...) differs from rank 0's %s (%.12s...)",
                     differ++ ? ";" : "", r, d->data_path, d->data, first->data_path, first->data);
            append(err, line);
        }
        if (strcmp(d->samples, first->samples) != 0) {
            snprintf(line, sizeof line, "%s rank %d's --sample-file %s (%.12s...) differs from rank 0's %s (%.12s...)",
                     differ++ ? ";" : "", r, d->sample_path, d->samples, first->sample_path, first->samples);
            append(err, line);
        }
        if (strcmp(d->settings, first->settings) != 0) {
            snprintf(line, sizeof line, "%s rank %d was given other flags than rank 0", differ++ ? ";" : "", r);
            append(err, line);
        }
    }
    free(all);
    if (!differ) return 0;
    append(err, "; give every rank the same files (copy rank 0's) and the same flags; --out was not touched");
    return -1;
}
