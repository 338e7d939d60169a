/* PACT: parameterized clipping activation (docs/METHODS.md 2; Choi et al., arXiv 1805.06085),
 * with SAWB (default) or DoReFa weights.
 *
 * Activations, learnable clip "alpha" (one per site):
 *   unsigned: y = clip(x, 0, alpha), n = 2^b - 1,     yq = round(y n/alpha) alpha/n (codes 0..n)
 *   signed (project extension, symmetric): y = clip(x, -alpha, alpha), n = 2^(b-1) - 1,
 *             yq = round(y n/alpha) alpha/n (codes -n..n)
 *   Backward (paper STE, the step alpha/n is a constant: no interior alpha term):
 *   unsigned: dx = G 1[0 <= x < alpha],     dalpha = sum G 1[x >= alpha]
 *   signed:   dx = G 1[-alpha < x < alpha], dalpha = sum G (1[x >= alpha] - 1[x <= -alpha])
 *   plus the L2 penalty gradient 2 lambda_alpha alpha (quantizer.lambda_alpha), see below.
 *   Init: alpha0 = max|x| of the first batch (quantizer.alpha_init: max) or the configured
 *   number; after each optimizer step alpha >= 1e-6.
 *
 * The L2 term. The penalty lambda alpha^2 is part of the loss, so its gradient must enter
 * dalpha once per optimizer step, whereas backward runs once per forward call (several
 * times per step for an LSTM hidden-state quantizer). The quantizer keeps a flag
 * `l2_pending`, set when it is made and by clamp() (which the training loop calls after
 * every optimizer step, right before zeroing the gradients); the first backward call
 * after that adds 2 lambda alpha to dalpha and clears the flag. So dalpha holds the term
 * exactly once per step, whatever the number of calls. (Calling backward twice without a
 * clamp() in between adds it once: the two calls belong to one step.)
 *
 * Weights, SAWB (quantizer.weight_quantizer: sawb, 2.5): no learnable parameter.
 *   E1 = mean|w|, E2 = sqrt(mean w^2); alpha_w = c1 E2 + c2 E1 for b = 2..5 (table below),
 *   max|w| otherwise; alpha_w <= 0 -> max(max|w|, 1e-8). L = 2^b - 1,
 *   t = clip(w/alpha_w, -1, 1), k = round((t + 1)/2 L) (code 0..L), wq = (2k/L - 1) alpha_w.
 *   alpha_w is recomputed from the current weights at every training step (begin_step; no gradient
 *   through it) and stored in the frozen state parameter "alpha_w", so evaluation uses the
 *   last training value and checkpoints carry it. Evaluation with a stored 0 (never set)
 *   computes it from the weights (without storing it). init() sets it from the FP weights.
 *   Backward: dw = G 1[|w| < alpha_w].
 * Weights, DoReFa (quantizer.weight_quantizer: dorefa, 2.6): no parameter.
 *   u = tanh(w)/(2M) + 0.5 with M = max|tanh(w)| = |tanh(w_m)|, m = argmax|w| (first
 *   index on ties), k = round(u L), wq = 2k/L - 1 (in [-1, 1]).
 *   Backward: STE through the round, exact through tanh and the 1/(2M) scaling with the
 *   argmax fixed: dw_i = G_i sech^2(w_i)/M, and the argmax element also gets
 *   -sign(w_m) sech^2(w_m)/M^2 sum_j G_j tanh(w_j).
 *
 * Export: activations codes 0..n (unsigned) or -n..n (signed) with scale alpha/n; SAWB
 * codes k = 0..L with the level table 2k/L - 1 and scale alpha_w; DoReFa the same table
 * with scale 1.
 *
 * Granularity: per-tensor only (the paper's, P6). quantizer.per_channel is ignored for
 * PACT: the quantizer resets per_channel to 0, so the site feeds the whole tensor as one
 * row and the site table reports per-tensor.
 *
 * Every parameter-gradient reduction uses the fixed-chunk sums of reduce.h, so results do
 * not depend on the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/quantizer.h"
#include "quant/method.h"
#include "quant/reduce.h"

#define PACT_ALPHA_MIN 1e-6f
#define PACT_ALPHA_W_MIN 1e-8

typedef enum { PACT_ACT_UNSIGNED, PACT_ACT_SIGNED, PACT_W_SAWB, PACT_W_DOREFA } PactKind;

typedef struct {
    PactKind kind;
    float n;              /* activations: positive levels (2^b-1 or 2^(b-1)-1); weights: L = 2^b-1 */
    double lambda;        /* L2 coefficient on alpha */
    int alpha_init_max;   /* 1: alpha0 = max|x| of the first batch */
    float alpha_init;     /* else this value */
    int l2_pending;       /* add 2 lambda alpha on the next backward (see the top) */
    double sawb_c1, sawb_c2; /* SAWB coefficients (0, 0: use max|w|) */
    float *levels;        /* export level table 2k/L - 1 (weights), made on first export */
} Pact;

