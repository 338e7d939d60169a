#include "export/onnx_export.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static void shape_of(const Tensor *t, int64_t *shape) {
    for (int i = 0; i < t->ndim; i++) shape[i] = t->shape[i];
}

const char *export_ints(OnnxExport *e, int n, const int64_t *v) {
    int64_t len = n;
    return onnx_init_int64(e->g, "ints", 1, &len, v);
}

const char *export_param(OnnxExport *e, const Param *p) {
    int64_t shape[QAT_MAX_DIMS];
    shape_of(&p->t, shape);
    return onnx_init_float(e->g, p->name, p->t.ndim, shape, p->t.data);
}

/* ---- weights ------------------------------------------------------------------------ */

/* The narrowest integer container holding [lo, hi]. */
static OnnxType container_of(int32_t lo, int32_t hi, int *bits) {
    static const struct {
        OnnxType t;
        int32_t lo, hi;
        int bits;
    } C[] = {{ONNX_INT4, -8, 7, 4},           {ONNX_UINT4, 0, 15, 4},    {ONNX_INT8, -128, 127, 8},
             {ONNX_UINT8, 0, 255, 8},         {ONNX_INT16, -32768, 32767, 16}, {ONNX_UINT16, 0, 65535, 16},
             {ONNX_INT32, INT32_MIN, INT32_MAX, 32}};
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++)
        if (lo >= C[i].lo && hi <= C[i].hi) {
            *bits = C[i].bits;
            return C[i].t;
        }
    QAT_ASSERT(0);
    return ONNX_INT32;
}

/* y == scale[row] * code for every element: codes + DequantizeLinear. */
static const char *weight_uniform(OnnxExport *e, const QuantSite *s, const Param *w, const float *y,
                                  const QuantExport *ex, int rows) {
    size_t n = w->t.size, m = n / (size_t)rows;
    if (ex->levels || ex->offset != 0.0f) return NULL;
    int32_t lo = INT32_MAX, hi = INT32_MIN;
    for (size_t i = 0; i < n; i++) {
        if (ex->scales[i / m] * (float)ex->codes[i] != y[i]) return NULL;
        if (ex->codes[i] < lo) lo = ex->codes[i];
        if (ex->codes[i] > hi) hi = ex->codes[i];
    }
    int bits;
    OnnxType t = container_of(lo < 0 ? lo : 0, hi > 0 ? hi : 0, &bits);
    int64_t shape[QAT_MAX_DIMS], r = rows;
    shape_of(&w->t, shape);
    const char *codes = onnx_init_ints(e->g, s->layer, t, w->t.ndim, shape, ex->codes);
    const char *scale = onnx_init_float(e->g, "scale", rows > 1 ? 1 : 0, &r, ex->scales);
    int32_t *zeros = qat_calloc((size_t)rows, sizeof *zeros);
    const char *zp = onnx_init_ints(e->g, "zero_point", t, rows > 1 ? 1 : 0, &r, zeros);
    free(zeros);
    e->weight_values += n;
    e->weight_bytes += (n * (size_t)bits + 7) / 8 + (size_t)rows * (4 + (size_t)(bits + 7) / 8);
    const char *in[3] = {codes, scale, zp};
    OnnxAttr axis = ONNX_ATTR_I("axis", 0);
    return onnx_opa(e->g, "DequantizeLinear", 3, in, rows > 1 ? 1 : 0, &axis);
}

/* One value per code over the whole tensor: codes as table indices + Gather. */
static const char *weight_table(OnnxExport *e, const QuantSite *s, const Param *w, const float *y,
                                const QuantExport *ex) {
    size_t n = w->t.size;
    int32_t lo = INT32_MAX, hi = INT32_MIN;
    for (size_t i = 0; i < n; i++) {
        if (ex->codes[i] < lo) lo = ex->codes[i];
        if (ex->codes[i] > hi) hi = ex->codes[i];
    }
    if ((int64_t)hi - lo >= 65536) return NULL;
    int64_t K = (int64_t)hi - lo + 1;
    float *table = qat_malloc((size_t)K * sizeof *table);
    unsigned char *seen = qat_calloc((size_t)K, 1);
    int32_t *idx = qat_malloc(n * sizeof *idx);
    const char *out = NULL;
    for (size_t i = 0; i < n; i++) {
        int32_t k = ex->codes[i] - lo;
        idx[i] = k;
        if (!seen[k]) {
            seen[k] = 1;
            table[k] = y[i];
        } else if (memcmp(&table[k], &y[i], sizeof(float)) != 0) {
            goto done; /* one code, two values: no table */
        }
    }
    for (int64_t k = 0; k < K; k++)
        if (!seen[k]) table[k] = 0.0f;
    {
        int bits;
        OnnxType t = container_of(0, (int32_t)(K - 1), &bits);
        if (bits < 8) t = ONNX_UINT8, bits = 8; /* Cast from 4-bit types is not widely run */
        int64_t shape[QAT_MAX_DIMS];
        shape_of(&w->t, shape);
        const char *codes = onnx_init_ints(e->g, s->layer, t, w->t.ndim, shape, idx);
        const char *tab = onnx_init_float(e->g, "levels", 1, &K, table);
        OnnxAttr to = ONNX_ATTR_I("to", ONNX_INT64);
        const char *i64 = onnx_opa(e->g, "Cast", 1, &codes, 1, &to);
        out = onnx_op(e->g, "Gather", tab, i64, NULL);
        e->weight_values += n;
        e->weight_bytes += n * (size_t)bits / 8 + (size_t)K * 4;
    }
done:
    free(table);
    free(seen);
    free(idx);
    return out;
}

