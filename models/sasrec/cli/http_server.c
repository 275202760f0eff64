#include "models/sasrec/cli/http_server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/memory.h"
#include "models/sasrec/cli/common.h"
#include "models/sasrec/cli/http_metrics.h"
#include "models/sasrec/cli/http_parse.h"
#include "models/sasrec/cli/serve_model.h"
#include "models/sasrec/cli/serve_plan.h"
#include "models/sasrec/cli/serve_batch.h"
#include "models/sasrec/cli/signals.h"

#define TICK_MS      100  /* the longest poll: a signal or a timeout is seen that soon */
#define WATCH_S      1.0  /* how often the model folder is looked at */
#define STOP_DRAIN_S 5.0  /* how long a stop waits for the last answers to be written */
#define OUT_BUDGET   ((size_t)64 << 20) /* answers queued on all connections: beyond, no new request is taken */

/* One connection. */
typedef struct {
    int fd;           /* -1: a free slot */
    char *in;         /* (in_cap) bytes received and not yet answered */
    size_t in_n;
    char *out;        /* answers to send: out[out_at .. out_n) */
    size_t out_n, out_at, out_cap;
    double since;     /* when the request in progress began to arrive (0: none) */
    int close_after;  /* close once out is sent */
    int continued;    /* 100 Continue sent for the request in progress */
    int waiting;      /* its request is in the batch being gathered */
    int eof;          /* the client has sent all it will: answer what is complete, then close */
} Conn;

/* A POST /recommend of the batch being gathered. */
typedef struct {
    int conn;        /* its connection */
    int first, n;    /* its requests in the batch */
    int array;       /* answer as a JSON array */
    int keep_alive;
    double arrived;  /* when its last byte arrived */
} Pending;

typedef struct {
    const RunConfig *flags;
    const HttpConfig *h;
    size_t in_cap;
    int listen_fd;
    Conn *conn;          /* (max_conns) */
    struct pollfd *pfd;  /* (max_conns + 1) */
    int *pfd_conn;       /* (max_conns + 1) the connection of each pollfd, -1: the listening socket */
    ServeModel *model;   /* the one serving */
    ServeBatch batch;
    Pending *pending;    /* (batch) */
    int n_pending;
    HttpMetrics m;
    FILE *tmp;           /* answers are rendered here, then copied to the connection */
    char *tmp_buf;
    size_t tmp_len;
    size_t out_pending;  /* bytes queued on all connections, not yet sent */
    double last_watch;
    dev_t refused_dev;   /* the last folder refused, not tried again until it changes */
    ino_t refused_ino;
    char refused_digest[65];
} Server;

static atomic_int hup; /* SIGHUP arrived: look at the model folder now */

static void on_hup(int sig) {
    (void)sig;
    atomic_store(&hup, 1);
}

/* ---- connections ---- */

static const char *reason(int status) {
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

static void out_append(Server *s, Conn *c, const char *bytes, size_t n) {
    s->out_pending += n;
    if (c->out_at == c->out_n) c->out_at = c->out_n = 0;
    if (c->out_n + n > c->out_cap) {
        while (c->out_n + n > c->out_cap) c->out_cap = c->out_cap ? 2 * c->out_cap : 4096;
        c->out = nn_realloc(c->out, c->out_cap);
    }
    memcpy(c->out + c->out_n, bytes, n);
    c->out_n += n;
}

/* Queues a response of status with body[0..n) on c; keep 0 closes the connection once it is sent. */
static void reply(Server *s, Conn *c, int status, const char *type, const char *body, size_t n, int keep, const char *extra) {
    char head[512];
    int k = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: %s\r\n%s\r\n", status,
                     reason(status), type, n, keep ? "keep-alive" : "close", extra ? extra : "");
    out_append(s, c, head, (size_t)k);
    out_append(s, c, body, n);
    if (!keep) c->close_after = 1;
}

/* Renders tmp's contents as the body of a response on c, then empties tmp. */
static void reply_tmp(Server *s, Conn *c, int status, const char *type, int keep, const char *extra) {
    fflush(s->tmp);
    reply(s, c, status, type, s->tmp_buf, (size_t)ftello(s->tmp), keep, extra);
    fseeko(s->tmp, 0, SEEK_SET);
}

