#include "models/sasrec/cli/serve_input.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include "base/error.h"
#include "base/memory.h"

void serve_input_init(ServeInput *in, int fd, size_t max_line) {
    NN_CHECK(max_line >= 1, "serve_input_init", "max_line %zu must be >= 1", max_line);
    *in = (ServeInput){.fd = fd, .max_line = max_line, .buf = nn_malloc(max_line + SERVE_INPUT_CHUNK)};
}

void serve_input_free(ServeInput *in) {
    free(in->buf);
    in->buf = NULL;
}

LineStatus serve_input_take(ServeInput *in, const char **line, size_t *len) {
    in->last = in->start;
    for (;;) {
        size_t n = in->end - in->start;
        char *p = in->buf + in->start, *nl = memchr(p, '\n', n);
        if (!nl && !(in->eof && n > 0)) {
            /* a line of max_line bytes may still have its CR buffered: the limit is on the line without CR LF,
             * whichever way its bytes arrive */
            int cr = n == in->max_line + 1 && p[n - 1] == '\r';
            if (!in->skipping && (n <= in->max_line || cr)) return in->eof ? LINE_EOF : LINE_NONE;
            in->skipping = 1; /* longer than any line we take: drop what we have, keep looking for its end */
            in->start = in->end = 0;
            if (!in->eof) return LINE_NONE;
            in->skipping = 0;
            return LINE_OVERSIZE;
        }
        size_t l = nl ? (size_t)(nl - p) : n; /* a last line without its LF at the end of input */
        in->start += nl ? l + 1 : l;
        if (in->skipping) {
            in->skipping = 0;
            return LINE_OVERSIZE;
        }
        if (l > 0 && p[l - 1] == '\r') l--;
        if (l > in->max_line) return LINE_OVERSIZE;
        *line = p;
        *len = l;
        return LINE_OK;
    }
}

void serve_input_untake(ServeInput *in) { in->start = in->last; }

int serve_input_fill(ServeInput *in, long timeout_us) {
    if (in->eof) return 1;
    if (in->start > 0) { /* keep the buffered bytes at the front */
        memmove(in->buf, in->buf + in->start, in->end - in->start);
        in->end -= in->start;
        in->start = 0;
    }
    fd_set ready; /* select, not poll: its timeout has microseconds */
    FD_ZERO(&ready);
    FD_SET(in->fd, &ready);
    struct timeval tv = {.tv_sec = timeout_us / 1000000, .tv_usec = timeout_us % 1000000};
    int r = select(in->fd + 1, &ready, NULL, NULL, timeout_us < 0 ? NULL : &tv);
    if (r == 0 || (r < 0 && errno == EINTR)) return 0;
    size_t room = in->max_line + SERVE_INPUT_CHUNK - in->end;
    ssize_t got = read(in->fd, in->buf + in->end, room);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
    if (got <= 0) {
        in->eof = 1;
        return 1;
    }
    in->end += (size_t)got;
    return 1;
}
