/* LSQ: learned step size quantization (docs/METHODS.md 1; Esser et al., ICLR 2020).
 *   t = v / s,  vbar = round(clip(t, -Qn, Qp)),  vhat = vbar * s
 *   dvhat/dv = 1[-Qn < t < Qp];  dvhat/ds = round(t) - t inside, -Qn / +Qp when clipped
 *   ds is scaled by g = 1 / sqrt(N * Qp): N = elements of the tensor (of the row when
 *   per-channel) for weights, elements per example for activations.
 * Init s0 = 2 mean|v| / sqrt(Qp) from the FP weights or the first batch; s >= 1e-8.
 *
 * [decision] Optimiser: the paper trains s with SGD, where g keeps the step's relative
 * updates in line with the weights'. Adam normalises gradients, so g has no effect and an
 * absolute update of about lr would wreck a small step (s ~ 1e-4 at 16 bits). So s learns
 * with lr x mean(s) (Param.lr_scale): a relative change of about lr per step at any bit
 * width. */
#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/quantizer.h"
#include "quant/method.h"
#include "quant/reduce.h"

typedef struct {
    float qn, qp;  /* grid [-Qn, Qp] */
    double *dpart; /* backward's per-row step gradients (no allocation per step) */
} Lsq;

static const QuantizerOps LSQ_OPS;

static void lsq_init(Quantizer *q, QuantInput in) {
    Lsq *l = q->state;
    float *s = q->params[0]->t.data;
    size_t m = in.n / (size_t)in.rows;
    for (int r = 0; r < in.rows; r++) {
        double mean_abs = quant_sum_abs(in.x + (size_t)r * m, m) / (double)m;
        float s0 = (float)(2.0 * mean_abs / sqrt((double)l->qp));
        s[r] = s0 > 1e-8f ? s0 : 1e-8f;
    }
}

/* restrict pointers, so the loop vectorises (rint included, with -fno-trapping-math) */
static void quantize_span(const float *restrict x, float *restrict y, size_t n, float inv, float step,
                          float lo, float hi) {
    for (size_t i = 0; i < n; i++) y[i] = qround(qclip(x[i] * inv, lo, hi)) * step;
}

/* The step's learning rate is lr * mean(s) (docs/METHODS.md 1.5), from this step's s. */
static void lsq_begin_step(Quantizer *q, QuantInput in) {
    (void)in;
    const Param *p = q->params[0];
    int rows = (int)p->t.size;
    double mean = 0.0;
    for (int r = 0; r < rows; r++) mean += p->t.data[r];
    q->params[0]->lr_scale = (float)(mean / rows);
}

static void lsq_forward(Quantizer *q, QuantInput in, float *y) {
    Lsq *l = q->state;
    const float *s = q->params[0]->t.data;
    size_t m = in.n / (size_t)in.rows;
    for (int r = 0; r < in.rows; r++) {
        const float *x = in.x + (size_t)r * m;
        float *out = y + (size_t)r * m;
        float step = s[r], inv = 1.0f / step, lo = -l->qn, hi = l->qp;
        if (m <= QUANT_PARALLEL_MIN) {
            quantize_span(x, out, m, inv, step, lo, hi);
            continue;
        }
        long nc = (long)((m + 4095) / 4096);
#pragma omp parallel for schedule(static)
        for (long c = 0; c < nc; c++) {
            size_t a = (size_t)c * 4096, e = a + 4096 < m ? a + 4096 : m;
            quantize_span(x + a, out + a, e - a, inv, step, lo, hi);
        }
    }
}

static void lsq_describe(const Quantizer *q, QuantFunc *f) {
    const Lsq *l = q->state;
    float step = q->params[0]->t.data[0];
    *f = (QuantFunc){.mul = 1.0f / step, .lo = -l->qn, .hi = l->qp, .out_scale = step};
}