/* A JSON error {"error": msg, "status": status}; closes the connection unless keep. */
static void reply_error(Server *s, Conn *c, int status, const char *msg, int keep, const char *extra) {
    http_metrics_http_error(&s->m, status);
    fputs("{\"error\": ", s->tmp);
    json_write_string(s->tmp, msg, strlen(msg), NULL);
    fprintf(s->tmp, ", \"status\": %d}\n", status);
    reply_tmp(s, c, status, "application/json", keep, extra);
}

static void conn_close(Server *s, int i) {
    Conn *c = &s->conn[i];
    s->out_pending -= c->out_n - c->out_at;
    close(c->fd);
    free(c->in), free(c->out);
    *c = (Conn){.fd = -1};
    s->m.connections_open--;
}

/* Sends what c has queued; -1 when the connection failed (the caller closes it). */
static int conn_send(Server *s, Conn *c) {
    while (c->out_at < c->out_n) {
        ssize_t w = send(c->fd, c->out + c->out_at, c->out_n - c->out_at, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        if (w < 0) return -1;
        c->out_at += (size_t)w;
        s->out_pending -= (size_t)w;
    }
    c->out_at = c->out_n = 0;
    return 0;
}

static void set_nonblocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

/* Accepts every waiting connection; beyond --max-conns each is answered 503 and closed. */
static void accept_all(Server *s) {
    for (;;) {
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0) return;
        int free_slot = -1;
        for (int i = 0; i < s->h->max_conns && free_slot < 0; i++)
            if (s->conn[i].fd < 0) free_slot = i;
        if (free_slot < 0) {
            static const char body[] = "{\"error\": \"too many open connections (sasrec serve --max-conns)\", "
                                       "\"status\": 503}\n";
            char busy[512];
            int n = snprintf(busy, sizeof busy,
                             "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: "
                             "%zu\r\nConnection: close\r\nRetry-After: 1\r\n\r\n%s",
                             sizeof body - 1, body);
            set_nonblocking(fd);
            if (send(fd, busy, (size_t)n, MSG_NOSIGNAL) < 0) { /* best effort: its socket buffer is empty */
            }
            close(fd);
            s->m.connections_refused++;
            continue;
        }
        set_nonblocking(fd);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        s->conn[free_slot] = (Conn){.fd = fd, .in = nn_malloc(s->in_cap)};
        s->m.connections_open++;
        s->m.connections_total++;
    }
}

