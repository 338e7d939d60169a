#include "nn/int_ops.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "core/error.h"
#include "nn/conv2d_act.h"
#include "nn/int8_gemm.h"

int quant_levels_denominator(const float *levels, int n, int max_d) {
    float smallest = 0.0f;
    for (int i = 0; i < n; i++) {
        float v = fabsf(levels[i]);
        if (v > 0.0f && (smallest == 0.0f || v < smallest)) smallest = v;
    }
    if (smallest == 0.0f) return 0;
    for (int d = 1; d <= max_d; d++) {
        int ok = 1;
        for (int i = 0; ok && i < n; i++) {
            double t = (double)levels[i] * d;
            ok = fabs(t - rint(t)) <= 1e-4 && fabs(t) <= max_d;
        }
        if (ok) return d;
        if ((double)smallest * d > max_d) break;
    }
    return 0;
}

int quant_int_grid(const QuantFunc *f, IntGrid *g) {
    if (f->lo != rintf(f->lo) || f->hi != rintf(f->hi) || !(f->out_scale > 0.0f)) return 0;
    g->is_signed = f->sym || f->lo < 0.0f;
    int limit = g->is_signed ? 127 : 255;
    if (f->levels) { /* y = (sign) levels[k] out_scale, levels k / D */
        int d = quant_levels_denominator(f->levels, f->nlevels, limit);
        if (!d || fabsf(f->lo) > 1.0f || fabsf(f->hi) > 1.0f) return 0;
        g->direct = 0;
        g->scale = f->out_scale / (float)d;
        return 1;
    }
    int fits = f->sym ? fabsf(f->lo) <= 127.0f && fabsf(f->hi) <= 127.0f
               : g->is_signed ? f->lo >= -128.0f && f->hi <= 127.0f
                              : f->hi <= 255.0f;
    if (!fits) return 0;
    g->direct = !f->sym && f->add == 0.0f && (f->div == 0.0f || f->div == f->out_scale);
    g->scale = f->out_scale;
    return 1;
}

static inline int8_t code_int8(float v) { return v == v ? (int8_t)v : 0; }
static inline uint8_t code_uint8(float v) { return v == v ? (uint8_t)v : 0; }

void quant_int_codes(Quantizer *q, const QuantFunc *f, const IntGrid *g, const float *x, size_t n, void *codes,
                     float *scratch) {
    if (!g->direct) { /* the forward's values, divided by the grid's scale */
        q->ops->forward(q, (QuantInput){x, n, 1, 1, 0}, scratch);
        float s = g->scale;
        if (g->is_signed)
            for (size_t i = 0; i < n; i++) ((int8_t *)codes)[i] = code_int8(rintf(scratch[i] / s));
        else
            for (size_t i = 0; i < n; i++) ((uint8_t *)codes)[i] = code_uint8(rintf(scratch[i] / s));
        return;
    }
    float lo = f->lo, hi = f->hi;
    if (g->is_signed) {
        int8_t *c = codes;
        if (f->div != 0.0f)
            for (size_t i = 0; i < n; i++) c[i] = code_int8(qround(qclip(x[i] / f->div, lo, hi)));
        else
            for (size_t i = 0; i < n; i++) c[i] = code_int8(qround(qclip(x[i] * f->mul, lo, hi)));
    } else {
        uint8_t *c = codes;
        if (f->div != 0.0f)
            for (size_t i = 0; i < n; i++) c[i] = code_uint8(qround(qclip(x[i] / f->div, lo, hi)));
        else
            for (size_t i = 0; i < n; i++) c[i] = code_uint8(qround(qclip(x[i] * f->mul, lo, hi)));
    }
}

Int8Rescale int_rescale(float a_scale, IntWeightCodes w, const float *bias) {
    return (Int8Rescale){a_scale, w.scales, w.rows > 1, bias, w.offset};
}

static Int8Rescale rescale(IntCodes x, IntWeightCodes w, const Tensor *b) {
    return int_rescale(x.scale, w, b ? b->data : NULL);
}

