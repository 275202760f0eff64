/* Memory: allocation that never returns NULL, the huge-page advice for large
 * buffers, this process's peak resident memory, and how much it may still
 * allocate (so that a run can refuse up front, with its estimate, instead of
 * aborting half way). */
#ifndef NN_BASE_MEMORY_H
#define NN_BASE_MEMORY_H

#include <stddef.h>
#include <stdint.h>

/* malloc/calloc/realloc that abort with a message when memory runs out (or call the handler below). */
void *nn_malloc(size_t bytes);
void *nn_calloc(size_t n, size_t size);
void *nn_realloc(void *p, size_t bytes);
/* 64-byte aligned allocation, released with free(); from 8 MiB on advised as transparent huge pages (Linux). */
void *nn_aligned_alloc(size_t bytes);
/* Makes the four allocators above call handler(bytes) instead of aborting when memory runs out: a program
 * that must clean up and end with its own exit code. handler must not return (it may run on any thread);
 * NULL restores the abort. Process-wide, like the thread count. */
void nn_set_out_of_memory(void (*handler)(size_t bytes));

/* Peak resident memory in MiB (VmHWM of /proc/self/status), or -1 where that is not available. */
double memory_peak_rss_mib(void);

/* The environment variable that overrides the figure, in MiB (tests, or a
 * budget smaller than the machine's). */
#define MEMORY_LIMIT_ENV "NN_MEMORY_LIMIT_MIB"

/* Bytes available: $NN_MEMORY_LIMIT_MIB when set, else MemAvailable of
 * /proc/meminfo, lowered to what a cgroup memory limit leaves (v2
 * memory.max - memory.current, or v1 limit_in_bytes - usage_in_bytes); -1
 * when none of these is known. what (size bytes) names the source. */
int64_t memory_available(char *what, size_t size);

#endif
