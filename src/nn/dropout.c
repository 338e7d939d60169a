/* Inverted dropout. The mask comes from a counter-based hash of (per-call key, index),
 * so it is the same whatever the thread count, and costs no sequential RNG loop. */
#include "core/error.h"
#include "nn/ops.h"

typedef struct {
    Tensor *x, *y;
    uint64_t key;
    float p;
} DropCtx;

static void drop_backward(void *p) {
    DropCtx *c = p;
    long n = (long)c->x->size;
    float scale = 1.0f / (1.0f - c->p);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++)
        if (rng_counter_uniform(c->key, (uint64_t)i) >= c->p) c->x->grad[i] += c->y->grad[i] * scale;
}

Tensor *op_dropout(Graph *g, Tensor *x, float p) {
    QAT_ASSERT(p >= 0.0f && p < 1.0f);
    if (!g->training || p == 0.0f) return x;
    int grad = graph_needs_grad(g, x, NULL);
    Tensor *y = graph_tensor(g, grad, x->ndim, x->shape);
    uint64_t key = rng_u64(&g->rng);
    float scale = 1.0f / (1.0f - p);
    long n = (long)x->size;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++)
        y->data[i] = rng_counter_uniform(key, (uint64_t)i) >= p ? x->data[i] * scale : 0.0f;
    if (grad) {
        DropCtx *c = graph_alloc(g, sizeof *c);
        *c = (DropCtx){x, y, key, p};
        graph_push(g, drop_backward, c);
    }
    return y;
}
