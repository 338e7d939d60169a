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

/* Weight codes [out, K], packed for int8_gemm: values = code * scale + offset, per-row
 * scales (rows == out) or one (rows == 1); offset: APoT's denormalised weights' mean. */
typedef struct {
    const Int8Packed *packed;
    const float *scales;
    int rows;
    float offset;
} IntWeightCodes;

/* How an activation grid's values become 8-bit codes, y = code * scale:
 * - direct: the div/mul form without levels, sign or offset (LSQ, PACT): the codes come
 *   straight from x, round(clip(x / div)) or round(clip(x * mul)), in the forward's own
 *   float arithmetic;
 * - else the grid is still integers times one scale (APoT's level table, whose levels
 *   are k / D for integers k: scale = out_scale / D; QIL's interval with an offset before
 *   rounding): the codes are the quantizer's own forward divided by the scale, exact.
 * 0 when the codes do not fit int8 (signed grids) or uint8. */
typedef struct {
    int is_signed, direct;
    float scale;
} IntGrid;
int quant_int_grid(const QuantFunc *f, IntGrid *g);
/* The smallest D <= max_d for which every levels[i] * D is an integer (to 1e-4), or 0. */
int quant_levels_denominator(const float *levels, int n, int max_d);
/* codes[i] of x[i] under such a grid (NaN, which the float forward passes on, gives code
 * 0); scratch: n floats, used when the grid is not direct. */
void quant_int_codes(Quantizer *q, const QuantFunc *f, const IntGrid *g, const float *x, size_t n, void *codes,
                     float *scratch);

/* The rescale of a product of x codes (scale a_scale) with w's codes, + bias. */
Int8Rescale int_rescale(float a_scale, IntWeightCodes w, const float *bias);

/* y[M, N] = x[M, K] w[N, K]^T + b (b NULL: none). */
Tensor *op_linear_int(Graph *g, IntCodes x, int M, int K, IntWeightCodes w, int N, const Tensor *b);

/* Conv of x codes ([N, C, H, W] or, channels last, [N, H, W, C]: xshape in that order)
 * with w [O, k, k, C] codes (K in (kh, kw, c) order: the patches' order), then + b and
 * act; y in x's layout. */
Tensor *op_conv2d_int(Graph *g, IntCodes x, const int *xshape, ConvLayout layout, IntWeightCodes w, int O, int k,
                      int stride, int pad, const Tensor *b, ConvAct act);

#endif
