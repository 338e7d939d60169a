/* op_conv2d with an input quantizer (ConvSpec.input_quant: fused into the im2col path's
 * per-sample loops, or applied before the conv on the other paths) against the unfused
 * composition in the same layout: LSQ forward on the whole tensor, then the conv, then
 * LSQ backward on the whole tensor. Both placements of the fused
 * quantization are covered: on the sample (overlapping windows, a first layer with one
 * channel) and on the im2col columns (stride > kernel, with zero padding). Outputs, the
 * input and weight gradients must match to float rounding, the step's gradient to a
 * relative 1e-5 (its partial sums are grouped per sample); the fused gradients must not
 * depend on the thread count. Inputs also run channels last: of one channel (the same
 * array, an NHWC output from patches), of several (transposed to NCHW by the op), and a
 * 3x3 stride-1 one (Winograd, the quantizer applied before it). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/graph.h"
#include "core/param.h"
#include "core/rng.h"
#include "nn/ops.h"
#include "quant/method.h"
#include "quant_check.h"

typedef struct {
    const char *name;
    int N, C, H, W, O, k, stride, pad, bits, is_signed;
    ConvAct act;
    int channels_last; /* the fused side channels last */
} Case;

typedef struct {
    float *y, *dx, *dw, ds;
    size_t ny;
} Result;

static Quantizer *make_lsq(int bits, int is_signed, float s) {
    QuantSpec spec = {bits, is_signed, 0, 0, 1, NULL};
    Quantizer *q = lsq_make(&spec);
    q->params[0]->t.data[0] = s;
    q->initialized = 1;
    return q;
}

/* One forward + backward of loss = 0.5 * |y - target|^2 (op_mse averages; the scale is
 * the same on both sides). fused: the quantizer in the spec; else the unfused composition. */
static Result run(const Case *cs, const float *xdata, const float *wdata, const float *target, int fused) {
    int nhwc = cs->channels_last;
    Graph g;
    graph_init(&g, 1);
    g.training = 1;
    Quantizer *q = make_lsq(cs->bits, cs->is_signed, cs->is_signed ? 0.15f : 0.1f);
    int wshape[4] = {cs->O, cs->C, cs->k, cs->k};
    Param *w = param_new("w", 4, wshape, PARAM_GROUP_WEIGHT);
    memcpy(w->t.data, wdata, w->t.size * sizeof(float));
    Tensor *x = graph_tensor4(&g, 1, cs->N, cs->C, cs->H, cs->W);
    memcpy(x->data, xdata, x->size * sizeof(float));
    QuantInput in = {x->data, x->size, 1, cs->N, 1};
    Tensor *xq = NULL; /* unfused: q(x), NCHW */
    if (!fused) {
        xq = graph_tensor4(&g, 1, cs->N, cs->C, cs->H, cs->W);
        q->ops->forward(q, in, xq->data);
    }
    Tensor *xin = fused ? x : xq; /* what the conv reads, in its layout */
    if (nhwc) {
        xin = graph_tensor4(&g, 1, cs->N, cs->H, cs->W, cs->C);
        check_to_channels_last(fused ? x->data : xq->data, xin->data, cs->N, cs->C, cs->H * cs->W, 0);
    }
    ConvSpec spec = {cs->stride, cs->pad, nhwc ? CONV_NHWC : CONV_NCHW, cs->act, fused ? q : NULL};
    Tensor *y = op_conv2d(&g, xin, &w->t, NULL, spec);
    float *tl = NULL; /* the target channels last */
    if (nhwc) {
        tl = malloc(y->size * sizeof(float));
        check_to_channels_last(target, tl, cs->N, cs->O, y->shape[1] * y->shape[2], 0);
        target = tl;
    }
    graph_backward(&g, op_mse(&g, y, target));
    Tensor *xg = fused ? x : xq; /* the NCHW tensor whose gradient the conv gave */
    if (nhwc) check_to_channels_last(xin->grad, xg->grad, cs->N, cs->C, cs->H * cs->W, 1);
    if (!fused) q->ops->backward(q, in, xq->grad, x->grad);
    Result r = {malloc(y->size * sizeof(float)), malloc(x->size * sizeof(float)),
                malloc(w->t.size * sizeof(float)), q->params[0]->t.grad[0], y->size};
    if (nhwc) check_to_channels_last(y->data, r.y, cs->N, cs->O, y->shape[1] * y->shape[2], 1);
    else memcpy(r.y, y->data, y->size * sizeof(float));
    free(tl);
    memcpy(r.dx, x->grad, x->size * sizeof(float));
    memcpy(r.dw, w->t.grad, w->t.size * sizeof(float));
    quant_destroy(q);
    param_free(w);
    graph_free(&g);
    return r;
}

static void result_free(Result *r) {
    free(r->y);
    free(r->dx);
    free(r->dw);
}

