/* The autograd tape. Each op computes its forward, and in training mode pushes one node
 * (backward function + context saved in the arena). graph_backward() walks the nodes in
 * reverse. Ops are coarse (a whole conv, a whole LSTM layer), so the tape itself costs
 * nothing measurable. Backward functions ACCUMULATE (+=) into input gradients. */
#ifndef QAT_CORE_GRAPH_H
#define QAT_CORE_GRAPH_H

#include <stdint.h>

#include "core/arena.h"
#include "core/rng.h"
#include "core/tensor.h"

typedef void (*BackwardFn)(void *ctx);

typedef struct {
    BackwardFn fn;
    void *ctx;
} TapeNode;

typedef struct {
    Arena arena;
    TapeNode *nodes;
    int n, cap;
    int training; /* 1: record the tape, make gradient buffers, dropout on */
    Rng rng;      /* per-run stream for dropout keys */
} Graph;

void graph_init(Graph *g, uint64_t seed);
void graph_free(Graph *g);
/* Drop the tape and every per-step allocation. */
void graph_reset(Graph *g);

/* A new arena tensor; a zeroed gradient buffer when with_grad and training. */
Tensor *graph_tensor(Graph *g, int with_grad, int ndim, const int *shape);
Tensor *graph_tensor2(Graph *g, int with_grad, int a, int b);
Tensor *graph_tensor4(Graph *g, int with_grad, int a, int b, int c, int d);
/* A tensor wrapping caller memory (an input batch): no gradient. */
Tensor *graph_input(Graph *g, float *data, int ndim, const int *shape);
/* A view of x with another shape, sharing data and gradient. */
Tensor *graph_reshape(Graph *g, Tensor *x, int ndim, const int *shape);
void *graph_alloc(Graph *g, size_t bytes);

/* 1 when an op reading these inputs must record a backward. */
static inline int graph_needs_grad(const Graph *g, const Tensor *a, const Tensor *b) {
    return g->training && ((a && a->grad) || (b && b->grad));
}

void graph_push(Graph *g, BackwardFn fn, void *ctx);
/* Seeds d(loss)/d(loss) = 1 (loss must be a 1-element tensor) and runs the tape. */
void graph_backward(Graph *g, Tensor *loss);

#endif
