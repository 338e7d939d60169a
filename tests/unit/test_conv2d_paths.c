/* op_conv2d's paths for stride 1 and >= 16 input channels (ESPCN's inner layers), which
 * the small PyTorch fixtures of test_ops_torch.c (<= 3 channels) do not reach: the
 * shifted GEMMs, and channels last Winograd F(6x6, 3x3) for 3x3 kernels, im2col with a
 * transposed output for one input channel, and for other kernels the input transposed
 * to NCHW first. Forward, dX, dW, db
 * against a direct convolution in double, for "same" and "valid" padding, k = 3 and 5,
 * with and without bias and fused ReLU or tanh, one sample (the thread team inside each
 * GEMM) and a batch (samples spread over threads, several Winograd chunks per thread),
 * gradients accumulating on a second tape run, and evaluation mode. Every shape runs
 * in both layouts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/graph.h"
#include "core/rng.h"
#include "nn/ops.h"

/* Errors against the double reference, relative to the array's largest value (float
 * sums of many terms: entries near zero carry the rounding of the whole sum). Winograd
 * F(6x6, 3x3) multiplies by transform coefficients up to 32 and 1/90 before summing, and
 * rounds about 4x more (8e-6 measured on ESPCN's conv2). */
static double tolerance = 2e-6;

/* least: a floor for the scale (tanh outputs: the pre-activations', whose rounding
 * they carry). */
static void near(const float *got, const float *want, size_t n, double least, const char *what) {
    double scale = least;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    check_array_close(got, want, n, tolerance, scale, what, __FILE__, __LINE__);
}

typedef struct {
    int N, C, H, W, O, k, pad, bias;
    ConvAct act;
} Shape;

static void run(Shape s, Rng *rng, int nhwc) {
    int Ho = s.H + 2 * s.pad - s.k + 1, Wo = s.W + 2 * s.pad - s.k + 1;
    size_t nx = (size_t)s.N * s.C * s.H * s.W, nw = (size_t)s.O * s.C * s.k * s.k;
    size_t ny = (size_t)s.N * s.O * Ho * Wo;
    float *x = malloc(nx * sizeof(float)), *w = malloc(nw * sizeof(float)), *b = malloc(s.O * sizeof(float));
    float *dy = malloc(ny * sizeof(float));
    for (size_t i = 0; i < nx; i++) x[i] = rng_uniform_range(rng, -1, 1);
    for (size_t i = 0; i < nw; i++) w[i] = rng_uniform_range(rng, -0.3f, 0.3f);
    for (int i = 0; i < s.O; i++) b[i] = rng_uniform_range(rng, -0.5f, 0.5f);
    for (size_t i = 0; i < ny; i++) dy[i] = rng_uniform_range(rng, -1, 1);

    /* Reference in double. */
    double *y = calloc(ny, sizeof(double)), *dx = calloc(nx, sizeof(double)), *dw = calloc(nw, sizeof(double));
    double *db = calloc(s.O, sizeof(double)), *g = calloc(ny, sizeof(double)), pre = 0.0;
#define X(n, c, i, j) x[(((size_t)(n) * s.C + (c)) * s.H + (i)) * s.W + (j)]
#define WI(o, c, u, v) ((((size_t)(o) * s.C + (c)) * s.k + (u)) * s.k + (v))
    for (int n = 0; n < s.N; n++)
        for (int o = 0; o < s.O; o++)
            for (int i = 0; i < Ho; i++)
                for (int j = 0; j < Wo; j++) {
                    double a = s.bias ? b[o] : 0.0;
                    for (int c = 0; c < s.C; c++)
                        for (int u = 0; u < s.k; u++)
                            for (int v = 0; v < s.k; v++) {
                                int hi = i + u - s.pad, wj = j + v - s.pad;
                                if (hi >= 0 && hi < s.H && wj >= 0 && wj < s.W) a += w[WI(o, c, u, v)] * X(n, c, hi, wj);
                            }
                    size_t yi = (((size_t)n * s.O + o) * Ho + i) * Wo + j;
                    pre = fmax(pre, fabs(a));
                    if (s.act == CONV_ACT_RELU && a <= 0.0) a = 0.0;
                    if (s.act == CONV_ACT_TANH) a = tanh(a);
                    y[yi] = a;
                    g[yi] = (s.act == CONV_ACT_RELU && a <= 0.0) ? 0.0 : dy[yi];
                    if (s.act == CONV_ACT_TANH) g[yi] = dy[yi] * (1.0 - a * a);
                }
    for (int n = 0; n < s.N; n++)
        for (int o = 0; o < s.O; o++)
            for (int i = 0; i < Ho; i++)
                for (int j = 0; j < Wo; j++) {
                    double gy = g[(((size_t)n * s.O + o) * Ho + i) * Wo + j];
                    db[o] += gy;
                    for (int c = 0; c < s.C; c++)
                        for (int u = 0; u < s.k; u++)
                            for (int v = 0; v < s.k; v++) {
                                int hi = i + u - s.pad, wj = j + v - s.pad;
                                if (hi < 0 || hi >= s.H || wj < 0 || wj >= s.W) continue;
                                dw[WI(o, c, u, v)] += gy * X(n, c, hi, wj);
                                dx[(((size_t)n * s.C + c) * s.H + hi) * s.W + wj] += gy * w[WI(o, c, u, v)];
                            }
                }

    char what[160];
    snprintf(what, sizeof what, "N%d C%d %dx%d O%d k%d p%d%s%s%s", s.N, s.C, s.H, s.W, s.O, s.k, s.pad,
             s.bias ? " bias" : "", s.act == CONV_ACT_RELU ? " relu" : s.act == CONV_ACT_TANH ? " tanh" : "",
             nhwc ? " channels last" : "");
    size_t most = nx > nw ? (nx > ny ? nx : ny) : (nw > ny ? nw : ny);
    float *ref = malloc(most * sizeof(float)), *back = malloc(most * sizeof(float));
    char msg[200];
    for (int training = 1; training >= 0; training--) {
        Graph gr;
        graph_init(&gr, 1);
        gr.training = training;
        int xs[4] = {s.N, s.C, s.H, s.W}, xl[4] = {s.N, s.H, s.W, s.C}, ws[4] = {s.O, s.C, s.k, s.k};
        Tensor *tx = graph_tensor(&gr, 1, 4, nhwc ? xl : xs), *tw = graph_tensor(&gr, 1, 4, ws);
        Tensor *tb = s.bias ? graph_tensor(&gr, 1, 1, &s.O) : NULL;
        if (nhwc) check_to_channels_last(x, tx->data, s.N, s.C, s.H * s.W, 0);
        else memcpy(tx->data, x, nx * sizeof(float));
        memcpy(tw->data, w, nw * sizeof(float));
        if (tb) memcpy(tb->data, b, s.O * sizeof(float));
        Tensor *ty = op_conv2d(&gr, tx, tw, tb, (ConvSpec){1, s.pad, nhwc ? CONV_NHWC : CONV_NCHW, s.act, NULL});
        CHECK(ty->shape[nhwc ? 1 : 2] == Ho && ty->shape[nhwc ? 2 : 3] == Wo);
        CHECK(ty->shape[nhwc ? 3 : 1] == s.O);
        /* channels-last results are compared in NCHW */
        const float *yout = ty->data, *dxout = tx->grad;
        if (nhwc) check_to_channels_last(ty->data, back, s.N, s.O, Ho * Wo, 1), yout = back;
        for (size_t i = 0; i < ny; i++) ref[i] = (float)y[i];
        snprintf(msg, sizeof msg, "%s: y%s", what, training ? "" : " (eval)");
        near(yout, ref, ny, s.act == CONV_ACT_TANH ? pre : 0.0, msg);
        if (!training) {
            CHECK(gr.n == 0);
            graph_free(&gr);
            continue;
        }
        if (nhwc) check_to_channels_last(dy, ty->grad, s.N, s.O, Ho * Wo, 0);
        else memcpy(ty->grad, dy, ny * sizeof(float));
        for (int rep = 1; rep <= 2; rep++) { /* the second run must double every gradient */
            for (int i = gr.n - 1; i >= 0; i--) gr.nodes[i].fn(gr.nodes[i].ctx);
            if (nhwc) check_to_channels_last(tx->grad, back, s.N, s.C, s.H * s.W, 1), dxout = back;
            for (size_t i = 0; i < nx; i++) ref[i] = (float)(rep * dx[i]);
            snprintf(msg, sizeof msg, "%s: dx (run %d)", what, rep);
            near(dxout, ref, nx, 0.0, msg);
            for (size_t i = 0; i < nw; i++) ref[i] = (float)(rep * dw[i]);
            snprintf(msg, sizeof msg, "%s: dw (run %d)", what, rep);
            near(tw->grad, ref, nw, 0.0, msg);
            if (tb) {
                for (int i = 0; i < s.O; i++) ref[i] = (float)(rep * db[i]);
                snprintf(msg, sizeof msg, "%s: db (run %d)", what, rep);
                near(tb->grad, ref, (size_t)s.O, 0.0, msg);
            }
        }
        graph_free(&gr);
    }
    free(x), free(w), free(b), free(dy), free(y), free(dx), free(dw), free(db), free(g), free(ref), free(back);
}

