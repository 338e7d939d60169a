/* Conv2d: one op, three ways of turning it into GEMMs, one file each (nn/conv2d_path.h).
 * The plan, by shape and layout, from the step benchmarks (bench/):
 *  - Winograd F(6x6, 3x3) (nn/conv2d_winograd.c): channels last, 3x3, stride 1, more
 *    than one input channel. Forward, dX and dW each take 64 multiplications per 6x6
 *    output tile instead of 324; the rounding differs from a direct conv (about 1e-5
 *    relative), so a model opts in by choosing channels last.
 *  - Shifted GEMMs (nn/conv2d_shifted.c): NCHW, stride 1, at least 16 input channels.
 *  - im2col + one GEMM (nn/conv2d_im2col.c): the rest. A channels-last input of one
 *    channel is its NCHW self; one of more channels is transposed to NCHW first (no
 *    model runs that case: it exists so that every layout takes every shape).
 * A fused input quantizer runs inside the im2col path's per-sample loops when it has
 * backward_part; otherwise the op fake-quantizes x first (op_fake_quant). */
#include <stddef.h>
#include <string.h>

#include "core/error.h"
#include "nn/conv2d_path.h"
#include "nn/ops.h"

typedef enum { PATH_IM2COL, PATH_SHIFTED, PATH_WINOGRAD } ConvPath;

static ConvPath plan(ConvLayout layout, int C, int k, int stride) {
    if (layout == CONV_NHWC) return C > 1 && k == 3 && stride == 1 ? PATH_WINOGRAD : PATH_IM2COL;
    return stride == 1 && C >= 16 ? PATH_SHIFTED : PATH_IM2COL;
}

/* y[n][c][p] = x[n][p][c]; backward: x->grad[n][p][c] += y->grad[n][c][p]. */
static void transpose_planes(const Tensor *x, const Tensor *y, int backward) {
    int N = x->shape[0], P = x->shape[1] * x->shape[2], C = x->shape[3];
    for (int n = 0; n < N; n++)
        for (int p = 0; p < P; p++)
            for (int c = 0; c < C; c++) {
                size_t a = ((size_t)n * P + p) * C + c, t = ((size_t)n * C + c) * P + p;
                if (backward) x->grad[a] += y->grad[t];
                else y->data[t] = x->data[a];
            }
}

typedef struct {
    ConvCtx c;
    ConvPath path;
    Tensor *x_nhwc; /* im2col on a channels-last input of several channels: the input
                       c.x was transposed from; NULL otherwise */
} PlannedConv;

static void conv_backward(void *p) {
    PlannedConv *pc = p;
    switch (pc->path) {
    case PATH_WINOGRAD: conv2d_winograd_backward(&pc->c); break;
    case PATH_SHIFTED: conv2d_shifted_backward(&pc->c); break;
    case PATH_IM2COL: conv2d_im2col_backward(&pc->c); break;
    }
    if (pc->x_nhwc && pc->x_nhwc->grad) {
        /* The transposed copy's gradient is this node's own: passed on, then cleared,
         * so that the node accumulates like every other. */
        transpose_planes(pc->x_nhwc, pc->c.x, 1);
        memset(pc->c.x->grad, 0, pc->c.x->size * sizeof(float));
    }
}

/* The NCHW input the im2col path reads: a one-channel input as it is, a copy otherwise. */
static Tensor *nchw_input(Graph *g, Tensor *x) {
    int N = x->shape[0], H = x->shape[1], W = x->shape[2], C = x->shape[3];
    if (C == 1) return graph_reshape(g, x, 4, (const int[]){N, 1, H, W});
    Tensor *y = graph_tensor4(g, graph_needs_grad(g, x, NULL), N, C, H, W);
    transpose_planes(x, y, 0);
    return y;
}

/* ---- the op ------------------------------------------------------------------------- */

Tensor *op_conv2d(Graph *g, Tensor *x, Tensor *w, Tensor *b, ConvSpec spec) {
    int nhwc = spec.layout == CONV_NHWC;
    QAT_ASSERT(x->ndim == 4 && w->ndim == 4 && x->shape[nhwc ? 3 : 1] == w->shape[1]);
    QAT_ASSERT(w->shape[2] == w->shape[3] && spec.stride >= 1 && spec.pad >= 0);
    int N = x->shape[0], C = w->shape[1], H = x->shape[nhwc ? 1 : 2], W = x->shape[nhwc ? 2 : 3];
    int O = w->shape[0], k = w->shape[2], stride = spec.stride, pad = spec.pad;
    int Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
    QAT_ASSERT(Ho > 0 && Wo > 0 && (!b || (int)b->size == O));
    ConvPath path = plan(spec.layout, C, k, stride);
    Quantizer *xq = spec.input_quant;
    QAT_ASSERT(!xq || xq->initialized);
    if (xq && !(path == PATH_IM2COL && xq->ops->backward_part)) {
        x = op_fake_quant(g, xq, x, 1, N); /* activation sites are per-tensor: any layout */
        xq = NULL;
    }
    Tensor *x_nhwc = nhwc && path == PATH_IM2COL && C > 1 ? x : NULL;
    if (nhwc && path == PATH_IM2COL) x = nchw_input(g, x);
    /* A fused quantizer learns even when x itself takes no gradient. */
    int grad = graph_needs_grad(g, x, w) || (g->training && b && b->grad) || (g->training && xq);
    Tensor *y = nhwc ? graph_tensor4(g, grad, N, Ho, Wo, O) : graph_tensor4(g, grad, N, O, Ho, Wo);
    PlannedConv *pc = graph_alloc(g, sizeof *pc);
    *pc = (PlannedConv){{x, w, b, y, stride, pad, spec.act, g, xq, nhwc, NULL}, path, x_nhwc};
    switch (path) {
    case PATH_WINOGRAD: conv2d_winograd_forward(&pc->c); break;
    case PATH_SHIFTED: conv2d_shifted_forward(&pc->c); break;
    case PATH_IM2COL: conv2d_im2col_forward(&pc->c); break;
    }
    if (grad) graph_push(g, conv_backward, pc);
    return y;
}