Tensor *op_linear_int(Graph *g, IntCodes x, int M, int K, IntWeightCodes w, int N, const Tensor *b) {
    QAT_ASSERT(!g->training && w.packed->N == N && w.packed->K == K);
    Tensor *y = graph_tensor2(g, 0, M, N);
    int8_gemm(M, x.codes, (size_t)K, x.is_signed, w.packed, y->data, (size_t)N, rescale(x, w, b));
    return y;
}

/* Output row i of image x [H, W, C] (channels last) as patches [Wo, k*k*C], (kh, kw, c)
 * order; zeros (code 0 is 0 on every grid) outside. */
static void patch_row(const uint8_t *x, int C, int H, int W, int k, int s, int pad, int i, int Wo, uint8_t *out) {
    size_t K = (size_t)k * k * C;
    for (int j = 0; j < Wo; j++) {
        uint8_t *row = out + (size_t)j * K;
        for (int u = 0; u < k; u++) {
            int h = i * s + u - pad;
            for (int v = 0; v < k; v++, row += C) {
                int wc = j * s + v - pad;
                if (h < 0 || h >= H || wc < 0 || wc >= W) memset(row, 0, (size_t)C);
                else if (C == 1) *row = x[(size_t)h * W + wc];
                else memcpy(row, x + ((size_t)h * W + wc) * C, (size_t)C);
            }
        }
    }
}

Tensor *op_conv2d_int(Graph *g, IntCodes x, const int *xshape, ConvLayout layout, IntWeightCodes w, int O, int k,
                      int stride, int pad, const Tensor *b, ConvAct act) {
    QAT_ASSERT(!g->training);
    int nhwc = layout == CONV_NHWC;
    int N = xshape[0], C = nhwc ? xshape[3] : xshape[1], H = nhwc ? xshape[1] : xshape[2];
    int W = nhwc ? xshape[2] : xshape[3];
    int Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1, K = k * k * C;
    size_t P = (size_t)Ho * Wo;
    QAT_ASSERT(Ho > 0 && Wo > 0 && w.packed->N == O && w.packed->K == K);
    const uint8_t *xc = x.codes; /* int8 or uint8 alike: bytes */
    if (!nhwc && C > 1) {        /* the patches copy channel runs: channels last first */
        uint8_t *t = graph_alloc(g, (size_t)N * C * H * W);
        size_t HW = (size_t)H * W;
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++)
                for (size_t p = 0; p < HW; p++) t[((size_t)n * HW + p) * C + c] = xc[((size_t)n * C + c) * HW + p];
        xc = t;
    }
    Tensor *y = nhwc ? graph_tensor4(g, 0, N, Ho, Wo, O) : graph_tensor4(g, 0, N, O, Ho, Wo);
    float *yl = nhwc || O == 1 ? y->data : graph_alloc(g, (size_t)N * P * O * sizeof(float)); /* channels last */
    Int8Rescale r = rescale(x, w, b);
    int rows = N * Ho, nt = omp_get_max_threads();
    uint8_t *pat_all = graph_alloc(g, (size_t)nt * Wo * K);
#pragma omp parallel for schedule(static) if (rows > 1 && (double)P * N * O * K > 1 << 17)
    for (int ri = 0; ri < rows; ri++) {
        int n = ri / Ho, i = ri % Ho;
        uint8_t *pat = pat_all + (size_t)omp_get_thread_num() * Wo * K;
        patch_row(xc + (size_t)n * H * W * C, C, H, W, k, stride, pad, i, Wo, pat);
        float *yr = yl + ((size_t)n * P + (size_t)i * Wo) * O;
        int8_gemm(Wo, pat, (size_t)K, x.is_signed, w.packed, yr, (size_t)O, r);
        conv_act_inplace(act, yr, (size_t)Wo * O);
    }
    if (yl != y->data) /* back to planes */
        for (int n = 0; n < N; n++)
#pragma omp parallel for schedule(static) if (P * O > 1 << 16)
            for (int o = 0; o < O; o++) {
                float *plane = y->data + ((size_t)n * O + o) * P;
                const float *src = yl + (size_t)n * P * O + o;
                for (size_t p = 0; p < P; p++) plane[p] = src[p * O];
            }
    return y;
}