int main(void) {
    static const Shape shapes[] = {
        {4, 16, 9, 7, 5, 3, 1, 1, CONV_ACT_NONE},     /* same, a batch */
        {1, 16, 9, 7, 5, 3, 1, 1, CONV_ACT_NONE},     /* same, one sample */
        {3, 20, 8, 10, 6, 5, 2, 0, CONV_ACT_RELU},    /* k5 same, relu, no bias */
        {1, 20, 8, 10, 6, 5, 2, 1, CONV_ACT_RELU},
        {5, 17, 7, 6, 4, 3, 0, 1, CONV_ACT_NONE},     /* valid (no padding) */
        {2, 16, 6, 9, 3, 5, 1, 1, CONV_ACT_RELU},     /* k5 pad 1: shrinks by 2 */
        {13, 16, 21, 19, 9, 3, 1, 0, CONV_ACT_RELU},  /* 30 tiles: chunks of 4 samples */
        {2, 64, 17, 17, 32, 3, 1, 1, CONV_ACT_TANH},  /* ESPCN conv2 */
        {3, 32, 17, 17, 9, 3, 1, 1, CONV_ACT_NONE},   /* ESPCN conv3 */
        {3, 1, 17, 17, 64, 5, 2, 1, CONV_ACT_TANH},   /* ESPCN conv1 (im2col) */
        {1, 1, 12, 9, 8, 5, 2, 0, CONV_ACT_TANH},     /* one channel, one sample */
    };
    Rng rng;
    for (int nhwc = 0; nhwc <= 1; nhwc++) {
        rng_seed(&rng, 77);
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            Shape s = shapes[i];
            tolerance = nhwc && s.C > 1 && s.k == 3 ? 2e-5 : 2e-6; /* Winograd rounds more */
            run(s, &rng, nhwc);
        }
    }
    return check_done("conv2d_paths");
}
