/* QIL: quantization interval learning (docs/METHODS.md 5; Jung et al., CVPR 2019).
 *
 * Interval [c - d, c + d]: magnitudes below c - d are pruned to 0, above c + d clipped.
 *   alpha = 0.5/d, beta = -0.5 c/d + 0.5, u = alpha*a + beta (a = |w|, or x unsigned)
 *   T = 0 (a < c - d), 1 (a > c + d), u^gamma otherwise
 *   D(T) = round(T q)/q,  Y = sign(w) * S * D(T)
 * Weights: signed (sign(0) = 0), learnable c, d, gamma, q = 2^(b-1) - 1.
 * Unsigned activations: sign = +1 (no abs), learnable c, d, gamma = 1, q = 2^b - 1.
 * Signed activations (project extension): the weight transformer with gamma = 1,
 * q = 2^(b-1) - 1.
 * S = c + d (quantizer.rescale: true, default), or S = 1 (paper form, rescale: false).
 *
 * Backward (5.3), STE on the round; inside the interval:
 *   dT/da = gamma u^(gamma-1) 0.5/d, dT/dc = -dT/da, dT/dd = -gamma u^(gamma-1) 0.5 (a-c)/d^2,
 *   dT/dgamma = u^gamma ln u (0 at u = 0); u^(gamma-1) uses u = 1e-12 when u < 1e-12, gamma < 1.
 *   dY/dx = S dT/da (sign^2 taken as 1, as the spec writes it), dY/dc = sign (S dT/dc + D),
 *   dY/dd = sign (S dT/dd + D), dY/dgamma = sign S dT/dgamma; pruned and clipped elements
 *   send only sign * D to c and d (rescale on; nothing with rescale off) and nothing to x.
 * Init: c = d = m/2 (m = max|w|, max(x) unsigned, max|x| signed, first batch), gamma = 1.
 * After each step: d >= 1e-6, gamma >= 0.05; c free.
 *
 * Granularity: per-tensor only (the paper's). quantizer.per_channel is ignored for QIL:
 * the quantizer resets per_channel to 0, so the site feeds the whole tensor as one row and
 * the site table reports per-tensor. */
#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/quantizer.h"
#include "quant/method.h"
#include "quant/reduce.h"

#define QIL_D_MIN 1e-6f
#define QIL_GAMMA_MIN 0.05f
#define QIL_U_GUARD 1e-12f

typedef struct {
    float q;     /* levels above zero: 2^(b-1)-1 (signed) or 2^b-1 (unsigned) */
    int rescale; /* S = c + d (1) or S = 1 (0) */
} Qil;

/* Per-call constants from the current parameters. */
typedef struct {
    float c, d, gamma, q;
    double lo, hi, inv2d;      /* c - d, c + d, alpha = 0.5/d (in double: see qil_elem) */
    float S, scale;            /* scale = S / q: value = scale * code */
    float rescale;             /* 1: + D terms in dY/dc, dY/dd */
    int is_signed, unit_gamma;
} QilP;

static QilP qil_params(const Quantizer *q) {
    const Qil *l = q->state;
    QilP p;
    p.c = q->params[0]->t.data[0];
    p.d = q->params[1]->t.data[0];
    p.gamma = q->nparams > 2 ? q->params[2]->t.data[0] : 1.0f;
    p.q = l->q;
    p.lo = (double)p.c - (double)p.d; /* exact for float c, d of similar size */
    p.hi = (double)p.c + (double)p.d;
    p.inv2d = 0.5 / (double)p.d;
    p.S = l->rescale ? p.c + p.d : 1.0f;
    p.scale = p.S / p.q;
    p.rescale = l->rescale ? 1.0f : 0.0f;
    p.is_signed = q->is_signed;
    p.unit_gamma = p.gamma == 1.0f;
    return p;
}

/* Element x: its sign s (+1 for unsigned grids), magnitude a, u, T, and region:
 * 0 pruned, 1 inside, 2 clipped. u = alpha*a + beta is evaluated as (a - (c - d)) * 0.5/d
 * in double (the same value, without the cancellation of alpha*a + beta near a = c - d,
 * where gamma u^(gamma-1) is steep for gamma < 1); the regions compare a with c -+ d
 * exactly, so u lies in [0, 1] (clamped against the rounding of the division). */
