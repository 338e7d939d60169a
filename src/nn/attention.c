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

/* ---- attention layer ----------------------------------------------------------------- */

static void xavier_uniform(Param *p, Rng *rng) {
    float bound = sqrtf(6.0f / (float)(p->t.shape[0] + p->t.shape[1]));
    for (size_t i = 0; i < p->t.size; i++) p->t.data[i] = rng_uniform_range(rng, -bound, bound);
}

void attention_init(Attention *a, LayerBuilder *lb, const char *name, int d, int heads,
                    float dropout, int separate_kv, int out_proj) {
    if (heads < 1 || d % heads != 0)
        qat_die("%s: the width %d must be a multiple of the number of heads %d", name, d, heads);
    memset(a, 0, sizeof *a);
    a->d = d;
    a->heads = heads;
    a->dropout = dropout;
    a->separate_kv = separate_kv;
    a->has_out_proj = out_proj;
    char n[96];
    snprintf(n, sizeof n, "%s.in_proj", name);
    linear_init(&a->in_proj, lb, n, d, 3 * d, 1, (SiteSpec){1, SITE_MIDDLE, FOLLOW_NONE});
    xavier_uniform(a->in_proj.w, lb->rng);
    memset(a->in_proj.b->t.data, 0, (size_t)3 * d * sizeof(float));
    if (separate_kv) {
        snprintf(n, sizeof n, "%s.in_proj_kv", name);
        quant_site_declare(lb->sites, &a->kv_xq, n, SITE_INPUT, 1, SITE_MIDDLE, 1);
        quant_site_bind(NULL, &a->kv_xq, LAYER_LINEAR, &a->in_proj, a->in_proj.w, FOLLOW_NONE);
    }
    if (out_proj) {
        snprintf(n, sizeof n, "%s.out_proj", name);
        linear_init(&a->out_proj, lb, n, d, d, 1, (SiteSpec){1, SITE_MIDDLE, FOLLOW_NONE});
        memset(a->out_proj.b->t.data, 0, (size_t)d * sizeof(float));
    }
}

/* Rows r0 .. r0+rows-1 of a 2-D tensor (or of a 1-D bias), sharing data and gradient. */
static Tensor *row_slice(Graph *g, Tensor *t, int r0, int rows) {
    Tensor *v = graph_alloc(g, sizeof *v);
    *v = *t;
    size_t width = t->ndim == 2 ? (size_t)t->shape[1] : 1;
    v->shape[0] = rows;
    v->size = (size_t)rows * width;
    v->data = t->data + r0 * width;
    v->grad = t->grad ? t->grad + r0 * width : NULL;
    return v;
}

Tensor *attention_forward(Graph *g, Attention *a, Tensor *xq, Tensor *xkv, const SeqBatch *sb) {
    QAT_ASSERT(!xkv == !a->separate_kv);
    int d = a->d;
    Linear *in = &a->in_proj;
    Tensor *w = quant_site_apply(g, &in->wq, &in->w->t, 1);
    Tensor *xq_hat = quant_site_apply(g, &in->xq, xq, sb->n);
    Tensor *o;
    if (!a->separate_kv) {
        /* One product for q, k and v: [T, 3d]. */
        Tensor *qkv = op_matmul_bias(g, xq_hat, w, &in->b->t);
        o = op_causal_attention(g, (Cols){qkv, 0}, (Cols){qkv, d}, (Cols){qkv, 2 * d}, d, a->heads, a->dropout, sb);
    } else {
        Tensor *xkv_hat = quant_site_apply(g, &a->kv_xq, xkv, sb->n);
        Tensor *qp = op_matmul_bias(g, xq_hat, row_slice(g, w, 0, d), row_slice(g, &in->b->t, 0, d));
        Tensor *kv = op_matmul_bias(g, xkv_hat, row_slice(g, w, d, 2 * d), row_slice(g, &in->b->t, d, 2 * d));
        o = op_causal_attention(g, (Cols){qp, 0}, (Cols){kv, 0}, (Cols){kv, d}, d, a->heads, a->dropout, sb);
    }
    return a->has_out_proj ? linear_forward(g, &a->out_proj, o, sb->n) : o;
}

/* ---- transformer blocks -------------------------------------------------------------- */

/* LayerNorm over the d = 50.. columns of the blocks, in float (op_layernorm accumulates
 * in double, about 3x slower on rows this short); same formulas (METHODS.md 6). */