/* --- helpers ----------------------------------------------------------------------- */

/* max|x| over the finite values (NaN is skipped by the comparison); the max is exact, so
 * the parallel reduction is deterministic. */
static double pact_max_abs(const float *x, size_t n) {
    double m = 0.0;
    long nn = (long)n;
#pragma omp parallel for schedule(static) reduction(max : m) if (nn > 65536)
    for (long i = 0; i < nn; i++) {
        double a = fabs((double)x[i]);
        if (a > m && a < INFINITY) m = a;
    }
    return m;
}

/* SAWB clip from the current weights (2.5). */
static float sawb_alpha(const Pact *p, const float *w, size_t n) {
    double a = 0.0;
    if (p->sawb_c1 != 0.0 && n > 0) {
        double s1, s2;
        QUANT_SIMD_SUM(n, s1, i, { acc += fabs((double)w[i]); });
        QUANT_SIMD_SUM(n, s2, i, { acc += (double)w[i] * (double)w[i]; });
        double e1 = s1 / (double)n, e2 = sqrt(s2 / (double)n);
        a = p->sawb_c1 * e2 + p->sawb_c2 * e1;
    } else {
        a = pact_max_abs(w, n);
    }
    if (!(a > 0.0) || !isfinite(a)) {
        a = pact_max_abs(w, n);
        if (!(a >= PACT_ALPHA_W_MIN)) a = PACT_ALPHA_W_MIN;
    }
    float af = (float)a;
    return af > 0.0f ? af : (float)PACT_ALPHA_W_MIN;
}

/* The alpha_w that evaluation (and backward, export) uses: the stored training value,
 * or the current weights' value if none was ever stored. */
static float sawb_alpha_frozen(const Quantizer *q, QuantInput in) {
    float a = q->params[0]->t.data[0];
    return a > 0.0f ? a : sawb_alpha(q->state, in.x, in.n);
}

/* DoReFa: argmax m of |w| (first on ties) and M = |tanh(w_m)| (guarded). */
static void dorefa_max(const float *w, size_t n, size_t *argmax, double *M) {
    size_t m = 0;
    float best = -1.0f;
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(w[i]);
        if (a > best) {
            best = a;
            m = i;
        }
    }
    *argmax = m;
    double t = n ? fabs(tanh((double)w[m])) : 0.0;
    *M = t > PACT_ALPHA_W_MIN ? t : PACT_ALPHA_W_MIN;
}

/* --- ops --------------------------------------------------------------------------- */

static void pact_init(Quantizer *q, QuantInput in) {
    Pact *p = q->state;
    switch (p->kind) {
    case PACT_ACT_UNSIGNED:
    case PACT_ACT_SIGNED: {
        float a = p->alpha_init_max ? (float)pact_max_abs(in.x, in.n) : p->alpha_init;
        q->params[0]->t.data[0] = a >= PACT_ALPHA_MIN ? a : PACT_ALPHA_MIN;
        p->l2_pending = 1;
        break;
    }
    case PACT_W_SAWB:
        q->params[0]->t.data[0] = sawb_alpha(p, in.x, in.n);
        break;
    case PACT_W_DOREFA:
        break;
    }
}

