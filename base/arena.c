#define _DEFAULT_SOURCE /* madvise's MADV_DONTNEED (Linux) */
#include "base/arena.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/error.h"
#include "base/memory.h"

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
    uint64_t gen;      /* this arena's generation: changes at every reset, unique among all arenas */
    uint64_t outer[ARENA_MAX_SCOPES]; /* the generations of the open scopes around the current one, oldest first */
    int depth;         /* open scopes (arena_mark): entries of outer */
    uint64_t resets;   /* resets so far: the start of the first block rotates by 64 bytes over three resets */
    Arena *next_live;  /* the list of live arenas (arena_generation_live) */
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

/* Every arena alive, so that a generation can be looked up without knowing its arena (a tensor
 * read through the public accessors): the one lock of the library outside base/parallel.c. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static Arena *live_head;
static uint64_t gen_counter; /* generations handed out so far (under live_lock) */

/* The next generation: never 0, and spread over 64 bits (odd multiplier), so that stale memory
 * read as a generation (a float pair, a size, a pointer) almost never equals a live one. */
static uint64_t next_gen(void) { return ++gen_counter * 0x9E3779B97F4A7C15ull; }

Arena *arena_new(size_t initial_bytes) {
    Arena *a = nn_calloc(1, sizeof *a);
    size_t size = initial_bytes < 4096 ? 4096 : initial_bytes;
    a->top = block_new(size);
    a->reserved = size;
    pthread_mutex_lock(&live_lock);
    a->gen = next_gen();
    a->next_live = live_head;
    live_head = a;
    pthread_mutex_unlock(&live_lock);
    return a;
}

uint64_t arena_generation(const Arena *a) { return a->gen; }

/* The last generation this thread found live, valid while no arena was reset or freed since. */
static _Atomic uint64_t releases; /* resets and frees of any arena so far */
static _Thread_local uint64_t cached_gen, cached_releases;

int arena_generation_valid(const Arena *a, uint64_t gen) {
    if (gen == a->gen) return 1;
    for (int i = 0; i < a->depth; i++)
        if (a->outer[i] == gen) return 1;
    return 0;
}

int arena_generation_live(uint64_t gen) {
    uint64_t r = atomic_load(&releases);
    if (gen == cached_gen && r == cached_releases) return 1;
    pthread_mutex_lock(&live_lock);
    const Arena *a = live_head;
    while (a && !arena_generation_valid(a, gen)) a = a->next_live;
    pthread_mutex_unlock(&live_lock);
    if (a) cached_gen = gen, cached_releases = r;
    return a != NULL;
}

void *arena_alloc(Arena *a, size_t bytes) {
    NN_CHECK(bytes <= PTRDIFF_MAX, "arena_alloc", "%zu bytes asked: more than any allocation can hold", bytes);
    size_t need = (bytes + 63) & ~(size_t)63;
    if (need == 0) need = 64;
    Block *b = a->top;
    if (b->used + need > b->size) {
        release_tail(b);
        size_t size = b->size <= PTRDIFF_MAX / 2 ? b->size * 2 : b->size;
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
        a->top = block_new(a->high_water + 128); /* + the most a reset skips, below */
        a->reserved = a->high_water + 128;
    }
    POISON(a->top->mem, a->top->size);
    /* The step that follows often repeats this one's allocations; starting it 64 or 128 bytes
     * further on makes every tensor header it makes (192 bytes) overlap no header at the
     * same address before, so a pointer kept across the reset finds no live header there. */
    size_t skip = (size_t)(++a->resets % 3) * 64;
    if (skip > a->top->size / 2) skip = 0;
    a->top->used = skip;
    a->used = 0; /* bytes handed out: the skip is not counted */
    pthread_mutex_lock(&live_lock);
    a->depth = 0; /* every scope closes */
    a->gen = next_gen();
    atomic_fetch_add(&releases, 1);
    pthread_mutex_unlock(&live_lock);
}

ArenaMark arena_mark(Arena *a) {
    NN_CHECK(a->depth < ARENA_MAX_SCOPES, "arena_mark", "%d scopes are open already, the most there can be: "
             "release one (arena_release_to, graph_release) before opening another", a->depth);
    pthread_mutex_lock(&live_lock);
    a->outer[a->depth++] = a->gen;
    a->gen = next_gen();
    pthread_mutex_unlock(&live_lock);
    return (ArenaMark){a->top, a->top->used, a->used, a->depth - 1, a->gen};
}

void arena_release_to(Arena *a, ArenaMark m) {
    NN_CHECK(m.depth < a->depth && (m.depth + 1 == a->depth ? a->gen : a->outer[m.depth + 1]) == m.gen,
             "arena_release_to", "the mark's scope is closed already (a reset, or a release to it or to an outer "
             "mark, came first): release each mark once, innermost first, before the next reset");
    while (a->top != m.block) { /* blocks begun inside the scope */
        Block *b = a->top;
        a->top = b->prev;
        a->reserved -= b->size;
        b->prev = NULL;
        block_free_chain(b);
    }
    POISON(a->top->mem + m.block_used, a->top->size - m.block_used);
    a->top->used = m.block_used;
    a->used = m.used;
    pthread_mutex_lock(&live_lock);
    a->depth = m.depth;
    a->gen = a->outer[m.depth];
    atomic_fetch_add(&releases, 1);
    pthread_mutex_unlock(&live_lock);
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
    pthread_mutex_lock(&live_lock);
    Arena **p = &live_head;
    while (*p != a) p = &(*p)->next_live;
    *p = a->next_live;
    atomic_fetch_add(&releases, 1);
    pthread_mutex_unlock(&live_lock);
    block_free_chain(a->top);
    free(a);
}
