/* Differentiable ops. Each computes its forward and, in training mode, records its
 * backward on the graph's tape. Shapes are checked; a mismatch is an internal error.
 * Layers with parameters and quant sites (Linear, Conv2d, Embedding) live in layers.h. */
#ifndef QAT_NN_OPS_H
#define QAT_NN_OPS_H

#include "core/graph.h"

/* y[M,out] = x[M,in] w[out,in]^T + b[out]  (b may be NULL) */
Tensor *op_matmul_bias(Graph *g, Tensor *x, Tensor *w, Tensor *b);

/* NCHW cross-correlation, w[O,C,k,k], stride, zero padding; b[O] or NULL. */
Tensor *op_conv2d(Graph *g, Tensor *x, Tensor *w, Tensor *b, int stride, int pad);
/* The same with an activation fused on the output: one pass less over the largest
 * tensors, and no separate pre-activation tensor. Equals op_relu(op_conv2d(...)), or
 * op_fast_tanh(op_conv2d(...)) (nn/fast_tanh.h). */
typedef enum { CONV_ACT_NONE, CONV_ACT_RELU, CONV_ACT_TANH } ConvAct;
Tensor *op_conv2d_act(Graph *g, Tensor *x, Tensor *w, Tensor *b, int stride, int pad, ConvAct act);

/* Channels last: x[N,H,W,C] -> y[N,Ho,Wo,O], w still [O,C,k,k]. The training path of
 * ESPCN (model.winograd): 3x3 stride-1 convs run as Winograd F(6x6, 3x3)
 * (nn/conv2d_winograd.c), convs of a single input channel (whose NHWC input is its NCHW
 * one) as im2col + GEMM with a transposed output. Same values as op_conv2d_act up to the
 * Winograd rounding. */
int conv2d_nhwc_supported(int in_channels, int k, int stride);
Tensor *op_conv2d_nhwc(Graph *g, Tensor *x, Tensor *w, Tensor *b, int stride, int pad, ConvAct act);

Tensor *op_relu(Graph *g, Tensor *x);
Tensor *op_tanh(Graph *g, Tensor *x);
Tensor *op_sigmoid(Graph *g, Tensor *x);
Tensor *op_gelu(Graph *g, Tensor *x); /* exact, erf-based */

/* Max-pool over NCHW, window k, stride s, floor mode; ties go to the first maximum. */
Tensor *op_maxpool2d(Graph *g, Tensor *x, int k, int s);

/* y[n, :] = table[ids[n], :]; no gradient to rows equal to padding_idx (-1: none). */
Tensor *op_embedding(Graph *g, Tensor *table, const int *ids, int n, int padding_idx);

/* Over the last dimension, biased variance. */
Tensor *op_layernorm(Graph *g, Tensor *x, Tensor *gamma, Tensor *beta, float eps);
/* The same on a 2-D x in float arithmetic (op_layernorm accumulates in double, about 3x
 * slower on rows as short as the transformer blocks' d = 50). */
Tensor *op_layernorm_float(Graph *g, Tensor *x, Tensor *gamma, Tensor *beta, float eps);

/* Inverted dropout; identity when p == 0 or not training. */
Tensor *op_dropout(Graph *g, Tensor *x, float p);

/* [N, C*r*r, H, W] -> [N, C, H*r, W*r] (PyTorch PixelShuffle order). */
Tensor *op_pixel_shuffle(Graph *g, Tensor *x, int r);
/* Channels last: [N, H, W, C*r*r] -> [N, H*r, W*r, C], the same permutation. */
Tensor *op_pixel_shuffle_nhwc(Graph *g, Tensor *x, int r);

/* Mean softmax cross-entropy of logits[B,K] against labels[B]; returns a [1] tensor. */
Tensor *op_softmax_cross_entropy(Graph *g, Tensor *logits, const int *labels);

/* Mean squared error against a target of the same size; returns a [1] tensor. */
Tensor *op_mse(Graph *g, Tensor *pred, const float *target);

#endif
