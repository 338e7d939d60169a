/* The quantizer interface (docs/METHODS.md 0.2). A quantizer fake-quantizes one tensor:
 * forward puts values on its grid (float32), backward passes the STE gradient to the
 * input and ACCUMULATES gradients of its own learnable parameters (a quantizer can run
 * several times per step: LSTM hidden state, tied embeddings). Learnable parameters and
 * state buffers are Params in the QUANT group, so checkpoints carry them. */
#ifndef QAT_CORE_QUANTIZER_H
#define QAT_CORE_QUANTIZER_H

#include <stddef.h>
#include <stdint.h>

#include "core/param.h"

typedef struct Quantizer Quantizer;

/* What the quantizer sees of one tensor. rows: per-channel rows (1 = per-tensor; the
 * tensor is rows x (n/rows), row-major); batch: examples in the mini-batch (1 for
 * weights), for LSQ's gradient scale; training: 0 in evaluation (state frozen). */
typedef struct {
    const float *x;
    size_t n;
    int rows;
    int batch;
    int training;
} QuantInput;

/* Integer export: value_i = scale[row(i)] * (levels ? levels[code_i] : code_i) + offset.
 * The caller provides codes[n] and scales[rows]; levels (APoT, SAWB) is owned by the
 * quantizer and valid until its next forward. */
typedef struct {
    int32_t *codes;
    float *scales;
    const float *levels;
    int nlevels;
    float offset;
} QuantExport;

/* What forward computes on each element of an activation, as data (for the ONNX export
 * and the integer engine), with the quantizer's current parameters:
 *     a = sym ? |x| : x
 *     t = clip(div != 0 ? a / div : a * mul + add, lo, hi)      (float arithmetic)
 *     k = levels ? the index of the level nearest t : round_half_even(t)
 *     y = (sym ? sign(x) : 1) * (levels ? levels[k] : k) * out_scale
 * Ties between two levels go to the lower one (nlevels >= 2, ascending). A quantizer
 * whose forward computes in double documents where the float form can differ in the
 * last place (docs/EXPORT.md). */
typedef struct {
    int sym;
    float div, mul, add, lo, hi;
    const float *levels; /* owned by the quantizer, valid until its next forward */
    int nlevels;
    float out_scale;
} QuantFunc;

typedef struct {
    const char *name;
    /* Set parameters from the FP tensor (weights) or first batch (activations). */
    void (*init)(Quantizer *q, QuantInput in);
    /* Optional: once per training step before the quantizer's first forward in it, with
     * the tensor that forward will see (in.x NULL where the caller makes it only during
     * the step: the LSTM hidden state). LSQ: the step's learning-rate scale; PACT's SAWB
     * weights: alpha_w from this step's weights. Called through quantizer_begin_step. */
    void (*begin_step)(Quantizer *q, QuantInput in);
    void (*forward)(Quantizer *q, QuantInput in, float *y);
    /* dx += STE(dy) (dx may be NULL: no gradient to the input); parameter grads += ... */
    void (*backward)(Quantizer *q, QuantInput in, const float *dy, float *dx);
    /* Activation quantizers: forward as a QuantFunc (evaluation mode). */
    void (*describe)(const Quantizer *q, QuantFunc *f);
    /* Integer codes of in.x (same grid as forward with training = 0). */
    void (*export_codes)(Quantizer *q, QuantInput in, QuantExport *out);
    /* Called after each optimizer step: keep parameters in range (s >= 1e-8, ...). */
    void (*clamp)(Quantizer *q);
    void (*destroy)(Quantizer *q); /* frees state; params are freed with the model */
    /* Optional, for ops that fuse the quantizer into their own per-sample loops (conv2d):
     * backward over a piece of the tensor (one sample, or the im2col columns of one),
     * dx += STE(dy) (dx may be NULL), parameter gradients ADDED to dparam (all parameters'
     * elements in params order) instead of the params. example_size: elements of one
     * example of the whole tensor, for gradient scales that depend on it (0: n / batch).
     * A quantizer that has it promises an elementwise forward whose values do not depend
     * on in.training or in.batch, parameter gradients that are sums over elements (so the
     * parts add up to the whole), and q(0) = 0 with no parameter gradient from a zero
     * input (so the zero padding of im2col columns adds nothing). */
    void (*backward_part)(Quantizer *q, QuantInput in, size_t example_size, const float *dy, float *dx,
                          double *dparam);
} QuantizerOps;

#define QUANT_MAX_PARAMS 4

struct Quantizer {
    const QuantizerOps *ops;
    int bits;
    int is_signed;
    int is_weight;
    int per_channel;
    int initialized;
    Param *params[QUANT_MAX_PARAMS]; /* named "s", "alpha", ... by the method */
    int nparams;
    void *state; /* method-specific */
};

/* The quantizer's per-step hook, if it has one; by whoever runs it in a training forward
 * (quant sites, and the ops that call a quantizer themselves). */
static inline void quantizer_begin_step(Quantizer *q, QuantInput in) {
    if (q->ops->begin_step) q->ops->begin_step(q, in);
}

/* Helpers for method implementations. */
/* A quantizer of `bits` with ops; weights always take a signed grid, per_channel applies
 * to weights only. */
Quantizer *quantizer_alloc(const QuantizerOps *ops, int bits, int is_signed, int is_weight, int per_channel);
/* A learnable (frozen = 0) or state (frozen = 1) scalar/vector parameter of q. */
Param *quantizer_add_param(Quantizer *q, const char *name, int size, int frozen, float init);
void quantizer_free(Quantizer *q);

/* round half to even (torch.round), with the default FP rounding mode */
static inline float qround(float x) { return __builtin_rintf(x); }
/* min then max, in the forms that compile to vminps / vmaxps (a NaN stays NaN) */
static inline float qclip(float x, float lo, float hi) {
    float t = hi < x ? hi : x;
    return lo > t ? lo : t;
}

#endif
