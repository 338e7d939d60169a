/* Conv2d as im2col + one GEMM per sample, samples spread over OpenMP threads.
 * The columns are kept for the backward pass (dW = dY col^T), so they are built once. */
#include <omp.h>
#include <string.h>

#include "core/blas.h"
#include "core/error.h"
#include "nn/ops.h"

typedef struct {
    Tensor *x, *w, *b, *y;
    float *cols; /* [N][C*k*k][Ho*Wo] */
    int stride, pad;
    Graph *g; /* backward scratch comes from the step's arena */
} ConvCtx;

static void im2col(const float *x, int C, int H, int W, int k, int s, int p, int Ho, int Wo,
                   float *col) {
    for (int c = 0; c < C; c++)
        for (int u = 0; u < k; u++)
            for (int v = 0; v < k; v++) {
                float *row = col + ((size_t)(c * k + u) * k + v) * Ho * Wo;
                for (int i = 0; i < Ho; i++) {
                    int hi = i * s + u - p;
                    float *out = row + (size_t)i * Wo;
                    if (hi < 0 || hi >= H) {
                        memset(out, 0, (size_t)Wo * sizeof(float));
                        continue;
                    }
                    const float *in = x + ((size_t)c * H + hi) * W;
                    for (int j = 0; j < Wo; j++) {
                        int wj = j * s + v - p;
                        out[j] = (wj >= 0 && wj < W) ? in[wj] : 0.0f;
                    }
                }
            }
}

static void col2im_add(const float *col, int C, int H, int W, int k, int s, int p, int Ho,
                       int Wo, float *dx) {
    for (int c = 0; c < C; c++)
        for (int u = 0; u < k; u++)
            for (int v = 0; v < k; v++) {
                const float *row = col + ((size_t)(c * k + u) * k + v) * Ho * Wo;
                for (int i = 0; i < Ho; i++) {
                    int hi = i * s + u - p;
                    if (hi < 0 || hi >= H) continue;
                    float *out = dx + ((size_t)c * H + hi) * W;
                    const float *in = row + (size_t)i * Wo;
                    for (int j = 0; j < Wo; j++) {
                        int wj = j * s + v - p;
                        if (wj >= 0 && wj < W) out[wj] += in[j];
                    }
                }
            }
}

static void conv_backward(void *p) {
    ConvCtx *c = p;
    int N = c->x->shape[0], C = c->x->shape[1], H = c->x->shape[2], W = c->x->shape[3];
    int O = c->w->shape[0], k = c->w->shape[2];
    int Ho = c->y->shape[2], Wo = c->y->shape[3];
    int P = Ho * Wo, CKK = C * k * k;
    size_t wsize = (size_t)O * CKK;
    int nt = omp_get_max_threads();
    /* Per-thread partial dW, summed in thread order: deterministic for a thread count. */
    float *dw_part = c->w->grad ? arena_calloc(&c->g->arena, (size_t)nt * wsize * sizeof(float)) : NULL;
    float *dcol_all = c->x->grad ? graph_alloc(c->g, (size_t)nt * CKK * P * sizeof(float)) : NULL;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        int t = omp_get_thread_num();
        const float *dy = c->y->grad + (size_t)n * O * P;
        const float *col = c->cols + (size_t)n * CKK * P;
        if (dw_part)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, O, CKK, P, 1.0f, dy, P, col, P,
                        1.0f, dw_part + (size_t)t * wsize, CKK);
        if (dcol_all) {
            float *dcol = dcol_all + (size_t)t * CKK * P;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CKK, P, O, 1.0f, c->w->data, CKK,
                        dy, P, 0.0f, dcol, P);
            col2im_add(dcol, C, H, W, k, c->stride, c->pad, Ho, Wo,
                       c->x->grad + (size_t)n * C * H * W);
        }
    }
    if (dw_part) {
        for (int t = 0; t < nt; t++)
            for (size_t i = 0; i < wsize; i++) c->w->grad[i] += dw_part[(size_t)t * wsize + i];
    }
    if (c->b && c->b->grad) {
        for (int n = 0; n < N; n++)
            for (int o = 0; o < O; o++) {
                const float *dy = c->y->grad + ((size_t)n * O + o) * P;
                float s = 0.0f;
                for (int i = 0; i < P; i++) s += dy[i];
                c->b->grad[o] += s;
            }
    }
}

Tensor *op_conv2d(Graph *g, Tensor *x, Tensor *w, Tensor *b, int stride, int pad) {
    QAT_ASSERT(x->ndim == 4 && w->ndim == 4 && x->shape[1] == w->shape[1]);
    QAT_ASSERT(w->shape[2] == w->shape[3] && stride >= 1 && pad >= 0);
    int N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int O = w->shape[0], k = w->shape[2];
    int Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
    QAT_ASSERT(Ho > 0 && Wo > 0 && (!b || (int)b->size == O));
    int P = Ho * Wo, CKK = C * k * k;
    int grad = graph_needs_grad(g, x, w) || (g->training && b && b->grad);
    Tensor *y = graph_tensor4(g, grad, N, O, Ho, Wo);
    /* Training keeps every sample's columns for backward; evaluation reuses one per thread. */
    int nt = omp_get_max_threads();
    float *cols = graph_alloc(g, (size_t)(grad ? N : nt) * CKK * P * sizeof(float));
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *col = cols + (size_t)(grad ? n : omp_get_thread_num()) * CKK * P;
        float *yn = y->data + (size_t)n * O * P;
        im2col(x->data + (size_t)n * C * H * W, C, H, W, k, stride, pad, Ho, Wo, col);
        if (b)
            for (int o = 0; o < O; o++)
                for (int i = 0; i < P; i++) yn[(size_t)o * P + i] = b->data[o];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, P, CKK, 1.0f, w->data, CKK, col,
                    P, b ? 1.0f : 0.0f, yn, P);
    }
    if (grad) {
        ConvCtx *c = graph_alloc(g, sizeof *c);
        *c = (ConvCtx){x, w, b, y, cols, stride, pad, g};
        graph_push(g, conv_backward, c);
    }
    return y;
}
