#include <stdint.h>

#include "core/error.h"
#include "nn/ops.h"

typedef struct {
    Tensor *x, *y;
    int32_t *argmax; /* flat input index of each output's maximum */
} PoolCtx;

static void pool_backward(void *p) {
    PoolCtx *c = p;
    for (size_t i = 0; i < c->y->size; i++) c->x->grad[c->argmax[i]] += c->y->grad[i];
}

Tensor *op_maxpool2d(Graph *g, Tensor *x, int k, int s) {
    QAT_ASSERT(x->ndim == 4 && k >= 1 && s >= 1);
    int N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int Ho = (H - k) / s + 1, Wo = (W - k) / s + 1;
    QAT_ASSERT(H >= k && W >= k);
    int grad = graph_needs_grad(g, x, NULL);
    Tensor *y = graph_tensor4(g, grad, N, C, Ho, Wo);
    int32_t *argmax = graph_alloc(g, y->size * sizeof(int32_t));
    QAT_ASSERT(x->size < INT32_MAX);
    for (int nc = 0; nc < N * C; nc++) {
        const float *in = x->data + (size_t)nc * H * W;
        for (int i = 0; i < Ho; i++)
            for (int j = 0; j < Wo; j++) {
                /* Row-major scan, strict '>': the first maximum wins ties (PyTorch). */
                int best = (i * s) * W + j * s;
                for (int u = 0; u < k; u++)
                    for (int v = 0; v < k; v++) {
                        int idx = (i * s + u) * W + j * s + v;
                        if (in[idx] > in[best]) best = idx;
                    }
                size_t o = ((size_t)nc * Ho + i) * Wo + j;
                y->data[o] = in[best];
                argmax[o] = (int32_t)((size_t)nc * H * W + (size_t)best);
            }
    }
    if (grad) {
        PoolCtx *c = graph_alloc(g, sizeof *c);
        *c = (PoolCtx){x, y, argmax};
        graph_push(g, pool_backward, c);
    }
    return y;
}
