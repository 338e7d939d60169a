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

/* A tensor the graph made, with the op that made it, in watch mode. */
typedef struct {
    const Tensor *t;
    const char *op;    /* the function that allocated it ("op_conv2d") */
    const char *scope; /* the layer whose quant site ran last (graph_set_scope) */
} WatchedTensor;

typedef struct {
    Arena arena;
    TapeNode *nodes;
    int n, cap;
    int training; /* 1: record the tape, make gradient buffers, dropout on */
    /* Evaluation by the integer engine: layers whose sites have integer grids run on
     * integer codes (docs/EXPORT.md); the counts say how many layer calls did, and how
     * many stayed in float. */
    int integer;
    long integer_calls, float_calls; /* graph_count_layer_call */
    Rng rng;      /* per-run stream for dropout keys */
    /* Watch mode (a diverged batch run again to find where): every tensor made is
     * listed, zeroed at birth so that an op's unwritten scratch reads as finite. */
    int watch;
    const char *scope;
    WatchedTensor *watched;
    int nwatched, capwatched;
} Graph;

/* The integer engine's count of one layer call: on integer codes, or in float. */
static inline void graph_count_layer_call(Graph *g, int on_codes) {
    if (on_codes) g->integer_calls++;
    else g->float_calls++;
}

void graph_init(Graph *g, uint64_t seed);
void graph_free(Graph *g);
/* Drop the tape and every per-step allocation. */
void graph_reset(Graph *g);

/* A new arena tensor; a zeroed gradient buffer when with_grad and training. op: the
 * calling function, which the graph_tensor macros pass. */
Tensor *graph_tensor_at(Graph *g, int with_grad, int ndim, const int *shape, const char *op);
#define graph_tensor(g, with_grad, ndim, shape) graph_tensor_at((g), (with_grad), (ndim), (shape), __func__)
#define graph_tensor2(g, with_grad, a, b) graph_tensor_at((g), (with_grad), 2, (const int[]){(a), (b)}, __func__)
#define graph_tensor4(g, with_grad, a, b, c, d) \
    graph_tensor_at((g), (with_grad), 4, (const int[]){(a), (b), (c), (d)}, __func__)
/* Watch mode: names the layer the next tensors belong to (a quant site's layer). */
static inline void graph_set_scope(Graph *g, const char *layer) {
    if (g->watch) g->scope = layer;
}
/* Watch mode: the first listed tensor with a NaN or infinity, or NULL. */
const WatchedTensor *graph_first_nonfinite(const Graph *g);
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
