/* sasrec serve: recommendations on demand. Loads the model folder once, then
 * answers JSON request lines from stdin with one JSON line each on stdout, in
 * order (docs/sasrec.md, section 7.1).
 *
 * The loop: wait for a line; take every other line already buffered and, if
 * there were some (a burst is arriving), wait up to --wait-us for more while
 * the pass has room (--batch); a lone request never waits. Parse each line
 * (raw ids mapped through items.txt, unknown ones dropped and counted); rank
 * the batch with one encoder pass (models/sasrec/recommend.h); write and flush
 * the answers. A line that cannot be answered gets an error answer in its
 * place and the loop goes on. End of input: exit 0. SIGINT or SIGTERM: the
 * batch in hand is answered, then exit 130 or 143. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "models/sasrec/cli/commands.h"
#include "models/sasrec/cli/http_server.h"
#include "models/sasrec/cli/model_dir.h"
#include "models/sasrec/cli/serve_input.h"
#include "models/sasrec/cli/serve_plan.h"
#include "models/sasrec/cli/serve_batch.h"
#include "models/sasrec/cli/signals.h"
#include "models/sasrec/data/popularity.h"
#include "models/sasrec/recommend.h"

static const char *USAGE =
    "usage: sasrec serve --model DIR [--k 10] [--threads N] [--listen HOST:PORT] [flags]\n"
    "Answers recommendation requests, one JSON object per line on stdin, with one JSON line each on stdout,\n"
    "in order, flushed as soon as it is ready:\n"
    "  request  {\"id\": \"any string\", \"items\": [\"raw item id\", ...], \"k\": 10, \"exclude\": [...], "
    "\"exclude_seen\": true}\n"
    "           (only items is required; items oldest first, raw ids as in the training data)\n"
    "  answer   {\"id\": ..., \"items\": [...], \"scores\": [...], \"unknown\": n} or {\"id\": ..., \"error\": \"...\"}\n"
    "Unknown items are skipped and counted; a request with no known item gets the most popular items\n"
    "(\"fallback\": \"popular\"). Ends with exit 0 at the end of input (docs/sasrec.md, section 7.1).\n"
    "With --listen HOST:PORT: HTTP/1.1 instead, POST /recommend (a request, or an array of them), GET /health,\n"
    "GET /metrics; SIGHUP or a replaced model folder reloads the model (docs/sasrec.md, section 7.3).";

/* What the loop owns. */
typedef struct {
    const RunConfig *c;
    Recommender rec;
    ServeInput in;
    ServeBatch batch;
    FILE *out;      /* the answers of a batch, rendered before they are written */
    char *out_buf;  /* out's buffer (open_memstream) */
    size_t out_len;
    int64_t answered, errors, popular, unknown; /* totals, for the last stderr line */
    int64_t unwritten; /* answers rendered in out, not yet written */
} Server;

/* Adds line (or an oversize line's error) to the batch. */
static void add_line(Server *s, LineStatus st, const char *line, size_t len) {
    if (st == LINE_OVERSIZE) {
        char msg[160];
        snprintf(msg, sizeof msg, "the line is longer than %lld bytes (sasrec serve --max-line) and was skipped",
                 (long long)s->c->serve.max_line);
        serve_batch_add_error(&s->batch, SERVE_ERR_OVERSIZE, msg);
        return;
    }
    serve_batch_add_text(&s->batch, line, len, (size_t)s->c->serve.max_line);
}

/* Collects the next batch: blocks for its first line (waking to look at the stop flag), then takes what is
 * buffered; when that is more than one line (a burst is arriving), waits at most --wait-us for the rest of it.
 * A lone request is never held. A batch closes at --batch requests, or before a line that would take its
 * lines past --max-line bytes (so that what it holds is bounded: serve_plan.h). Returns how many lines it holds; 0 at the end of input
 * or on a stop. */
