/* The integer engine's ops (evaluation only, no tape): products of activation codes and
 * weight codes in int32 (nn/int8_gemm.h), rescaled once per output to float, plus the
 * bias and a fused activation. A layer calls them when its sites have integer grids
 * (layers/layers.c), with y = (sum of code products) * x_scale * w_scale[row] + b, which
 * the fake-quant forward computes as a float sum of the same products. */
#ifndef QAT_NN_INT_OPS_H
#define QAT_NN_INT_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "core/graph.h"
#include "core/quantizer.h"
#include "nn/int8_gemm.h"
#include "nn/ops.h"

/* Activation codes: uint8, or int8 when is_signed; values = codes * scale. */
typedef struct {
    const void *codes;
    int is_signed;
    float scale;
} IntCodes;

/* Weight codes [out, K], packed for int8_gemm, with per-row scales (rows == out) or one
 * (rows == 1). */
typedef struct {
    const Int8Packed *packed;
    const float *scales;
    int rows;
} IntWeightCodes;

/* Whether an activation grid is codes x scale in 8 bits (QuantFunc without levels, sign
 * or offset, integer bounds within int8 or uint8); *is_signed: which. */
int quant_func_is_int8(const QuantFunc *f, int *is_signed);
/* codes[i] of x[i] under such a grid, with the forward's own float arithmetic:
 * round(clip(x / div)) or round(clip(x * mul)); NaN (which the float forward passes on)
 * gives code 0. */
void quant_func_codes(const QuantFunc *f, int is_signed, const float *x, size_t n, void *codes);

/* y[M, N] = x[M, K] w[N, K]^T + b (b NULL: none). */
Tensor *op_linear_int(Graph *g, IntCodes x, int M, int K, IntWeightCodes w, int N, const Tensor *b);

/* Conv of x codes ([N, C, H, W] or, channels last, [N, H, W, C]: xshape in that order)
 * with w [O, k, k, C] codes (K in (kh, kw, c) order: the patches' order), then + b and
 * act; y in x's layout. */
Tensor *op_conv2d_int(Graph *g, IntCodes x, const int *xshape, ConvLayout layout, IntWeightCodes w, int O, int k,
                      int stride, int pad, const Tensor *b, ConvAct act);

#endif
