/* AdaRound: adaptive rounding for post-training quantization (docs/METHODS.md 3; Nagel et al.,
 * ICML 2020; AIMET / BRECQ for the details).
 *
 * Quantizers (adaround_make):
 *   weights: fixed uniform grid, y = s*clip(round(W/s), lo, hi), STE backward. The grid
 *     is signed [-2^(b-1), 2^(b-1)-1] (quantizer.grid = symmetric) or unsigned [0, 2^b-1]
 *     with an integer zero point z (asymmetric: lo = -z, hi = 2^b-1-z). Frozen state
 *     params "s" (and "zero_point"), one per row when per-channel. Calibration writes the
 *     hard-rounded weights W_q = s*clip(floor(W/s) + 1[V >= 0], lo, hi) into the layer's
 *     weight, so this round-to-nearest forward reproduces them exactly.
 *   inputs: static uniform quantizer, signed [-2^(b-1), 2^(b-1)-1] or unsigned
 *     [0, 2^b-1], frozen scale "s" from the 80-candidate MSE search (3.7).
 *   No parameter is learnable: nothing trains; the run only evaluates after calibrate.
 *   Exported codes are the integers of the forward (value = s * code, offset 0; for the
 *   asymmetric grid the codes are q - z, i.e. 2^b consecutive integers in [-z, 2^b-1-z]).
 *
 * The calibration procedure that fits them is ptq/adaround.c. */
#include "quant/adaround.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/quantizer.h"
#include "quant/method.h"
#include "quant/reduce.h"

/* ------------------------------------------------------------------------------------ */
/* Formulas (3.3-3.5)                                                                    */

float adaround_h(float v) {
    float h, hg;
    adaround_h_and_grad(v, &h, &hg);
    return h;
}

float adaround_h_grad(float v) {
    float h, hg;
    adaround_h_and_grad(v, &h, &hg);
    return hg;
}

float adaround_v_init(float w, float s, float fl) {
    double frac = (double)(w / s) - (double)fl; /* in [0, 1) */
    if (frac < 0.0) frac = 0.0;
    if (frac > 1.0) frac = 1.0;
    return (float)(-log((ADAROUND_ZETA - ADAROUND_GAMMA) / (frac - ADAROUND_GAMMA) - 1.0));
}

double adaround_reg(const float *v, size_t n, double beta) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += 1.0 - pow(fabs(2.0 * adaround_h(v[i]) - 1.0), beta);
    return sum;
}

/* Element-wise (a pow each): threads change nothing but the time. */
void adaround_reg_grad_from_h(const float *h, const float *hg, size_t n, double beta, double lambda, float *dv) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        if (hg[i] == 0.0f) continue;
        double c = 2.0 * h[i] - 1.0;
        double sgn = c > 0.0 ? 1.0 : (c < 0.0 ? -1.0 : 0.0);
        dv[i] += (float)(lambda * (-2.0 * beta * pow(fabs(c), beta - 1.0) * sgn) * hg[i]);
    }
}

void adaround_reg_grad(const float *v, size_t n, double beta, double lambda, float *dv) {
    float *h = qat_malloc(2 * n * sizeof(float)), *hg = h + n;
    for (size_t i = 0; i < n; i++) adaround_h_and_grad(v[i], &h[i], &hg[i]);
    adaround_reg_grad_from_h(h, hg, n, beta, lambda, dv);
    free(h);
}

double adaround_beta(long t, long T, int linear) {
    double warm = 0.2 * (double)T;
    if ((double)t < warm) return 0.0;
    double rel = ((double)t - warm) / (0.8 * (double)T);
    if (linear) return 2.0 + 18.0 * fmax(0.0, 1.0 - rel);
    return 2.0 + 0.5 * (20.0 - 2.0) * (1.0 + cos(M_PI * rel));
}

/* ------------------------------------------------------------------------------------ */
/* Grid search (3.2, 3.7)                                                                */

float adaround_grid_search(const float *x, size_t n, float lo, float hi) {
    double m = quant_max_abs(x, n);
    if (!(m > 0.0)) return 1.0f;
    double best = INFINITY;
    float best_s = (float)(m / hi);
    for (int i = 0; i < 80; i++) {
        float s = (float)(m * (1.0 - 0.01 * i) / hi);
        if (!(s > 0.0f)) continue;
        double e;
        QUANT_CHUNKED_SUM(n, e, j, {
            double d = (double)x[j] - (double)(s * qclip(qround(x[j] / s), lo, hi));
            acc += d * d;
        });
        if (e < best) {
            best = e;
            best_s = s;
        }
    }
    return best_s;
}

void adaround_grid_search_asym(const float *x, size_t n, int bits, float *s_out, float *z_out) {
    float mn = 0.0f, mx = 0.0f;
    for (size_t i = 0; i < n; i++) {
        mn = x[i] < mn ? x[i] : mn;
        mx = x[i] > mx ? x[i] : mx;
    }
    float qmax = ldexpf(1.0f, bits) - 1.0f;
    *s_out = 1.0f;
    *z_out = 0.0f;
    if (!(mx - mn > 0.0f)) return;
    double best = INFINITY;
    for (int i = 0; i < 80; i++) {
        double f = 1.0 - 0.01 * i;
        float lo = (float)(mn * f), hi = (float)(mx * f);
        float s = (hi - lo) / qmax;
        if (!(s > 0.0f)) continue;
        float z = qclip(qround(-lo / s), 0.0f, qmax);
        double e;
        QUANT_CHUNKED_SUM(n, e, j, {
            double d = (double)x[j] - (double)(s * (qclip(qround(x[j] / s) + z, 0.0f, qmax) - z));
            acc += d * d;
        });
        if (e < best) {
            best = e;
            *s_out = s;
            *z_out = z;
        }
    }
}

