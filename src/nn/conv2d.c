/* Conv2d as im2col + GEMM.
 * With at least as many samples as threads (training batches) each thread takes whole
 * samples with single-threaded GEMMs, so the columns of one sample stay in its cache.
 * With fewer samples (evaluation on whole images, batch 1) the samples go one by one:
 * im2col is split over the threads by channel and OpenBLAS spreads each GEMM over them.
 * Backward rebuilds the columns rather than keeping them (for MNIST-sized maps storing
 * them costs more memory traffic than recomputing). The input gradient of a stride-1
 * conv is itself a stride-1 conv of dY with the flipped, transposed kernel: one GEMM
 * with K = O*k*k on the columns of dY, instead of W^T dY (K = O) and a scatter-add of
 * C*k*k rows (col2im); other strides use the latter. */
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

/* col[(c*k + u)*k + v][i*Wo + j] = x[c][i*s + u - p][j*s + v - p] (0 outside), for the
 * channels c0 <= c < c1. The bounds are resolved per row, so the inner loops are plain
 * copies (short rows: a loop, not a memcpy call). */
static void im2col(const float *x, int c0, int c1, int H, int W, int k, int s, int p, int Ho,
                   int Wo, float *col) {
    for (int c = c0; c < c1; c++)
        for (int u = 0; u < k; u++)
            for (int v = 0; v < k; v++) {
                float *row = col + ((size_t)(c * k + u) * k + v) * Ho * Wo;
                int j0, j1;
                valid_range(v, s, p, W, Wo, &j0, &j1);
                for (int i = 0; i < Ho; i++) {
                    int hi = i * s + u - p;
                    float *restrict out = row + (size_t)i * Wo;
                    if (hi < 0 || hi >= H) {
                        memset(out, 0, (size_t)Wo * sizeof(float));
                        continue;
                    }
                    const float *restrict in = x + ((size_t)c * H + hi) * W + (v - p);
                    for (int j = 0; j < j0; j++) out[j] = 0.0f;
                    if (s == 1)
                        for (int j = j0; j < j1; j++) out[j] = in[j];
                    else
                        for (int j = j0; j < j1; j++) out[j] = in[j * s];
                    for (int j = j1; j < Wo; j++) out[j] = 0.0f;
                }
            }
}

/* im2col of all C channels: in one thread, or split by channel over the team. */
static void im2col_all(const float *x, int C, int H, int W, int k, int s, int p, int Ho, int Wo,
                       float *col, int parallel) {
    if (!parallel) {
        im2col(x, 0, C, H, W, k, s, p, Ho, Wo, col);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) im2col(x, c, c + 1, H, W, k, s, p, Ho, Wo, col);
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

/* Per-call shapes and scratch of a backward. */
typedef struct {
    ConvCtx *c;
    int N, C, H, W, O, k, Ho, Wo, P, CKK;
    int flip;          /* input gradient as a conv of dY with wflip */
    float *wflip;      /* [C, O*k*k]: wflip[c][(o*k + u)*k + v] = w[o][c][k-1-u][k-1-v] */
    size_t col_floats; /* per-worker scratch sizes */
    size_t dcol_floats;
} ConvBwd;

/* The gradients of sample n, accumulated into dw[O*CKK] and db[O] (either may be NULL)
 * and into x->grad. parallel: this call runs alone and may use the thread team. */
static void backward_sample(const ConvBwd *s, int n, float *col, float *dcol, float *dpre,
                            float *dw, float *db, int parallel) {
    ConvCtx *c = s->c;
    int O = s->O, P = s->P, CKK = s->CKK;
    const float *dy = c->y->grad + (size_t)n * O * P;
    if (c->act == CONV_ACT_RELU) { /* the gradient before a fused ReLU: dy * 1[y > 0] */
        const float *yn = c->y->data + (size_t)n * O * P;
        for (int i = 0; i < O * P; i++) dpre[i] = yn[i] > 0.0f ? dy[i] : 0.0f;
        dy = dpre;
    }
    if (db)
        for (int o = 0; o < O; o++) {
            float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
            for (int i = 0; i < P; i++) acc += dy[(size_t)o * P + i];
            db[o] += acc;
        }
    if (dw) {
        im2col_all(c->x->data + (size_t)n * s->C * s->H * s->W, s->C, s->H, s->W, s->k, c->stride,
                   c->pad, s->Ho, s->Wo, col, parallel);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, O, CKK, P, 1.0f, dy, P, col, P, 1.0f,
                    dw, CKK);
    }
    if (!c->x->grad) return;
    float *dxn = c->x->grad + (size_t)n * s->C * s->H * s->W;
    int HW = s->H * s->W, OKK = O * s->k * s->k;
    if (s->flip) {
        /* dX[c] = sum_{o,u,v} wflip[c][o,u,v] dY[o][h + u - (k-1-p)][w + v - (k-1-p)] */
        im2col_all(dy, O, s->Ho, s->Wo, s->k, 1, s->k - 1 - c->pad, s->H, s->W, dcol, parallel);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->C, HW, OKK, 1.0f, s->wflip, OKK,
                    dcol, HW, 1.0f, dxn, HW);
    } else {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CKK, P, O, 1.0f, c->w->data, CKK, dy, P,
                    0.0f, dcol, P);
        col2im_add(dcol, s->C, s->H, s->W, s->k, c->stride, c->pad, s->Ho, s->Wo, dxn);
    }
}