/* Reads what arrived on connection i; closes it at the end of its input or on an error. */
static void conn_read(Server *s, int i) {
    Conn *c = &s->conn[i];
    for (;;) {
        if (c->in_n == s->in_cap) return; /* full: the parser refuses what does not fit */
        ssize_t r = recv(c->fd, c->in + c->in_n, s->in_cap - c->in_n, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (r == 0) { /* the client has finished sending (it may still read the answers) */
            c->eof = 1;
            return;
        }
        if (r < 0) { /* failed: nothing can be answered any more */
            conn_close(s, i);
            return;
        }
        if (c->in_n == 0 && c->since == 0) c->since = clock_seconds();
        c->in_n += (size_t)r;
    }
}

/* ---- requests ---- */

static MetricsEndpoint endpoint(const char *target) {
    size_t n = strcspn(target, "?");
    if (n == 10 && memcmp(target, "/recommend", 10) == 0) return EP_RECOMMEND;
    if (n == 7 && memcmp(target, "/health", 7) == 0) return EP_HEALTH;
    if (n == 8 && memcmp(target, "/metrics", 8) == 0) return EP_METRICS;
    return EP_OTHER;
}

static void run_batch(Server *s);

/* Adds the POST /recommend body[0..n) of connection i to the batch (running the batch first when it has no
 * room); a body that is not a request or an array of them is answered 400 at once. */
static void add_recommend(Server *s, int i, const HttpRequest *r, const char *body) {
    Conn *c = &s->conn[i];
    ServeBatch *b = &s->batch;
    JsonLimits lim = {.max_bytes = (size_t)s->h->max_body, .max_depth = SERVE_MAX_DEPTH + 1};
    NnError e;
    JsonDoc *doc = json_parse(body, r->body_len, &lim, &e);
    if (!doc) {
        char msg[1100];
        snprintf(msg, sizeof msg, "the body is not JSON: %s", e.msg);
        s->m.answer_errors[SERVE_ERR_JSON]++;
        reply_error(s, c, 400, msg, r->keep_alive, NULL);
        return;
    }
    const Json *root = json_root(doc);
    int array = json_type(root) == JSON_ARRAY, n = array ? (int)json_count(root) : 1;
    if (n > b->cap || (array && n == 0)) {
        char msg[160];
        snprintf(msg, sizeof msg, n ? "an array of %d requests; at most %d (sasrec serve --batch) in one"
                                    : "an empty array; send at least one request",
                 n, b->cap);
        reply_error(s, c, n ? 413 : 400, msg, r->keep_alive, NULL);
        json_free(doc);
        return;
    }
    if (b->n + n > b->cap || b->bytes + r->body_len > (size_t)s->h->max_body) run_batch(s);
    Pending *p = &s->pending[s->n_pending++];
    *p = (Pending){.conn = i, .first = b->n, .n = n, .array = array, .keep_alive = r->keep_alive,
                   .arrived = clock_seconds()};
    for (int k = 0; k < n; k++)
        serve_batch_add_value(b, array ? json_at(root, (size_t)k) : root, r->body_len / (size_t)n);
    json_free(doc);
    c->waiting = 1;
}

static void reply_health(Server *s, Conn *c, int keep) {
    const ServeModel *m = s->model;
    fputs("{\"status\": \"ok\", \"model\": ", s->tmp);
    json_write_string(s->tmp, m->c.model_dir, strlen(m->c.model_dir), NULL);
    fprintf(s->tmp, ", \"config_sha256\": \"%s\", \"items\": %lld, \"reloads\": %llu}\n", m->digest,
            (long long)m->lm.vocab.n_items, (unsigned long long)s->m.reloads);
    reply_tmp(s, c, 200, "application/json", keep, NULL);
}

/* Parses and answers (or adds to the batch) the next request of connection i, if it is complete. Returns 1
 * if a request was taken. */
static int take_request(Server *s, int i) {
    Conn *c = &s->conn[i];
    if (c->fd < 0 || c->waiting || c->close_after || c->out_n > c->out_at || c->in_n == 0) return 0;
    if (s->out_pending > OUT_BUDGET) return 0; /* clients that do not read: wait until they have */
    HttpRequest r;
    HttpParseStatus st = http_parse(c->in, c->in_n, (size_t)s->h->max_header, (size_t)s->h->max_body, &r);
    if (st == HTTP_NEED_MORE) {
        if (r.head_len && r.expect_continue && !c->continued) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            out_append(s, c, cont, sizeof cont - 1);
            c->continued = 1;
        }
        return 0;
    }
    if (st == HTTP_BAD) {
        reply_error(s, c, r.status, r.msg, 0, NULL);
        c->in_n = 0;
        return 1;
    }
    MetricsEndpoint ep = endpoint(r.target);
    s->m.requests[ep]++;
    const char *body = c->in + r.head_len;
    int get = strcmp(r.method, "GET") == 0, post = strcmp(r.method, "POST") == 0;
    if (ep == EP_OTHER)
        reply_error(s, c, 404, "no such endpoint; there are POST /recommend, GET /health and GET /metrics",
                    r.keep_alive, NULL);
    else if (ep == EP_RECOMMEND && !post)
        reply_error(s, c, 405, "/recommend takes POST with a JSON request", r.keep_alive, "Allow: POST\r\n");
    else if (ep != EP_RECOMMEND && !get)
        reply_error(s, c, 405, "this endpoint takes GET", r.keep_alive, "Allow: GET\r\n");
    else if (ep == EP_HEALTH)
        reply_health(s, c, r.keep_alive);
    else if (ep == EP_METRICS) {
        http_metrics_write(&s->m, s->tmp);
        reply_tmp(s, c, 200, "text/plain; version=0.0.4", r.keep_alive, NULL);
    } else
        add_recommend(s, i, &r, body);
    size_t used = r.head_len + r.body_len; /* the next pipelined request moves to the front */
    memmove(c->in, c->in + used, c->in_n - used);
    c->in_n -= used;
    c->since = c->in_n ? clock_seconds() : 0;
    c->continued = 0;
    return 1;
}