/* ------------------------------------------------------------------------------------ */
/* The quantizer                                                                         */

typedef struct {
    float lo, hi; /* symmetric weight grid or activation grid */
    int asym;     /* weights: params[1] is the zero point */
    float qmax;   /* 2^b - 1 */
} Ada;

void adaround_row_grid(const Quantizer *q, int r, float *lo, float *hi) {
    const Ada *a = q->state;
    if (a->asym) {
        float z = q->params[1]->t.data[r];
        *lo = -z;
        *hi = a->qmax - z;
    } else {
        *lo = a->lo;
        *hi = a->hi;
    }
}

void adaround_weight_grid(Quantizer *q, const float *w, size_t n, int rows) {
    const Ada *a = q->state;
    size_t m = n / (size_t)rows;
    for (int r = 0; r < rows; r++) {
        const float *x = w + (size_t)r * m;
        if (a->asym)
            adaround_grid_search_asym(x, m, q->bits, &q->params[0]->t.data[r], &q->params[1]->t.data[r]);
        else
            q->params[0]->t.data[r] = adaround_grid_search(x, m, a->lo, a->hi);
    }
}

/* Used only when calibrate() did not set the grid (e.g. a quantizer created outside a
 * PTQ run): the same MSE searches on the tensor / first batch. */
static void ada_init(Quantizer *q, QuantInput in) {
    const Ada *a = q->state;
    if (q->is_weight) adaround_weight_grid(q, in.x, in.n, in.rows);
    else q->params[0]->t.data[0] = adaround_grid_search(in.x, in.n, a->lo, a->hi);
}

static void ada_forward(Quantizer *q, QuantInput in, float *y) {
    const float *s = q->params[0]->t.data;
    size_t m = in.n / (size_t)in.rows;
    for (int r = 0; r < in.rows; r++) {
        float lo, hi, step = s[r];
        adaround_row_grid(q, r, &lo, &hi);
        const float *x = in.x + (size_t)r * m;
        float *out = y + (size_t)r * m;
        long mm = (long)m;
#pragma omp parallel for schedule(static) if (mm > 65536)
        for (long i = 0; i < mm; i++) out[i] = step * qclip(qround(x[i] / step), lo, hi);
    }
}

/* STE inside the clipping range; no parameter gradients (the grid is fixed). */
static void ada_backward(Quantizer *q, QuantInput in, const float *dy, float *dx) {
    if (!dx) return;
    const float *s = q->params[0]->t.data;
    size_t m = in.n / (size_t)in.rows;
    for (int r = 0; r < in.rows; r++) {
        float lo, hi, step = s[r];
        adaround_row_grid(q, r, &lo, &hi);
        for (size_t i = (size_t)r * m; i < (size_t)(r + 1) * m; i++) {
            float t = in.x[i] / step;
            if (t >= lo && t <= hi) dx[i] += dy[i];
        }
    }
}

static void ada_describe(const Quantizer *q, QuantFunc *f) {
    float lo, hi, step = q->params[0]->t.data[0];
    adaround_row_grid(q, 0, &lo, &hi);
    *f = (QuantFunc){.div = step, .lo = lo, .hi = hi, .out_scale = step};
}

static void ada_export(Quantizer *q, QuantInput in, QuantExport *out) {
    const Ada *a = q->state;
    const float *s = q->params[0]->t.data;
    size_t m = in.n / (size_t)in.rows;
    for (int r = 0; r < in.rows; r++) {
        float lo, hi;
        adaround_row_grid(q, r, &lo, &hi);
        out->scales[r] = s[r];
        for (size_t i = (size_t)r * m; i < (size_t)(r + 1) * m; i++)
            out->codes[i] = (int32_t)qclip(qround(in.x[i] / s[r]), lo, hi);
    }
    out->levels = NULL;
    out->nlevels = (int)a->qmax + 1;
    out->offset = 0.0f;
}

static void ada_clamp(Quantizer *q) {
    Param *p = q->params[0];
    for (size_t i = 0; i < p->t.size; i++)
        if (!(p->t.data[i] >= 1e-8f)) p->t.data[i] = 1e-8f;
}

static void ada_destroy(Quantizer *q) { free(q->state); }

static const QuantizerOps ADA_OPS = {
    .name = "adaround", .init = ada_init, .forward = ada_forward, .backward = ada_backward,
    .describe = ada_describe, .export_codes = ada_export, .clamp = ada_clamp, .destroy = ada_destroy,
};

Quantizer *adaround_make(const QuantSpec *spec) {
    Quantizer *q = quant_spec_alloc(&ADA_OPS, spec);
    Ada *a = qat_calloc(1, sizeof *a);
    q->state = a;
    a->qmax = ldexpf(1.0f, q->bits) - 1.0f;
    if (q->is_signed) {
        a->lo = -ldexpf(1.0f, q->bits - 1);
        a->hi = ldexpf(1.0f, q->bits - 1) - 1.0f;
    } else {
        a->lo = 0.0f;
        a->hi = a->qmax;
    }
    if (q->is_weight && spec->cfg) {
        const char *grid = cfg_str(spec->cfg, "quantizer.grid");
        if (strcmp(grid, "asymmetric") == 0) a->asym = 1;
        else if (strcmp(grid, "symmetric") != 0)
            qat_die("quantizer.grid must be symmetric or asymmetric (got '%s')", grid);
    }
    int rows = q->per_channel ? spec->rows : 1;
    quantizer_add_param(q, "s", rows, 1, 1.0f);
    if (a->asym) quantizer_add_param(q, "zero_point", rows, 1, 0.0f);
    return q;
}

