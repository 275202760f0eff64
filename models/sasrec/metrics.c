#include "models/sasrec/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *SAMPLE_NAMES[] = {"HR@1", "HR@5", "HR@10", "NDCG@5", "NDCG@10", "MRR"};
static const char *FULL_NAMES[] = {"HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20"};

Metrics metrics_from_ranks(Protocol protocol, const int64_t *rank, int64_t n) {
    Metrics m = {.protocol = protocol, .n = 6, .users = n};
    const char **names = protocol == PROTOCOL_SAMPLE ? SAMPLE_NAMES : FULL_NAMES;
    for (int k = 0; k < 6; k++) m.name[k] = names[k];
    for (int64_t u = 0; u < n; u++) {
        if (rank[u] < 0) {
            m.nonfinite++;
            continue;
        }
        double r = (double)rank[u];
        for (int k = 0; k < 6; k++) {
            const char *name = names[k];
            if (strcmp(name, "MRR") == 0) {
                m.value[k] += 1 / (r + 1);
                continue;
            }
            int cut = atoi(strchr(name, '@') + 1);
            if (rank[u] >= cut) continue;
            m.value[k] += name[0] == 'H' ? 1 : 1 / log2(r + 2);
        }
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