static void check_case(const Case *cs) {
    int Ho = (cs->H + 2 * cs->pad - cs->k) / cs->stride + 1, Wo = (cs->W + 2 * cs->pad - cs->k) / cs->stride + 1;
    size_t nx = (size_t)cs->N * cs->C * cs->H * cs->W, nw = (size_t)cs->O * cs->C * cs->k * cs->k;
    size_t ny = (size_t)cs->N * cs->O * Ho * Wo;
    float *x = malloc(nx * sizeof(float)), *w = malloc(nw * sizeof(float)), *t = malloc(ny * sizeof(float));
    Rng rng;
    rng_seed(&rng, 7);
    /* Inputs spread over the grid and past both ends, so some elements clip. */
    for (size_t i = 0; i < nx; i++) x[i] = rng_uniform_range(&rng, cs->is_signed ? -1.5f : -0.2f, 1.8f);
    for (size_t i = 0; i < nw; i++) w[i] = rng_uniform_range(&rng, -0.5f, 0.5f);
    for (size_t i = 0; i < ny; i++) t[i] = rng_uniform_range(&rng, -1.0f, 1.0f);

    omp_set_num_threads(2);
    Result ref = run(cs, x, w, t, 0), got = run(cs, x, w, t, 1);
    omp_set_num_threads(1);
    Result one = run(cs, x, w, t, 1);
    omp_set_num_threads(2);

    char what[160];
    CHECK(ref.ny == ny && got.ny == ny);
    snprintf(what, sizeof what, "%s: output", cs->name);
    CHECK_ARRAY(got.y, ref.y, ny, 1e-6, what);
    snprintf(what, sizeof what, "%s: input gradient", cs->name);
    CHECK_ARRAY(got.dx, ref.dx, nx, 1e-6, what);
    snprintf(what, sizeof what, "%s: weight gradient", cs->name);
    CHECK_ARRAY(got.dw, ref.dw, nw, 1e-5, what);
    snprintf(what, sizeof what, "%s: step gradient", cs->name);
    check_close(got.ds, ref.ds, 1e-5, 1e-9, what, __FILE__, __LINE__);
    snprintf(what, sizeof what, "%s: step gradient is not ~0 (%g)", cs->name, (double)ref.ds);
    check_true(fabsf(ref.ds) > 1e-5f, what, __FILE__, __LINE__); /* the comparison means something */
    /* The quantizer's gradients are summed per sample, in sample order (dW, as every
     * conv's, per thread: deterministic for a given thread count only). */
    snprintf(what, sizeof what, "%s: step and input gradients, 1 thread = 2 threads", cs->name);
    check_true(one.ds == got.ds && memcmp(one.dx, got.dx, nx * sizeof(float)) == 0, what, __FILE__, __LINE__);
    result_free(&ref);
    result_free(&got);
    result_free(&one);
    free(x);
    free(w);
    free(t);
}

int main(void) {
    static const Case CASES[] = {
        /* sample placement: a 1-channel first layer, overlapping windows */
        {"first layer, 8-bit unsigned", 5, 1, 12, 12, 4, 3, 1, 0, 8, 0, CONV_ACT_RELU, 0},
        /* column placement: stride 5 > kernel 3 (simple_cnn's conv2) */
        {"strided, 4-bit unsigned", 4, 3, 16, 16, 5, 3, 5, 0, 4, 0, CONV_ACT_NONE, 0},
        /* column placement with zero padding in the columns, signed grid */
        {"strided padded, 3-bit signed", 3, 2, 11, 11, 4, 3, 4, 1, 3, 1, CONV_ACT_RELU, 0},
        /* fewer samples than threads: one sample at a time */
        {"single sample", 1, 2, 9, 9, 3, 3, 2, 1, 4, 0, CONV_ACT_NONE, 0},
        /* channels last: ESPCN's first layer, a strided one (column placement), one sample */
        {"first layer channels last, 8-bit unsigned", 5, 1, 12, 12, 6, 5, 1, 2, 8, 0, CONV_ACT_TANH, 1},
        {"strided channels last, 4-bit unsigned", 3, 1, 16, 16, 5, 3, 5, 0, 4, 0, CONV_ACT_NONE, 1},
        {"single sample channels last", 1, 1, 9, 9, 3, 3, 1, 1, 4, 0, CONV_ACT_RELU, 1},
        /* three channels, channels last: transposed by the op, then fused */
        {"3 channels channels last, 4-bit unsigned", 4, 3, 11, 11, 5, 3, 2, 1, 4, 0, CONV_ACT_RELU, 1},
        /* paths that do not fuse: the op quantizes first (shifted GEMMs; Winograd) */
        {"shifted path, 4-bit signed", 2, 16, 9, 9, 4, 3, 1, 1, 4, 1, CONV_ACT_TANH, 0},
        {"Winograd path, 4-bit signed", 2, 8, 9, 9, 4, 3, 1, 1, 4, 1, CONV_ACT_TANH, 1},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) check_case(&CASES[i]);
    return check_done("conv2d_qin");
}
