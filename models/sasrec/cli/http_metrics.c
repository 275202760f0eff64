#include "models/sasrec/cli/http_metrics.h"

static const double LATENCY_LE[METRICS_LATENCY_BUCKETS] = {0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01,
                                                           0.02,    0.05,   0.1,   0.25,  0.5,   1.0};
static const int HTTP_STATUS[6] = {400, 404, 405, 408, 413, 431}; /* the last slot: any other */

void http_metrics_http_error(HttpMetrics *m, int status) {
    int i = 0;
    while (i < 5 && HTTP_STATUS[i] != status) i++;
    m->http_errors[HTTP_STATUS[i] == status ? i : 5]++;
}

void http_metrics_latency(HttpMetrics *m, double seconds) {
    int i = 0;
    while (i < METRICS_LATENCY_BUCKETS && seconds > LATENCY_LE[i]) i++;
    m->latency[i]++;
    m->latency_sum += seconds;
}

void http_metrics_batch(HttpMetrics *m, int n) {
    int i = 0;
    while (i < METRICS_BATCH_BUCKETS && n > (1 << i)) i++;
    m->batch[i]++;
    m->batch_requests += (uint64_t)n;
}

static void header(FILE *f, const char *name, const char *type, const char *help) {
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void http_metrics_write(const HttpMetrics *m, FILE *f) {
    static const char *ep[EP_COUNT] = {"/recommend", "/health", "/metrics", "other"};
    header(f, "sasrec_http_requests_total", "counter", "HTTP requests by endpoint.");
    for (int i = 0; i < EP_COUNT; i++)
        fprintf(f, "sasrec_http_requests_total{endpoint=\"%s\"} %llu\n", ep[i], (unsigned long long)m->requests[i]);
    header(f, "sasrec_answers_total", "counter", "Recommendation answers (each element of an array counts one).");
    fprintf(f, "sasrec_answers_total %llu\n", (unsigned long long)m->answers);
    header(f, "sasrec_errors_total", "counter", "Error answers by kind: the request's, or the HTTP status.");
    for (int k = 1; k < SERVE_ERR_KINDS; k++)
        fprintf(f, "sasrec_errors_total{kind=\"%s\"} %llu\n", serve_batch_error_name(k),
                (unsigned long long)m->answer_errors[k]);
    for (int i = 0; i < 6; i++) {
        if (i < 5)
            fprintf(f, "sasrec_errors_total{kind=\"http_%d\"} %llu\n", HTTP_STATUS[i],
                    (unsigned long long)m->http_errors[i]);
        else
            fprintf(f, "sasrec_errors_total{kind=\"http_other\"} %llu\n", (unsigned long long)m->http_errors[i]);
    }
    header(f, "sasrec_answer_latency_seconds", "histogram", "From a request's last byte to its answer queued.");
    uint64_t cum = 0;
    for (int i = 0; i <= METRICS_LATENCY_BUCKETS; i++) {
        cum += m->latency[i];
        if (i < METRICS_LATENCY_BUCKETS)
            fprintf(f, "sasrec_answer_latency_seconds_bucket{le=\"%g\"} %llu\n", LATENCY_LE[i], (unsigned long long)cum);
        else
            fprintf(f, "sasrec_answer_latency_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    }
    fprintf(f, "sasrec_answer_latency_seconds_sum %.9g\nsasrec_answer_latency_seconds_count %llu\n", m->latency_sum,
            (unsigned long long)cum);
    header(f, "sasrec_batch_size", "histogram", "Requests per encoder pass.");
    cum = 0;
    for (int i = 0; i <= METRICS_BATCH_BUCKETS; i++) {
        cum += m->batch[i];
        if (i < METRICS_BATCH_BUCKETS)
            fprintf(f, "sasrec_batch_size_bucket{le=\"%d\"} %llu\n", 1 << i, (unsigned long long)cum);
        else
            fprintf(f, "sasrec_batch_size_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    }
    fprintf(f, "sasrec_batch_size_sum %llu\nsasrec_batch_size_count %llu\n", (unsigned long long)m->batch_requests,
            (unsigned long long)cum);
    header(f, "sasrec_connections_open", "gauge", "Open connections.");
    fprintf(f, "sasrec_connections_open %llu\n", (unsigned long long)m->connections_open);
    header(f, "sasrec_connections_total", "counter", "Connections accepted.");
    fprintf(f, "sasrec_connections_total %llu\n", (unsigned long long)m->connections_total);
    header(f, "sasrec_connections_refused_total", "counter", "Connections answered 503 beyond --max-conns.");
    fprintf(f, "sasrec_connections_refused_total %llu\n", (unsigned long long)m->connections_refused);
    header(f, "sasrec_model_reloads_total", "counter", "Model folders loaded in place of the one serving.");
    fprintf(f, "sasrec_model_reloads_total %llu\n", (unsigned long long)m->reloads);
    header(f, "sasrec_model_reload_failures_total", "counter", "Model folders refused; the old model kept serving.");
    fprintf(f, "sasrec_model_reload_failures_total %llu\n", (unsigned long long)m->reload_failures);
    header(f, "sasrec_model_info", "gauge", "The model serving: its config.json SHA-256.");
    fprintf(f, "sasrec_model_info{digest=\"%s\"} 1\n", m->digest);
}