static int next_batch(Server *s) {
    const char *line;
    size_t len, budget = (size_t)s->c->serve.max_line;
    LineStatus st;
    ServeBatch *b = &s->batch;
    serve_batch_clear(b);
    if (atomic_load(signals_stop_flag())) return 0; /* stopped: not even the lines already buffered */
    while ((st = serve_input_take(&s->in, &line, &len)) == LINE_NONE) {
        if (atomic_load(signals_stop_flag())) return 0;
        serve_input_fill(&s->in, 100000); /* 0.1 s: a stop is seen that soon */
    }
    if (st == LINE_EOF) return 0;
    add_line(s, st, line, len);
    double deadline = clock_seconds() + (double)s->c->serve.wait_us * 1e-6;
    while (b->n < b->cap) {
        st = serve_input_take(&s->in, &line, &len);
        if (st == LINE_OK && b->bytes + len > budget) {
            serve_input_untake(&s->in); /* the first of the next batch */
            break;
        }
        if (st == LINE_OK || st == LINE_OVERSIZE) {
            add_line(s, st, line, len);
            continue;
        }
        if (st == LINE_EOF || b->n == 1) break; /* a lone request is answered at once, never held for others */
        long left = (long)((deadline - clock_seconds()) * 1e6);
        if (left <= 0 || serve_input_fill(&s->in, left) == 0) break;
    }
    return b->n;
}

/* Writes the rendered answers to stdout; -1 and the reason at the first failed write. */
static int flush_out(Server *s, NnError *err) {
    fflush(s->out);
    size_t n = (size_t)ftello(s->out), done = 0;
    while (done < n) {
        ssize_t w = write(STDOUT_FILENO, s->out_buf + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EPIPE)
            return nn_fail(err, "the reader of the answers has gone (stdout: %s); stopping at once", strerror(errno));
        if (w < 0 && (errno == ENOSPC || errno == EDQUOT))
            return nn_fail_resource(err, "cannot write the answers (stdout: %s)", strerror(errno));
        if (w < 0) return nn_fail(err, "cannot write the answers (stdout: %s)", strerror(errno));
        done += (size_t)w;
    }
    fseeko(s->out, 0, SEEK_SET);
    s->answered += s->unwritten;
    s->unwritten = 0;
    return 0;
}

/* Ranks the batch's parsable requests in one pass, then writes every answer in order; -1 and the reason at
 * the first write that fails (nothing more is computed or written). */
static int answer_batch(Server *s, NnError *err) {
    ServeBatch *b = &s->batch;
    serve_batch_run(b, &s->rec);
    for (int i = 0; i < b->n; i++) {
        const ServeRequest *p = &b->req[i];
        ServeErrorKind kind = serve_batch_write(b, i, s->out);
        fputc('\n', s->out);
        s->unwritten++;
        s->errors += kind != SERVE_OK;
        s->popular += kind == SERVE_OK && !p->failed && b->ans[p->slot].from == REC_POPULAR;
        s->unknown += p->failed ? 0 : p->unknown;
        if (ftello(s->out) >= SERVE_INPUT_CHUNK && flush_out(s, err)) return -1;
    }
    return flush_out(s, err);
}

/* The model's scores for its most popular item (or item 1) alone: NaN or infinite ones refuse the model. */
static int check_finite(Server *s) {
    int32_t item = s->rec.pop_order ? s->rec.pop_order[0] : 1;
    RecRequest q = {.items = &item, .n_items = 1, .k = 1};
    int32_t top;
    real score;
    RecAnswer a = {.item = &top, .score = &score};
    recommend(&s->rec, &q, &a, 1);
    return a.from == REC_NOT_FINITE ? -1 : 0;
}

/* The stdin/stdout loop until the end of input, a stop or a failed write; its exit code. */
static int serve_lines(Server *s, const char *model_dir, double plan_mib) {
    NnError err;
    int code = 0;
    const RunConfig *c = s->c;
    fprintf(stderr, "sasrec serve: ready: %s, %lld items, k %lld (at most %lld), %d threads, passes of up to %d "
                    "requests, waiting up to %lld us; memory plan %.0f MiB at most\n",
            model_dir, (long long)s->batch.n_items, (long long)c->k, (long long)c->serve.max_k, c->threads,
            c->serve.batch, (long long)c->serve.wait_us, plan_mib);
    while (next_batch(s) > 0)
        if (answer_batch(s, &err)) {
            code = app_fail("serve", &err, APP_EXIT_DATA);
            break;
        }
    if (!code && atomic_load(signals_stop_flag())) code = signals_exit_code();
    fprintf(stderr, "sasrec serve: %s: %lld requests answered (%lld with an error, %lld by popularity), %lld "
                    "unknown items skipped\n",
            code == APP_EXIT_DATA || code == APP_EXIT_RESOURCES ? "stopped at a failed write"
            : code                                              ? signals_name()
                                                                : "end of input",
            (long long)s->answered, (long long)s->errors, (long long)s->popular, (long long)s->unknown);
    return code;
}

static HttpConfig http = {.max_conns = 256, .max_header = 8192, .max_body = 1 << 20, .read_timeout_ms = 10000};

