#include "quant/quant_site.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nn/int_ops.h"
#include "nn/ops.h"

void quant_site_declare(QuantSiteList *l, QuantSite *s, const char *layer, SiteKind kind,
                        int is_signed, SitePosition position, int rows) {
    memset(s, 0, sizeof *s);
    snprintf(s->layer, sizeof s->layer, "%s", layer);
    s->kind = kind;
    s->is_signed = is_signed;
    s->position = position;
    s->rows = rows;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->items = qat_realloc(l->items, (size_t)l->cap * sizeof *l->items);
    }
    l->items[l->n++] = s;
}

void quant_site_bind(QuantSite *w, QuantSite *x, LayerKind kind, SiteGeometry geom, Param *weight, Param *bias,
                     FollowAct follow) {
    QuantSite *both[2] = {w, x};
    for (int i = 0; i < 2; i++) {
        if (!both[i]) continue;
        both[i]->layer_kind = kind;
        both[i]->geom = geom;
        both[i]->weight = weight;
        both[i]->bias = bias;
        both[i]->follow = follow;
        both[i]->partner = both[1 - i];
    }
}

void quant_sites_clamp(QuantSiteList *l) {
    for (int i = 0; i < l->n; i++) {
        Quantizer *q = l->items[i]->q;
        if (q && q->ops->clamp) q->ops->clamp(q);
    }
}

void quant_sites_mark_loaded(QuantSiteList *l) {
    for (int i = 0; i < l->n; i++) {
        Quantizer *q = l->items[i]->q;
        if (!q || q->nparams == 0) continue;
        int all = 1;
        for (int k = 0; k < q->nparams; k++) all &= q->params[k]->loaded;
        if (all) q->initialized = 1;
    }
}

static void int_weights_free(SiteIntWeights *iw) {
    if (!iw) return;
    free(iw->codes);
    free(iw->scales);
    for (int i = 0; i < iw->npacked; i++) int8_packed_free(iw->packed[i].p);
    free(iw);
}

void quant_site_list_free(QuantSiteList *l) {
    for (int i = 0; i < l->n; i++) {
        quantizer_free(l->items[i]->q);
        l->items[i]->q = NULL;
        int_weights_free(l->items[i]->iw);
        l->items[i]->iw = NULL;
    }
    free(l->items);
    memset(l, 0, sizeof *l);
}

static QuantInput site_input(const QuantSite *s, const Tensor *x, int batch, int training) {
    QuantInput in = {x->data, x->size, s->q->per_channel ? s->rows : 1, batch, training};
    return in;
}

static void init_on_first_use(QuantSite *s, const Tensor *x, int batch, int training) {
    if (s->q->initialized) return;
    s->q->ops->init(s->q, site_input(s, x, batch, training));
    s->q->initialized = 1;
}

Quantizer *quant_site_ready(QuantSite *s, const Tensor *x, int batch, int training) {
    if (!s->q) return NULL;
    init_on_first_use(s, x, batch, training);
    if (training) quantizer_begin_step(s->q, site_input(s, x, batch, training));
    return s->q;
}

Tensor *quant_site_apply(Graph *g, QuantSite *s, Tensor *x, int batch) {
    graph_set_scope(g, s->layer);
    Quantizer *q = s->q;
    if (!q) return x;
    init_on_first_use(s, x, batch, g->training);
    if (g->training) quantizer_begin_step(q, site_input(s, x, batch, 1));
    return op_fake_quant(g, q, x, q->per_channel ? s->rows : 1, batch);
}

int quant_export_odd_grid(QuantExport *ex, size_t n, const float *y) {
    if (!ex->levels || ex->offset != 0.0f || ex->nlevels < 2) return 0;
    int L = ex->nlevels - 1;
    for (int k = 0; k <= L; k++)
        if (ex->levels[k] != (float)(2.0 * k / (double)L - 1.0)) return 0;
    float step = ex->scales[0] / (float)L;
    for (size_t i = 0; i < n; i++)
        if ((float)(2 * ex->codes[i] - L) * step != y[i]) return 0;
    for (size_t i = 0; i < n; i++) ex->codes[i] = 2 * ex->codes[i] - L;
    ex->scales[0] = step;
    ex->levels = NULL;
    return 1;
}

