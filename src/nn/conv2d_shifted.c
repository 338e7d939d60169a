/* Conv2d as shifted GEMMs ("implicit"; op_conv2d's path for NCHW stride-1 convs with at
 * least 16 input channels, ESPCN's inner layers in evaluation): the input is zero-padded
 * into planes of Hp x Wp, the output is computed on an extended map of Ho rows of Wp
 * columns (the last Wp - Wo of each row are junk and dropped), and kernel tap (u, v) of
 * every output pixel then reads the padded plane at a fixed offset u*Wp + v: one GEMM per
 * tap on a strided view, K = C. No columns are built, which for 17x17 maps cost more than
 * the GEMMs' own packing. dW and dX are the same shifted GEMMs, transposed.
 * With at least as many samples as threads each thread takes whole samples with
 * single-threaded GEMMs; with fewer (whole images, batch 1) the forward splits the output
 * rows into one band per thread (no barrier between the taps' GEMMs). Backward rebuilds
 * the padded planes rather than keeping them from the forward. */
#include <omp.h>
#include <stddef.h>
#include <string.h>

#include "core/blas.h"
#include "nn/conv2d_act.h"
#include "nn/conv2d_path.h"

typedef struct {
    int C, H, W, O, k, p, Hp, Wp, Ho, Wo;
    int L; /* padded plane stride: Hp*Wp plus k-1 floats the last tap's junk columns read */
    int Q; /* extended output map: Ho rows of Wp columns */
} Geo;

static Geo geo_of(const Tensor *x, const Tensor *w, int pad) {
    Geo g;
    g.C = x->shape[1], g.H = x->shape[2], g.W = x->shape[3];
    g.O = w->shape[0], g.k = w->shape[2], g.p = pad;
    g.Hp = g.H + 2 * pad, g.Wp = g.W + 2 * pad;
    g.Ho = g.Hp - g.k + 1, g.Wo = g.Wp - g.k + 1;
    g.L = g.Hp * g.Wp + g.k - 1;
    g.Q = g.Ho * g.Wp;
    return g;
}

/* wt[(u*k + v)][o][c] = w[o][c][u][v] */
static float *repack_taps(Graph *gr, const Tensor *w) {
    int O = w->shape[0], C = w->shape[1], kk = w->shape[2] * w->shape[3];
    float *wt = graph_alloc(gr, (size_t)kk * O * C * sizeof(float));
    for (int o = 0; o < O; o++)
        for (int c = 0; c < C; c++)
            for (int t = 0; t < kk; t++) wt[((size_t)t * O + o) * C + c] = w->data[((size_t)o * C + c) * kk + t];
    return wt;
}

/* The interior of the padded planes (the zero border is written once per buffer). */
static void pad_planes(const Geo *g, const float *x, float *xp) {
    for (int c = 0; c < g->C; c++)
        for (int i = 0; i < g->H; i++) {
            float *restrict out = xp + (size_t)c * g->L + (size_t)(i + g->p) * g->Wp + g->p;
            const float *restrict in = x + ((size_t)c * g->H + i) * g->W;
            for (int j = 0; j < g->W; j++) out[j] = in[j];
        }
}

/* Output rows [i0, i1) of one sample from its padded planes xp: per tap one GEMM on the
 * matching columns of the extended map ye, then bias, activation and the crop into yn. */
static void shifted_forward(const Geo *g, const float *wt, const float *xp, float *ye, const Tensor *b,
                            ConvAct act, float *yn, int i0, int i1) {
    size_t q0 = (size_t)i0 * g->Wp;
    int nq = (i1 - i0) * g->Wp;
    for (int u = 0; u < g->k; u++)
        for (int v = 0; v < g->k; v++) {
            int t = u * g->k + v;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->O, nq, g->C, 1.0f,
                        wt + (size_t)t * g->O * g->C, g->C, xp + q0 + (size_t)u * g->Wp + v, g->L,
                        t ? 1.0f : 0.0f, ye + q0, g->Q);
        }
    for (int o = 0; o < g->O; o++) { /* the crop with the bias, row by row; then the band at once */
        float *band = yn + ((size_t)o * g->Ho + i0) * g->Wo;
        for (int i = i0; i < i1; i++)
            conv_act_run(CONV_ACT_NONE, ye + (size_t)o * g->Q + (size_t)i * g->Wp, b ? b->data + o : NULL, 1,
                         band + (size_t)(i - i0) * g->Wo, (size_t)g->Wo);
        conv_act_inplace(act, band, (size_t)(i1 - i0) * g->Wo);
    }
}