const char *export_weight_site(OnnxExport *e, const QuantSite *s, const Param *w) {
    Quantizer *q = s->q;
    if (!q) return export_param(e, w);
    size_t n = w->t.size;
    int rows = q->per_channel ? s->rows : 1;
    QuantInput in = {w->t.data, n, rows, 1, 0};
    float *y = qat_malloc(n * sizeof *y), *scales = qat_malloc((size_t)rows * sizeof *scales);
    int32_t *codes = qat_malloc(n * sizeof *codes);
    q->ops->forward(q, in, y);
    QuantExport ex = {codes, scales, NULL, 0, 0.0f};
    q->ops->export_codes(q, in, &ex);
    /* an odd grid of up to 7 bits in int8 codes (8 bits would need int16: the uint8 code
     * table is smaller) */
    if (rows == 1 && ex.nlevels <= 128) quant_export_odd_grid(&ex, n, y);
    const char *out = weight_uniform(e, s, w, y, &ex, rows);
    if (!out && rows == 1) out = weight_table(e, s, w, y, &ex);
    if (!out) {
        int64_t shape[QAT_MAX_DIMS];
        shape_of(&w->t, shape);
        out = onnx_init_float(e->g, s->layer, w->t.ndim, shape, y);
        e->float_fallbacks++;
        e->weight_values += n;
        e->weight_bytes += n * 4;
    }
    free(y);
    free(scales);
    free(codes);
    return out;
}

/* ---- activations -------------------------------------------------------------------- */

static int is_integer(float v) { return v == rintf(v); }

/* Q [+ Clip] + DQ: k = clip(round(x / scale), lo, hi), y = k out_scale (scale = out_scale,
 * or 1 on an x already multiplied). */
static const char *act_qdq(OnnxExport *e, const char *x, float scale, float out_scale, float lo, float hi) {
    int bits;
    OnnxType t = container_of((int32_t)lo, (int32_t)hi, &bits);
    if (bits < 8) t = lo < 0 ? ONNX_INT8 : ONNX_UINT8; /* activations in 8-bit containers (+ Clip) */
    const char *sc = onnx_scalar_float(e->g, "act_scale", scale);
    const char *osc = out_scale == scale ? sc : onnx_scalar_float(e->g, "act_scale", out_scale);
    int32_t zero = 0, l = (int32_t)lo, h = (int32_t)hi;
    const char *zp = onnx_init_ints(e->g, "act_zero_point", t, 0, NULL, &zero);
    const char *qin[3] = {x, sc, zp};
    const char *qx = onnx_opa(e->g, "QuantizeLinear", 3, qin, 0, NULL);
    int32_t tlo, thi;
    switch (t) {
    case ONNX_INT8: tlo = -128, thi = 127; break;
    case ONNX_UINT8: tlo = 0, thi = 255; break;
    case ONNX_INT16: tlo = -32768, thi = 32767; break;
    default: tlo = 0, thi = 65535; break;
    }
    if (l > tlo || h < thi) /* a narrower grid in the container, as Brevitas writes it */
        qx = onnx_op(e->g, "Clip", qx, onnx_init_ints(e->g, "act_lo", t, 0, NULL, &l),
                     onnx_init_ints(e->g, "act_hi", t, 0, NULL, &h));
    const char *din[3] = {qx, osc, zp};
    return onnx_opa(e->g, "DequantizeLinear", 3, din, 0, NULL);
}