static void pact_describe(const Quantizer *q, QuantFunc *f) {
    const Pact *p = q->state;
    QAT_ASSERT(p->kind == PACT_ACT_UNSIGNED || p->kind == PACT_ACT_SIGNED);
    float alpha = q->params[0]->t.data[0], L = p->n;
    *f = (QuantFunc){.mul = L / alpha, .lo = p->kind == PACT_ACT_SIGNED ? -L : 0.0f, .hi = L, .out_scale = alpha / L};
}

/* SAWB weights: alpha_w of this step's weights, which the step's forward, backward and
 * (frozen) evaluation and export use. */
static void pact_begin_step(Quantizer *q, QuantInput in) {
    Pact *p = q->state;
    if (p->kind == PACT_W_SAWB) q->params[0]->t.data[0] = sawb_alpha(p, in.x, in.n);
}

static void pact_forward(Quantizer *q, QuantInput in, float *y) {
    Pact *p = q->state;
    const float *x = in.x;
    long n = (long)in.n;
    float L = p->n;
    switch (p->kind) {
    case PACT_ACT_UNSIGNED:
    case PACT_ACT_SIGNED: {
        /* round(clip(x, lo, alpha) n/alpha) alpha/n == round(clip(x n/alpha, lo n/alpha, n)) alpha/n */
        float alpha = q->params[0]->t.data[0];
        float step = alpha / L, inv = L / alpha, lo = p->kind == PACT_ACT_SIGNED ? -L : 0.0f;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) y[i] = qround(qclip(x[i] * inv, lo, L)) * step;
        break;
    }
    case PACT_W_SAWB: {
        float a = sawb_alpha_frozen(q, in);
        float inv = 1.0f / a, half = 0.5f * L, step = a / L;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) {
            float k = qround((qclip(x[i] * inv, -1.0f, 1.0f) + 1.0f) * half);
            y[i] = (2.0f * k - L) * step;
        }
        break;
    }
    case PACT_W_DOREFA: {
        size_t m;
        double M;
        dorefa_max(x, in.n, &m, &M);
        float inv2m = (float)(0.5 / M), invL = 1.0f / L;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) {
            float k = qround((tanhf(x[i]) * inv2m + 0.5f) * L);
            y[i] = (2.0f * k - L) * invL;
        }
        break;
    }
    }
}

