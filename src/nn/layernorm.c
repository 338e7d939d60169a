#include <math.h>
#include <omp.h>
#include <string.h>

#include "core/error.h"
#include "nn/ops.h"

typedef struct {
    Tensor *x, *gamma, *beta, *y;
    float *xhat, *rstd; /* saved normalised input and 1/std per row */
} LnCtx;

static void ln_backward(void *p) {
    LnCtx *c = p;
    int D = c->x->shape[c->x->ndim - 1];
    long rows = (long)(c->x->size / (size_t)D);
    const float *gam = c->gamma->data;
    /* dx = r * (g - mean(g) - xh * mean(g * xh)), g = dy * gamma */
    if (c->x->grad) {
#pragma omp parallel for schedule(static) if (rows * D > 65536)
        for (long r = 0; r < rows; r++) {
            const float *dy = c->y->grad + r * D, *xh = c->xhat + r * D;
            float *dx = c->x->grad + r * D;
            float mg = 0.0f, mgx = 0.0f;
            for (int d = 0; d < D; d++) {
                float gd = dy[d] * gam[d];
                mg += gd;
                mgx += gd * xh[d];
            }
            mg /= (float)D;
            mgx /= (float)D;
            for (int d = 0; d < D; d++) dx[d] += c->rstd[r] * (dy[d] * gam[d] - mg - xh[d] * mgx);
        }
    }
    for (long r = 0; r < rows; r++) {
        const float *dy = c->y->grad + r * D, *xh = c->xhat + r * D;
        for (int d = 0; d < D; d++) {
            if (c->gamma->grad) c->gamma->grad[d] += dy[d] * xh[d];
            if (c->beta->grad) c->beta->grad[d] += dy[d];
        }
    }
}

Tensor *op_layernorm(Graph *g, Tensor *x, Tensor *gamma, Tensor *beta, float eps) {
    int D = x->shape[x->ndim - 1];
    QAT_ASSERT((int)gamma->size == D && (int)beta->size == D);
    long rows = (long)(x->size / (size_t)D);
    int grad = graph_needs_grad(g, x, gamma) || (g->training && beta->grad);
    Tensor *y = graph_tensor(g, grad, x->ndim, x->shape);
    float *xhat = grad ? graph_alloc(g, x->size * sizeof(float)) : NULL;
    float *rstd = grad ? graph_alloc(g, (size_t)rows * sizeof(float)) : NULL;
#pragma omp parallel for schedule(static) if (rows * D > 65536)
    for (long r = 0; r < rows; r++) {
        const float *in = x->data + r * D;
        float *out = y->data + r * D;
        double mu = 0.0, var = 0.0;
        for (int d = 0; d < D; d++) mu += in[d];
        mu /= D;
        for (int d = 0; d < D; d++) var += (in[d] - mu) * (in[d] - mu);
        var /= D;
        float rs = (float)(1.0 / sqrt(var + eps));
        for (int d = 0; d < D; d++) {
            float xh = (float)(in[d] - mu) * rs;
            if (xhat) xhat[r * D + d] = xh;
            out[d] = gamma->data[d] * xh + beta->data[d];
        }
        if (rstd) rstd[r] = rs;
    }
    if (grad) {
        LnCtx *c = graph_alloc(g, sizeof *c);
        *c = (LnCtx){x, gamma, beta, y, xhat, rstd};
        graph_push(g, ln_backward, c);
    }
    return y;
}

/* ---- in float, for short rows --------------------------------------------------------- */

typedef struct {
    Tensor *x, *w, *b, *y;
    float *xhat, *rstd, *part; /* part: per-thread dgamma, dbeta */
} LnFloatCtx;

static void ln_float_backward(void *ptr) {
    LnFloatCtx *c = ptr;
    int D = c->x->shape[1];
    long rows = c->x->shape[0];
    const float *gam = c->w->data;
    int nt = omp_get_max_threads();
    memset(c->part, 0, (size_t)nt * 2 * D * sizeof(float));
#pragma omp parallel
    {
        float *dg = c->part + (size_t)omp_get_thread_num() * 2 * D, *db = dg + D;
#pragma omp for schedule(static)
        for (long r = 0; r < rows; r++) {
            const float *dy = c->y->grad + r * D, *xh = c->xhat + r * D;
            float mg = 0.0f, mgx = 0.0f;
#pragma omp simd reduction(+ : mg, mgx)
            for (int i = 0; i < D; i++) {
                float gi = dy[i] * gam[i];
                mg += gi;
                mgx += gi * xh[i];
                dg[i] += dy[i] * xh[i];
                db[i] += dy[i];
            }
            if (c->x->grad) {
                float *dx = c->x->grad + r * D, rs = c->rstd[r];
                mg /= (float)D;
                mgx /= (float)D;
                for (int i = 0; i < D; i++) dx[i] += rs * (dy[i] * gam[i] - mg - xh[i] * mgx);
            }
        }
    }
    for (int t = 0; t < nt; t++) {
        const float *dg = c->part + (size_t)t * 2 * D;
        for (int i = 0; i < D; i++) {
            if (c->w->grad) c->w->grad[i] += dg[i];
            if (c->b->grad) c->b->grad[i] += dg[D + i];
        }
    }
}

Tensor *op_layernorm_float(Graph *g, Tensor *x, Tensor *w, Tensor *b, float eps) {
    int D = x->shape[1];
    long rows = x->shape[0];
    int grad = graph_needs_grad(g, x, w) || (g->training && b->grad);
    Tensor *y = graph_tensor2(g, grad, (int)rows, D);
    float *xhat = grad ? graph_alloc(g, x->size * sizeof(float)) : NULL;
    float *rstd = grad ? graph_alloc(g, (size_t)rows * sizeof(float)) : NULL;
    const float *gam = w->data, *bet = b->data;
#pragma omp parallel for schedule(static) if (rows * D > 65536)
    for (long r = 0; r < rows; r++) {
        const float *in = x->data + r * D;
        float *out = y->data + r * D, *xh = xhat ? xhat + r * D : out;
        float mu = 0.0f, var = 0.0f;
#pragma omp simd reduction(+ : mu)
        for (int i = 0; i < D; i++) mu += in[i];
        mu /= (float)D;
#pragma omp simd reduction(+ : var)
        for (int i = 0; i < D; i++) var += (in[i] - mu) * (in[i] - mu);
        float rs = 1.0f / sqrtf(var / (float)D + eps);
        for (int i = 0; i < D; i++) xh[i] = (in[i] - mu) * rs;
        for (int i = 0; i < D; i++) out[i] = gam[i] * xh[i] + bet[i];
        if (rstd) rstd[r] = rs;
    }
    if (grad) {
        LnFloatCtx *c = graph_alloc(g, sizeof *c);
        *c = (LnFloatCtx){x, w, b, y, xhat, rstd,
                     graph_alloc(g, (size_t)omp_get_max_threads() * 2 * D * sizeof(float))};
        graph_push(g, ln_float_backward, c);
    }
    return y;
}
