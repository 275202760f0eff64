/* Arena: a bump allocator that owns every tensor and graph node of one step.
 *
 * It grows (by chaining blocks) instead of failing. arena_reset() releases
 * everything at once; if the step needed more than one block, the blocks are
 * replaced by a single block of the high-water size, so a steady-state
 * training loop reserves no more arena memory after its first step. Blocks come from
 * nn_aligned_alloc (so large ones are advised as huge pages). When a step
 * outgrows its block, the block's unused tail (resident from an earlier,
 * fuller step) is given back to the system (madvise, Linux), so a step holds
 * about the bytes it uses, not those plus its old block's.
 *
 * Each reset starts a new generation (arena_generation): autograd stamps every
 * tensor it makes here with it, so that one used after the reset is refused in
 * every build. In AddressSanitizer builds (make sanitize) everything not handed out since
 * the last reset is poisoned, so a use of released memory is reported. */
#ifndef NN_BASE_ARENA_H
#define NN_BASE_ARENA_H

#include <stddef.h>
#include <stdint.h>

typedef struct Arena Arena;

/* A new arena whose first block holds at least initial_bytes. */
Arena *arena_new(size_t initial_bytes);
/* 64-byte aligned memory that lives until the next reset; never NULL. */
void *arena_alloc(Arena *a, size_t bytes);
/* Like arena_alloc, zero-filled. */
void *arena_calloc(Arena *a, size_t bytes);
/* Releases everything allocated since the last reset. */
void arena_reset(Arena *a);
/* Bytes handed out since the last reset. */
size_t arena_used(const Arena *a);
/* The most bytes ever in use at once. */
size_t arena_high_water(const Arena *a);
/* Bytes reserved from the system right now. */
size_t arena_reserved(const Arena *a);
/* Whether this build poisons released arena memory (1 under AddressSanitizer, else 0). */
int arena_poisons(void);
/* The arena's generation: a number that changes at every reset and is unique among all arenas
 * (never 0). Whatever was allocated under one generation is released when it changes. */
uint64_t arena_generation(const Arena *a);
/* Whether gen is the current generation of some live arena (what it allocated is still valid). */
int arena_generation_live(uint64_t gen);
/* A point in the arena that arena_release_to can return to: a scope of its own generation. */
typedef struct {
    const void *block;         /* the block being filled at the mark */
    size_t block_used, used;   /* its bytes and the arena's bytes handed out at the mark */
    int depth;                 /* scopes open outside this one */
    uint64_t gen;              /* the generation of the scope the mark opened */
} ArenaMark;
/* Opens a scope: what is allocated from now on gets a new generation and is released by arena_release_to;
 * what was allocated before stays valid. Scopes nest, up to ARENA_MAX_SCOPES deep. */
ArenaMark arena_mark(Arena *a);
/* Releases everything allocated since m (and closes m's scope and those inside it); aborts if m's scope was
 * already closed (by a reset or another release). */
void arena_release_to(Arena *a, ArenaMark m);
/* Whether gen is the generation of a's current scope or of one it is nested in. */
int arena_generation_valid(const Arena *a, uint64_t gen);
#define ARENA_MAX_SCOPES 16
/* Frees the arena and all its blocks. NULL is allowed. */
void arena_free(Arena *a);

#endif
