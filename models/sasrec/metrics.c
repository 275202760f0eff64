#include "models/sasrec/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const SAMPLE_NAMES[] = {"HR@1", "HR@5", "HR@10", "NDCG@5", "NDCG@10", "MRR"};
static const char *const FULL_NAMES[] = {"HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20"};

const char *const *metrics_names(Protocol protocol) { return protocol == PROTOCOL_SAMPLE ? SAMPLE_NAMES : FULL_NAMES; }

/* The cutoff k of a metric named "...@k", or 0 for MRR (no cutoff). */
static int64_t cutoff(const char *name) { return strcmp(name, "MRR") == 0 ? 0 : atoi(strchr(name, '@') + 1); }

void metrics_row(Protocol protocol, int64_t rank, double value[METRICS_MAX]) {
    const char *const *names = metrics_names(protocol);
    double r = (double)rank;
    for (int k = 0; k < 6; k++) {
        const char *name = names[k];
        int64_t cut = cutoff(name);
        if (cut == 0) { /* MRR */
            value[k] = 1 / (r + 1);
            continue;
        }
        value[k] = rank >= cut ? 0 : name[0] == 'H' ? 1 : 1 / log2(r + 2);
    }
}

int64_t metrics_rank_cap(Protocol protocol) {
    const char *const *names = metrics_names(protocol);
    int64_t cap = 0;
    for (int k = 0; k < 6; k++) {
        int64_t cut = cutoff(names[k]);
        if (cut == 0) return 0; /* MRR: every rank counts */
        if (cut > cap) cap = cut;
    }
    return cap;
}

Metrics metrics_from_ranks(Protocol protocol, const int64_t *rank, int64_t n) {
    Metrics m = {.protocol = protocol, .n = 6, .users = n};
    const char *const *names = metrics_names(protocol);
    for (int k = 0; k < 6; k++) m.name[k] = names[k];
    for (int64_t u = 0; u < n; u++) {
        if (rank[u] < 0) {
            m.nonfinite++;
            continue;
        }
        double v[METRICS_MAX];
        metrics_row(protocol, rank[u], v);
        for (int k = 0; k < 6; k++) m.value[k] += v[k]; /* a miss adds 0: the sums are those of adding hits only */
    }
    for (int k = 0; k < 6; k++) m.value[k] = n ? m.value[k] / (double)n : 0;
    return m;
}

double metrics_get(const Metrics *m, const char *name) {
    for (int k = 0; k < m->n; k++)
        if (strcmp(m->name[k], name) == 0) return m->value[k];
    return -1;
}

const char *metrics_monitor(Protocol protocol) { return protocol == PROTOCOL_SAMPLE ? "MRR" : "NDCG@20"; }

void metrics_write_json(const Metrics *m, FILE *f) {
    for (int k = 0; k < m->n; k++) fprintf(f, "%s\"%s\": %.6f", k ? ", " : "", m->name[k], m->value[k]);
}

const char *metrics_protocol_name(Protocol p) { return p == PROTOCOL_SAMPLE ? "sample" : "full"; }
