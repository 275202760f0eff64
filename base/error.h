/* Errors.
 *
 * Two kinds, handled differently:
 *  - Misuse of the library API by a programmer (mismatched shapes, an axis out
 *    of range, backward through a released graph) prints the op and what was
 *    wrong, then aborts, as an assertion does. Asserts stay on in every build.
 *  - Everything the user of a program can cause (a bad file, a bad flag, a
 *    broken checkpoint) is returned: the function returns -1 (or NULL) and
 *    writes a message into an NnError, which the caller prints. */
#ifndef NN_BASE_ERROR_H
#define NN_BASE_ERROR_H

#include <stddef.h>

typedef struct NnError {
    char msg[1024]; /* what was wrong, where, and what was expected */
    int resource;   /* 1: the cause was a lack of memory or disk space, not the input (a program may exit differently) */
} NnError;

/* Formats a message into err (which may be NULL), clears err->resource and returns -1. */
int nn_fail(NnError *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* nn_fail with ": <strerror(errnum)>" appended; err->resource is set when errnum
 * is a lack of space or memory (ENOSPC, EDQUOT, EFBIG, ENOMEM). */
int nn_fail_os(NnError *err, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* nn_fail for a refusal for lack of memory or disk space: sets err->resource. */
int nn_fail_resource(NnError *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "nn: <op>: <message>" to stderr and aborts: the API was misused. */
_Noreturn void nn_abort(const char *op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Aborts with the op name and the formatted message unless cond holds. */
#define NN_CHECK(cond, op, ...)                                                                                        \
    do {                                                                                                               \
        if (!(cond)) nn_abort(op, __VA_ARGS__);                                                                        \
    } while (0)

#endif