/* Ranks the batch in one pass and queues every pending answer on its connection. */
static void run_batch(Server *s) {
    ServeBatch *b = &s->batch;
    if (s->n_pending == 0) return;
    serve_batch_run(b, &s->model->rec);
    http_metrics_batch(&s->m, b->n);
    double now = clock_seconds();
    for (int p = 0; p < s->n_pending; p++) {
        const Pending *q = &s->pending[p];
        Conn *c = &s->conn[q->conn];
        if (q->array) fputc('[', s->tmp);
        for (int k = 0; k < q->n; k++) {
            if (k) fputs(", ", s->tmp);
            ServeErrorKind kind = serve_batch_write(b, q->first + k, s->tmp);
            s->m.answers++;
            s->m.answer_errors[kind]++;
        }
        fputs(q->array ? "]\n" : "\n", s->tmp);
        http_metrics_latency(&s->m, now - q->arrived);
        c->waiting = 0;
        /* a lone request that could not be read is the client's error; an array answers each in its place */
        int status = !q->array && b->req[q->first].failed ? 400 : 200;
        reply_tmp(s, c, status, "application/json", q->keep_alive, NULL);
    }
    s->n_pending = 0;
    serve_batch_clear(b);
}

/* ---- the model ---- */

/* Loads the folder again if it was replaced (or on SIGHUP) and switches to it; a folder that fails its
 * checks is refused with a log line and a metric, and the old model keeps serving. Between passes only. */
static void watch_model(Server *s, int force) {
    double now = clock_seconds();
    if (!force && now - s->last_watch < WATCH_S) return;
    s->last_watch = now;
    if (!serve_model_changed(s->model) && !force) return;
    ServeModel *next = nn_malloc(sizeof *next);
    NnError err;
    if (serve_model_load(next, s->flags, &err)) {
        int again = next->ino != s->refused_ino || next->dev != s->refused_dev;
        s->refused_dev = next->dev, s->refused_ino = next->ino;
        if (again || force) {
            s->m.reload_failures++;
            fprintf(stderr, "sasrec serve: the model folder %s was refused; the old model keeps serving: %s\n",
                    s->flags->model_dir, err.msg);
        }
        free(next);
        return;
    }
    if (strcmp(next->digest, s->model->digest) == 0 && next->ino == s->model->ino && !force) {
        serve_model_free(next); /* the same folder */
        free(next);
        return;
    }
    ServePlan plan = serve_plan(&next->c.model, &next->lm.vocab, s->flags->serve.batch, s->flags->k,
                                s->flags->serve.max_k, s->h->max_body, http_server_buffer_bytes(s->h),
                                http_server_answers_held(s->h, s->flags->serve.batch), "--max-body");
    plan.model = 0; /* the new model is held beside the old one: all of it must fit */
    if (serve_plan_check(&plan, &err)) {
        s->m.reload_failures++;
        fprintf(stderr, "sasrec serve: the new model in %s does not fit beside the old one, which keeps serving: %s\n",
                s->flags->model_dir, err.msg);
        serve_model_free(next);
        free(next);
        return;
    }
    serve_batch_free(&s->batch);
    serve_model_free(s->model);
    free(s->model);
    s->model = next;
    serve_batch_init(&s->batch, &next->lm.vocab, next->lm.vocab.n_items, &next->c, s->flags->serve.batch);
    s->m.reloads++;
    memcpy(s->m.digest, next->digest, sizeof s->m.digest);
    fprintf(stderr, "sasrec serve: reloaded %s: %lld items, config.json SHA-256 %s\n", s->flags->model_dir,
            (long long)next->lm.vocab.n_items, next->digest);
}

