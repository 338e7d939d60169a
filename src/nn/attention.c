#include "nn/attention.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "core/blas.h"
#include "core/error.h"
#include "nn/fused_dropout.h"

/* Query rows per score tile, at most: a tile of rows i0..i1 needs keys 0..i1 only, so
 * most of the causal upper triangle is never computed (about a third of the work at
 * length 200). A sequence is cut into equal tiles (200 -> 4 x 50, not 64+64+64+8). */
#define ATT_TILE 64

/* e^x for x <= 0 (softmax after subtracting the row maximum), vectorisable: 2^n times a
 * degree-6 polynomial on [-ln2/2, ln2/2]; relative error below 3e-7; 0 below -87; NaN
 * for NaN. */
static inline float exp_neg(float x) {
    x = x < -87.0f ? -87.0f : x;
    float n = __builtin_rintf(x * 1.44269504088896341f);
    float r = x - n * 0.693145751953125f - n * 1.42860682030941723e-6f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    union {
        float f;
        int32_t i;
    } u = {p};
    /* n in [-126, 0]: no overflow; a NaN x (a diverged run) converts nothing and stays NaN,
     * so the run's non-finite check still sees it */
    u.i += (int32_t)(n >= -126.0f ? n : -126.0f) * (1 << 23);
    return x == x ? u.f : x;
}

static inline int tile_rows(int n) {
    int tiles = (n + ATT_TILE - 1) / ATT_TILE;
    return (n + tiles - 1) / tiles;
}

static inline int tile_end(int i0, int n) { return i0 + tile_rows(n) < n ? i0 + tile_rows(n) : n; }

/* Pointers of one (sequence, head) into Q, K, V (or their gradients) and the output. */
typedef struct {
    float *q, *k, *v, *o;
    int ldq, ldk, ldv, ldo;
} HeadView;

static HeadView head_view(Cols q, Cols k, Cols v, Tensor *y, int row, int col, int grad) {
    HeadView h;
    h.ldq = q.t->shape[1];
    h.ldk = k.t->shape[1];
    h.ldv = v.t->shape[1];
    h.ldo = y->shape[1];
    float *qb = grad ? q.t->grad : q.t->data, *kb = grad ? k.t->grad : k.t->data;
    float *vb = grad ? v.t->grad : v.t->data, *ob = grad ? y->grad : y->data;
    h.q = qb ? qb + (size_t)row * h.ldq + q.col + col : NULL;
    h.k = kb ? kb + (size_t)row * h.ldk + k.col + col : NULL;
    h.v = vb ? vb + (size_t)row * h.ldv + v.col + col : NULL;
    h.o = ob + (size_t)row * h.ldo + col;
    return h;
}

/* One (sequence, head) forward: probabilities into pm, after dropout into pd (pd == pm
 * when there is none), both [n, n] row-major with zeros above the diagonal inside each
 * tile (entries right of a tile are never read); then the output rows. */
static void head_forward(HeadView h, int n, int dh, float *pm, float *pd, float p, uint32_t key, uint32_t base) {
    float scale = 1.0f / sqrtf((float)dh), keep = 1.0f / (1.0f - p);
    uint32_t th = dropout_threshold(p);
    for (int i0 = 0; i0 < n; i0 += tile_rows(n)) {
        int i1 = tile_end(i0, n);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, i1 - i0, i1, dh, scale, h.q + (size_t)i0 * h.ldq,
                    h.ldq, h.k, h.ldk, 0.0f, pm + (size_t)i0 * n, n);
        for (int i = i0; i < i1; i++) {
            float *row = pm + (size_t)i * n;
            /* omp simd: reductions in vector lanes (plain C would keep one serial chain) */
            float mx = row[0];
#pragma omp simd reduction(max : mx)
            for (int j = 1; j <= i; j++) mx = row[j] > mx ? row[j] : mx;
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (int j = 0; j <= i; j++) sum += (row[j] = exp_neg(row[j] - mx));
            float inv = 1.0f / sum;
            for (int j = 0; j <= i; j++) row[j] *= inv;
            for (int j = i + 1; j < i1; j++) row[j] = 0.0f;
            if (pd != pm) {
                float *drow = pd + (size_t)i * n;
                uint32_t idx = base + (uint32_t)i * (uint32_t)n;
                for (int j = 0; j <= i; j++) drow[j] = dropout_bits(key, idx + (uint32_t)j) >= th ? row[j] * keep : 0.0f;
                for (int j = i + 1; j < i1; j++) drow[j] = 0.0f;
            }
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, i1 - i0, dh, i1, 1.0f, pd + (size_t)i0 * n, n, h.v,
                    h.ldv, 0.0f, h.o + (size_t)i0 * h.ldo, h.ldo);
    }
}

