#define _DEFAULT_SOURCE /* madvise's MADV_DONTNEED (Linux) */
#include "base/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/error.h"

/* Under AddressSanitizer (make sanitize), memory the arena has not handed out
 * since the last reset is poisoned: a tensor, node or layout used after
 * graph_reset released it is reported as a use-after-poison, and so is a read
 * past the end of an allocation into the arena's free space. */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN 1
#endif
#endif
#ifdef ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n)   ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

typedef struct Block {
    struct Block *prev; /* the block filled before this one */
    size_t size;        /* usable bytes after the header */
    size_t used;
    unsigned char *mem; /* 64-byte aligned */
} Block;

struct Arena {
    Block *top;        /* the block being filled */
    size_t used;       /* bytes handed out since reset, all blocks */
    size_t high_water; /* max of used */
    size_t reserved;   /* sum of block sizes */
};

static Block *block_new(size_t size) {
    Block *b = nn_malloc(sizeof *b);
    b->mem = nn_aligned_alloc(size);
    b->size = size;
    b->used = 0;
    b->prev = NULL;
    POISON(b->mem, size);
    return b;
}

static void block_free_chain(Block *b) {
    while (b) {
        Block *prev = b->prev;
        UNPOISON(b->mem, b->size);
        free(b->mem);
        free(b);
        b = prev;
    }
}

/* The part of a block the arena leaves for a new one is never handed out again before the reset that frees
 * the chain, but a block kept from earlier steps may have it resident: given back (a hint; Linux), so that a
 * step larger than the last ones holds its own bytes, not the old block's whole size besides. */
static void release_tail(Block *b) {
#ifdef MADV_DONTNEED
    const uintptr_t page = 4096;
    uintptr_t begin = ((uintptr_t)(b->mem + b->used) + page - 1) & ~(page - 1);
    uintptr_t end = ((uintptr_t)(b->mem + b->size)) & ~(page - 1);
    if (end > begin && end - begin >= ((uintptr_t)1 << 20)) (void)madvise((void *)begin, end - begin, MADV_DONTNEED);
#else
    (void)b;
#endif
}

Arena *arena_new(size_t initial_bytes) {
    Arena *a = nn_calloc(1, sizeof *a);
    size_t size = initial_bytes < 4096 ? 4096 : initial_bytes;
    a->top = block_new(size);
    a->reserved = size;
    return a;
}

void *arena_alloc(Arena *a, size_t bytes) {
    size_t need = (bytes + 63) & ~(size_t)63;
    if (need == 0) need = 64;
    Block *b = a->top;
    if (b->used + need > b->size) {
        release_tail(b);
        size_t size = b->size * 2;
        if (size < need) size = need;
        Block *nb = block_new(size);
        nb->prev = b;
        a->top = nb;
        a->reserved += size;
        b = nb;
    }
    void *p = b->mem + b->used;
    UNPOISON(p, bytes);
    b->used += need;
    a->used += need;
    if (a->used > a->high_water) a->high_water = a->used;
    return p;
}

void *arena_calloc(Arena *a, size_t bytes) {
    void *p = arena_alloc(a, bytes);
    memset(p, 0, bytes);
    return p;
}

void arena_reset(Arena *a) {
    if (a->top->prev) {
        /* Several blocks: replace them by one that holds the whole step. */
        block_free_chain(a->top);
        a->top = block_new(a->high_water);
        a->reserved = a->high_water;
    }
    a->top->used = 0;
    a->used = 0;
    POISON(a->top->mem, a->top->size);
}

#ifdef ARENA_ASAN
int arena_poisons(void) { return 1; }
#else
int arena_poisons(void) { return 0; }
#endif

size_t arena_used(const Arena *a) { return a->used; }

size_t arena_high_water(const Arena *a) { return a->high_water; }

size_t arena_reserved(const Arena *a) { return a->reserved; }

void arena_free(Arena *a) {
    if (!a) return;
    block_free_chain(a->top);
    free(a);
}
