/* Layers and quant sites as ONNX (docs/EXPORT.md): what a model's export function calls
 * to write its evaluation graph. Every emitter reproduces qat's evaluation forward:
 *  - a weight site becomes the values the fake quantizer gives, stored compactly and
 *    exactly: integer codes at their width + DequantizeLinear when the values are
 *    code x scale (per-channel: axis 0), a code table + Gather when they are one value per
 *    code, float otherwise (checked value by value at export time);
 *  - an activation site becomes QuantizeLinear [+ Clip] + DequantizeLinear when its
 *    function (QuantFunc) is a uniform grid through zero, else the same function in
 *    float ops;
 *  - a site without a quantizer passes the tensor through. */
#ifndef QAT_EXPORT_ONNX_EXPORT_H
#define QAT_EXPORT_ONNX_EXPORT_H

#include <stddef.h>

#include "io/onnx.h"
#include "layers/layers.h"
#include "layers/attention.h"
#include "layers/lstm.h"

typedef struct {
    OnnxGraph *g;
    /* What the weights cost, for the report: */
    size_t weight_values;  /* quantized weights written */
    size_t weight_bytes;   /* their bytes in the file (codes, tables, scales) */
    int float_fallbacks;   /* weight sites stored as float (no exact compact form) */
} OnnxExport;

/* x through an activation site. */
const char *export_act_site(OnnxExport *e, const QuantSite *s, const char *x);
/* The weight parameter w through its site (w's shape). */
const char *export_weight_site(OnnxExport *e, const QuantSite *s, const Param *w);
/* A float initializer of p's values. */
const char *export_param(OnnxExport *e, const Param *p);

/* Conv of x (NCHW) with the layer's sites, then act. */
const char *export_conv2d(OnnxExport *e, const Conv2d *c, const char *x, ConvAct act);
/* x [M, in] -> [M, out]. */
const char *export_linear(OnnxExport *e, const Linear *l, const char *x);
/* ids (int64, any shape) -> [..., dim]. */
const char *export_embedding(OnnxExport *e, const Embedding *em, const char *ids);

/* An LSTM layer over padded sequences, as one Scan per direction with the cell (and the
 * h_{t-1} quantizer) in its body: x [N, T, in] (any values past a sequence's end), mask
 * [N, T] bool (true while a sequence runs), zeros [N, H]. A step past the end keeps the
 * state, so the forward scan ends on h_{len-1} and the reverse one starts at len-1, as
 * the packed op does. *y: the outputs [N, T, ndir*H] (NULL: not needed); returns the
 * final states [N, ndir*H] = [h_fwd(len-1) ; h_rev(0)]. */
const char *export_lstm_layer(OnnxExport *e, const LstmLayer *l, int index, const char *x, const char *mask,
                              const char *zeros, const char **y);

/* x [..., in] -> [..., out] (MatMul with W^T, then the bias): any rank. */
const char *export_linear_nd(OnnxExport *e, const Linear *l, const char *x);

/* LayerNorm over the last axis. */
const char *export_layernorm(OnnxExport *e, const Param *w, const Param *b, float eps, const char *x);

/* A transformer block on x [N, S, d] (sequences left-aligned: row t of a sequence sees
 * rows 0..t, so what follows its end does not reach it); causal: [S, S] bool, true where
 * key j <= query t. */
const char *export_attn_block(OnnxExport *e, const AttnBlock *b, const char *x, const char *causal);

/* A 1-D int64 constant (shapes, axes). */
const char *export_ints(OnnxExport *e, int n, const int64_t *v);

#endif
