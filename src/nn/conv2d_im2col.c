/* Conv2d as im2col + one GEMM per sample: op_conv2d's path for every shape the other two
 * do not take (the first layer with one channel, strided convs, channels last other
 * than Winograd's). Channels last outputs are col^T W^T. The input gradient is, for
 * stride 1, a conv of dY with the flipped, transposed kernel (one GEMM with K = O*k*k on
 * the columns of dY); for other strides W^T dY and a scatter-add of the columns
 * (col2im). An input quantizer is fused into the per-sample loops: each sample is
 * fake-quantized in cache just before its columns are built, and in backward the
 * gradient of the quantized sample goes through the quantizer's backward_part while
 * still in cache, without the quantized tensor, its gradient, and their passes over
 * memory. With at least as many samples as threads (training batches) each thread takes
 * whole samples with single-threaded GEMMs, so one sample's buffers stay in its cache;
 * with fewer, the samples go one by one and OpenBLAS spreads each GEMM over the threads.
 * Backward rebuilds the columns rather than keeping them from the forward. */
#include <omp.h>
#include <stddef.h>
#include <string.h>

#include "core/blas.h"
#include "nn/conv2d_act.h"
#include "nn/conv2d_path.h"

/* Elements of all the quantizer's parameters, in params order. */
static size_t quant_param_count(const Quantizer *q) {
    size_t n = 0;
    for (int k = 0; k < q->nparams; k++) n += q->params[k]->t.size;
    return n;
}

/* Output columns j whose input column j*s + v - p lies inside [0, W): [*j0, *j1). */
static void valid_range(int v, int s, int p, int W, int Wo, int *j0, int *j1) {
    int lo = p - v > 0 ? (p - v + s - 1) / s : 0;
    int hi = (W - 1 + p - v) >= 0 ? (W - 1 + p - v) / s + 1 : 0;
    *j0 = lo < Wo ? lo : Wo;
    *j1 = hi < Wo ? hi : Wo;
    if (*j1 < *j0) *j1 = *j0;
}

/* Row r = (c*k + u)*k + v of the columns: col_r[i*Wo + j] = x[c][i*s + u - p][j*s + v - p]
 * (0 outside). The bounds are resolved per image row, so the inner loops are plain copies
 * (short rows: a loop, not a memcpy call). */
