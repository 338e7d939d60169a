#include "nn/fused_dropout.h"

#include <math.h>
#include <string.h>

#include "core/error.h"

/* The keep-mask of one call (NULL: no dropout) and its scale 1/(1-p). */
static uint8_t *draw_mask(Graph *g, size_t n, float p, float *scale) {
    *scale = 1.0f;
    if (!g->training || p == 0.0f) return NULL;
    QAT_ASSERT(p > 0.0f && p < 1.0f && n < ((size_t)1 << 32));
    uint8_t *mask = graph_alloc(g, n);
    uint32_t key = (uint32_t)rng_u64(&g->rng), th = dropout_threshold(p);
    long nn = (long)n;
#pragma omp parallel for schedule(static) if (nn > 65536)
    for (long i = 0; i < nn; i++) mask[i] = dropout_bits(key, (uint32_t)i) >= th;
    *scale = 1.0f / (1.0f - p);
    return mask;
}

typedef struct {
    Tensor *a, *b, *y; /* a: NULL for plain dropout */
    uint8_t *mask;
    float scale;
    int gelu, act; /* act: b went through act first (op_act_dropout) */
} FdCtx;

static float gelu_cdf(float x) { return 0.5f * (1.0f + erff(x * 0.70710678118654752f)); }

static void fd_backward(void *p) {
    FdCtx *c = p;
    long n = (long)c->y->size;
    const float *dy = c->y->grad;
    if (c->a && c->a->grad) {
        float *da = c->a->grad;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) da[i] += dy[i];
    }
    if (!c->b->grad) return;
    float *db = c->b->grad, s = c->scale;
    const float *x = c->b->data;
    const uint8_t *m = c->mask;
    /* One loop per case, so each vectorises. */
    if (!c->act && m) {
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) db[i] += dy[i] * (s * (float)m[i]);
    } else if (!c->act) {
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) db[i] += dy[i];
    } else if (!c->gelu && m) {
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) db[i] += dy[i] * (s * (float)(m[i] & (x[i] > 0.0f)));
    } else if (!c->gelu) {
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) db[i] += dy[i] * (float)(x[i] > 0.0f);
    } else {
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) {
            float d = gelu_cdf(x[i]) + x[i] * expf(-0.5f * x[i] * x[i]) * 0.3989422804014327f;
            db[i] += dy[i] * (m ? s * (float)m[i] : 1.0f) * d;
        }
    }
}

static Tensor *fused(Graph *g, Tensor *a, Tensor *b, int act, int gelu, float p) {
    QAT_ASSERT(!a || a->size == b->size);
    QAT_ASSERT(p >= 0.0f && p < 1.0f);
    if (!a && !act && (!g->training || p == 0.0f)) return b;
    int grad = graph_needs_grad(g, a, b);
    Tensor *y = graph_tensor(g, grad, b->ndim, b->shape);
    float s;
    uint8_t *m = draw_mask(g, b->size, p, &s);
    long n = (long)b->size;
    const float *x = b->data, *ad = a ? a->data : NULL;
    float *out = y->data;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++) {
        float v = x[i];
        if (act) v = gelu ? v * gelu_cdf(v) : (v > 0.0f ? v : 0.0f);
        if (m) v = m[i] ? v * s : 0.0f;
        out[i] = ad ? ad[i] + v : v;
    }
    if (grad) {
        FdCtx *c = graph_alloc(g, sizeof *c);
        *c = (FdCtx){a, b, y, m, s, gelu, act};
        graph_push(g, fd_backward, c);
    }
    return y;
}

Tensor *op_dropout_fast(Graph *g, Tensor *x, float p) { return fused(g, NULL, x, 0, 0, p); }
Tensor *op_add_dropout(Graph *g, Tensor *a, Tensor *b, float p) { return fused(g, a, b, 0, 0, p); }
Tensor *op_act_dropout(Graph *g, Tensor *x, int gelu, float p) { return fused(g, NULL, x, 1, gelu, p); }
