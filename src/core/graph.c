#include "core/graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

void graph_init(Graph *g, uint64_t seed) {
    memset(g, 0, sizeof *g);
    arena_init(&g->arena, (size_t)64 << 20);
    rng_seed(&g->rng, seed);
}

void graph_free(Graph *g) {
    arena_free(&g->arena);
    free(g->nodes);
    free(g->watched);
    memset(g, 0, sizeof *g);
}

void graph_reset(Graph *g) {
    arena_reset(&g->arena);
    g->n = 0;
    g->nwatched = 0;
    g->scope = NULL;
}

void *graph_alloc(Graph *g, size_t bytes) { return arena_alloc(&g->arena, bytes); }

static void watch(Graph *g, const Tensor *t, const char *op) {
    if (g->nwatched == g->capwatched) {
        g->capwatched = g->capwatched ? 2 * g->capwatched : 256;
        g->watched = qat_realloc(g->watched, (size_t)g->capwatched * sizeof *g->watched);
    }
    g->watched[g->nwatched++] = (WatchedTensor){t, op, g->scope};
}

Tensor *graph_tensor_at(Graph *g, int with_grad, int ndim, const int *shape, const char *op) {
    QAT_ASSERT(ndim >= 1 && ndim <= QAT_MAX_DIMS);
    Tensor *t = arena_alloc(&g->arena, sizeof *t);
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->size = shape_size(ndim, shape);
    size_t bytes = t->size * sizeof(float);
    t->data = g->watch ? arena_calloc(&g->arena, bytes) : arena_alloc(&g->arena, bytes);
    t->grad = (with_grad && g->training) ? arena_calloc(&g->arena, bytes) : NULL;
    if (g->watch) watch(g, t, op);
    return t;
}

const WatchedTensor *graph_first_nonfinite(const Graph *g) {
    for (int i = 0; i < g->nwatched; i++) {
        const Tensor *t = g->watched[i].t;
        for (size_t k = 0; k < t->size; k++)
            if (!isfinite(t->data[k])) return &g->watched[i];
    }
    return NULL;
}

Tensor *graph_input(Graph *g, float *data, int ndim, const int *shape) {
    Tensor *t = arena_alloc(&g->arena, sizeof *t);
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->size = shape_size(ndim, shape);
    t->data = data;
    return t;
}

Tensor *graph_reshape(Graph *g, Tensor *x, int ndim, const int *shape) {
    Tensor *t = arena_alloc(&g->arena, sizeof *t);
    *t = tensor_view(x, ndim, shape);
    return t;
}

void graph_push(Graph *g, BackwardFn fn, void *ctx) {
    QAT_ASSERT(g->training);
    if (g->n == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 64;
        g->nodes = qat_realloc(g->nodes, (size_t)g->cap * sizeof *g->nodes);
    }
    g->nodes[g->n].fn = fn;
    g->nodes[g->n].ctx = ctx;
    g->n++;
}

void graph_backward(Graph *g, Tensor *loss) {
    QAT_ASSERT(loss->size == 1 && loss->grad);
    loss->grad[0] = 1.0f;
    for (int i = g->n - 1; i >= 0; i--) g->nodes[i].fn(g->nodes[i].ctx);
}
