/* sasrec serve --listen HOST:PORT: recommendations over HTTP/1.1
 * (docs/sasrec.md, section 7.3).
 *
 * One thread runs one poll loop over the listening socket and every
 * connection (the encoder's --threads work inside a pass); no thread per
 * connection. Each turn: accept (beyond --max-conns a connection is answered
 * 503 and closed), read what arrived, parse the complete requests of every
 * connection (one at a time per connection, answers in order, so pipelined
 * requests are answered as sent), answer GET /health and GET /metrics at
 * once, gather the POST /recommend requests of all connections into one
 * batch (serve_batch.h) ranked in one encoder pass, and write the answers.
 *
 * Bounds: a request head of at most --max-header bytes and a body of at most
 * --max-body; a request in progress gets --read-timeout-ms to arrive (408);
 * a connection's next request is read only once its previous answer is
 * written, and no new request is taken while 64 MiB of answers wait to be
 * sent on all connections. Between passes the model folder is looked at (each second, and at
 * once on SIGHUP): a replaced folder is loaded beside the old model and
 * switched to, or refused with a log line and a metric while the old one
 * keeps serving. SIGTERM or SIGINT: stop accepting, answer the requests in
 * hand, exit 143 or 130. */
#ifndef NN_MODELS_SASREC_CLI_HTTP_SERVER_H
#define NN_MODELS_SASREC_CLI_HTTP_SERVER_H

#include <stdint.h>

#include "models/sasrec/cli/config.h"

typedef struct {
    const char *listen;      /* HOST:PORT (HOST may be empty: every address) */
    int64_t max_conns;       /* open connections at most, 256 */
    int64_t max_header;      /* bytes of a request line and headers, 8 KiB */
    int64_t max_body;        /* bytes of a request body, 1 MiB */
    int64_t read_timeout_ms; /* for a request in progress, 10 s */
} HttpConfig;

/* The bytes of buffers the service may hold: each connection's input and the answers waiting to be sent
 * (serve_plan.h's transport_bytes). */
double http_server_buffer_bytes(const HttpConfig *h);
/* How many answers may be rendered and not yet written at once (serve_plan.h's answers_held). */
double http_server_answers_held(const HttpConfig *h, int batch);
/* Serves flags->model_dir on h->listen until a signal stops it; returns the exit code (2 when the address
 * cannot be used, 1 when the model cannot be loaded, 143 or 130 when stopped). */
int http_server_run(const RunConfig *flags, const HttpConfig *h);

#endif
