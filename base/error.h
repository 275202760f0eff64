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
} NnError;

/* Formats a message into err (which may be NULL) and returns -1. */
int nn_fail(NnError *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "nn: <op>: <message>" to stderr and aborts: the API was misused. */
_Noreturn void nn_abort(const char *op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Aborts with the op name and the formatted message unless cond holds. */
#define NN_CHECK(cond, op, ...)                                                                                        \
    do {                                                                                                               \
        if (!(cond)) nn_abort(op, __VA_ARGS__);                                                                        \
    } while (0)

/* malloc/calloc/realloc that abort with a message when memory runs out. */
void *nn_malloc(size_t bytes);
void *nn_calloc(size_t n, size_t size);
void *nn_realloc(void *p, size_t bytes);
/* 64-byte aligned allocation, released with free(). */
void *nn_aligned_alloc(size_t bytes);

#endif
