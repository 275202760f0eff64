/* libFuzzer harness: sasrec serve's request lines. The bytes go through the
 * line reader (serve_input.h, lines of at most 256 bytes, CR LF or LF) into
 * request batches (serve_batch.h) over a vocabulary of 8 items, as serve
 * reads them. Every line must give a request or an error answer with a
 * message; an accepted request's k is in [1, --max-k], its ids are known
 * items and there is at most one id per two bytes of its line (the bound the
 * memory plan counts on); every answer written (with a made-up ranking for
 * the accepted ones) must parse back as a JSON object. Any crash, sanitizer
 * report or abort is a bug. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/sasrec/cli/serve_input.h"
#include "models/sasrec/cli/serve_batch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LINE 256
#define CAP      8

static Dataset vocab;
static RunConfig config;

static void setup(void) {
    static const char text[] = "u1 a b c 1 2\nu2 \xc3\xa9 x y z 7\n";
    NnError err;
    if (dataset_load_buffer("vocab", text, sizeof text - 1, NULL, NULL, &vocab, &err)) abort();
    config = config_defaults();
    config.serve.max_k = 5;
    config.k = 3;
}

/* Checks the batch's requests, writes every answer and parses it back. */
static void check(ServeBatch *b) {
    for (int i = 0; i < b->n; i++) {
        ServeRequest *p = &b->req[i];
        if (p->failed) {
            if (!p->err.msg[0] || p->failed >= SERVE_ERR_KINDS) abort();
            continue;
        }
        if (p->k < 1 || p->k > config.serve.max_k) abort();
        for (int64_t j = 0; j < p->n_items + p->n_exclude; j++) {
            int32_t id = b->pool[(j < p->n_items ? p->items_at : p->exclude_at - p->n_items) + j];
            if (id < 1 || id > vocab.n_items) abort();
        }
        p->slot = i; /* a made-up ranking: the first items */
        RecAnswer *a = &b->ans[i];
        *a = (RecAnswer){.item = b->top + i * b->kmax, .score = b->score + i * b->kmax, .from = REC_MODEL};
        for (a->count = 0; a->count < p->k && a->count < b->kmax; a->count++) {
            a->item[a->count] = (int32_t)(1 + a->count);
            a->score[a->count] = (real)a->count;
        }
    }
    for (int i = 0; i < b->n; i++) {
        char *mem = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&mem, &len);
        serve_batch_write(b, i, f);
        fclose(f);
        NnError err;
        JsonDoc *d = json_parse(mem, len, NULL, &err);
        if (!d || json_type(json_root(d)) != JSON_OBJECT) abort();
        json_free(d);
        free(mem);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!vocab.n_items) setup();
    if (size > 60000) return 0; /* one pipe buffer */
    int fd[2];
    if (pipe(fd)) abort();
    if (size && write(fd[1], data, size) != (ssize_t)size) abort();
    close(fd[1]);
    ServeInput in;
    serve_input_init(&in, fd[0], MAX_LINE);
    ServeBatch b;
    serve_batch_init(&b, &vocab, vocab.n_items, &config, CAP);
    for (;;) {
        const char *line;
        size_t len;
        LineStatus st = serve_input_take(&in, &line, &len);
        if (st == LINE_NONE) {
            serve_input_fill(&in, -1);
            continue;
        }
        if (st == LINE_EOF) break;
        int64_t pool_n = b.pool_n;
        if (st == LINE_OVERSIZE)
            serve_batch_add_error(&b, SERVE_ERR_OVERSIZE, "oversize");
        else {
            if (len > MAX_LINE) abort();
            serve_batch_add_text(&b, line, len, MAX_LINE);
            if (2 * (b.pool_n - pool_n) > (int64_t)len + 1) abort(); /* one id per two bytes at most */
        }
        if (b.n == CAP || b.bytes >= MAX_LINE) {
            check(&b);
            serve_batch_clear(&b);
        }
    }
    check(&b);
    serve_batch_free(&b);
    serve_input_free(&in);
    close(fd[0]);
    return 0;
}
