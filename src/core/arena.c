#include "core/arena.h"

#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define ARENA_ALIGN 64

struct ArenaBlock {
    ArenaBlock *next;
    size_t cap;
    size_t off;
    unsigned char *mem;
};

static ArenaBlock *block_new(size_t cap) {
    ArenaBlock *b = qat_calloc(1, sizeof *b);
    b->cap = cap;
    b->mem = aligned_alloc(ARENA_ALIGN, (cap + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN);
    if (!b->mem) qat_die("out of memory allocating an arena block of %zu bytes", cap);
    return b;
}

void arena_init(Arena *a, size_t block_bytes) {
    memset(a, 0, sizeof *a);
    a->block_bytes = block_bytes ? block_bytes : (size_t)1 << 24;
}

void arena_free(Arena *a) {
    ArenaBlock *b = a->head;
    while (b) {
        ArenaBlock *n = b->next;
        free(b->mem);
        free(b);
        b = n;
    }
    memset(a, 0, sizeof *a);
}

void *arena_alloc(Arena *a, size_t bytes) {
    size_t need = (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    if (need == 0) need = ARENA_ALIGN;
    for (;;) {
        if (!a->cur) {
            if (!a->head) a->head = block_new(need > a->block_bytes ? need : a->block_bytes);
            a->cur = a->head;
        }
        if (a->cur->off + need <= a->cur->cap) break;
        if (!a->cur->next)
            a->cur->next = block_new(need > a->block_bytes ? need : a->block_bytes);
        a->cur = a->cur->next;
        a->cur->off = 0;
    }
    void *p = a->cur->mem + a->cur->off;
    a->cur->off += need;
    a->used += need;
    if (a->used > a->peak) a->peak = a->used;
    return p;
}

/* Above this, zeroing is split over the threads (a training batch's gradient buffers
 * are megabytes, and the threads would otherwise wait for one). */
#define PARALLEL_ZERO_BYTES (1u << 20)

void *arena_calloc(Arena *a, size_t bytes) {
    void *p = arena_alloc(a, bytes);
    if (bytes < PARALLEL_ZERO_BYTES || omp_in_parallel()) {
        memset(p, 0, bytes);
        return p;
    }
    long pieces = (long)((bytes + 65535) / 65536);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < pieces; i++) {
        size_t at = (size_t)i * 65536;
        memset((char *)p + at, 0, bytes - at < 65536 ? bytes - at : 65536);
    }
    return p;
}

void arena_reset(Arena *a) {
    for (ArenaBlock *b = a->head; b; b = b->next) b->off = 0;
    a->cur = a->head;
    a->used = 0;
}
