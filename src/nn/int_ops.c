#include "nn/int_ops.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "core/error.h"
#include "nn/conv2d_act.h"
#include "nn/int8_gemm.h"

int quant_func_is_int8(const QuantFunc *f, int *is_signed) {
    if (f->sym || f->levels || f->add != 0.0f || f->lo != rintf(f->lo) || f->hi != rintf(f->hi)) return 0;
    if (f->div != 0.0f && f->div != f->out_scale) return 0;
    *is_signed = f->lo < 0.0f;
    return *is_signed ? f->lo >= -128.0f && f->hi <= 127.0f : f->lo >= 0.0f && f->hi <= 255.0f;
}

static inline int8_t code_int8(float v) { return v == v ? (int8_t)v : 0; }
static inline uint8_t code_uint8(float v) { return v == v ? (uint8_t)v : 0; }

void quant_func_codes(const QuantFunc *f, int is_signed, const float *x, size_t n, void *codes) {
    float lo = f->lo, hi = f->hi;
    if (is_signed) {
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

static float row_scale(IntWeightCodes w, int n) { return w.scales[w.rows > 1 ? n : 0]; }

Tensor *op_linear_int(Graph *g, IntCodes x, int M, int K, IntWeightCodes w, int N, const Tensor *b) {
    QAT_ASSERT(!g->training);
    int32_t *acc = graph_alloc(g, (size_t)M * N * sizeof *acc);
    int8_gemm(INT8_KERNEL_AUTO, M, N, K, x.codes, x.is_signed, w.codes, acc);
    Tensor *y = graph_tensor2(g, 0, M, N);
    for (int n = 0; n < N; n++) {
        float s = x.scale * row_scale(w, n), bias = b ? b->data[n] : 0.0f;
        for (int m = 0; m < M; m++) y->data[(size_t)m * N + n] = (float)acc[(size_t)m * N + n] * s + bias;
    }
    return y;
}

/* patches[p][(c*k + u)*k + v] = x[c][i*s + u - pad][j*s + v - pad] (0 outside), p = i*Wo + j */
static void patches_of(const uint8_t *x, int C, int H, int W, int k, int s, int pad, int Ho, int Wo, uint8_t *out) {
    int CKK = C * k * k;
    for (int i = 0; i < Ho; i++)
        for (int j = 0; j < Wo; j++) {
            uint8_t *row = out + ((size_t)i * Wo + j) * CKK;
            for (int c = 0; c < C; c++)
                for (int u = 0; u < k; u++) {
                    int h = i * s + u - pad;
                    for (int v = 0; v < k; v++) {
                        int wc = j * s + v - pad;
                        *row++ = h >= 0 && h < H && wc >= 0 && wc < W ? x[((size_t)c * H + h) * W + wc] : 0;
                    }
                }
        }
}

Tensor *op_conv2d_int(Graph *g, IntCodes x, const int *xshape, IntWeightCodes w, int O, int k, int stride, int pad,
                      const Tensor *b, ConvAct act) {
    QAT_ASSERT(!g->training);
    int N = xshape[0], C = xshape[1], H = xshape[2], W = xshape[3];
    int Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1, P = Ho * Wo, CKK = C * k * k;
    QAT_ASSERT(Ho > 0 && Wo > 0);
    Tensor *y = graph_tensor4(g, 0, N, O, Ho, Wo);
    /* Whole samples per thread with a batch; one sample at a time (the GEMM's rows over
     * the threads) without. */
    int nt = omp_get_max_threads(), team = N >= nt ? nt : 1;
    uint8_t *pat_all = graph_alloc(g, (size_t)team * P * CKK);
    int32_t *acc_all = graph_alloc(g, (size_t)team * P * O * sizeof(int32_t));
#pragma omp parallel for schedule(static) num_threads(team)
    for (int n = 0; n < N; n++) {
        int t = omp_get_thread_num();
        uint8_t *pat = pat_all + (size_t)t * P * CKK; /* the codes' bytes: int8 or uint8 alike */
        int32_t *acc = acc_all + (size_t)t * P * O;
        patches_of((const uint8_t *)x.codes + (size_t)n * C * H * W, C, H, W, k, stride, pad, Ho, Wo, pat);
        int8_gemm(INT8_KERNEL_AUTO, P, O, CKK, pat, x.is_signed, w.codes, acc);
        float *yn = y->data + (size_t)n * O * P;
        for (int o = 0; o < O; o++) {
            float s = x.scale * row_scale(w, o), bias = b ? b->data[o] : 0.0f;
            float *plane = yn + (size_t)o * P;
            for (int p = 0; p < P; p++) plane[p] = (float)acc[(size_t)p * O + o] * s + bias;
            conv_act_inplace(act, plane, (size_t)P);
        }
    }
    return y;
}
