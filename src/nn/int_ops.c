#include "nn/int_ops.h"

#include <omp.h>
#include <string.h>

#include "core/error.h"
#include "nn/conv2d_act.h"
#include "nn/int8_gemm.h"

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