static void im2col_row(const float *x, int r, int H, int W, int k, int s, int p, int Ho, int Wo,
                       float *restrict row) {
    int c = r / (k * k), u = r / k % k, v = r % k;
    int j0, j1;
    valid_range(v, s, p, W, Wo, &j0, &j1);
    if (s == 1 && Wo == W) {
        /* "Same" width: the row is the channel shifted by (u-p)*W + v-p, so one long copy
         * fills it; only the wrapped-around edge columns are zeroed after. */
        int i0 = p - u > 0 ? p - u : 0, i1 = H + p - u < Ho ? H + p - u : Ho;
        if (i1 <= i0 || j1 <= j0) {
            memset(row, 0, (size_t)Ho * Wo * sizeof(float));
            return;
        }
        const float *restrict in = x + (size_t)c * H * W + (ptrdiff_t)(u - p) * W + (v - p);
        size_t a = (size_t)i0 * W + j0, e = (size_t)(i1 - 1) * W + j1;
        memset(row, 0, a * sizeof(float));
        for (size_t q = a; q < e; q++) row[q] = in[q];
        memset(row + e, 0, ((size_t)Ho * Wo - e) * sizeof(float));
        for (int i = i0; i < i1; i++) {
            for (int j = 0; j < j0; j++) row[(size_t)i * Wo + j] = 0.0f;
            for (int j = j1; j < Wo; j++) row[(size_t)i * Wo + j] = 0.0f;
        }
        return;
    }
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

/* The columns [C*k*k, Ho*Wo] of one sample: in one thread, or split by row over the team. */
static void im2col_all(const float *x, int C, int H, int W, int k, int s, int p, int Ho, int Wo,
                       float *col, int parallel) {
    int rows = C * k * k;
    size_t P = (size_t)Ho * Wo;
    if (!parallel) {
        for (int r = 0; r < rows; r++) im2col_row(x, r, H, W, k, s, p, Ho, Wo, col + r * P);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) im2col_row(x, r, H, W, k, s, p, Ho, Wo, col + r * P);
}

/* The quantizer's forward is elementwise, so a sample can be quantized on its own, before
 * im2col, or on its columns after (each column value is a copy of an input value or a
 * zero of the padding, and q(0) = 0). The fused op takes whichever has fewer values:
 * columns when windows do not overlap (stride > kernel reads a fraction of the input,
 * simple_cnn's conv2 a third), the sample otherwise. */
typedef struct {
    int C, H, W, k, s, p, Ho, Wo;
    Quantizer *q; /* NULL: no fused quantizer */
    int on_columns;
    size_t chw, ncol; /* values of a sample, of its columns */
} ColSpec;

static ColSpec col_spec(int C, int H, int W, int k, int s, int p, int Ho, int Wo, Quantizer *q) {
    ColSpec cs = {C, H, W, k, s, p, Ho, Wo, q, 0, (size_t)C * H * W, (size_t)C * k * k * Ho * Wo};
    cs.on_columns = q && cs.ncol < cs.chw;
    return cs;
}

/* Scratch floats a worker needs for the quantized values. */
static size_t col_scratch(const ColSpec *cs) { return !cs->q ? 0 : cs->on_columns ? cs->ncol : cs->chw; }

static void quantize_values(Quantizer *q, const float *x, size_t n, float *y) {
    QuantInput in = {x, n, 1, 1, 0};
    q->ops->forward(q, in, y);
}

/* The columns of sample xn as the conv multiplies them, in col (scratch: col_scratch). */
static void columns_of(const ColSpec *cs, const float *xn, float *col, float *scratch, int parallel) {
    if (cs->q && !cs->on_columns) {
        quantize_values(cs->q, xn, cs->chw, scratch);
        xn = scratch;
    }
    float *raw = cs->q && cs->on_columns ? scratch : col;
    im2col_all(xn, cs->C, cs->H, cs->W, cs->k, cs->s, cs->p, cs->Ho, cs->Wo, raw, parallel);
    if (raw != col) quantize_values(cs->q, raw, cs->ncol, col);
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
    ColSpec cs;     /* fused input quantizer */
    double *qpart; /* its parameter gradients per sample [N][np] */
    size_t np;
} ConvBwd;

/* The gradients of sample n, accumulated into dw[O*CKK] and db[O] (either may be NULL)
 * and into x->grad. With a fused quantizer, xs and gq hold col_scratch floats each.
 * parallel: this call runs alone and may use the thread team. */
static void backward_sample(const ConvBwd *s, int n, float *col, float *dcol, float *dpre,
                            float *dw, float *db, float *xs, float *gq, int parallel) {
    ConvCtx *c = s->c;
    const ColSpec *cs = &s->cs;
    int O = s->O, P = s->P, CKK = s->CKK;
    const float *xraw = c->x->data + (size_t)n * cs->chw;
    const float *dy = c->y->grad + (size_t)n * O * P;
    if (c->act != CONV_ACT_NONE) { /* the gradient before the fused activation */
        conv_act_grad(c->act, c->y->data + (size_t)n * O * P, dy, dpre, (size_t)O * P);
        dy = dpre;
    }
    if (db && c->nhwc) /* dY [P][O] */
        for (int i = 0; i < P; i++)
            for (int o = 0; o < O; o++) db[o] += dy[(size_t)i * O + o];
    else if (db)
        for (int o = 0; o < O; o++) {
            float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
            for (int i = 0; i < P; i++) acc += dy[(size_t)o * P + i];
            db[o] += acc;
        }
    if (dw) {
        columns_of(cs, xraw, col, xs, parallel);
        cblas_sgemm(CblasRowMajor, c->nhwc ? CblasTrans : CblasNoTrans, CblasTrans, O, CKK, P, 1.0f, dy,
                    c->nhwc ? O : P, col, P, 1.0f, dw, CKK);
    }
    float *dxn = c->x->grad ? c->x->grad + (size_t)n * cs->chw : NULL;
    if (cs->on_columns) {
        /* Gradient of the quantized columns, through the quantizer on the raw columns (xs
         * still holds them after columns_of; rebuilt when there was no dW), scattered. */
        if (!dw) im2col_all(xraw, cs->C, cs->H, cs->W, cs->k, c->stride, c->pad, s->Ho, s->Wo, xs, parallel);
        cblas_sgemm(CblasRowMajor, CblasTrans, c->nhwc ? CblasTrans : CblasNoTrans, CKK, P, O, 1.0f, c->w->data,
                    CKK, dy, c->nhwc ? O : P, 0.0f, dcol, P);
        if (dxn) memset(gq, 0, cs->ncol * sizeof(float));
        QuantInput in = {xs, cs->ncol, 1, 1, 1};
        cs->q->ops->backward_part(cs->q, in, cs->chw, dcol, dxn ? gq : NULL, s->qpart + (size_t)n * s->np);
        if (dxn) col2im_add(gq, s->C, s->H, s->W, s->k, c->stride, c->pad, s->Ho, s->Wo, dxn);
        return;
    }
    if (!dxn && !cs->q) return;
    /* With a fused quantizer the input gradient is first that of the quantized sample, in
     * gq, which the quantizer's backward then passes on (and learns its parameters from). */
    float *dqn = cs->q ? gq : dxn;
    if (cs->q) memset(gq, 0, cs->chw * sizeof(float));
    int HW = s->H * s->W, OKK = O * s->k * s->k;
    if (s->flip) {
        /* dX[c] = sum_{o,u,v} wflip[c][o,u,v] dY[o][h + u - (k-1-p)][w + v - (k-1-p)] */
        im2col_all(dy, O, s->Ho, s->Wo, s->k, 1, s->k - 1 - c->pad, s->H, s->W, dcol, parallel);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->C, HW, OKK, 1.0f, s->wflip, OKK,
                    dcol, HW, 1.0f, dqn, HW);
    } else {
        cblas_sgemm(CblasRowMajor, CblasTrans, c->nhwc ? CblasTrans : CblasNoTrans, CKK, P, O, 1.0f, c->w->data,
                    CKK, dy, c->nhwc ? O : P, 0.0f, dcol, P);
        col2im_add(dcol, s->C, s->H, s->W, s->k, c->stride, c->pad, s->Ho, s->Wo, dqn);
    }
    if (cs->q) {
        QuantInput in = {xraw, cs->chw, 1, 1, 1};
        cs->q->ops->backward_part(cs->q, in, cs->chw, gq, dxn, s->qpart + (size_t)n * s->np);
    }
}