typedef struct {
    float s, a, T;
    double u;
    int region;
} QilElem;

static inline QilElem qil_elem(const QilP *p, float x) {
    QilElem e;
    if (p->is_signed) {
        e.s = x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : 0.0f); /* sign(0) = 0 */
        e.a = fabsf(x);
    } else {
        e.s = 1.0f;
        e.a = x;
    }
    double a = e.a;
    if (a < p->lo) {
        e.region = 0;
        e.u = 0.0;
        e.T = 0.0f;
    } else if (a > p->hi) {
        e.region = 2;
        e.u = 1.0;
        e.T = 1.0f;
    } else {
        e.region = 1;
        e.u = (a - p->lo) * p->inv2d;
        if (e.u > 1.0) e.u = 1.0;
        e.T = p->unit_gamma ? (float)e.u : powf((float)e.u, p->gamma);
    }
    return e;
}

/* gamma u^(gamma-1) (the common factor of dT/da, dT/dc, dT/dd), with the guard: for
 * gamma < 1, u = 1e-12 where u = 0 (5.3), and likewise for 0 < u < 1e-12 (only reachable
 * a hair above c - d; keeps the factor bounded and continuous). */
static inline float qil_dpow(const QilP *p, double u) {
    if (p->unit_gamma) return 1.0f;
    float uf = (float)u;
    if (p->gamma < 1.0f && uf < QIL_U_GUARD) uf = QIL_U_GUARD;
    return p->gamma * powf(uf, p->gamma - 1.0f);
}

/* The integer code sign * round(T q) of x (+0, never -0, for a zero code, so that
 * Q(Q(x)) = Q(x) holds bit for bit where it holds at all). */
static inline float qil_code(const QilP *p, const QilElem *e) {
    float k = qround(e->T * p->q);
    return k == 0.0f ? 0.0f : e->s * k;
}

static void qil_init(Quantizer *q, QuantInput in) {
    /* m: max|x| (weights, signed activations) or max(x) (unsigned), finite values only. */
    double m = 0.0;
    for (size_t i = 0; i < in.n; i++) {
        double v = q->is_signed ? fabs((double)in.x[i]) : (double)in.x[i];
        if (isfinite(v) && v > m) m = v;
    }
    float half = (float)(0.5 * m);
    if (!(half >= QIL_D_MIN)) half = QIL_D_MIN; /* all zero (or negative): tiny interval */
    q->params[0]->t.data[0] = half;
    q->params[1]->t.data[0] = half;
    if (q->nparams > 2) q->params[2]->t.data[0] = 1.0f;
}

static void qil_forward(Quantizer *q, QuantInput in, float *y) {
    QilP p = qil_params(q);
    const float *x = in.x;
    long n = (long)in.n;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++) {
        QilElem e = qil_elem(&p, x[i]);
        y[i] = qil_code(&p, &e) * p.scale;
    }
}

