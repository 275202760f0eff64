/* bench/serve: latency and throughput of `sasrec serve`, measured as a client
 * sees them: the program runs as a child process and the bench talks to it
 * through pipes (stdin, stdout), so every figure includes parsing, id
 * mapping, the encoder, ranking the whole catalogue, writing the JSON answer
 * and both pipe hops.
 *
 *   bench/serve --model DIR [--data FILE] [--program ./sasrec] [--singles 2000] [--bursts 30] [--k 10]
 *
 * Requests are the users' whole sequences of --data (seq format, raw ids; the
 * Beauty file by default), in file order, k = --k. For 1 and 2 threads
 * (serve --threads T): --singles requests one at a time (each written after
 * the previous answer arrived: latency p50, p99, mean), then --bursts bursts
 * of 256 requests written at once (throughput of each burst: 256 / the time
 * from its first byte written to its last answer read; median and min).
 * One JSON line per measurement. The targets (issue 13): single-request p99
 * <= 2 ms at 1 thread on the Beauty model; >= 5,000 answers/s for bursts at
 * 2 threads. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/error.h"

#define BURST 256

typedef struct {
    pid_t pid;
    int to, from; /* the child's stdin (we write), its stdout (we read) */
    char buf[1 << 16];
    size_t len; /* bytes read and not yet consumed */
} Child;