static const SiteIntWeights *int_weights(QuantSite *s, const Param *w) {
    Quantizer *q = s->q;
    if (!q) return NULL;
    if (!s->iw) {
        SiteIntWeights *iw = s->iw = qat_calloc(1, sizeof *iw);
        size_t n = w->t.size;
        int rows = q->per_channel ? s->rows : 1;
        size_t m = n / (size_t)rows;
        QuantInput in = {w->t.data, n, rows, 1, 0};
        float *y = qat_malloc(n * sizeof *y);
        int32_t *codes = qat_malloc(n * sizeof *codes);
        iw->scales = qat_malloc((size_t)rows * sizeof *iw->scales);
        iw->rows = rows;
        q->ops->forward(q, in, y);
        QuantExport ex = {codes, iw->scales, NULL, 0, 0.0f};
        q->ops->export_codes(q, in, &ex);
        if (rows == 1) quant_export_odd_grid(&ex, n, y);
        /* A level table of fractions k / D (APoT) gives codes k with scales / D. */
        int d = ex.levels ? quant_levels_denominator(ex.levels, ex.nlevels, 127) : 1, ok = d > 0;
        for (int r = 0; ok && r < rows; r++) iw->scales[r] /= (float)d;
        iw->offset = ex.offset;
        for (size_t i = 0; ok && i < n; i++) {
            int32_t c = ex.levels ? (int32_t)lrint((double)ex.levels[codes[i]] * d) : codes[i];
            float v = iw->scales[i / m] * (float)c + ex.offset;
            /* (an APoT weight computes in double: its value may differ in the last places) */
            ok = c >= -128 && c <= 127 && (v == y[i] || fabsf(v - y[i]) <= 1e-6f * (fabsf(y[i]) + fabsf(ex.offset)));
            codes[i] = c;
        }
        if (ok) {
            iw->codes = qat_malloc(n);
            for (size_t i = 0; i < n; i++) iw->codes[i] = (int8_t)codes[i];
        }
        iw->ok = ok;
        free(y);
        free(codes);
    }
    return s->iw->ok ? s->iw : NULL;
}

/* Rows [r0, r0 + n) of the codes packed, a conv's in (kh, kw, c) order. */
static Int8Packed *pack_rows(const QuantSite *s, const Param *w, const int8_t *codes, int r0, int n) {
    int K = (int)(w->t.size / (size_t)w->t.shape[0]);
    const int8_t *src = codes + (size_t)r0 * K;
    if (s->layer_kind != LAYER_CONV2D || w->t.ndim != 4 || w->t.shape[1] == 1)
        return int8_pack(INT8_KERNEL_AUTO, n, K, src, (size_t)K);
    int C = w->t.shape[1], kk = w->t.shape[2] * w->t.shape[3];
    int8_t *t = qat_malloc((size_t)n * K);
    for (int o = 0; o < n; o++)
        for (int c = 0; c < C; c++)
            for (int p = 0; p < kk; p++) t[((size_t)o * kk + p) * C + c] = src[((size_t)o * C + c) * kk + p];
    Int8Packed *pk = int8_pack(INT8_KERNEL_AUTO, n, K, t, (size_t)K);
    free(t);
    return pk;
}

int quant_site_int_weights(QuantSite *s, const Param *w, int r0, int n, IntWeightCodes *out) {
    SiteIntWeights *iw = (SiteIntWeights *)int_weights(s, w);
    if (!iw) return 0;
    if (n <= 0) r0 = 0, n = w->t.shape[0];
    QAT_ASSERT(r0 >= 0 && r0 + n <= w->t.shape[0]);
    int i = 0;
    while (i < iw->npacked && (iw->packed[i].r0 != r0 || iw->packed[i].n != n)) i++;
    if (i == iw->npacked) {
        QAT_ASSERT(i < (int)(sizeof iw->packed / sizeof iw->packed[0]));
        iw->packed[i].r0 = r0, iw->packed[i].n = n;
        iw->packed[i].p = pack_rows(s, w, iw->codes, r0, n);
        iw->npacked++;
    }
    int per_row = iw->rows > 1;
    *out = (IntWeightCodes){iw->packed[i].p, per_row ? iw->scales + r0 : iw->scales, per_row ? n : 1, iw->offset};
    return 1;
}

int quant_site_int_rows(QuantSite *s, const Param *w, const int *ids, int n, float *out) {
    const SiteIntWeights *iw = int_weights(s, w);
    if (!iw) return 0;
    int V = w->t.shape[0];
    size_t D = w->t.size / (size_t)V;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= V) qat_die("embedding index %d outside the table of %d rows", ids[i], V);
        const int8_t *c = iw->codes + (size_t)ids[i] * D;
        float scale = iw->scales[iw->rows > 1 ? ids[i] : 0], *o = out + (size_t)i * D;
        for (size_t j = 0; j < D; j++) o[j] = scale * (float)c[j] + iw->offset;
    }
    return 1;
}

int quant_site_int_codes(Graph *g, const QuantSite *s, const Tensor *x, IntCodes *out) {
    Quantizer *q = s->q;
    if (!q || !q->ops->describe) return 0;
    QuantFunc f;
    IntGrid grid;
    q->ops->describe(q, &f);
    if (!quant_int_grid(&f, &grid)) return 0;
    size_t n = x->size;
    void *codes = graph_alloc(g, n ? n : 1);
    float *scratch = grid.direct ? NULL : graph_alloc(g, (n ? n : 1) * sizeof *scratch);
    quant_int_codes(q, &f, &grid, x->data, n, codes, scratch);
    *out = (IntCodes){codes, grid.is_signed, grid.scale};
    return 1;
}