static void qil_backward(Quantizer *q, QuantInput in, const float *dy, float *dx) {
    QilP p = qil_params(q);
    const float *x = in.x;
    size_t n = in.n;
    double S = p.S, d = p.d, c = p.c, q_ = p.q, r = p.rescale;
    double gc = 0.0, gd = 0.0, gg = 0.0;

    /* Pass 1: dx and dL/dc. dY/dc = s (S dT/dc + r D), dT/dc = -gamma u^(gamma-1) 0.5/d. */
    QUANT_CHUNKED_SUM(n, gc, i, {
        QilElem e = qil_elem(&p, x[i]);
        if (e.s != 0.0f) {
            double dyc = r * (double)qround(e.T * p.q) / q_;
            if (e.region == 1) {
                double dta = (double)qil_dpow(&p, e.u) * 0.5 / d;
                if (dx) dx[i] += (float)(dy[i] * S * dta);
                dyc -= S * dta;
            }
            acc += (double)dy[i] * e.s * dyc;
        } else if (e.region == 1 && dx) {
            /* x = 0 inside the interval (c - d <= 0): dY/dx = S dT/da as written in 5.3 */
            dx[i] += (float)(dy[i] * S * (double)qil_dpow(&p, e.u) * 0.5 / d);
        }
    });
    /* Pass 2: dL/dd. dT/dd = -gamma u^(gamma-1) 0.5 (a - c)/d^2. */
    QUANT_CHUNKED_SUM(n, gd, i, {
        QilElem e = qil_elem(&p, x[i]);
        if (e.s != 0.0f) {
            double dyd = r * (double)qround(e.T * p.q) / q_;
            if (e.region == 1) dyd -= S * (double)qil_dpow(&p, e.u) * 0.5 * ((double)e.a - c) / (d * d);
            acc += (double)dy[i] * e.s * dyd;
        }
    });
    q->params[0]->t.grad[0] += (float)gc;
    q->params[1]->t.grad[0] += (float)gd;
    if (q->nparams > 2) {
        /* Pass 3 (weights): dL/dgamma, dT/dgamma = u^gamma ln u (0 at u = 0). */
        QUANT_CHUNKED_SUM(n, gg, i, {
            QilElem e = qil_elem(&p, x[i]);
            if (e.s != 0.0f && e.region == 1 && e.u > 0.0)
                acc += (double)dy[i] * e.s * S * (double)e.T * log(e.u);
        });
        q->params[2]->t.grad[0] += (float)gg;
    }
}

/* u = (a - (c - d)) / (2d) is computed in double by the forward; the float form
 * t = a * (q / 2d) - (c - d) q / 2d can differ from it in the last place. */
static void qil_describe(const Quantizer *q, QuantFunc *f) {
    QilP p = qil_params(q);
    QAT_ASSERT(p.unit_gamma);
    double m = p.inv2d * p.q;
    *f = (QuantFunc){.sym = p.is_signed, .mul = (float)m, .add = (float)(-p.lo * m), .lo = 0.0f, .hi = p.q,
                     .out_scale = p.scale};
}

static void qil_export(Quantizer *q, QuantInput in, QuantExport *out) {
    QilP p = qil_params(q);
    for (size_t i = 0; i < in.n; i++) {
        QilElem e = qil_elem(&p, in.x[i]);
        out->codes[i] = (int32_t)qil_code(&p, &e);
    }
    out->scales[0] = p.scale;
    out->levels = NULL;
    out->nlevels = (int)(q->is_signed ? 2.0f * p.q + 1.0f : p.q + 1.0f);
    out->offset = 0.0f;
}

static void qil_clamp(Quantizer *q) {
    float *d = q->params[1]->t.data;
    if (!(d[0] >= QIL_D_MIN)) d[0] = QIL_D_MIN;
    if (q->nparams > 2) {
        float *g = q->params[2]->t.data;
        if (!(g[0] >= QIL_GAMMA_MIN)) g[0] = QIL_GAMMA_MIN;
    }
}

static void qil_destroy(Quantizer *q) { free(q->state); }

static const QuantizerOps QIL_OPS = {
    .name = "qil", .init = qil_init, .forward = qil_forward, .backward = qil_backward,
    .describe = qil_describe, .export_codes = qil_export, .clamp = qil_clamp, .destroy = qil_destroy,
};

Quantizer *qil_make(const QuantSpec *spec) {
    if (spec->bits < 2 || spec->bits > 16) qat_die("qil: bit width must be 2..16 (got %d)", spec->bits);
    Quantizer *q = quant_spec_alloc(&QIL_OPS, spec);
    q->per_channel = 0; /* per-tensor only (see the top of this file) */
    Qil *l = qat_calloc(1, sizeof *l);
    l->q = q->is_signed ? ldexpf(1.0f, q->bits - 1) - 1.0f : ldexpf(1.0f, q->bits) - 1.0f;
    /* quantizer.rescale (default true; also without a config, as in unit tests) */
    l->rescale = !spec->cfg || !cfg_has(spec->cfg, "quantizer.rescale") || cfg_bool(spec->cfg, "quantizer.rescale");
    q->state = l;
    quantizer_add_param(q, "c", 1, 0, 1.0f);
    quantizer_add_param(q, "d", 1, 0, 1.0f);
    if (q->is_weight) quantizer_add_param(q, "gamma", 1, 0, 1.0f);
    return q;
}
