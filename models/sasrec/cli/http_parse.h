/* One HTTP/1.x request from the bytes a connection has sent so far, for
 * sasrec serve --listen (docs/sasrec.md, section 7.3): the request line, the
 * headers that matter here (Content-Length, Connection, Transfer-Encoding,
 * Expect) and where the body is. Nothing is allocated; the parser looks at
 * the bytes again from the start each time more arrive (the head is at most
 * max_header bytes, so this stays cheap).
 *
 * What is refused, with the status to answer: a head longer than max_header
 * (431), a body longer than max_body (413), a malformed request line, header
 * or Content-Length (400), a version other than HTTP/1.0 or 1.1 (505), a
 * chunked body (501: send Content-Length), a POST without Content-Length
 * (411). */
#ifndef NN_MODELS_SASREC_CLI_HTTP_PARSE_H
#define NN_MODELS_SASREC_CLI_HTTP_PARSE_H

#include <stddef.h>

typedef enum {
    HTTP_NEED_MORE, /* the request is not complete yet */
    HTTP_DONE,      /* a whole request: head and body */
    HTTP_BAD,       /* refused: answer status with msg, then close the connection */
} HttpParseStatus;

typedef struct {
    char method[8];       /* "GET", "POST", ... (other methods are the caller's 405) */
    char target[256];     /* the path and query as sent */
    int minor;            /* HTTP/1.minor */
    size_t head_len;      /* bytes of the request line and headers, the blank line included */
    size_t body_len;      /* Content-Length (0 without one) */
    int keep_alive;       /* 1: the connection stays open after the answer */
    int expect_continue;  /* Expect: 100-continue was sent */
    int status;           /* HTTP_BAD: the status to answer (4xx, 5xx) */
    char msg[200];        /* HTTP_BAD: why, for the JSON error */
} HttpRequest;

/* Parses the request at the start of buf[0..n) into r. HTTP_DONE when head and body (head_len + body_len
 * bytes) are all there; HTTP_NEED_MORE when they are not yet (r->head_len set once the head is complete);
 * HTTP_BAD with r->status and r->msg when the request is refused. */
HttpParseStatus http_parse(const char *buf, size_t n, size_t max_header, size_t max_body, HttpRequest *r);

#endif