static void pact_backward(Quantizer *q, QuantInput in, const float *dy, float *dx) {
    Pact *p = q->state;
    const float *x = in.x;
    size_t n = in.n;
    switch (p->kind) {
    case PACT_ACT_UNSIGNED:
    case PACT_ACT_SIGNED: {
        float alpha = q->params[0]->t.data[0];
        double sum = 0.0;
        /* Branch-free so the loops vectorise. */
        if (p->kind == PACT_ACT_UNSIGNED) {
            if (dx) {
                QUANT_SIMD_SUM(n, sum, i, {
                    float v = x[i];
                    dx[i] += (v >= 0.0f && v < alpha) ? dy[i] : 0.0f;
                    acc += v >= alpha ? (double)dy[i] : 0.0;
                });
            } else {
                QUANT_SIMD_SUM(n, sum, i, { acc += x[i] >= alpha ? (double)dy[i] : 0.0; });
            }
        } else {
            if (dx) {
                QUANT_SIMD_SUM(n, sum, i, {
                    float v = x[i];
                    dx[i] += (v > -alpha && v < alpha) ? dy[i] : 0.0f;
                    acc += v >= alpha ? (double)dy[i] : (v <= -alpha ? -(double)dy[i] : 0.0);
                });
            } else {
                QUANT_SIMD_SUM(n, sum, i, {
                    float v = x[i];
                    acc += v >= alpha ? (double)dy[i] : (v <= -alpha ? -(double)dy[i] : 0.0);
                });
            }
        }
        if (p->l2_pending) {
            sum += 2.0 * p->lambda * (double)alpha;
            p->l2_pending = 0;
        }
        q->params[0]->t.grad[0] += (float)sum;
        break;
    }
    case PACT_W_SAWB: {
        if (!dx) return;
        float a = sawb_alpha_frozen(q, in);
        long nn = (long)n;
#pragma omp parallel for schedule(static) if (nn > 65536)
        for (long i = 0; i < nn; i++) dx[i] += fabsf(x[i]) < a ? dy[i] : 0.0f;
        break;
    }
    case PACT_W_DOREFA: {
        if (!dx) return;
        size_t m;
        double M;
        dorefa_max(x, n, &m, &M);
        long nn = (long)n;
        /* direct path: d wq/d w_i = 2 sech^2(w_i) / (2M) */
#pragma omp parallel for schedule(static) if (nn > 65536)
        for (long i = 0; i < nn; i++) {
            double t = tanh((double)x[i]);
            dx[i] += (float)((double)dy[i] * (1.0 - t * t) / M);
        }
        /* through M = |tanh(w_m)|: d wq_j/d M = -tanh(w_j)/M^2 */
        double s;
        QUANT_CHUNKED_SUM(n, s, i, { acc += (double)dy[i] * tanh((double)x[i]); });
        if (n && M > PACT_ALPHA_W_MIN) {
            double tm = tanh((double)x[m]);
            double sgn = tm > 0.0 ? 1.0 : (tm < 0.0 ? -1.0 : 0.0);
            dx[m] += (float)(-sgn * (1.0 - tm * tm) / (M * M) * s);
        }
        break;
    }
    }
}

static void pact_export(Quantizer *q, QuantInput in, QuantExport *out) {
    Pact *p = q->state;
    const float *x = in.x;
    float L = p->n;
    out->offset = 0.0f;
    switch (p->kind) {
    case PACT_ACT_UNSIGNED:
    case PACT_ACT_SIGNED: {
        float alpha = q->params[0]->t.data[0];
        float inv = L / alpha, lo = p->kind == PACT_ACT_SIGNED ? -L : 0.0f;
        for (size_t i = 0; i < in.n; i++) out->codes[i] = (int32_t)qround(qclip(x[i] * inv, lo, L));
        out->scales[0] = alpha / L;
        out->levels = NULL;
        out->nlevels = (int)(p->kind == PACT_ACT_SIGNED ? 2.0f * L + 1.0f : L + 1.0f);
        return;
    }
    case PACT_W_SAWB:
    case PACT_W_DOREFA:
        break;
    }
    int nl = (int)L + 1;
    if (!p->levels) {
        p->levels = qat_calloc((size_t)nl, sizeof *p->levels);
        for (int k = 0; k < nl; k++) p->levels[k] = (float)(2.0 * k / (double)L - 1.0);
    }
    out->levels = p->levels;
    out->nlevels = nl;
    if (p->kind == PACT_W_SAWB) {
        float a = sawb_alpha_frozen(q, in), inv = 1.0f / a, half = 0.5f * L;
        for (size_t i = 0; i < in.n; i++)
            out->codes[i] = (int32_t)qround((qclip(x[i] * inv, -1.0f, 1.0f) + 1.0f) * half);
        out->scales[0] = a;
    } else {
        size_t m;
        double M;
        dorefa_max(x, in.n, &m, &M);
        float inv2m = (float)(0.5 / M);
        for (size_t i = 0; i < in.n; i++) out->codes[i] = (int32_t)qround((tanhf(x[i]) * inv2m + 0.5f) * L);
        out->scales[0] = 1.0f;
    }
}

static void pact_clamp(Quantizer *q) {
    Pact *p = q->state;
    if (p->kind != PACT_ACT_UNSIGNED && p->kind != PACT_ACT_SIGNED) return;
    float *a = q->params[0]->t.data;
    if (!(a[0] >= PACT_ALPHA_MIN)) a[0] = PACT_ALPHA_MIN;
    p->l2_pending = 1; /* a new step begins: its first backward adds the L2 term */
}

