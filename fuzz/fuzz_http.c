/* libFuzzer harness: the HTTP request parser of sasrec serve --listen
 * (http_parse.h) on arbitrary bytes, fed as a connection would: the whole
 * input, then every prefix the bytes could have arrived in. A request is
 * complete, incomplete or refused with a 4xx/5xx status and a message; a
 * complete one never claims more bytes than there are, a head within
 * max_header and a body within max_body; the answer for a prefix never
 * contradicts the answer for the whole (a complete prefix is the same
 * request). Any crash, sanitizer report or abort is a bug. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "models/sasrec/cli/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HEADER 512
#define MAX_BODY   1024

static void check(const HttpRequest *r, HttpParseStatus st, size_t n) {
    if (st == HTTP_BAD) {
        if (r->status < 400 || r->status > 599 || !r->msg[0]) abort();
        return;
    }
    if (st == HTTP_DONE) {
        if (r->head_len + r->body_len > n || r->head_len > MAX_HEADER || r->body_len > MAX_BODY) abort();
        if (!r->method[0] || r->target[0] != '/' || r->minor < 0 || r->minor > 1) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *buf = (const char *)data;
    HttpRequest whole, part;
    HttpParseStatus st = http_parse(buf, size, MAX_HEADER, MAX_BODY, &whole);
    check(&whole, st, size);
    for (size_t n = 0; n < size; n++) {
        HttpParseStatus sp = http_parse(buf, n, MAX_HEADER, MAX_BODY, &part);
        check(&part, sp, n);
        /* a request complete in a prefix is the same request in the whole */
        if (sp == HTTP_DONE && (st != HTTP_DONE || part.head_len != whole.head_len ||
                                part.body_len != whole.body_len || strcmp(part.target, whole.target) != 0))
            abort();
    }
    return 0;
}