/* One (sequence, head) backward. x: forward values, gx: gradients (NULL parts skipped);
 * ds: [n, n] scratch. */
static void head_backward(HeadView x, HeadView gx, int n, int dh, const float *pm, const float *pd, float *ds) {
    float scale = 1.0f / sqrtf((float)dh);
    /* dPd = dO V^T and dV += Pd^T dO, tile by tile. */
    for (int i0 = 0; i0 < n; i0 += tile_rows(n)) {
        int i1 = tile_end(i0, n);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, i1 - i0, i1, dh, 1.0f, gx.o + (size_t)i0 * gx.ldo,
                    gx.ldo, x.v, x.ldv, 0.0f, ds + (size_t)i0 * n, n);
        if (gx.v)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, i1, dh, i1 - i0, 1.0f, pd + (size_t)i0 * n, n,
                        gx.o + (size_t)i0 * gx.ldo, gx.ldo, 1.0f, gx.v, gx.ldv);
    }
    if (!gx.q && !gx.k) return;
    /* dS = (Pd .* dPd - Pm * rowsum(Pd .* dPd)) / sqrt(dh): the dropout mask is in Pd. */
    for (int i = 0; i < n; i++) {
        float *r = ds + (size_t)i * n;
        const float *a = pm + (size_t)i * n, *b = pd + (size_t)i * n;
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int j = 0; j <= i; j++) dot += b[j] * r[j];
        for (int j = 0; j <= i; j++) r[j] = (b[j] * r[j] - a[j] * dot) * scale;
        int i1 = tile_end(i - i % tile_rows(n), n);
        for (int j = i + 1; j < i1; j++) r[j] = 0.0f;
    }
    for (int i0 = 0; i0 < n; i0 += tile_rows(n)) {
        int i1 = tile_end(i0, n);
        if (gx.q)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, i1 - i0, dh, i1, 1.0f, ds + (size_t)i0 * n, n,
                        x.k, x.ldk, 1.0f, gx.q + (size_t)i0 * gx.ldq, gx.ldq);
        if (gx.k)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, i1, dh, i1 - i0, 1.0f, ds + (size_t)i0 * n, n,
                        x.q + (size_t)i0 * x.ldq, x.ldq, 1.0f, gx.k, gx.ldk);
    }
}

typedef struct {
    Cols q, k, v;
    Tensor *y;
    const int *off; /* copy in the arena */
    size_t *poff;   /* [pairs + 1]: where each (sequence, head) score matrix starts */
    float *pm, *pd, *scratch;
    int n, heads, max_len;
} AttCtx;

static void att_backward(void *ptr) {
    AttCtx *c = ptr;
    int d = c->y->shape[1], dh = d / c->heads, pairs = c->n * c->heads;
    size_t per = (size_t)c->max_len * c->max_len;
#pragma omp parallel for schedule(dynamic, 1)
    for (int pi = 0; pi < pairs; pi++) {
        int s = pi / c->heads, h = pi % c->heads;
        int row = c->off[s], n = c->off[s + 1] - row;
        if (n == 0) continue;
        HeadView x = head_view(c->q, c->k, c->v, c->y, row, h * dh, 0);
        HeadView gx = head_view(c->q, c->k, c->v, c->y, row, h * dh, 1);
        float *ds = c->scratch + (size_t)omp_get_thread_num() * per;
        head_backward(x, gx, n, dh, c->pm + c->poff[pi], c->pd + c->poff[pi], ds);
    }
}