static void pact_destroy(Quantizer *q) {
    Pact *p = q->state;
    if (p) free(p->levels);
    free(p);
}

static const QuantizerOps PACT_OPS = {
    .name = "pact", .init = pact_init, .begin_step = pact_begin_step, .forward = pact_forward, .backward = pact_backward,
    .describe = pact_describe, .export_codes = pact_export, .clamp = pact_clamp, .destroy = pact_destroy,
};

/* --- construction and options ------------------------------------------------------- */

/* quantizer.alpha_init: "max" or a positive finite number. */
static void parse_alpha_init(Pact *p, const char *s) {
    if (strcmp(s, "max") == 0) {
        p->alpha_init_max = 1;
        return;
    }
    char *end = NULL;
    double v = strtod(s, &end);
    while (end && (*end == ' ' || *end == '\t')) end++;
    if (end == s || !end || *end != '\0' || !isfinite(v) || !(v > 0.0) || (float)v < PACT_ALPHA_MIN)
        qat_die("quantizer.alpha_init must be 'max' or a positive number (>= 1e-6) (got '%s')", s);
    p->alpha_init_max = 0;
    p->alpha_init = (float)v;
}

Quantizer *pact_make(const QuantSpec *spec) {
    if (spec->bits < 2 || spec->bits > 16) qat_die("pact: bit width must be 2..16 (got %d)", spec->bits);
    const Config *cfg = spec->cfg;
    const char *alpha_init = cfg && cfg_has(cfg, "quantizer.alpha_init") ? cfg_str(cfg, "quantizer.alpha_init") : "max";
    double lambda = cfg && cfg_has(cfg, "quantizer.lambda_alpha") ? cfg_float(cfg, "quantizer.lambda_alpha") : 1e-4;
    const char *wq = cfg && cfg_has(cfg, "quantizer.weight_quantizer") ? cfg_str(cfg, "quantizer.weight_quantizer") : "sawb";
    /* Every option is checked on every site, so a bad value fails at once. */
    int dorefa = 0;
    if (strcmp(wq, "dorefa") == 0) dorefa = 1;
    else if (strcmp(wq, "sawb") != 0) qat_die("quantizer.weight_quantizer must be sawb or dorefa (got '%s')", wq);
    if (!isfinite(lambda) || lambda < 0.0) qat_die("quantizer.lambda_alpha must be >= 0 (got %g)", lambda);
    Pact *p = qat_calloc(1, sizeof *p);
    parse_alpha_init(p, alpha_init);
    p->lambda = lambda;
    p->l2_pending = 1;

    Quantizer *q = quant_spec_alloc(&PACT_OPS, spec);
    q->per_channel = 0; /* per-tensor only (see the top of this file) */
    q->state = p;
    if (q->is_weight) {
        p->kind = dorefa ? PACT_W_DOREFA : PACT_W_SAWB;
        p->n = ldexpf(1.0f, q->bits) - 1.0f;
        /* [src: fms_mo sawb_params]; the table only for b = 2..5, max|w| otherwise */
        static const double C[4][2] = {{3.12, -2.064}, {7.509, -6.892}, {12.68, -12.80}, {17.74, -18.64}};
        if (q->bits >= 2 && q->bits <= 5) {
            p->sawb_c1 = C[q->bits - 2][0];
            p->sawb_c2 = C[q->bits - 2][1];
        }
        if (!dorefa) quantizer_add_param(q, "alpha_w", 1, 1, 0.0f);
    } else {
        p->kind = q->is_signed ? PACT_ACT_SIGNED : PACT_ACT_UNSIGNED;
        p->n = q->is_signed ? ldexpf(1.0f, q->bits - 1) - 1.0f : ldexpf(1.0f, q->bits) - 1.0f;
        quantizer_add_param(q, "alpha", 1, 0, p->alpha_init_max ? 1.0f : p->alpha_init);
    }
    return q;
}
