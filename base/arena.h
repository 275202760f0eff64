/* Arena: a bump allocator that owns every tensor and graph node of one step.
 *
 * It grows (by chaining blocks) instead of failing. arena_reset() releases
 * everything at once; if the step needed more than one block, the blocks are
 * replaced by a single block of the high-water size, so a steady-state
 * training loop allocates nothing after its first step. Blocks come from
 * nn_aligned_alloc (so large ones are advised as huge pages). When a step
 * outgrows its block, the block's unused tail (resident from an earlier,
 * fuller step) is given back to the system (madvise, Linux), so a step holds
 * about the bytes it uses, not those plus its old block's.
 *
 * In AddressSanitizer builds (make sanitize) everything not handed out since
 * the last reset is poisoned, so a use of released memory is reported. */
#ifndef NN_BASE_ARENA_H
#define NN_BASE_ARENA_H

#include <stddef.h>

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
/* Frees the arena and all its blocks. NULL is allowed. */
void arena_free(Arena *a);

#endif
