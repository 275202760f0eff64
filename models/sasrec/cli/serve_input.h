/* The request lines of sasrec serve, read from a file descriptor with a
 * bounded line length and a bounded wait.
 *
 * Bytes are buffered (at most max_line + SERVE_INPUT_CHUNK of them), so a
 * line longer than max_line never grows memory: its bytes are dropped as they
 * arrive, and once its end is seen the reader reports it as LINE_OVERSIZE, in
 * its place among the lines. A line ends at LF (a CR before it is dropped) or
 * at the end of input; max_line bounds the line without its CR LF, however
 * its bytes arrive. Nothing is read except in serve_input_fill, so a
 * caller can first take every line already buffered, then wait for more. */
#ifndef NN_MODELS_SASREC_CLI_SERVE_INPUT_H
#define NN_MODELS_SASREC_CLI_SERVE_INPUT_H

#include <stddef.h>

#define SERVE_INPUT_CHUNK 65536 /* bytes asked of read() at once */

typedef enum {
    LINE_OK,       /* a line of at most max_line bytes */
    LINE_OVERSIZE, /* a line longer than max_line, skipped to its end */
    LINE_NONE,     /* no complete line is buffered: fill, then take again */
    LINE_EOF,      /* the input has ended and every line was taken */
} LineStatus;

typedef struct {
    int fd;
    size_t max_line;
    char *buf;          /* (max_line + SERVE_INPUT_CHUNK) */
    size_t start, end;  /* the buffered bytes are buf[start, end) */
    size_t last;        /* start before the last take */
    int eof;            /* read() returned 0 or failed */
    int skipping;       /* inside an oversize line: its bytes are dropped until its end */
} ServeInput;

/* A reader of fd (not owned) for lines of at most max_line bytes (>= 1). */
void serve_input_init(ServeInput *in, int fd, size_t max_line);
/* Frees the buffer. */
void serve_input_free(ServeInput *in);
/* The next buffered line: LINE_OK with *line (not NUL-terminated, valid until the next fill) and *len, or
 * another status. Reads nothing. */
LineStatus serve_input_take(ServeInput *in, const char **line, size_t *len);
/* Puts back the line the last take returned (LINE_OK, and no fill since): the next take returns it again. */
void serve_input_untake(ServeInput *in);
/* Waits at most timeout_us microseconds (< 0: without limit) for input, then reads what is there (one read).
 * Returns 1 if bytes arrived or the input ended, 0 if the wait ran out or a signal interrupted it. */
int serve_input_fill(ServeInput *in, long timeout_us);

#endif