/* serve's flags: config_serve_flags and those of --listen. */
static int serve_flags(RunConfig *c, Flag *f) {
    int n = config_serve_flags(c, f);
    f[n++] = F_STR("--listen", &http.listen, "HOST:PORT: answer over HTTP/1.1 there instead of stdin (section 7.3)");
    f[n++] = F_INT("--max-conns", &http.max_conns, 1, 65536, "--listen: open connections at most (beyond: 503)");
    f[n++] = F_INT("--max-header", &http.max_header, 256, 1 << 20, "--listen: bytes of a request's line and headers");
    f[n++] = F_INT("--max-body", &http.max_body, 16, 1 << 30, "--listen: bytes of a request body");
    f[n++] = F_INT("--read-timeout-ms", &http.read_timeout_ms, 1, 3600000,
                   "--listen: milliseconds a request in progress may take to arrive (408)");
    return n;
}

/* The HTTP service: its memory plan, then the loop of http_server.h. */
static int serve_http(RunConfig *c, LoadedModel *lm) {
    NnError err;
    ServePlan plan = serve_plan(&c->model, &lm->vocab, c->serve.batch, c->k, c->serve.max_k, http.max_body,
                                http_server_buffer_bytes(&http), http_server_answers_held(&http, c->serve.batch),
                                "--max-body");
    app_free_model(lm); /* the service loads the folder itself, so that it can load it again */
    if (serve_plan_check(&plan, &err)) {
        fprintf(stderr, "sasrec serve: %s\n", err.msg);
        return APP_EXIT_USAGE;
    }
    return http_server_run(c, &http);
}

int app_serve(int argc, char **argv) {
    RunConfig c = config_defaults();
    int rc = app_parse("serve", USAGE, argc, argv, &c, serve_flags);
    if (rc != APP_CONTINUE) return rc;
    NnError err;
    if (!c.model_dir) {
        fprintf(stderr, "sasrec serve: --model DIR is required\n");
        return APP_EXIT_USAGE;
    }
    if (c.k > c.serve.max_k) {
        fprintf(stderr, "sasrec serve: --k %lld is larger than --max-k %lld\n", (long long)c.k,
                (long long)c.serve.max_k);
        return APP_EXIT_USAGE;
    }
    if (app_check_model_dir("serve", c.model_dir, &err)) {
        fprintf(stderr, "sasrec %s\n", err.msg);
        return APP_EXIT_USAGE;
    }
    LoadedModel lm;
    if (app_load_model(&c, &lm, &err)) return app_fail("serve", &err, APP_EXIT_DATA);
    app_note_legacy("serve", &c, &lm);
    if (http.listen) return serve_http(&c, &lm);
    ServePlan plan = serve_plan(&c.model, &lm.vocab, c.serve.batch, c.k, c.serve.max_k, c.serve.max_line,
                                (double)c.serve.max_line + SERVE_INPUT_CHUNK + 2.0 * SERVE_INPUT_CHUNK, 1, "--max-line");
    if (serve_plan_check(&plan, &err)) {
        app_free_model(&lm);
        fprintf(stderr, "sasrec serve: %s\n", err.msg);
        return APP_EXIT_USAGE;
    }
    if (!lm.popular)
        fprintf(stderr, "sasrec serve: note: %s has no %s (written by an earlier sasrec): a request with no known "
                        "item gets an error answer instead of the most popular items; retrain to get it\n",
                c.model_dir, POPULARITY_FILE);
    Server s = {.c = &c};
    recommender_init(&s.rec, &lm.model, lm.popular, c.serve.batch);
    serve_input_init(&s.in, STDIN_FILENO, (size_t)c.serve.max_line);
    serve_batch_init(&s.batch, &lm.vocab, lm.vocab.n_items, &c, c.serve.batch);
    s.out = open_memstream(&s.out_buf, &s.out_len);
    if (!s.out) nn_abort("sasrec serve", "open_memstream: %s", strerror(errno));
    int code = 0;
    if (check_finite(&s)) {
        fprintf(stderr, "sasrec serve: the model in %s gives NaN or infinite scores; retrain it\n", c.model_dir);
        code = APP_EXIT_DATA;
    } else {
        code = serve_lines(&s, c.model_dir, plan.total / 1048576.0);
    }
    fclose(s.out);
    free(s.out_buf);
    serve_batch_free(&s.batch);
    serve_input_free(&s.in);
    recommender_free(&s.rec);
    app_free_model(&lm);
    return code;
}
