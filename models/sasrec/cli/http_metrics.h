/* What sasrec serve --listen counts, and GET /metrics, in the Prometheus
 * text format (version 0.0.4): requests by endpoint, errors by kind, the
 * latency of answers (from the request's last byte to its answer queued)
 * and the size of encoder passes as histograms, connections, model reloads
 * and the loaded model's digest (docs/sasrec.md, section 7.3). */
#ifndef NN_MODELS_SASREC_CLI_HTTP_METRICS_H
#define NN_MODELS_SASREC_CLI_HTTP_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "models/sasrec/cli/serve_batch.h"

#define METRICS_LATENCY_BUCKETS 12 /* 0.25 ms .. 1 s, then +Inf */
#define METRICS_BATCH_BUCKETS   18 /* 1, 2, 4, .. 65536, then +Inf */

typedef enum { EP_RECOMMEND, EP_HEALTH, EP_METRICS, EP_OTHER, EP_COUNT } MetricsEndpoint;

typedef struct {
    uint64_t requests[EP_COUNT];                  /* HTTP requests, by endpoint */
    uint64_t answers;                             /* recommendation answers (array elements count one each) */
    uint64_t answer_errors[SERVE_ERR_KINDS];      /* answers with an error, by kind (serve_batch.h) */
    uint64_t http_errors[6];                      /* 400, 404, 405, 408, 413, 431 and others (4xx/5xx) */
    uint64_t latency[METRICS_LATENCY_BUCKETS + 1]; /* answers by latency bucket */
    double latency_sum;                           /* seconds */
    uint64_t batch[METRICS_BATCH_BUCKETS + 1];    /* encoder passes by size */
    uint64_t batch_requests;                      /* requests in them */
    uint64_t connections_open, connections_total, connections_refused; /* refused: beyond --max-conns (503) */
    uint64_t reloads, reload_failures;
    char digest[65]; /* the loaded model's config.json SHA-256 */
} HttpMetrics;

/* Counts one HTTP error answer of status. */
void http_metrics_http_error(HttpMetrics *m, int status);
/* Counts one answer of latency seconds. */
void http_metrics_latency(HttpMetrics *m, double seconds);
/* Counts one encoder pass of n requests. */
void http_metrics_batch(HttpMetrics *m, int n);
/* Writes every metric to f in the Prometheus text format. */
void http_metrics_write(const HttpMetrics *m, FILE *f);

#endif
