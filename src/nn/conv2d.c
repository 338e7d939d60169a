/* Conv2d as im2col + one GEMM per sample, samples spread over OpenMP threads.
 * The columns of one sample stay in the thread's cache; backward rebuilds them rather
 * than keeping all of them (for MNIST-sized maps storing them costs more memory traffic
 * than recomputing). */
#include <omp.h>
#include <string.h>

#include "core/blas.h"
#include "core/error.h"
#include "nn/ops.h"

typedef struct {
    Tensor *x, *w, *b, *y;
    int stride, pad;
    ConvAct act;
    Graph *g; /* backward scratch comes from the step's arena */
} ConvCtx;

/* Output columns j whose input column j*s + v - p lies inside [0, W): [*j0, *j1). */
static void valid_range(int v, int s, int p, int W, int Wo, int *j0, int *j1) {
    int lo = p - v > 0 ? (p - v + s - 1) / s : 0;
    int hi = (W - 1 + p - v) >= 0 ? (W - 1 + p - v) / s + 1 : 0;
    *j0 = lo < Wo ? lo : Wo;
    *j1 = hi < Wo ? hi : Wo;
    if (*j1 < *j0) *j1 = *j0;
}

/* col[(c*k + u)*k + v][i*Wo + j] = x[c][i*s + u - p][j*s + v - p] (0 outside). The bounds
 * are resolved per row, so the inner loops are plain copies. */
static void im2col(const float *x, int C, int H, int W, int k, int s, int p, int Ho, int Wo,
                   float *col) {
    for (int c = 0; c < C; c++)
        for (int u = 0; u < k; u++)
            for (int v = 0; v < k; v++) {
                float *row = col + ((size_t)(c * k + u) * k + v) * Ho * Wo;
                int j0, j1;
                valid_range(v, s, p, W, Wo, &j0, &j1);
                for (int i = 0; i < Ho; i++) {
                    int hi = i * s + u - p;
                    float *out = row + (size_t)i * Wo;
                    if (hi < 0 || hi >= H) {
                        memset(out, 0, (size_t)Wo * sizeof(float));
                        continue;
                    }
                    const float *in = x + ((size_t)c * H + hi) * W;
                    int off = v - p; /* j*s + off >= 0 for j >= j0 */
                    for (int j = 0; j < j0; j++) out[j] = 0.0f;
                    if (s == 1)
                        memcpy(out + j0, in + j0 + off, (size_t)(j1 - j0) * sizeof(float));
                    else
                        for (int j = j0; j < j1; j++) out[j] = in[j * s + off];
                    for (int j = j1; j < Wo; j++) out[j] = 0.0f;
                }
            }
}

/* The adjoint of im2col: dx[c][i*s + u - p][j*s + v - p] += col[...][i*Wo + j]. */
static void col2im_add(const float *col, int C, int H, int W, int k, int s, int p, int Ho,
                       int Wo, float *dx) {
    for (int c = 0; c < C; c++)
        for (int u = 0; u < k; u++)
            for (int v = 0; v < k; v++) {
                const float *row = col + ((size_t)(c * k + u) * k + v) * Ho * Wo;
                int j0, j1;
                valid_range(v, s, p, W, Wo, &j0, &j1);
                for (int i = 0; i < Ho; i++) {
                    int hi = i * s + u - p;
                    if (hi < 0 || hi >= H) continue;
                    float *restrict out = dx + ((size_t)c * H + hi) * W + (v - p);
                    const float *restrict in = row + (size_t)i * Wo;
                    if (s == 1) /* contiguous: vectorised */
                        for (int j = j0; j < j1; j++) out[j] += in[j];
                    else
                        for (int j = j0; j < j1; j++) out[j * s] += in[j];
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
    float *col_all = graph_alloc(c->g, (size_t)nt * CKK * P * sizeof(float));
    float *dcol_all = c->x->grad ? graph_alloc(c->g, (size_t)nt * CKK * P * sizeof(float)) : NULL;
    /* With a fused ReLU, the gradient before it is dy * 1[y > 0]. */
    float *dpre_all = c->act == CONV_ACT_RELU ? graph_alloc(c->g, (size_t)nt * O * P * sizeof(float)) : NULL;
    float *db_part = (c->b && c->b->grad) ? arena_calloc(&c->g->arena, (size_t)nt * O * sizeof(float)) : NULL;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        int t = omp_get_thread_num();
        const float *dy = c->y->grad + (size_t)n * O * P;
        if (dpre_all) {
            const float *yn = c->y->data + (size_t)n * O * P;
            float *dpre = dpre_all + (size_t)t * O * P;
            for (int i = 0; i < O * P; i++) dpre[i] = yn[i] > 0.0f ? dy[i] : 0.0f;
            dy = dpre;
        }
        if (db_part)
            for (int o = 0; o < O; o++) {
                float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
                for (int i = 0; i < P; i++) acc += dy[(size_t)o * P + i];
                db_part[(size_t)t * O + o] += acc;
            }
        float *col = col_all + (size_t)t * CKK * P;
        if (dw_part) im2col(c->x->data + (size_t)n * C * H * W, C, H, W, k, c->stride, c->pad, Ho, Wo, col);
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
    if (db_part)
        for (int t = 0; t < nt; t++)
            for (int o = 0; o < O; o++) c->b->grad[o] += db_part[(size_t)t * O + o];
}

Tensor *op_conv2d_act(Graph *g, Tensor *x, Tensor *w, Tensor *b, int stride, int pad, ConvAct act) {
    QAT_ASSERT(x->ndim == 4 && w->ndim == 4 && x->shape[1] == w->shape[1]);
    QAT_ASSERT(w->shape[2] == w->shape[3] && stride >= 1 && pad >= 0);
    int N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int O = w->shape[0], k = w->shape[2];
    int Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
    QAT_ASSERT(Ho > 0 && Wo > 0 && (!b || (int)b->size == O));
    int P = Ho * Wo, CKK = C * k * k;
    int grad = graph_needs_grad(g, x, w) || (g->training && b && b->grad);
    Tensor *y = graph_tensor4(g, grad, N, O, Ho, Wo);
    int nt = omp_get_max_threads();
    float *cols = graph_alloc(g, (size_t)nt * CKK * P * sizeof(float));
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        float *col = cols + (size_t)omp_get_thread_num() * CKK * P;
        float *yn = y->data + (size_t)n * O * P;
        im2col(x->data + (size_t)n * C * H * W, C, H, W, k, stride, pad, Ho, Wo, col);
        if (b)
            for (int o = 0; o < O; o++)
                for (int i = 0; i < P; i++) yn[(size_t)o * P + i] = b->data[o];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, P, CKK, 1.0f, w->data, CKK, col,
                    P, b ? 1.0f : 0.0f, yn, P);
        if (act == CONV_ACT_RELU) /* while the sample's output is still in cache */
            for (int i = 0; i < O * P; i++) yn[i] = yn[i] > 0.0f ? yn[i] : 0.0f;
    }
    if (grad) {
        ConvCtx *c = graph_alloc(g, sizeof *c);
        *c = (ConvCtx){x, w, b, y, stride, pad, act, g};
        graph_push(g, conv_backward, c);
    }
    return y;
}

Tensor *op_conv2d(Graph *g, Tensor *x, Tensor *w, Tensor *b, int stride, int pad) {
    return op_conv2d_act(g, x, w, b, stride, pad, CONV_ACT_NONE);
}
