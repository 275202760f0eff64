#define _DEFAULT_SOURCE /* madvise's MADV_HUGEPAGE (Linux) */
#include "base/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int nn_fail(NnError *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->resource = 0;
    }
    return -1;
}

int nn_fail_os(NnError *err, int errnum, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < sizeof err->msg)
            snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %s", strerror(errnum));
        err->resource = errnum == ENOSPC || errnum == EDQUOT || errnum == EFBIG || errnum == ENOMEM;
    }
    return -1;
}

int nn_fail_resource(NnError *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->resource = 1;
    }
    return -1;
}

void nn_abort(const char *op, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "nn: %s: ", op);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

static void (*_Atomic out_of_memory)(size_t bytes);

void nn_set_out_of_memory(void (*handler)(size_t bytes)) { out_of_memory = handler; }

static void *check_alloc(void *p, size_t bytes) {
    if (p || !bytes) return p;
    void (*handler)(size_t) = out_of_memory;
    if (handler) handler(bytes);
    nn_abort("alloc", "out of memory allocating %zu bytes", bytes);
}

void *nn_malloc(size_t bytes) { return check_alloc(malloc(bytes ? bytes : 1), bytes); }

void *nn_calloc(size_t n, size_t size) { return check_alloc(calloc(n ? n : 1, size ? size : 1), n * size); }

void *nn_realloc(void *p, size_t bytes) { return check_alloc(realloc(p, bytes ? bytes : 1), bytes); }

/* Buffers from this size on (a large arena block, an item table and its Adam moments) ask Linux for
 * transparent huge pages: their first touch faults once per 2 MiB instead of once per 4 KiB (on a VM a fault
 * costs microseconds: a cold evaluation pass over 512 sequences of 200 items spent 85% of its time in page
 * faults), and random rows of a large table miss the TLB less. */
#define HUGE_BUFFER ((size_t)8 << 20)

static void *advise_huge(void *p, size_t size) {
#ifdef MADV_HUGEPAGE
    const uintptr_t page = 4096;
    uintptr_t begin = ((uintptr_t)p + page - 1) & ~(page - 1), end = ((uintptr_t)p + size) & ~(page - 1);
    if (p && size >= HUGE_BUFFER && end > begin) (void)madvise((void *)begin, end - begin, MADV_HUGEPAGE); /* a hint */
#else
    (void)size;
#endif
    return p;
}

void *nn_aligned_alloc(size_t bytes) {
    size_t rounded = (bytes + 63) / 64 * 64;
    return check_alloc(advise_huge(aligned_alloc(64, rounded ? rounded : 64), rounded), bytes);
}
