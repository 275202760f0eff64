#include "models/sasrec/cli/http_parse.h"

#include <stdio.h>
#include <string.h>

static HttpParseStatus bad(HttpRequest *r, int status, const char *msg) {
    r->status = status;
    snprintf(r->msg, sizeof r->msg, "%s", msg);
    return HTTP_BAD;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* Whether line[0..n) starts with header name (case-insensitive) and a colon; *value is what follows, trimmed. */
static int header_is(const char *line, size_t n, const char *name, const char **value, size_t *vlen) {
    size_t k = strlen(name);
    if (n <= k || line[k] != ':') return 0;
    for (size_t i = 0; i < k; i++)
        if (lower((unsigned char)line[i]) != name[i]) return 0;
    size_t a = k + 1, b = n;
    while (a < b && (line[a] == ' ' || line[a] == '\t')) a++;
    while (b > a && (line[b - 1] == ' ' || line[b - 1] == '\t')) b--;
    *value = line + a;
    *vlen = b - a;
    return 1;
}

/* Whether the comma-separated value[0..n) holds token (case-insensitive). */
static int has_token(const char *value, size_t n, const char *token) {
    size_t k = strlen(token);
    for (size_t i = 0; i < n;) {
        while (i < n && (value[i] == ' ' || value[i] == ',')) i++;
        size_t j = i;
        while (j < n && value[j] != ',' && value[j] != ' ') j++;
        if (j - i == k) {
            size_t m = 0;
            while (m < k && lower((unsigned char)value[i + m]) == token[m]) m++;
            if (m == k) return 1;
        }
        i = j;
    }
    return 0;
}

/* The request line "METHOD SP TARGET SP HTTP/1.x" of line[0..n). */
static HttpParseStatus request_line(const char *line, size_t n, HttpRequest *r) {
    const char *sp1 = memchr(line, ' ', n);
    if (!sp1 || sp1 == line || (size_t)(sp1 - line) >= sizeof r->method)
        return bad(r, 400, "a malformed request line; expected METHOD /path HTTP/1.1");
    for (const char *p = line; p < sp1; p++)
        if (*p < 'A' || *p > 'Z') return bad(r, 400, "a malformed method; expected GET or POST");
    const char *rest = sp1 + 1, *end = line + n, *sp2 = memchr(rest, ' ', (size_t)(end - rest));
    if (!sp2 || sp2 == rest || rest[0] != '/') return bad(r, 400, "a malformed request target; expected /path");
    if ((size_t)(sp2 - rest) >= sizeof r->target) return bad(r, 414, "the request target is longer than 255 bytes");
    for (const char *p = rest; p < sp2; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) return bad(r, 400, "a control character in the request target");
    const char *v = sp2 + 1;
    if (end - v != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' || v[7] < '0' ||
        v[7] > '9')
        return bad(r, 400, "a malformed HTTP version; expected HTTP/1.1");
    if (v[5] != '1' || v[7] > '1') return bad(r, 505, "only HTTP/1.0 and HTTP/1.1 are served");
    memcpy(r->method, line, (size_t)(sp1 - line));
    r->method[sp1 - line] = '\0';
    memcpy(r->target, rest, (size_t)(sp2 - rest));
    r->target[sp2 - rest] = '\0';
    r->minor = v[7] - '0';
    return HTTP_DONE;
}

/* A Content-Length value: digits only, at most max_body; -1 on anything else, -2 when too large. */
static long long content_length(const char *v, size_t n, size_t max_body) {
    if (n == 0 || n > 18) return n > 18 ? -2 : -1;
    long long x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return -1;
        x = 10 * x + (v[i] - '0');
    }
    return (unsigned long long)x > max_body ? -2 : x;
}

HttpParseStatus http_parse(const char *buf, size_t n, size_t max_header, size_t max_body, HttpRequest *r) {
    memset(r, 0, sizeof *r);
    size_t pos = 0, lines = 0;
    long long length = -1;
    int close = 0, keep = 0;
    for (;;) {
        const char *nl = memchr(buf + pos, '\n', n - pos);
        if (!nl) return n - pos > max_header || n > max_header ? bad(r, 431, "the request head is too large") : HTTP_NEED_MORE;
        size_t end = (size_t)(nl - buf), len = end - pos;
        if (end + 1 > max_header) return bad(r, 431, "the request head is too large");
        if (len > 0 && buf[end - 1] == '\r') len--;
        const char *line = buf + pos;
        pos = end + 1;
        if (lines++ == 0) {
            if (len == 0) return bad(r, 400, "an empty request line");
            if (request_line(line, len, r) == HTTP_BAD) return HTTP_BAD;
            continue;
        }
        if (len == 0) break; /* the blank line: the head is complete */
        if (line[0] == ' ' || line[0] == '\t') return bad(r, 400, "a folded header line");
        const char *colon = memchr(line, ':', len), *v;
        size_t vl;
        if (!colon || colon == line) return bad(r, 400, "a malformed header line; expected Name: value");
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)line[i] < ' ' && line[i] != '\t') return bad(r, 400, "a control character in a header");
        if (header_is(line, len, "content-length", &v, &vl)) {
            long long x = content_length(v, vl, max_body);
            if (x == -1 || (length >= 0 && x != length)) return bad(r, 400, "a malformed or repeated Content-Length");
            if (x == -2) return bad(r, 413, "the body is larger than --max-body");
            length = x;
        } else if (header_is(line, len, "transfer-encoding", &v, &vl)) {
            return bad(r, 501, "chunked or encoded bodies are not served; send the body with a Content-Length");
        } else if (header_is(line, len, "connection", &v, &vl)) {
            close |= has_token(v, vl, "close");
            keep |= has_token(v, vl, "keep-alive");
        } else if (header_is(line, len, "expect", &v, &vl)) {
            if (!has_token(v, vl, "100-continue")) return bad(r, 417, "only Expect: 100-continue is understood");
            r->expect_continue = 1;
        }
    }
    r->head_len = pos;
    if (length < 0 && strcmp(r->method, "POST") == 0)
        return bad(r, 411, "a POST needs a Content-Length header");
    r->body_len = length > 0 ? (size_t)length : 0;
    r->keep_alive = r->minor == 1 ? !close : keep && !close;
    return n - pos >= r->body_len ? HTTP_DONE : HTTP_NEED_MORE;
}