Tensor *op_causal_attention(Graph *g, Cols q, Cols k, Cols v, int d, int heads, float p,
                            const SeqBatch *sb) {
    QAT_ASSERT(heads >= 1 && d % heads == 0 && p >= 0.0f && p < 1.0f);
    int T = sb->off[sb->n];
    Cols all[3] = {q, k, v};
    for (int i = 0; i < 3; i++)
        QAT_ASSERT(all[i].t->ndim == 2 && all[i].t->shape[0] == T && all[i].col + d <= all[i].t->shape[1]);
    int dh = d / heads, pairs = sb->n * heads;
    int grad = g->training && (q.t->grad || k.t->grad || v.t->grad);
    int drop = g->training && p > 0.0f;
    Tensor *y = graph_tensor2(g, grad, T, d);
    size_t *poff = graph_alloc(g, (size_t)(pairs + 1) * sizeof(size_t));
    poff[0] = 0;
    for (int pi = 0; pi < pairs; pi++) {
        size_t n = (size_t)(sb->off[pi / heads + 1] - sb->off[pi / heads]);
        poff[pi + 1] = poff[pi] + n * n;
    }
    /* Training keeps every probability matrix for backward; evaluation reuses one
     * matrix per thread. */
    int nt = omp_get_max_threads();
    size_t per = (size_t)sb->max_len * sb->max_len;
    float *pm = graph_alloc(g, (grad ? poff[pairs] : nt * per) * sizeof(float));
    float *pd = drop ? graph_alloc(g, (grad ? poff[pairs] : nt * per) * sizeof(float)) : pm;
    uint32_t key = drop ? (uint32_t)rng_u64(&g->rng) : 0;
#pragma omp parallel for schedule(dynamic, 1)
    for (int pi = 0; pi < pairs; pi++) {
        int s = pi / heads, h = pi % heads;
        int row = sb->off[s], n = sb->off[s + 1] - row;
        if (n == 0) continue;
        QAT_ASSERT(n <= sb->max_len);
        size_t at = grad ? poff[pi] : (size_t)omp_get_thread_num() * per;
        HeadView hv = head_view(q, k, v, y, row, h * dh, 0);
        head_forward(hv, n, dh, pm + at, pd + at, drop ? p : 0.0f, key, (uint32_t)poff[pi]);
    }
    if (grad) {
        AttCtx *c = graph_alloc(g, sizeof *c);
        int *off = graph_alloc(g, (size_t)(sb->n + 1) * sizeof(int));
        memcpy(off, sb->off, (size_t)(sb->n + 1) * sizeof(int));
        *c = (AttCtx){q, k, v, y, off, poff, pm, pd, graph_alloc(g, nt * per * sizeof(float)), sb->n, heads,
                      sb->max_len};
        graph_push(g, att_backward, c);
    }
    return y;
}

/* ---- y = a + b ---------------------------------------------------------------------- */

typedef struct {
    Tensor *a, *b, *y;
} AddCtx;

static void add_backward(void *ptr) {
    AddCtx *c = ptr;
    long n = (long)c->y->size;
    const float *dy = c->y->grad;
    for (int t = 0; t < 2; t++) {
        float *dx = (t ? c->b : c->a)->grad;
        if (!dx) continue;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) dx[i] += dy[i];
    }
}

Tensor *op_add(Graph *g, Tensor *a, Tensor *b) {
    QAT_ASSERT(a->size == b->size);
    int grad = graph_needs_grad(g, a, b);
    Tensor *y = graph_tensor(g, grad, a->ndim, a->shape);
    long n = (long)a->size;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++) y->data[i] = a->data[i] + b->data[i];
    if (grad) {
        AddCtx *c = graph_alloc(g, sizeof *c);
        *c = (AddCtx){a, b, y};
        graph_push(g, add_backward, c);
    }
    return y;
}