static void conv_backward(void *p) {
    ConvCtx *c = p;
    ConvBwd s = {.c = c};
    s.N = c->x->shape[0], s.C = c->x->shape[1], s.H = c->x->shape[2], s.W = c->x->shape[3];
    s.O = c->w->shape[0], s.k = c->w->shape[2];
    s.Ho = c->y->shape[2], s.Wo = c->y->shape[3];
    s.P = s.Ho * s.Wo, s.CKK = s.C * s.k * s.k;
    int O = s.O, k = s.k;
    s.flip = c->x->grad && c->stride == 1 && c->pad <= k - 1;
    if (s.flip) {
        s.wflip = graph_alloc(c->g, (size_t)s.C * O * k * k * sizeof(float));
        for (int o = 0; o < O; o++)
            for (int ch = 0; ch < s.C; ch++)
                for (int u = 0; u < k; u++)
                    for (int v = 0; v < k; v++)
                        s.wflip[(size_t)ch * O * k * k + (o * k + u) * k + v] =
                            c->w->data[(((size_t)o * s.C + ch) * k + (k - 1 - u)) * k + (k - 1 - v)];
    }
    s.col_floats = c->w->grad ? (size_t)s.CKK * s.P : 0;
    s.dcol_floats = !c->x->grad ? 0 : s.flip ? (size_t)O * k * k * s.H * s.W : (size_t)s.CKK * s.P;
    size_t pre_floats = c->act == CONV_ACT_RELU ? (size_t)O * s.P : 0;
    size_t wsize = (size_t)O * s.CKK;
    float *dw = c->w->grad, *db = (c->b && c->b->grad) ? c->b->grad : NULL;
    int nt = omp_get_max_threads();

    if (s.N < nt) { /* one sample at a time, the team inside each */
        float *col = s.col_floats ? graph_alloc(c->g, s.col_floats * sizeof(float)) : NULL;
        float *dcol = s.dcol_floats ? graph_alloc(c->g, s.dcol_floats * sizeof(float)) : NULL;
        float *dpre = pre_floats ? graph_alloc(c->g, pre_floats * sizeof(float)) : NULL;
        for (int n = 0; n < s.N; n++) backward_sample(&s, n, col, dcol, dpre, dw, db, 1);
        return;
    }
    /* Per-thread partial dW and db, summed in thread order: deterministic for a thread count. */
    float *dw_part = dw ? arena_calloc(&c->g->arena, (size_t)nt * wsize * sizeof(float)) : NULL;
    float *db_part = db ? arena_calloc(&c->g->arena, (size_t)nt * O * sizeof(float)) : NULL;
    float *col_all = s.col_floats ? graph_alloc(c->g, (size_t)nt * s.col_floats * sizeof(float)) : NULL;
    float *dcol_all = s.dcol_floats ? graph_alloc(c->g, (size_t)nt * s.dcol_floats * sizeof(float)) : NULL;
    float *dpre_all = pre_floats ? graph_alloc(c->g, (size_t)nt * pre_floats * sizeof(float)) : NULL;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < s.N; n++) {
        int t = omp_get_thread_num();
        backward_sample(&s, n, col_all ? col_all + (size_t)t * s.col_floats : NULL,
                        dcol_all ? dcol_all + (size_t)t * s.dcol_floats : NULL,
                        dpre_all ? dpre_all + (size_t)t * pre_floats : NULL,
                        dw_part ? dw_part + (size_t)t * wsize : NULL, db_part ? db_part + (size_t)t * O : NULL, 0);
    }
    if (dw_part)
        for (int t = 0; t < nt; t++)
            for (size_t i = 0; i < wsize; i++) dw[i] += dw_part[(size_t)t * wsize + i];
    if (db_part)
        for (int t = 0; t < nt; t++)
            for (int o = 0; o < O; o++) db[o] += db_part[(size_t)t * O + o];
}

/* Bias, GEMM and the fused activation of one sample whose columns are in col. */
static void forward_sample(const float *col, const Tensor *w, const Tensor *b, int O, int P, int CKK,
                           ConvAct act, float *yn) {
    if (b)
        for (int o = 0; o < O; o++)
            for (int i = 0; i < P; i++) yn[(size_t)o * P + i] = b->data[o];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, P, CKK, 1.0f, w->data, CKK, col, P,
                b ? 1.0f : 0.0f, yn, P);
    if (act == CONV_ACT_RELU) /* while the sample's output is still in cache */
        for (int i = 0; i < O * P; i++) yn[i] = yn[i] > 0.0f ? yn[i] : 0.0f;
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
    if (N < nt) { /* one sample at a time, the team inside each */
        float *col = graph_alloc(g, (size_t)CKK * P * sizeof(float));
        for (int n = 0; n < N; n++) {
            im2col_all(x->data + (size_t)n * C * H * W, C, H, W, k, stride, pad, Ho, Wo, col, 1);
            forward_sample(col, w, b, O, P, CKK, act, y->data + (size_t)n * O * P);
        }
    } else {
        float *cols = graph_alloc(g, (size_t)nt * CKK * P * sizeof(float));
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) {
            float *col = cols + (size_t)omp_get_thread_num() * CKK * P;
            im2col(x->data + (size_t)n * C * H * W, 0, C, H, W, k, stride, pad, Ho, Wo, col);
            forward_sample(col, w, b, O, P, CKK, act, y->data + (size_t)n * O * P);
        }
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
