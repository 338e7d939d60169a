#include "core/error.h"
#include "nn/ops.h"

typedef struct {
    Tensor *x, *y;
    int r;
} PsCtx;

/* Y[n, c, h*r+i, w*r+j] = X[n, c*r*r + i*r + j, h, w]. backward != 0 moves gradients
 * the other way (dX += permuted dY). */
static void shuffle(const Tensor *x, const Tensor *y, int r, int backward) {
    int N = x->shape[0], Cr = x->shape[1], H = x->shape[2], W = x->shape[3];
    int C = Cr / (r * r);
    for (int n = 0; n < N; n++)
        for (int ch = 0; ch < C; ch++)
            for (int i = 0; i < r; i++)
                for (int j = 0; j < r; j++)
                    for (int h = 0; h < H; h++) {
                        size_t xrow = (((size_t)n * Cr + ch * r * r + i * r + j) * H + h) * W;
                        size_t yrow = (((size_t)n * C + ch) * H * r + h * r + i) * W * r + j;
                        if (backward)
                            for (int w = 0; w < W; w++) x->grad[xrow + w] += y->grad[yrow + (size_t)w * r];
                        else
                            for (int w = 0; w < W; w++) y->data[yrow + (size_t)w * r] = x->data[xrow + w];
                    }
}

static void ps_backward(void *p) {
    PsCtx *c = p;
    shuffle(c->x, c->y, c->r, 1);
}

Tensor *op_pixel_shuffle(Graph *g, Tensor *x, int r) {
    QAT_ASSERT(x->ndim == 4 && r >= 1 && x->shape[1] % (r * r) == 0);
    int grad = graph_needs_grad(g, x, NULL);
    Tensor *y = graph_tensor4(g, grad, x->shape[0], x->shape[1] / (r * r), x->shape[2] * r,
                              x->shape[3] * r);
    shuffle(x, y, r, 0);
    if (grad) {
        PsCtx *c = graph_alloc(g, sizeof *c);
        *c = (PsCtx){x, y, r};
        graph_push(g, ps_backward, c);
    }
    return y;
}
