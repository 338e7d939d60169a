/* The activations a conv fuses on its output (ConvAct), shared by its paths: the
 * forward y = act(a + bias) over a run of values, and the gradient before the
 * activation, d = dy act'(y), from the output y.
 * Internal to nn/: only files of nn/ include it (scripts/check_layers.sh). */
#ifndef QAT_NN_CONV2D_ACT_H
#define QAT_NN_CONV2D_ACT_H

#include <stddef.h>
#include <string.h>

#include "nn/fast_tanh.h"
#include "nn/ops.h"

/* y[i] = act(y[i]) */
static inline void conv_act_inplace(ConvAct act, float *y, size_t n) {
    if (act == CONV_ACT_RELU)
        for (size_t i = 0; i < n; i++) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
    else if (act == CONV_ACT_TANH)
        fast_tanh_serial(y, y, n);
}

/* y[i] = act(a[i] + bias[i % nb]): one bias (nb = 1, a channel plane) or a bias vector
 * repeated along the run (nb = channels, channels last); bias NULL: none. a may be y. */
static inline void conv_act_run(ConvAct act, const float *a, const float *bias, int nb, float *y, size_t n) {
    if (!bias)
        for (size_t i = 0; i < n; i++) y[i] = a[i];
    else if (nb == 1)
        for (size_t i = 0; i < n; i++) y[i] = a[i] + bias[0];
    else
        for (size_t i = 0; i < n; i += (size_t)nb)
            for (int c = 0; c < nb; c++) y[i + c] = a[i + c] + bias[c];
    conv_act_inplace(act, y, n);
}

/* d[i] = dy[i] act'(y[i]); d may be dy. */
static inline void conv_act_grad(ConvAct act, const float *y, const float *dy, float *d, size_t n) {
    if (act == CONV_ACT_RELU)
        for (size_t i = 0; i < n; i++) d[i] = y[i] > 0.0f ? dy[i] : 0.0f;
    else if (act == CONV_ACT_TANH)
        for (size_t i = 0; i < n; i++) d[i] = dy[i] * (1.0f - y[i] * y[i]);
    else if (d != dy)
        memcpy(d, dy, n * sizeof(float));
}

#endif
