/* Winograd F(6x6, 3x3) convolution, channels last: op_conv2d_nhwc's path for 3x3,
 * stride-1 convs (ESPCN's inner layers in training). Forward, dX and dW each take 64
 * multiplications per 6x6 output tile and channel pair instead of 324.
 * Internal to nn/: only files of nn/ include it (scripts/check_layers.sh). */
#ifndef QAT_NN_CONV2D_WINOGRAD_H
#define QAT_NN_CONV2D_WINOGRAD_H

#include "core/graph.h"
#include "nn/ops.h"

/* y[N,Ho,Wo,O] = conv(x[N,H,W,C], w[O,C,3,3]) + b, then act. Returns the transformed
 * weights, which the backward needs (in the graph's arena). */
float *winograd_forward(Graph *g, const Tensor *x, const Tensor *w, const Tensor *b, int pad, ConvAct act,
                        Tensor *y);

/* Accumulates dW, db (when w->grad, b->grad) and dX (when x->grad) from y->grad. */
void winograd_backward(Graph *g, const Tensor *x, const Tensor *w, const Tensor *b, const Tensor *y, int pad,
                       ConvAct act, const float *u);

#endif