/* dparam[r] += the step's gradient over this piece (see quantizer.h). */
static void lsq_backward_part(Quantizer *q, QuantInput in, size_t example_size, const float *dy, float *dx,
                              double *dparam) {
    Lsq *l = q->state;
    const float *s = q->params[0]->t.data;
    size_t m = in.n / (size_t)in.rows;
    /* N: elements per example (activations) or per tensor / row (weights). */
    double N = q->is_weight      ? (double)m
               : example_size ? (double)example_size
                              : (double)in.n / (in.batch > 0 ? in.batch : 1);
    double gscale = 1.0 / sqrt(N * l->qp);
    for (int r = 0; r < in.rows; r++) {
        const float *x = in.x + (size_t)r * m, *g = dy + (size_t)r * m;
        float *d = dx ? dx + (size_t)r * m : NULL;
        float inv = 1.0f / s[r], lo = -l->qn, hi = l->qp;
        /* Branch-free so the loop vectorises: clipped elements pass no gradient to v and
         * contribute -Qn / +Qp to ds; inside ones pass G and contribute round(t) - t. */
        double sum = 0.0;
        if (d) {
            QUANT_SIMD_SUM_F(m, sum, i, {
                float t = x[i] * inv;
                int below = t <= lo, above = t >= hi;
                float dvds = below ? lo : (above ? hi : qround(t) - t);
                d[i] += (below | above) ? 0.0f : g[i];
                acc += g[i] * dvds;
            });
        } else {
            QUANT_SIMD_SUM_F(m, sum, i, {
                float t = x[i] * inv;
                float dvds = t <= lo ? lo : (t >= hi ? hi : qround(t) - t);
                acc += g[i] * dvds;
            });
        }
        dparam[r] += gscale * sum;
    }
}

static void lsq_backward(Quantizer *q, QuantInput in, const float *dy, float *dx) {
    double *ds = ((Lsq *)q->state)->dpart;
    for (int r = 0; r < in.rows; r++) ds[r] = 0.0;
    lsq_backward_part(q, in, 0, dy, dx, ds);
    float *grad = q->params[0]->t.grad;
    for (int r = 0; r < in.rows; r++) grad[r] += (float)ds[r];
}

static void lsq_export(Quantizer *q, QuantInput in, QuantExport *out) {
    Lsq *l = q->state;
    const float *s = q->params[0]->t.data;
    size_t m = in.n / (size_t)in.rows;
    for (int r = 0; r < in.rows; r++) {
        out->scales[r] = s[r];
        float inv = 1.0f / s[r]; /* as forward computes it, so codes match bit for bit */
        for (size_t i = 0; i < m; i++)
            out->codes[(size_t)r * m + i] = (int32_t)qround(qclip(in.x[(size_t)r * m + i] * inv, -l->qn, l->qp));
    }
    out->levels = NULL;
    out->nlevels = (int)(l->qn + l->qp + 1);
    out->offset = 0.0f;
}

static void lsq_clamp(Quantizer *q) {
    Param *p = q->params[0];
    for (size_t i = 0; i < p->t.size; i++)
        if (!(p->t.data[i] >= 1e-8f)) p->t.data[i] = 1e-8f;
}

static void lsq_destroy(Quantizer *q) {
    free(((Lsq *)q->state)->dpart);
    free(q->state);
}

static const QuantizerOps LSQ_OPS = {
    .name = "lsq", .init = lsq_init, .begin_step = lsq_begin_step, .forward = lsq_forward,
    .backward = lsq_backward, .backward_part = lsq_backward_part, .describe = lsq_describe, .export_codes = lsq_export,
    .clamp = lsq_clamp, .destroy = lsq_destroy,
};

Quantizer *lsq_make(const QuantSpec *spec) {
    if (spec->bits < 2 || spec->bits > 16) qat_die("lsq: bit width must be 2..16 (got %d)", spec->bits);
    Quantizer *q = quant_spec_alloc(&LSQ_OPS, spec);
    Lsq *l = qat_calloc(1, sizeof *l);
    if (q->is_signed) {
        l->qn = ldexpf(1.0f, q->bits - 1);
        l->qp = l->qn - 1.0f;
    } else {
        l->qn = 0.0f;
        l->qp = ldexpf(1.0f, q->bits) - 1.0f;
    }
    q->state = l;
    quantizer_add_param(q, "s", q->per_channel ? spec->rows : 1, 0, 1.0f);
    l->dpart = qat_calloc(q->params[0]->t.size, sizeof(double));
    return q;
}
