#include "io/tempfiles.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/memory.h"

typedef struct {
    char *path;      /* NULL: a free slot */
    char **contents; /* NULL-ended, or NULL for a file */
} Entry;

static pthread_mutex_t mutex;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static Entry *entries;
static int n_entries, cap_entries;

/* Recursive, so that a locked step (a swap) can forget the entries it settles. */
static void init_mutex(void) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&mutex, &a);
    pthread_mutexattr_destroy(&a);
}

static void lock(void) {
    pthread_once(&once, init_mutex);
    pthread_mutex_lock(&mutex);
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(nn_malloc(n), s, n);
}

static void release(Entry *e) {
    for (char **c = e->contents; c && *c; c++) free(*c);
    free(e->contents);
    free(e->path);
    e->path = NULL;
    e->contents = NULL;
}

int tempfiles_add(const char *path, const char *const *contents) {
    char **copy = NULL;
    if (contents) {
        int n = 0;
        while (contents[n]) n++;
        copy = nn_calloc((size_t)n + 1, sizeof *copy);
        for (int i = 0; i < n; i++) copy[i] = dup_str(contents[i]);
    }
    char *p = dup_str(path);
    lock();
    int id = 0;
    while (id < n_entries && entries[id].path) id++;
    if (id == n_entries) {
        if (n_entries == cap_entries) {
            cap_entries = cap_entries ? 2 * cap_entries : 8;
            entries = nn_realloc(entries, (size_t)cap_entries * sizeof *entries);
        }
        n_entries++;
    }
    entries[id] = (Entry){p, copy};
    pthread_mutex_unlock(&mutex);
    return id;
}

void tempfiles_forget(int id) {
    if (id < 0) return;
    lock();
    if (id < n_entries) release(&entries[id]);
    pthread_mutex_unlock(&mutex);
}

int tempfiles_remove_all(void) {
    int removed = 0;
    lock();
    /* files first, newest first: a folder's files go before the folder */
    for (int pass = 0; pass < 2; pass++)
        for (int i = n_entries - 1; i >= 0; i--) {
            Entry *e = &entries[i];
            if (!e->path || (pass == 0) != (e->contents == NULL)) continue;
            if (e->contents) {
                char sub[4096];
                for (char **c = e->contents; *c; c++)
                    if (snprintf(sub, sizeof sub, "%s/%s", e->path, *c) < (int)sizeof sub) unlink(sub);
                removed += rmdir(e->path) == 0;
            } else {
                removed += unlink(e->path) == 0;
            }
            release(e);
        }
    pthread_mutex_unlock(&mutex);
    return removed;
}

void tempfiles_lock(void) { lock(); }

void tempfiles_unlock(void) { pthread_mutex_unlock(&mutex); }
