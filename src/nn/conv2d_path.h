/* The paths op_conv2d (nn/conv2d.c) chooses between, one file each. A path's forward
 * fills c->y and keeps in c what its backward needs; its backward accumulates the
 * gradients of x, w and b (those that have one) from y->grad.
 * Internal to nn/: only files of nn/ include it (scripts/check_layers.sh). */
#ifndef QAT_NN_CONV2D_PATH_H
#define QAT_NN_CONV2D_PATH_H

#include "core/graph.h"
#include "core/quantizer.h"
#include "nn/ops.h"

typedef struct {
    Tensor *x, *w, *b, *y; /* w[O,C,k,k], b[O] or NULL */
    int stride, pad;
    ConvAct act;
    Graph *g;      /* backward scratch comes from the step's arena */
    Quantizer *xq; /* im2col: the fused input quantizer, or NULL */
    int nhwc;      /* im2col: y channels last [N,Ho,Wo,O]; x is NCHW either way */
    float *state;  /* shifted: the weight as [k*k][O][C]; Winograd: the transformed weights */
} ConvCtx;

/* im2col + one GEMM per sample, any shape; fuses an input quantizer that has
 * backward_part. */
void conv2d_im2col_forward(ConvCtx *c);
void conv2d_im2col_backward(ConvCtx *c);

/* Shifted GEMMs: NCHW, stride 1. */
void conv2d_shifted_forward(ConvCtx *c);
void conv2d_shifted_backward(ConvCtx *c);

/* Winograd F(6x6, 3x3): channels last (x[N,H,W,C], y[N,Ho,Wo,O]), 3x3, stride 1. */
void conv2d_winograd_forward(ConvCtx *c);
void conv2d_winograd_backward(ConvCtx *c);

#endif
