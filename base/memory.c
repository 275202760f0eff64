#include "base/memory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