typedef struct {
    Tensor *x, *w, *b, *y;
    float *xhat, *rstd, *part; /* part: per-thread dgamma, dbeta */
} LnCtx;

static void ln_backward(void *ptr) {
    LnCtx *c = ptr;
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

static Tensor *layernorm(Graph *g, Tensor *x, Param *w, Param *b, float eps) {
    int D = x->shape[1];
    long rows = x->shape[0];
    int grad = graph_needs_grad(g, x, &w->t) || (g->training && b->t.grad);
    Tensor *y = graph_tensor2(g, grad, (int)rows, D);
    float *xhat = grad ? graph_alloc(g, x->size * sizeof(float)) : NULL;
    float *rstd = grad ? graph_alloc(g, (size_t)rows * sizeof(float)) : NULL;
    const float *gam = w->t.data, *bet = b->t.data;
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
        LnCtx *c = graph_alloc(g, sizeof *c);
        *c = (LnCtx){x, &w->t, &b->t, y, xhat, rstd,
                     graph_alloc(g, (size_t)omp_get_max_threads() * 2 * D * sizeof(float))};
        graph_push(g, ln_backward, c);
    }
    return y;
}

static Param *ln_param(LayerBuilder *lb, const char *block, const char *what, int d, float value) {
    char name[96];
    snprintf(name, sizeof name, "%s.%s", block, what);
    Param *p = param_new(name, 1, &d, PARAM_GROUP_NO_DECAY);
    for (int i = 0; i < d; i++) p->t.data[i] = value;
    param_list_add(lb->params, p);
    return p;
}

void attn_block_init(AttnBlock *b, LayerBuilder *lb, const char *name, BlockKind kind, int d,
                     int heads, int ffn, int gelu, float dropout, float ln_eps, int out_proj) {
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->gelu = gelu;
    b->dropout = dropout;
    b->ln_eps = ln_eps;
    char n[96];
    b->ln1_w = ln_param(lb, name, "ln1.weight", d, 1.0f);
    b->ln1_b = ln_param(lb, name, "ln1.bias", d, 0.0f);
    snprintf(n, sizeof n, "%s.attn", name);
    attention_init(&b->attn, lb, n, d, heads, dropout, kind == BLOCK_SASREC, kind == BLOCK_PRE_LN || out_proj);
    b->ln2_w = ln_param(lb, name, "ln2.weight", d, 1.0f);
    b->ln2_b = ln_param(lb, name, "ln2.bias", d, 0.0f);
    /* fc2 reads the activation after dropout: >= 0 after ReLU, signed after GELU. */
    snprintf(n, sizeof n, "%s.ffn.fc1", name);
    linear_init(&b->fc1, lb, n, d, ffn, 1, (SiteSpec){1, SITE_MIDDLE, gelu ? FOLLOW_GELU : FOLLOW_RELU});
    snprintf(n, sizeof n, "%s.ffn.fc2", name);
    linear_init(&b->fc2, lb, n, ffn, d, 1, (SiteSpec){gelu, SITE_MIDDLE, FOLLOW_NONE});
}

/* x + Dropout(fc2(Dropout(act(fc1(h))))) */
static Tensor *ffn_residual(Graph *g, AttnBlock *b, Tensor *x, Tensor *h, const SeqBatch *sb) {
    Tensor *u = op_act_dropout(g, linear_forward(g, &b->fc1, h, sb->n), b->gelu, b->dropout);
    return op_add_dropout(g, x, linear_forward(g, &b->fc2, u, sb->n), b->dropout);
}

Tensor *attn_block_forward(Graph *g, AttnBlock *b, Tensor *x, const SeqBatch *sb) {
    if (b->kind == BLOCK_SASREC) {
        Tensor *q = layernorm(g, x, b->ln1_w, b->ln1_b, b->ln_eps);
        x = op_add(g, q, attention_forward(g, &b->attn, q, x, sb));
        Tensor *h = layernorm(g, x, b->ln2_w, b->ln2_b, b->ln_eps);
        return ffn_residual(g, b, h, h, sb);
    }
    Tensor *a = layernorm(g, x, b->ln1_w, b->ln1_b, b->ln_eps);
    x = op_add_dropout(g, x, attention_forward(g, &b->attn, a, NULL, sb), b->dropout);
    Tensor *h = layernorm(g, x, b->ln2_w, b->ln2_b, b->ln_eps);
    return ffn_residual(g, b, x, h, sb);
}
