/* Elementwise activations. Each saves its output (or input, for GELU/ReLU) for backward. */
#include <math.h>

#include "nn/ops.h"

typedef enum { ACT_RELU, ACT_TANH, ACT_SIGMOID, ACT_GELU } ActKind;

typedef struct {
    Tensor *x, *y;
    ActKind kind;
} ActCtx;

static float gelu_cdf(float x) { return 0.5f * (1.0f + erff(x * 0.70710678118654752f)); }

static void act_backward(void *p) {
    ActCtx *c = p;
    const float *x = c->x->data, *y = c->y->data, *dy = c->y->grad;
    float *dx = c->x->grad;
    long n = (long)c->x->size;
    switch (c->kind) {
    case ACT_RELU:
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) dx[i] += x[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case ACT_TANH:
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) dx[i] += dy[i] * (1.0f - y[i] * y[i]);
        break;
    case ACT_SIGMOID:
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) dx[i] += dy[i] * y[i] * (1.0f - y[i]);
        break;
    case ACT_GELU:
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) {
            float pdf = expf(-0.5f * x[i] * x[i]) * 0.3989422804014327f;
            dx[i] += dy[i] * (gelu_cdf(x[i]) + x[i] * pdf);
        }
        break;
    }
}

static Tensor *activation(Graph *g, Tensor *x, ActKind kind) {
    int grad = graph_needs_grad(g, x, NULL);
    Tensor *y = graph_tensor(g, grad, x->ndim, x->shape);
    const float *in = x->data;
    float *out = y->data;
    long n = (long)x->size;
    switch (kind) {
    case ACT_RELU:
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
        break;
    case ACT_TANH:
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) out[i] = tanhf(in[i]);
        break;
    case ACT_SIGMOID:
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) out[i] = 1.0f / (1.0f + expf(-in[i]));
        break;
    case ACT_GELU:
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) out[i] = in[i] * gelu_cdf(in[i]);
        break;
    }
    if (grad) {
        ActCtx *c = graph_alloc(g, sizeof *c);
        *c = (ActCtx){x, y, kind};
        graph_push(g, act_backward, c);
    }
    return y;
}

Tensor *op_relu(Graph *g, Tensor *x) { return activation(g, x, ACT_RELU); }
Tensor *op_tanh(Graph *g, Tensor *x) { return activation(g, x, ACT_TANH); }
Tensor *op_sigmoid(Graph *g, Tensor *x) { return activation(g, x, ACT_SIGMOID); }
Tensor *op_gelu(Graph *g, Tensor *x) { return activation(g, x, ACT_GELU); }
