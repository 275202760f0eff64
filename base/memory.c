#define _DEFAULT_SOURCE /* madvise's MADV_HUGEPAGE (Linux) */
#include "base/memory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/error.h"

/* ---- allocation ---- */


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

/* ---- peak and available memory ---- */

double memory_peak_rss_mib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    double kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kb = atof(line + 6);
    fclose(f);
    return kb < 0 ? -1 : kb / 1024;
}

/* The first number of a one-number file (cgroup files); -1 when missing or not a number ("max"). */
static int64_t read_number(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[64];
    int64_t v = -1;
    if (fgets(line, sizeof line, f)) {
        char *end;
        long long x = strtoll(line, &end, 10);
        if (end != line && x >= 0) v = (int64_t)x;
    }
    fclose(f);
    return v;
}

/* MemAvailable of /proc/meminfo in bytes, or -1. */
static int64_t mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return -1;
    char line[256];
    int64_t v = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "MemAvailable:", 13) == 0) v = (int64_t)atoll(line + 13) * 1024;
    fclose(f);
    return v;
}

/* What the cgroup's limit leaves (limit - usage), or -1 without a limit. */
static int64_t cgroup_left(void) {
    static const char *files[][2] = {{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"},
                                     {"/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                      "/sys/fs/cgroup/memory/memory.usage_in_bytes"}};
    for (int i = 0; i < 2; i++) {
        int64_t limit = read_number(files[i][0]), used = read_number(files[i][1]);
        if (limit < 0 || limit >= ((int64_t)1 << 60)) continue; /* "max", or v1's "no limit" */
        return limit > used ? limit - (used > 0 ? used : 0) : 0;
    }
    return -1;
}

int64_t memory_available(char *what, size_t size) {
    const char *env = getenv(MEMORY_LIMIT_ENV);
    if (env && *env) {
        char *end;
        double mib = strtod(env, &end);
        if (end != env && mib >= 0) {
            snprintf(what, size, "%s=%s", MEMORY_LIMIT_ENV, env);
            return (int64_t)(mib * 1048576.0);
        }
    }
    int64_t avail = mem_available(), left = cgroup_left();
    if (left >= 0 && (avail < 0 || left < avail)) {
        snprintf(what, size, "the cgroup memory limit");
        return left;
    }
    snprintf(what, size, avail >= 0 ? "MemAvailable in /proc/meminfo" : "unknown");
    return avail;
}