/* Sample n's gradients: dW as dwt[k*k][C][O] (accumulated), db, and dX (added), with the
 * taps transposed in wtt [k*k][C][O] (so every GEMM is OpenBLAS's unpacked small-matrix
 * NN kernel). Buffers: xp [C*L] and dye [O*Q] with zero borders / junk columns, dyt
 * [Q*O], dxp [C*L]. */
static void shifted_backward_sample(const ConvCtx *c, const Geo *g, const float *wtt, int n, float *xp,
                                    float *dye, float *dyt, float *dxp, float *dwt, float *db) {
    int O = g->O, P = g->Ho * g->Wo;
    const float *dy = c->y->grad + (size_t)n * O * P, *yn = c->y->data + (size_t)n * O * P;
    for (int o = 0; o < O; o++) { /* dY on the extended map, before the fused activation */
        float acc = 0.0f;
        for (int i = 0; i < g->Ho; i++) {
            size_t at = ((size_t)o * g->Ho + i) * g->Wo;
            float *restrict out = dye + (size_t)o * g->Q + (size_t)i * g->Wp;
            conv_act_grad(c->act, yn + at, dy + at, out, (size_t)g->Wo);
#pragma omp simd reduction(+ : acc)
            for (int j = 0; j < g->Wo; j++) acc += out[j];
        }
        if (db) db[o] += acc;
    }
    if (dwt) {
        pad_planes(g, c->x->data + (size_t)n * g->C * g->H * g->W, xp);
        for (int q = 0; q < g->Q; q++) /* dY^T [Q, O]: no transposed operand in the GEMMs */
            for (int o = 0; o < O; o++) dyt[(size_t)q * O + o] = dye[(size_t)o * g->Q + q];
        for (int u = 0; u < g->k; u++)
            for (int v = 0; v < g->k; v++) /* dW_t^T [C, O] += Xshift_t [C, Q] dY^T */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->C, O, g->Q, 1.0f,
                            xp + (size_t)u * g->Wp + v, g->L, dyt, O, 1.0f,
                            dwt + (size_t)(u * g->k + v) * g->C * O, O);
    }
    if (c->x->grad) {
        /* Tap (0, 0) sets columns [0, Q) of every plane; the rest starts at zero. */
        for (int ch = 0; ch < g->C; ch++)
            memset(dxp + (size_t)ch * g->L + g->Q, 0, (size_t)(g->L - g->Q) * sizeof(float));
        for (int u = 0; u < g->k; u++)
            for (int v = 0; v < g->k; v++) /* dXshift_t [C, Q] += W_t^T [C, O] dY */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->C, g->Q, O, 1.0f,
                            wtt + (size_t)(u * g->k + v) * g->C * O, O, dye, g->Q, u + v ? 1.0f : 0.0f,
                            dxp + (size_t)u * g->Wp + v, g->L);
        float *dxn = c->x->grad + (size_t)n * g->C * g->H * g->W;
        for (int ch = 0; ch < g->C; ch++)
            for (int i = 0; i < g->H; i++) {
                const float *restrict in = dxp + (size_t)ch * g->L + (size_t)(i + g->p) * g->Wp + g->p;
                float *restrict out = dxn + ((size_t)ch * g->H + i) * g->W;
                for (int j = 0; j < g->W; j++) out[j] += in[j];
            }
    }
}

