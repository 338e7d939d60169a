/* Differentiable ops. Each computes its forward and, in training mode, records its
 * backward on the graph's tape. Shapes are checked; a mismatch is an internal error.
 * Layers with parameters and quant sites (Linear, Conv2d, Embedding) live in layers.h. */
#ifndef QAT_NN_OPS_H
#define QAT_NN_OPS_H

#include "core/graph.h"
#include "core/quantizer.h"

/* y[M,out] = x[M,in] w[out,in]^T + b[out]  (b may be NULL) */
Tensor *op_matmul_bias(Graph *g, Tensor *x, Tensor *w, Tensor *b);

/* What a conv computes: y = act(conv(q(x), w) + b), cross-correlation with zero padding.
 * w is [O,C,k,k] in either layout; x and y are [N,C,H,W] / [N,O,Ho,Wo] (NCHW) or
 * [N,H,W,C] / [N,Ho,Wo,O] (channels last). The op plans how to compute it from the shape
 * and layout (nn/conv2d.c); every shape runs in both layouts, and channels last lets 3x3
 * stride-1 convs take Winograd's rounding (about 1e-5 relative) for speed. */
typedef enum { CONV_ACT_NONE, CONV_ACT_RELU, CONV_ACT_TANH } ConvAct;
typedef enum { CONV_NCHW, CONV_NHWC } ConvLayout;
typedef struct {
    int stride, pad;
    ConvLayout layout;
    ConvAct act;            /* on the output: one pass less over the largest tensors;
                               equals op_relu / op_fast_tanh (nn/fast_tanh.h) after */
    Quantizer *input_quant; /* initialised, per-tensor, or NULL: fused where the plan can */
} ConvSpec;
/* b[O] or NULL. */
Tensor *op_conv2d(Graph *g, Tensor *x, Tensor *w, Tensor *b, ConvSpec spec);

/* x through quantizer q (initialised): forward on its grid; backward, the STE gradient
 * into x and q's parameter gradients (which learn even when x takes no gradient).
 * rows: per-channel rows of x (1: per-tensor); batch: examples in x. */
Tensor *op_fake_quant(Graph *g, Quantizer *q, Tensor *x, int rows, int batch);

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
