/* Conv2d with its input quantizer fused into the per-sample im2col loops: each sample is
 * fake-quantized in cache just before its columns are built, and in backward the
 * gradient of the quantized sample goes through the quantizer's backward while still in
 * cache. Equals op_conv2d_act(quantize(x), ...) without the quantized tensor, its
 * gradient, and their passes over memory. */
#ifndef QAT_NN_CONV2D_QIN_H
#define QAT_NN_CONV2D_QIN_H

#include "core/quantizer.h"
#include "nn/ops.h"

/* Whether the fused op takes this input quantizer (it needs backward_part) and conv (the
 * im2col path: not the shifted-GEMM path of stride 1 with >= 16 input channels). */
int conv2d_can_fuse_input_quant(int in_channels, int stride, const Quantizer *q);
/* xq initialized; per-tensor (the activation sites are). */
Tensor *op_conv2d_qin(Graph *g, Tensor *x, Quantizer *xq, Tensor *w, Tensor *b, int stride, int pad,
                      ConvAct act);
/* The same on a channels-last input of one channel (op_conv2d_nhwc's im2col case). */
Tensor *op_conv2d_nhwc_qin(Graph *g, Tensor *x, Quantizer *xq, Tensor *w, Tensor *b, int stride, int pad,
                           ConvAct act);

#endif