void conv2d_shifted_backward(ConvCtx *c) {
    Geo g = geo_of(c->x, c->w, c->pad);
    int N = c->x->shape[0], O = g.O, kk = g.k * g.k;
    size_t wsize = (size_t)O * g.C * kk;
    float *dw = c->w->grad, *db = (c->b && c->b->grad) ? c->b->grad : NULL;
    int nt = omp_get_max_threads(), team = N < nt ? 1 : nt; /* buffer sets */
    size_t xp_f = (size_t)g.C * g.L, dye_f = (size_t)O * g.Q;
    /* Zeroed once: the padded borders and junk columns are never written after. */
    float *xp_all = dw ? arena_calloc(&c->g->arena, team * xp_f * sizeof(float)) : NULL;
    float *dye_all = arena_calloc(&c->g->arena, team * dye_f * sizeof(float));
    float *dxp_all = c->x->grad ? graph_alloc(c->g, team * xp_f * sizeof(float)) : NULL;
    float *dyt_all = dw ? graph_alloc(c->g, team * dye_f * sizeof(float)) : NULL;
    /* dW as [k*k][C][O] and db, per buffer set, summed in set order: deterministic. */
    float *dwt_all = dw ? arena_calloc(&c->g->arena, team * wsize * sizeof(float)) : NULL;
    float *db_all = db ? arena_calloc(&c->g->arena, (size_t)team * O * sizeof(float)) : NULL;
    float *wtt = NULL;
    if (c->x->grad) {
        wtt = graph_alloc(c->g, wsize * sizeof(float));
        for (int q = 0; q < kk; q++)
            for (int o = 0; o < O; o++)
                for (int ch = 0; ch < g.C; ch++)
                    wtt[((size_t)q * g.C + ch) * O + o] = c->state[((size_t)q * O + o) * g.C + ch];
    }
    if (team == 1) { /* one sample at a time, the thread team inside the GEMMs */
        for (int n = 0; n < N; n++)
            shifted_backward_sample(c, &g, wtt, n, xp_all, dye_all, dyt_all, dxp_all, dwt_all, db_all);
    } else {
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) {
            int t = omp_get_thread_num();
            shifted_backward_sample(c, &g, wtt, n, xp_all ? xp_all + t * xp_f : NULL, dye_all + t * dye_f,
                                    dyt_all ? dyt_all + t * dye_f : NULL,
                                    dxp_all ? dxp_all + t * xp_f : NULL, dwt_all ? dwt_all + t * wsize : NULL,
                                    db_all ? db_all + (size_t)t * O : NULL);
        }
    }
    for (int t = 0; t < team; t++) {
        if (dw) {
            const float *part = dwt_all + t * wsize;
            for (int o = 0; o < O; o++)
                for (int ch = 0; ch < g.C; ch++)
                    for (int q = 0; q < kk; q++)
                        dw[((size_t)o * g.C + ch) * kk + q] += part[((size_t)q * g.C + ch) * O + o];
        }
        if (db)
            for (int o = 0; o < O; o++) db[o] += db_all[(size_t)t * O + o];
    }
}

void conv2d_shifted_forward(ConvCtx *c) {
    Graph *gr = c->g;
    const Tensor *x = c->x, *b = c->b, *y = c->y;
    ConvAct act = c->act;
    float *wt = c->state = repack_taps(gr, c->w);
    Geo g = geo_of(x, c->w, c->pad);
    int N = x->shape[0], nt = omp_get_max_threads(), team = N < nt ? 1 : nt;
    size_t xp_f = (size_t)g.C * g.L, ye_f = (size_t)g.O * g.Q, P = (size_t)g.Ho * g.Wo;
    float *xp_all = arena_calloc(&gr->arena, team * xp_f * sizeof(float)); /* zero borders */
    float *ye_all = graph_alloc(gr, team * ye_f * sizeof(float));
    if (team == 1) { /* one sample at a time: bands of output rows over the threads */
        for (int n = 0; n < N; n++) {
            const float *xn = x->data + (size_t)n * g.C * g.H * g.W;
#pragma omp parallel
            {
                int t = omp_get_thread_num(), nth = omp_get_num_threads();
#pragma omp for schedule(static)
                for (int ch = 0; ch < g.C; ch++) {
                    Geo one = g;
                    one.C = 1;
                    pad_planes(&one, xn + (size_t)ch * g.H * g.W, xp_all + (size_t)ch * g.L);
                }
                int i0 = g.Ho * t / nth, i1 = g.Ho * (t + 1) / nth; /* after the implicit barrier */
                if (i1 > i0) shifted_forward(&g, wt, xp_all, ye_all, b, act, y->data + n * g.O * P, i0, i1);
            }
        }
        return;
    }
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        int t = omp_get_thread_num();
        pad_planes(&g, x->data + (size_t)n * g.C * g.H * g.W, xp_all + t * xp_f);
        shifted_forward(&g, wt, xp_all + t * xp_f, ye_all + t * ye_f, b, act, y->data + n * g.O * P, 0, g.Ho);
    }
}
