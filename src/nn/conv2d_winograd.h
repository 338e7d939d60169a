/* Winograd F(4x4, 3x3) convolution: conv2d.c's path for 3x3, stride-1 convs with many
 * input channels on training batches (ESPCN's inner layers). Forward, dX and dW each
 * take 36 multiplications per 4x4 output tile and channel pair instead of 144. */
#ifndef QAT_NN_CONV2D_WINOGRAD_H
#define QAT_NN_CONV2D_WINOGRAD_H

#include "core/graph.h"
#include "nn/ops.h"

/* Whether the Winograd path takes this conv: 3x3, stride 1, at least 16 input channels,
 * at least as many samples as threads, and the path enabled (conv2d_use_winograd). */
int winograd_applies(int N, int C, int k, int stride);

/* y = conv(x, w) + b, then act. Returns the transformed weights, which the backward
 * needs (in the graph's arena). */
float *winograd_forward(Graph *g, const Tensor *x, const Tensor *w, const Tensor *b, int pad, ConvAct act,
                        Tensor *y);

/* Accumulates dW, db (when w->grad, b->grad) and dX (when x->grad) from y->grad. */
void winograd_backward(Graph *g, const Tensor *x, const Tensor *w, const Tensor *b, const Tensor *y, int pad,
                       ConvAct act, const float *u);

#endif
