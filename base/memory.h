/* How much memory this process may still allocate, so that a run can refuse
 * up front (with its estimate) instead of aborting half way. */
#ifndef NN_BASE_MEMORY_H
#define NN_BASE_MEMORY_H

#include <stddef.h>
#include <stdint.h>

/* The environment variable that overrides the figure, in MiB (tests, or a
 * budget smaller than the machine's). */
#define MEMORY_LIMIT_ENV "NN_MEMORY_LIMIT_MIB"

/* Bytes available: $NN_MEMORY_LIMIT_MIB when set, else MemAvailable of
 * /proc/meminfo, lowered to what a cgroup memory limit leaves (v2
 * memory.max - memory.current, or v1 limit_in_bytes - usage_in_bytes); -1
 * when none of these is known. what (size bytes) names the source. */
int64_t memory_available(char *what, size_t size);

#endif