/* The fused quantizer's parameter gradients: the per-sample partial sums added in sample
 * order, so they do not depend on the thread count. */
static void conv_quant_param_grads(const ConvBwd *s) {
    Quantizer *q = s->c->xq;
    if (!q) return;
    size_t off = 0;
    for (int k = 0; k < q->nparams; k++) {
        Param *p = q->params[k];
        for (size_t e = 0; e < p->t.size; e++, off++) {
            double tot = 0.0;
            for (int n = 0; n < s->N; n++) tot += s->qpart[(size_t)n * s->np + off];
            if (p->t.grad) p->t.grad[e] += (float)tot;
        }
    }
}

void conv2d_im2col_backward(ConvCtx *c) {
    ConvBwd s = {.c = c};
    s.N = c->x->shape[0], s.C = c->w->shape[1], s.O = c->w->shape[0], s.k = c->w->shape[2];
    s.H = c->x->shape[2], s.W = c->x->shape[3];
    s.Ho = c->y->shape[c->nhwc ? 1 : 2], s.Wo = c->y->shape[c->nhwc ? 2 : 3];
    s.P = s.Ho * s.Wo, s.CKK = s.C * s.k * s.k;
    s.cs = col_spec(s.C, s.H, s.W, s.k, c->stride, c->pad, s.Ho, s.Wo, c->xq);
    int O = s.O, k = s.k;
    /* The flipped-kernel conv builds O*k*k columns of the input size, the scatter C*k*k
     * of the output size: per-thread samples take the smaller (a first layer with C = 1
     * scatters); one sample at a time keeps the flip, whose GEMM and im2col spread over
     * the team (the scatter is serial). */
    s.flip = !c->nhwc && (c->x->grad || c->xq) && c->stride == 1 && c->pad <= k - 1 && !s.cs.on_columns &&
             (s.N < omp_get_max_threads() || (size_t)O * s.H * s.W <= (size_t)s.C * s.P);
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
    s.dcol_floats = !c->x->grad && !c->xq ? 0 : s.flip ? (size_t)O * k * k * s.H * s.W : (size_t)s.CKK * s.P;
    size_t pre_floats = c->act != CONV_ACT_NONE ? (size_t)O * s.P : 0;
    size_t wsize = (size_t)O * s.CKK;
    float *dw = c->w->grad, *db = (c->b && c->b->grad) ? c->b->grad : NULL;
    int nt = omp_get_max_threads();
    size_t chw = col_scratch(&s.cs); /* quantized values and their gradient, per worker */
    if (c->xq) {
        s.np = quant_param_count(c->xq);
        s.qpart = arena_calloc(&c->g->arena, (size_t)s.N * (s.np ? s.np : 1) * sizeof(double));
    }

    if (s.N < nt) { /* one sample at a time, the team inside each */
        float *col = s.col_floats ? graph_alloc(c->g, s.col_floats * sizeof(float)) : NULL;
        float *dcol = s.dcol_floats ? graph_alloc(c->g, s.dcol_floats * sizeof(float)) : NULL;
        float *dpre = pre_floats ? graph_alloc(c->g, pre_floats * sizeof(float)) : NULL;
        float *xs = chw ? graph_alloc(c->g, 2 * chw * sizeof(float)) : NULL;
        for (int n = 0; n < s.N; n++) backward_sample(&s, n, col, dcol, dpre, dw, db, xs, xs ? xs + chw : NULL, 1);
        conv_quant_param_grads(&s);
        return;
    }
    /* Per-thread partial dW and db, summed in thread order: deterministic for a thread count. */
    float *dw_part = dw ? arena_calloc(&c->g->arena, (size_t)nt * wsize * sizeof(float)) : NULL;
    float *db_part = db ? arena_calloc(&c->g->arena, (size_t)nt * O * sizeof(float)) : NULL;
    float *col_all = s.col_floats ? graph_alloc(c->g, (size_t)nt * s.col_floats * sizeof(float)) : NULL;
    float *dcol_all = s.dcol_floats ? graph_alloc(c->g, (size_t)nt * s.dcol_floats * sizeof(float)) : NULL;
    float *dpre_all = pre_floats ? graph_alloc(c->g, (size_t)nt * pre_floats * sizeof(float)) : NULL;
    float *xs_all = chw ? graph_alloc(c->g, (size_t)nt * 2 * chw * sizeof(float)) : NULL;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < s.N; n++) {
        int t = omp_get_thread_num();
        float *xs = xs_all ? xs_all + (size_t)t * 2 * chw : NULL;
        backward_sample(&s, n, col_all ? col_all + (size_t)t * s.col_floats : NULL,
                        dcol_all ? dcol_all + (size_t)t * s.dcol_floats : NULL,
                        dpre_all ? dpre_all + (size_t)t * pre_floats : NULL,
                        dw_part ? dw_part + (size_t)t * wsize : NULL, db_part ? db_part + (size_t)t * O : NULL,
                        xs, xs ? xs + chw : NULL, 0);
    }
    conv_quant_param_grads(&s);
    if (dw_part)
        for (int t = 0; t < nt; t++)
            for (size_t i = 0; i < wsize; i++) dw[i] += dw_part[(size_t)t * wsize + i];
    if (db_part)
        for (int t = 0; t < nt; t++)
            for (int o = 0; o < O; o++) db[o] += db_part[(size_t)t * O + o];
}

