/* tanh as a vectorised rational approximation (Eigen's ptanh_float: max abs error about
 * 1e-7 against the exact tanh). libm's tanhf is a scalar call of ~25 cycles; for ESPCN's
 * 1.8 M activations per step it took a fifth of the training step. The op matches
 * op_tanh (nn/ops.h): y = tanh(x), dx += dy (1 - y^2). */
#ifndef QAT_NN_FAST_TANH_H
#define QAT_NN_FAST_TANH_H

#include <stddef.h>

#include "core/graph.h"

/* out[i] = tanh(in[i]); in and out may be the same array. */
void fast_tanh(const float *in, float *out, size_t n);
/* The same in the calling thread only: for short runs inside other threaded loops. */
void fast_tanh_serial(const float *in, float *out, size_t n);
Tensor *op_fast_tanh(Graph *g, Tensor *x);

#endif