static void start(Child *c, const char *program, const char *model, int threads, int k) {
    int in[2], out[2];
    if (pipe(in) || pipe(out)) nn_abort("bench/serve", "pipe: %s", strerror(errno));
    char t[16], kk[16];
    snprintf(t, sizeof t, "%d", threads);
    snprintf(kk, sizeof kk, "%d", k);
    c->pid = fork();
    if (c->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        execl(program, program, "serve", "--model", model, "--threads", t, "--k", kk, (char *)NULL);
        fprintf(stderr, "bench/serve: cannot run %s: %s\n", program, strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    c->to = in[1];
    c->from = out[0];
    c->len = 0;
}

/* Reads until n more answer lines have arrived (their bytes are dropped). */
static void read_answers(Child *c, int n) {
    while (n > 0) {
        char *nl;
        while (n > 0 && (nl = memchr(c->buf, '\n', c->len))) {
            *nl = '\0';
            if (strstr(c->buf, "\"error\": ")) nn_abort("bench/serve", "an error answer: %s", c->buf);
            size_t used = (size_t)(nl - c->buf) + 1;
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
            n--;
        }
        if (n == 0) return;
        if (c->len == sizeof c->buf) nn_abort("bench/serve", "an answer longer than %zu bytes", sizeof c->buf);
        ssize_t got = read(c->from, c->buf + c->len, sizeof c->buf - c->len);
        if (got <= 0) nn_abort("bench/serve", "serve ended early (read: %s)", got ? strerror(errno) : "end of file");
        c->len += (size_t)got;
    }
}

/* Writes all of text while reading answers, so that neither pipe fills up; returns when n answers arrived. */
static void write_and_read(Child *c, const char *text, size_t len, int n) {
    size_t sent = 0;
    fcntl(c->to, F_SETFL, fcntl(c->to, F_GETFL) | O_NONBLOCK);
    while (sent < len) {
        struct pollfd p[2] = {{.fd = c->to, .events = POLLOUT}, {.fd = c->from, .events = POLLIN}};
        poll(p, 2, -1);
        if (p[0].revents & POLLOUT) {
            ssize_t w = write(c->to, text + sent, len - sent);
            if (w > 0) sent += (size_t)w;
        }
        if (p[1].revents & POLLIN) {
            ssize_t got = read(c->from, c->buf + c->len, sizeof c->buf - c->len);
            if (got <= 0) nn_abort("bench/serve", "serve ended early");
            c->len += (size_t)got;
            while (n > 0) { /* count whole answers already here */
                char *nl = memchr(c->buf, '\n', c->len);
                if (!nl) break;
                size_t used = (size_t)(nl - c->buf) + 1;
                memmove(c->buf, c->buf + used, c->len - used);
                c->len -= used;
                n--;
            }
        }
    }
    fcntl(c->to, F_SETFL, fcntl(c->to, F_GETFL) & ~O_NONBLOCK);
    read_answers(c, n);
}

static void stop(Child *c) {
    close(c->to);
    int status;
    waitpid(c->pid, &status, 0);
    close(c->from);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) nn_abort("bench/serve", "serve exited with status %d", status);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile of v[0..n) (sorted in place): the value at rank ceil(q n) - 1. */
static double quantile(double *v, int n, double q) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int i = (int)(q * n + 0.999999) - 1;
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

/* One request line per user of a seq file: {"id": "<user>", "items": [...]}\n, concatenated; *n lines. */
static char **read_requests(const char *path, int *n) {
    FILE *f = fopen(path, "r");
    if (!f) nn_abort("bench/serve", "--data %s: %s", path, strerror(errno));
    char **req = NULL, *line = NULL;
    size_t cap = 0;
    int count = 0;
    while (getline(&line, &cap, f) > 0) {
        char *save, *user = strtok_r(line, " \t\r\n", &save), *item;
        if (!user) continue;
        size_t size = strlen(user) + 64, used = 0;
        char *r = nn_malloc(size);
        used += (size_t)snprintf(r, size, "{\"id\": \"%s\", \"items\": [", user);
        for (int k = 0; (item = strtok_r(NULL, " \t\r\n", &save)); k++) {
            if (used + strlen(item) + 8 > size) r = nn_realloc(r, size = 2 * size + strlen(item));
            used += (size_t)snprintf(r + used, size - used, "%s\"%s\"", k ? ", " : "", item);
        }
        snprintf(r + used, size - used, "]}\n");
        req = nn_realloc(req, (size_t)(count + 1) * sizeof *req);
        req[count++] = r;
    }
    free(line);
    fclose(f);
    if (!count) nn_abort("bench/serve", "--data %s holds no user", path);
    *n = count;
    return req;
}

int main(int argc, char **argv) {
    const char *model = NULL, *data = "../shared/data/beauty/Beauty.txt", *program = "./sasrec";
    int singles = 2000, bursts = 30, k = 10;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--model") == 0) model = argv[i + 1];
        else if (strcmp(argv[i], "--data") == 0) data = argv[i + 1];
        else if (strcmp(argv[i], "--program") == 0) program = argv[i + 1];
        else if (strcmp(argv[i], "--singles") == 0) singles = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--bursts") == 0) bursts = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--k") == 0) k = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "bench/serve: unknown flag %s\n", argv[i]);
            return 2;
        }
    }
    if (!model || singles < 1 || bursts < 1 || k < 1) {
        fprintf(stderr, "usage: bench/serve --model DIR [--data FILE] [--program ./sasrec] [--singles 2000] "
                        "[--bursts 30] [--k 10]\n(train the model with: ./sasrec train --data "
                        "../shared/data/beauty/Beauty.txt --out DIR)\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    int n_req;
    char **req = read_requests(data, &n_req);
    double *lat = nn_malloc((size_t)singles * sizeof *lat), *rate = nn_malloc((size_t)bursts * sizeof *rate);
    char *burst = NULL;
    for (int threads = 1; threads <= 2; threads++) {
        Child c;
        start(&c, program, model, threads, k);
        for (int i = 0; i < 50; i++) { /* warm up: the model's pages, the pool's threads */
            write(c.to, req[i % n_req], strlen(req[i % n_req]));
            read_answers(&c, 1);
        }
        for (int i = 0; i < singles; i++) {
            const char *r = req[i % n_req];
            double t0 = clock_seconds();
            if (write(c.to, r, strlen(r)) != (ssize_t)strlen(r)) nn_abort("bench/serve", "write: %s", strerror(errno));
            read_answers(&c, 1);
            lat[i] = (clock_seconds() - t0) * 1e3;
        }
        double mean = 0;
        for (int i = 0; i < singles; i++) mean += lat[i] / singles;
        double p50 = quantile(lat, singles, 0.5), p99 = quantile(lat, singles, 0.99);
        printf("{\"bench\": \"serve\", \"mode\": \"single\", \"threads\": %d, \"k\": %d, \"requests\": %d, "
               "\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"mean_ms\": %.3f, \"max_ms\": %.3f, \"via\": \"pipe\"}\n",
               threads, k, singles, p50, p99, mean, lat[singles - 1]);
        fflush(stdout);
        for (int b = 0; b < bursts; b++) {
            size_t len = 0;
            for (int i = 0; i < BURST; i++) {
                const char *r = req[(b * BURST + i) % n_req];
                burst = nn_realloc(burst, len + strlen(r) + 1);
                memcpy(burst + len, r, strlen(r) + 1);
                len += strlen(r);
            }
            double t0 = clock_seconds();
            write_and_read(&c, burst, len, BURST);
            rate[b] = BURST / (clock_seconds() - t0);
        }
        double median = quantile(rate, bursts, 0.5), worst = rate[0];
        printf("{\"bench\": \"serve\", \"mode\": \"burst\", \"threads\": %d, \"k\": %d, \"burst\": %d, \"bursts\": %d, "
               "\"answers_per_s_median\": %.0f, \"answers_per_s_min\": %.0f, \"via\": \"pipe\"}\n",
               threads, k, BURST, bursts, median, worst);
        fflush(stdout);
        stop(&c);
    }
    for (int i = 0; i < n_req; i++) free(req[i]);
    free(req), free(lat), free(rate), free(burst);
    return 0;
}