/* Bias, GEMM and the fused activation of one sample whose columns are in col: yn [O][P],
 * or [P][O] channels last (col^T W^T). */
static void forward_sample(const float *col, const Tensor *w, const Tensor *b, int O, int P, int CKK,
                           ConvAct act, int nhwc, float *yn) {
    if (nhwc) { /* the bias in the activation's pass */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, P, O, CKK, 1.0f, col, P, w->data, CKK, 0.0f, yn, O);
        conv_act_run(act, yn, b ? b->data : NULL, O, yn, (size_t)O * P);
        return;
    }
    if (b)
        for (int o = 0; o < O; o++)
            for (int i = 0; i < P; i++) yn[(size_t)o * P + i] = b->data[o];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, P, CKK, 1.0f, w->data, CKK, col, P,
                b ? 1.0f : 0.0f, yn, P);
    if (act != CONV_ACT_NONE) /* while the sample's output is still in cache */
        conv_act_inplace(act, yn, (size_t)O * P);
}

void conv2d_im2col_forward(ConvCtx *c) {
    Graph *g = c->g;
    const Tensor *x = c->x, *w = c->w, *b = c->b, *y = c->y;
    int N = x->shape[0], C = w->shape[1], H = x->shape[2], W = x->shape[3], O = w->shape[0], k = w->shape[2];
    int Ho = y->shape[c->nhwc ? 1 : 2], Wo = y->shape[c->nhwc ? 2 : 3], P = Ho * Wo, CKK = C * k * k;
    ColSpec cs = col_spec(C, H, W, k, c->stride, c->pad, Ho, Wo, c->xq);
    size_t chw = col_scratch(&cs);
    int nt = omp_get_max_threads();
    if (N < nt) { /* one sample at a time, the team inside each */
        float *col = graph_alloc(g, (size_t)CKK * P * sizeof(float));
        float *xs = chw ? graph_alloc(g, chw * sizeof(float)) : NULL;
        for (int n = 0; n < N; n++) {
            columns_of(&cs, x->data + (size_t)n * C * H * W, col, xs, 1);
            forward_sample(col, w, b, O, P, CKK, c->act, c->nhwc, y->data + (size_t)n * O * P);
        }
        return;
    }
    float *cols = graph_alloc(g, (size_t)nt * CKK * P * sizeof(float));
    float *xs_all = chw ? graph_alloc(g, (size_t)nt * chw * sizeof(float)) : NULL;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        int t = omp_get_thread_num();
        float *col = cols + (size_t)t * CKK * P;
        columns_of(&cs, x->data + (size_t)n * C * H * W, col, xs_all ? xs_all + (size_t)t * chw : NULL, 0);
        forward_sample(col, w, b, O, P, CKK, c->act, c->nhwc, y->data + (size_t)n * O * P);
    }
}