/* The QuantFunc in float ops. */
static const char *act_float(OnnxExport *e, const QuantFunc *f, const char *x) {
    OnnxGraph *g = e->g;
    const char *a = f->sym ? onnx_op(g, "Abs", x, NULL, NULL) : x;
    const char *t;
    if (f->div != 0.0f) {
        t = onnx_op(g, "Div", a, onnx_scalar_float(g, "div", f->div), NULL);
    } else {
        t = onnx_op(g, "Mul", a, onnx_scalar_float(g, "mul", f->mul), NULL);
        if (f->add != 0.0f) t = onnx_op(g, "Add", t, onnx_scalar_float(g, "add", f->add), NULL);
    }
    t = onnx_op(g, "Clip", t, onnx_scalar_float(g, "lo", f->lo), onnx_scalar_float(g, "hi", f->hi));
    const char *y;
    if (f->levels) {
        /* k = #{midpoints below t} (a tie stays on the lower level), y = level_k scale */
        int64_t K = f->nlevels, M = K - 1;
        float *mids = qat_malloc((size_t)M * sizeof *mids), *tab = qat_malloc((size_t)K * sizeof *tab);
        for (int64_t k = 0; k < M; k++) mids[k] = (float)(((double)f->levels[k] + (double)f->levels[k + 1]) / 2.0);
        for (int64_t k = 0; k < K; k++) tab[k] = f->out_scale * f->levels[k];
        int64_t last = -1;
        const char *tu = onnx_op(g, "Unsqueeze", t, export_ints(e, 1, &last), NULL);
        const char *gt = onnx_op(g, "Greater", tu, onnx_init_float(g, "mids", 1, &M, mids), NULL);
        OnnxAttr to_f = ONNX_ATTR_I("to", ONNX_FLOAT), keep = ONNX_ATTR_I("keepdims", 0);
        const char *gf = onnx_opa(g, "Cast", 1, &gt, 1, &to_f);
        const char *rin[2] = {gf, export_ints(e, 1, &last)};
        const char *k = onnx_opa(g, "ReduceSum", 2, rin, 1, &keep);
        OnnxAttr to_i = ONNX_ATTR_I("to", ONNX_INT64);
        const char *ki = onnx_opa(g, "Cast", 1, &k, 1, &to_i);
        y = onnx_op(g, "Gather", onnx_init_float(g, "levels", 1, &K, tab), ki, NULL);
        free(mids);
        free(tab);
    } else {
        y = onnx_op(g, "Mul", onnx_op(g, "Round", t, NULL, NULL), onnx_scalar_float(g, "out_scale", f->out_scale),
                    NULL);
    }
    if (f->sym) y = onnx_op(g, "Mul", y, onnx_op(g, "Sign", x, NULL, NULL), NULL);
    return y;
}

const char *export_act_site(OnnxExport *e, const QuantSite *s, const char *x) {
    Quantizer *q = s->q;
    if (!q) return x;
    if (!q->ops->describe) qat_die("export: the %s quantizer of %s cannot be exported", q->ops->name, s->layer);
    QuantFunc f;
    q->ops->describe(q, &f);
    int grid = !f.sym && !f.levels && f.add == 0.0f && is_integer(f.lo) && is_integer(f.hi) && f.lo <= 0.0f &&
               f.hi >= 0.0f && f.hi - f.lo <= 65535.0f;
    /* QuantizeLinear divides by its scale: the forward's own arithmetic when that divides
     * too; a forward that multiplies by 1/scale gets its Mul first and a unit scale, so
     * that no value lands on the other side of a rounding tie (docs/EXPORT.md). */
    if (grid && f.div != 0.0f && f.div == f.out_scale) return act_qdq(e, x, f.div, f.div, f.lo, f.hi);
    if (grid && f.div == 0.0f) {
        const char *t = onnx_op(e->g, "Mul", x, onnx_scalar_float(e->g, "mul", f.mul), NULL);
        return act_qdq(e, t, 1.0f, f.out_scale, f.lo, f.hi);
    }
    return act_float(e, &f, x);
}

/* ---- layers ------------------------------------------------------------------------- */

const char *export_conv2d(OnnxExport *e, const Conv2d *c, const char *x, ConvAct act) {
    const char *xq = export_act_site(e, &c->xq, x);
    const char *wq = export_weight_site(e, &c->wq, c->w);
    const char *in[3] = {xq, wq, c->b ? export_param(e, c->b) : NULL};
    int64_t k[2] = {c->k, c->k}, st[2] = {c->stride, c->stride}, p[4] = {c->pad, c->pad, c->pad, c->pad};
    OnnxAttr at[3] = {ONNX_ATTR_INTS("kernel_shape", k, 2), ONNX_ATTR_INTS("strides", st, 2),
                      ONNX_ATTR_INTS("pads", p, 4)};
    const char *y = onnx_opa(e->g, "Conv", c->b ? 3 : 2, in, 3, at);
    if (act == CONV_ACT_RELU) y = onnx_op(e->g, "Relu", y, NULL, NULL);
    if (act == CONV_ACT_TANH) y = onnx_op(e->g, "Tanh", y, NULL, NULL);
    return y;
}

const char *export_linear(OnnxExport *e, const Linear *l, const char *x) {
    const char *xq = export_act_site(e, &l->xq, x);
    const char *wq = export_weight_site(e, &l->wq, l->w);
    const char *in[3] = {xq, wq, l->b ? export_param(e, l->b) : NULL};
    OnnxAttr tb = ONNX_ATTR_I("transB", 1);
    return onnx_opa(e->g, "Gemm", l->b ? 3 : 2, in, 1, &tb);
}

const char *export_embedding(OnnxExport *e, const Embedding *em, const char *ids) {
    return onnx_op(e->g, "Gather", export_weight_site(e, &em->wq, em->table), ids, NULL);
}
