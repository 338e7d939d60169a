/* Arena: per-step memory. Everything a training step allocates (activations, their
 * gradients, saved contexts) comes from here and is dropped at once by arena_reset(),
 * so the hot loop never calls malloc once the first step has sized the arena. */
#ifndef QAT_CORE_ARENA_H
#define QAT_CORE_ARENA_H

#include <stddef.h>

typedef struct ArenaBlock ArenaBlock;

typedef struct {
    ArenaBlock *head;    /* first block; blocks are kept across resets */
    ArenaBlock *cur;     /* block being filled */
    size_t block_bytes;  /* minimum size of a new block */
    size_t peak;         /* most bytes in use at once, for reports */
    size_t used;
} Arena;

void arena_init(Arena *a, size_t block_bytes);
void arena_free(Arena *a);
/* 64-byte aligned, uninitialised. */
void *arena_alloc(Arena *a, size_t bytes);
/* 64-byte aligned, zeroed. */
void *arena_calloc(Arena *a, size_t bytes);
/* Forget every allocation; keeps the memory for the next step. */
void arena_reset(Arena *a);

#endif