/* ---- the loop ---- */

/* The listening socket of h->listen; -1 and a message when it cannot be used. */
static int open_listener(const char *listen_at, NnError *err) {
    const char *colon = strrchr(listen_at, ':');
    if (!colon || !colon[1]) return nn_fail(err, "--listen %s: expected HOST:PORT, such as 127.0.0.1:8080", listen_at);
    char host[256];
    size_t hl = (size_t)(colon - listen_at);
    if (hl >= sizeof host) return nn_fail(err, "--listen %s: the host name is too long", listen_at);
    memcpy(host, listen_at, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') { /* [::1]:8080 */
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai;
    int rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
    if (rc) return nn_fail(err, "--listen %s: %s", listen_at, gai_strerror(rc));
    int fd = -1, e = 0;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) || listen(fd, 1024)) {
            e = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd < 0) return nn_fail(err, "--listen %s: %s", listen_at, strerror(e));
    set_nonblocking(fd);
    return fd;
}

/* Closes request-in-progress connections past the read timeout with 408. */
static void check_timeouts(Server *s) {
    double now = clock_seconds(), limit = (double)s->h->read_timeout_ms * 1e-3;
    for (int i = 0; i < s->h->max_conns; i++) {
        Conn *c = &s->conn[i];
        if (c->fd < 0 || c->waiting || c->close_after || !c->since || now - c->since <= limit) continue;
        reply_error(s, c, 408, "the request did not arrive within --read-timeout-ms", 0, NULL);
        c->in_n = 0;
    }
}

/* Whether c, whose client has finished sending, has nothing more to answer. */
static int finished(const Server *s, const Conn *c) {
    HttpRequest r;
    return c->eof && !c->waiting && c->out_n == c->out_at &&
           (c->in_n == 0 ||
            http_parse(c->in, c->in_n, (size_t)s->h->max_header, (size_t)s->h->max_body, &r) == HTTP_NEED_MORE);
}

/* Sends what is queued and closes the connections that are done. */
static void send_all(Server *s) {
    for (int i = 0; i < s->h->max_conns; i++) {
        Conn *c = &s->conn[i];
        if (c->fd < 0) continue;
        if (conn_send(s, c) || (c->close_after && c->out_n == c->out_at) || finished(s, c)) conn_close(s, i);
    }
}

/* One poll over the listener (unless stopping) and the connections; reads what arrived. */
static void poll_once(Server *s, int timeout_ms) {
    int n = 0;
    if (s->listen_fd >= 0) {
        s->pfd[n] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
        s->pfd_conn[n++] = -1;
    }
    for (int i = 0; i < s->h->max_conns; i++) {
        Conn *c = &s->conn[i];
        if (c->fd < 0) continue;
        short ev = c->out_n > c->out_at ? POLLOUT : 0;
        if (!c->close_after && !c->eof && c->in_n < s->in_cap) ev |= POLLIN;
        s->pfd[n] = (struct pollfd){.fd = c->fd, .events = ev};
        s->pfd_conn[n++] = i;
    }
    if (poll(s->pfd, (nfds_t)n, timeout_ms) <= 0) return;
    for (int k = 0; k < n; k++) {
        if (!s->pfd[k].revents) continue;
        if (s->pfd_conn[k] < 0)
            accept_all(s);
        else if (s->pfd[k].revents & (POLLIN | POLLHUP | POLLERR))
            conn_read(s, s->pfd_conn[k]);
    }
}

/* Takes every complete request of every connection (one per connection per round), ranking the batch when
 * it fills and once at the end. */
static void answer_ready(Server *s) {
    int took;
    do {
        took = 0;
        for (int i = 0; i < s->h->max_conns; i++) took += take_request(s, i);
        run_batch(s);
        send_all(s);
    } while (took);
}

static int pending_output(const Server *s) {
    for (int i = 0; i < s->h->max_conns; i++)
        if (s->conn[i].fd >= 0 && s->conn[i].out_n > s->conn[i].out_at) return 1;
    return 0;
}

