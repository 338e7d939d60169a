/* The quantizer interface (METHODS.md 0.2). A quantizer fake-quantizes one tensor:
 * forward puts values on its grid (float32), backward passes the STE gradient to the
 * input and ACCUMULATES gradients of its own learnable parameters (a quantizer can run
 * several times per step). Learnable parameters are Params in the QUANT group. */
#ifndef QAT_QUANT_QUANTIZER_H
#define QAT_QUANT_QUANTIZER_H

#include <stddef.h>

#include "core/param.h"

typedef struct Quantizer Quantizer;

/* What the quantizer sees of one tensor. rows: per-channel rows (1 = per-tensor);
 * batch: examples in the mini-batch (1 for weights), for LSQ's gradient scale. */
typedef struct {
    const float *x;
    size_t n;
    int rows;
    int batch;
} QuantInput;

typedef struct {
    const char *name;
    /* Set parameters from the FP tensor (weights) or first batch (activations). */
    void (*init)(Quantizer *q, QuantInput in);
    void (*forward)(Quantizer *q, QuantInput in, float *y);
    /* dx += STE(dy) (dx may be NULL: no gradient to the input); parameter grads += ... */
    void (*backward)(Quantizer *q, QuantInput in, const float *dy, float *dx);
    void (*destroy)(Quantizer *q);
} QuantizerOps;

struct Quantizer {
    const QuantizerOps *ops;
    int bits;
    int is_signed;
    int per_channel;
    int initialized;
    Param *params[4]; /* learnable parameters, in the optimizer's QUANT group */
    int nparams;
    void *state;      /* method-specific */
};

#endif
