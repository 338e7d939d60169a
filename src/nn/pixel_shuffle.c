#include "core/error.h"
#include "nn/ops.h"

typedef struct {
    Tensor *x, *y;
    int r, nhwc;
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

/* Channels last: Y[n, h*r+i, w*r+j, c] = X[n, h, w, c*r*r + i*r + j]. */
static void shuffle_nhwc(const Tensor *x, const Tensor *y, int r, int backward) {
    int N = x->shape[0], H = x->shape[1], W = x->shape[2], Cr = x->shape[3];
    int C = Cr / (r * r);
#pragma omp parallel for schedule(static) if (N > 1) /* training batches: a sample per thread */
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < r; i++) {
                size_t xo = ((size_t)n * H + h) * W * Cr + (size_t)i * r; /* X[n, h, 0, i*r] */
                size_t yo = ((size_t)n * H * r + (size_t)h * r + i) * W * r * C; /* Y[n, h*r+i, 0, 0] */
                for (int c = 0; c < C; c++) /* outermost: ESPCN's C = 1 runs along the rows */
                    for (int w = 0; w < W; w++)
                        for (int j = 0; j < r; j++) {
                            size_t xat = xo + (size_t)w * Cr + j + (size_t)c * r * r;
                            size_t yat = yo + ((size_t)w * r + j) * C + c;
                            if (backward)
                                x->grad[xat] += y->grad[yat];
                            else
                                y->data[yat] = x->data[xat];
                        }
            }
}

static void ps_backward(void *p) {
    PsCtx *c = p;
    (c->nhwc ? shuffle_nhwc : shuffle)(c->x, c->y, c->r, 1);
}

static Tensor *pixel_shuffle(Graph *g, Tensor *x, int r, int nhwc) {
    int ca = nhwc ? 3 : 1; /* the channel axis */
    QAT_ASSERT(x->ndim == 4 && r >= 1 && x->shape[ca] % (r * r) == 0);
    int grad = graph_needs_grad(g, x, NULL);
    int N = x->shape[0], C = x->shape[ca] / (r * r), H = x->shape[nhwc ? 1 : 2] * r, W = x->shape[nhwc ? 2 : 3] * r;
    Tensor *y = nhwc ? graph_tensor4(g, grad, N, H, W, C) : graph_tensor4(g, grad, N, C, H, W);
    (nhwc ? shuffle_nhwc : shuffle)(x, y, r, 0);
    if (grad) {
        PsCtx *c = graph_alloc(g, sizeof *c);
        *c = (PsCtx){x, y, r, nhwc};
        graph_push(g, ps_backward, c);
    }
    return y;
}

Tensor *op_pixel_shuffle(Graph *g, Tensor *x, int r) { return pixel_shuffle(g, x, r, 0); }

Tensor *op_pixel_shuffle_nhwc(Graph *g, Tensor *x, int r) { return pixel_shuffle(g, x, r, 1); }