double http_server_buffer_bytes(const HttpConfig *h) {
    return (double)h->max_conns * ((double)(h->max_header + h->max_body) + 65536 + 512) + (double)OUT_BUDGET;
}

double http_server_answers_held(const HttpConfig *h, int batch) {
    (void)h;
    return batch; /* one pass rendered beyond OUT_BUDGET, which http_server_buffer_bytes counts */
}

int http_server_run(const RunConfig *flags, const HttpConfig *h) {
    NnError err;
    Server s = {.flags = flags, .h = h, .in_cap = (size_t)(h->max_header + h->max_body) + 65536};
    s.listen_fd = open_listener(h->listen, &err);
    if (s.listen_fd < 0) {
        fprintf(stderr, "sasrec serve: %s\n", err.msg);
        return APP_EXIT_USAGE;
    }
    s.model = nn_malloc(sizeof *s.model);
    if (serve_model_load(s.model, flags, &err)) {
        close(s.listen_fd);
        free(s.model);
        return app_fail("serve", &err, APP_EXIT_DATA);
    }
    struct sigaction sa = {.sa_handler = on_hup};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    int nc = (int)h->max_conns;
    s.conn = nn_malloc((size_t)nc * sizeof *s.conn);
    for (int i = 0; i < nc; i++) s.conn[i] = (Conn){.fd = -1};
    s.pfd = nn_malloc((size_t)(nc + 1) * sizeof *s.pfd);
    s.pfd_conn = nn_malloc((size_t)(nc + 1) * sizeof *s.pfd_conn);
    s.pending = nn_malloc((size_t)flags->serve.batch * sizeof *s.pending);
    serve_batch_init(&s.batch, &s.model->lm.vocab, s.model->lm.vocab.n_items, &s.model->c, flags->serve.batch);
    s.tmp = open_memstream(&s.tmp_buf, &s.tmp_len);
    memcpy(s.m.digest, s.model->digest, sizeof s.m.digest);
    s.last_watch = clock_seconds();
    struct sockaddr_storage addr;
    socklen_t alen = sizeof addr;
    char host[256] = "?", port[32] = "?";
    if (getsockname(s.listen_fd, (struct sockaddr *)&addr, &alen) == 0)
        getnameinfo((struct sockaddr *)&addr, alen, host, sizeof host, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV);
    fprintf(stderr, "sasrec serve: listening on %s port %s: %s, %lld items, config.json SHA-256 %s, %d threads, "
                    "passes of up to %d requests, at most %lld connections\n",
            host, port, flags->model_dir, (long long)s.model->lm.vocab.n_items, s.model->digest, flags->threads,
            flags->serve.batch, (long long)h->max_conns);
    while (!atomic_load(signals_stop_flag())) {
        poll_once(&s, TICK_MS);
        answer_ready(&s);
        check_timeouts(&s);
        send_all(&s);
        watch_model(&s, atomic_exchange(&hup, 0));
    }
    /* stop: no new connection; the requests in hand are answered and written */
    close(s.listen_fd);
    s.listen_fd = -1;
    answer_ready(&s);
    double until = clock_seconds() + STOP_DRAIN_S;
    while (pending_output(&s) && clock_seconds() < until) {
        poll_once(&s, TICK_MS);
        send_all(&s);
    }
    fprintf(stderr, "sasrec serve: %s: %llu requests, %llu answers, %llu reloads\n", signals_name(),
            (unsigned long long)(s.m.requests[0] + s.m.requests[1] + s.m.requests[2] + s.m.requests[3]),
            (unsigned long long)s.m.answers, (unsigned long long)s.m.reloads);
    for (int i = 0; i < nc; i++)
        if (s.conn[i].fd >= 0) conn_close(&s, i);
    fclose(s.tmp);
    free(s.tmp_buf);
    serve_batch_free(&s.batch);
    serve_model_free(s.model);
    free(s.model), free(s.conn), free(s.pfd), free(s.pfd_conn), free(s.pending);
    return signals_exit_code();
}
