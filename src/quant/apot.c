/* APoT: additive powers-of-two quantization (docs/METHODS.md 4; Li, Dong, Wang, ICLR 2020;
 * official code yhhhli/APoT_Quantization, ImageNet/models/quant_layer.py).
 *
 * Level sets Q(B) (4.2), normalised so the largest level is 1, built once per quantizer
 * as a sorted float array (B up to 16: 65,536 levels). n = floor(B/2) two-bit terms
 * T_1..T_n and, for odd B, one one-bit term U; exponents 1, 2, 3, ... go round-robin
 * twice over T_1..T_n, then (odd B) one to U, then once more over T_1..T_n. A term's set
 * is {0} u {2^-e : e assigned to it}; Q(B) = all sums / the largest sum. This is the
 * official build_power_value for B = 2..6 exactly and |Q(B)| = 2^B. B = 1 (the signed
 * set of a 2-bit signed activation) gives {0, 1}.
 * Projection Pi_B(c), c in [0, 1]: the nearest level (binary search over the midpoints of
 * neighbouring levels); an exact tie goes to the LOWER level. Signed sets project |c| and
 * keep the sign (ties go towards 0).
 *
 * Weights, b >= 3 (4.3): mu = mean(W), sigma = unbiased std(W) (floored at 1e-12, so a
 * constant tensor gives u = 0 instead of NaN), u = (W - mu)/sigma, c = clip(u/alpha,-1,1),
 * P = sign(c) Pi_{b-1}(|c|), q = alpha P; output W_q = sigma q + mu (quantizer.denorm:
 * true, default) or q (official, denorm: false). m = 1[|u| < alpha],
 * dq/dalpha = P - c (m = 1) or sign(u) (m = 0); STE on Pi. Gradients (exact, through mu
 * and sigma):
 *   official: dalpha = sum G dq/dalpha;  r = G m,
 *             dW_j = (r_j - mean(r) - u_j sum(r u)/(N-1)) / sigma
 *   denorm:   dalpha = sigma sum G dq/dalpha,
 *             dW_j = G_j m_j + mean(G) - mean(G m) + u_j sum G (q - m u) / (N-1)
 *             where q - m u = alpha dq/dalpha elementwise, so the last sum is alpha dalpha'.
 * Weights, b = 2 (4.5, official uq_with_calibrated_graditens): t = u/alpha,
 *   q = alpha round(clip(t, -1, 1)) (round half to even), dq/du = 1 (not masked),
 *   dq/dalpha = round(t) - t (|t| <= 1) or sign(t); then the normalisation backward with
 *   m = 1 (denorm: dW_j = G_j + u_j sum G (q - u)/(N-1)).
 * Activations (4.4): unsigned c = clip(x/alpha, 0, 1), y = alpha Pi_b(c),
 *   dx = G 1[0 < x < alpha], dalpha = sum G (Pi - c inside, 1 for x >= alpha, 0 for x <= 0);
 *   signed (project extension) c = clip(x/alpha, -1, 1), y = alpha sign(c) Pi_{b-1}(|c|),
 *   dx = G 1[|x| < alpha], dalpha = sum G (P - c inside, sign(x) outside).
 * Uniform mode (4.6, quantizer.high_bits: uniform, only at b >= 8): P = round(c L)/L with
 *   L = 2^(b-1) - 1 (weights, signed activations) or 2^b - 1 (unsigned), same gradients.
 * Init: weights alpha = 3.0 (sigma units); activations alpha = max|x| of the first batch
 * (quantizer.alpha_init: max) or the given positive number. After each step alpha >= 1e-6.
 * Export: APoT sets export the level table (value = scale * levels[code] + offset): the
 * unsigned table is Q(b), a signed one is -Q(B) u Q(B) in ascending order (2^(B+1) - 1
 * entries, code = index); uniform and ternary grids export integer codes (levels NULL,
 * scale = alpha/L). Denorm weights: scale = sigma alpha (/ L), offset = mu.
 *
 * Granularity: per-tensor only (the paper's and the official code's: one alpha, weight
 * statistics over the whole tensor). quantizer.per_channel is not supported for APoT:
 * the quantizer resets per_channel to 0, so the site feeds the whole tensor as one row and
 * the site table reports per-tensor. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/quantizer.h"
#include "quant/method.h"
#include "quant/reduce.h"

#define APOT_ALPHA_MIN 1e-6f
#define APOT_SIGMA_MIN 1e-12
#define APOT_ALPHA_W0 3.0f

typedef enum { APOT_LEVELS, APOT_UNIFORM, APOT_TERNARY } ApotMode;

typedef struct {
    ApotMode mode;
    int denorm;      /* weights: W_q = sigma q + mu */
    int alpha_max;   /* activations: alpha0 = max|x| of the first batch */
    float alpha0;    /* activations: the given alpha0 when !alpha_max */
    /* APOT_LEVELS: the magnitude set Q(B) and the midpoints of neighbouring levels. */
    int B, nlev;
    float *levels;   /* nlev ascending, levels[0] = 0, levels[nlev-1] = 1 */
    double *mids;    /* nlev - 1: mids[k] = (levels[k] + levels[k+1]) / 2, exact */
    int32_t *bucket; /* nb + 1: bucket[j] = #{mids < j/nb}, narrows the binary search */
    int nb;          /* buckets of [0, 1] (a power of 2, so j/nb and c*nb are exact) */
    float *table;    /* export table: levels (unsigned) or the signed set */
    int ntable;
    /* APOT_UNIFORM: top integer code L. */
    float L;
} Apot;

static const QuantizerOps APOT_OPS;

/* --- level sets ------------------------------------------------------------------------ */

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Q(B), B = 1..16, as nlev = 2^B ascending floats (and their midpoints). Sums are formed
 * exactly as integers in units of 2^-E (E = largest exponent <= 24), then divided by the
 * largest sum in double. */
static void apot_build_levels(Apot *a, int B) {
    int n = B / 2, odd = B & 1, E = 3 * n + odd;
    uint32_t bits[8][3]; /* T_i: the 2^-e of its three exponents, in units of 2^-E */
    for (int i = 0; i < n; i++) {
        int e[3] = {i + 1, n + i + 1, 2 * n + odd + i + 1};
        for (int k = 0; k < 3; k++) bits[i][k] = (uint32_t)1 << (E - e[k]);
    }
    uint32_t ubit = odd ? (uint32_t)1 << (E - (2 * n + 1)) : 0;
    size_t count = (size_t)1 << B;
    uint32_t *k = qat_malloc(count * sizeof *k);
    for (size_t idx = 0; idx < count; idx++) {
        size_t r = idx;
        uint32_t s = 0;
        for (int i = 0; i < n; i++, r >>= 2)
            if (r & 3) s += bits[i][(r & 3) - 1];
        if (odd && (r & 1)) s += ubit;
        k[idx] = s;
    }
    qsort(k, count, sizeof *k, cmp_u32);
    uint32_t kmax = ubit;
    for (int i = 0; i < n; i++) kmax += bits[i][0];
    QAT_ASSERT(k[count - 1] == kmax && k[0] == 0);
    a->B = B;
    a->nlev = (int)count;
    a->levels = qat_malloc(count * sizeof *a->levels);
    a->mids = qat_malloc((count - 1) * sizeof *a->mids);
    for (size_t j = 0; j < count; j++) a->levels[j] = (float)((double)k[j] / (double)kmax);
    for (size_t j = 0; j + 1 < count; j++) {
        QAT_ASSERT(a->levels[j] < a->levels[j + 1]); /* distinct sums stay distinct floats */
        a->mids[j] = 0.5 * ((double)a->levels[j] + (double)a->levels[j + 1]);
    }
    free(k);
    /* Bucket index: the answer for c in [j/nb, (j+1)/nb] lies in [bucket[j], bucket[j+1]]
     * (count(mids < c) is monotone in c). About 4 levels per bucket on average; the
     * search inside a bucket gives exactly the result of a search over all levels. */
    a->nb = (int)(4 * count < 64 ? 64 : (4 * count > 65536 ? 65536 : 4 * count));
    a->bucket = qat_malloc(((size_t)a->nb + 1) * sizeof *a->bucket);
    size_t m = 0;
    for (int j = 0; j <= a->nb; j++) {
        double t = (double)j / (double)a->nb;
        while (m + 1 < count && a->mids[m] < t) m++;
        a->bucket[j] = (int32_t)m;
    }
}

/* Index of Pi_B(c) for c in [0, 1]: the number of midpoints below c (ties: lower), by a
 * branch-free binary search inside c's bucket. */
static inline int apot_index(const Apot *a, double c) {
    double t = c * (double)a->nb;
    int j = t > 0.0 ? (t < (double)a->nb ? (int)t : a->nb - 1) : 0; /* NaN: bucket 0 */
    int lo = a->bucket[j], len = a->bucket[j + 1] - lo; /* answer in [lo, lo + len] */
    const double *mids = a->mids;
    while (len > 0) {
        int half = len >> 1;
        int less = mids[lo + half] < c;
        lo = less ? lo + half + 1 : lo;
        len = less ? len - half - 1 : half;
    }
    return lo;
}

/* --- the normalised projection (weights in sigma units, signed activations) ----------- */

/* P = sign(c) Pi(|c|) of a clipped c in [-1, 1] and its export code. */
static inline double apot_signed_P(const Apot *a, double c, int32_t *code) {
    switch (a->mode) {
    case APOT_LEVELS: {
        int k = apot_index(a, fabs(c));
        int zero = a->nlev - 1;
        if (k == 0) {
            *code = zero;
            return 0.0;
        }
        *code = c < 0.0 ? zero - k : zero + k;
        return c < 0.0 ? -(double)a->levels[k] : (double)a->levels[k];
    }
    case APOT_UNIFORM: {
        double r = rint(c * (double)a->L) + 0.0; /* + 0.0: no negative zero */
        *code = (int32_t)r;
        return r / (double)a->L;
    }
    case APOT_TERNARY:
    default: {
        double r = rint(c) + 0.0;
        *code = (int32_t)r;
        return r;
    }
    }
}

/* Unsigned P = Pi(c), c in [0, 1]. */
static inline double apot_unsigned_P(const Apot *a, double c, int32_t *code) {
    if (a->mode == APOT_LEVELS) {
        int k = apot_index(a, c);
        *code = k;
        return (double)a->levels[k];
    }
    double r = rint(c * (double)a->L);
    *code = (int32_t)r;
    return r / (double)a->L;
}

/* --- weights ----------------------------------------------------------------------------- */

typedef struct {
    double mu, sigma, alpha;
} WStats;

static WStats w_stats(const Quantizer *q, const float *x, size_t n) {
    WStats s;
    double sum, ss;
    QUANT_SIMD_SUM(n, sum, i, { acc += (double)x[i]; });
    double mu = sum / (double)n;
    QUANT_SIMD_SUM(n, ss, i, {
        double d = (double)x[i] - mu;
        acc += d * d;
    });
    double sigma = sqrt(ss / (double)(n > 1 ? n - 1 : 1));
    s.mu = mu;
    s.sigma = sigma >= APOT_SIGMA_MIN ? sigma : APOT_SIGMA_MIN;
    s.alpha = (double)q->params[0]->t.data[0];
    return s;
}

static inline double w_u(const WStats *s, float x) { return ((double)x - s->mu) / s->sigma; }

/* Normalised output q = alpha P of one weight (and its code). */
static inline double w_q(const Apot *a, const WStats *s, double u, int32_t *code) {
    double c = u / s->alpha;
    c = c < -1.0 ? -1.0 : (c > 1.0 ? 1.0 : c);
    return s->alpha * apot_signed_P(a, c, code);
}

static void apot_w_forward(Quantizer *q, QuantInput in, float *y) {
    const Apot *a = q->state;
    if (in.n == 0) return;
    WStats s = w_stats(q, in.x, in.n);
    const float *x = in.x;
    long n = (long)in.n;
    int denorm = a->denorm;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++) {
        int32_t code;
        double qq = w_q(a, &s, w_u(&s, x[i]), &code);
        y[i] = (float)(denorm ? s.sigma * qq + s.mu : qq);
    }
}

static void apot_w_backward(Quantizer *q, QuantInput in, const float *dy, float *dx) {
    const Apot *a = q->state;
    size_t n = in.n;
    if (n == 0) return;
    WStats s = w_stats(q, in.x, n);
    const float *x = in.x;
    const double alpha = s.alpha, N = (double)n, nm1 = (double)(n > 1 ? n - 1 : 1);
    double A; /* sum G dq/dalpha */
    float *dalpha = q->params[0]->t.grad;

    if (a->mode == APOT_TERNARY) {
        QUANT_SIMD_SUM(n, A, i, {
            double t = w_u(&s, x[i]) / alpha;
            double dq = fabs(t) <= 1.0 ? rint(t) - t : (t > 0.0 ? 1.0 : -1.0);
            acc += (double)dy[i] * dq;
        });
        dalpha[0] += (float)(a->denorm ? s.sigma * A : A);
        if (!dx) return;
        long nn = (long)n;
        if (a->denorm) {
            double Sqn; /* sum G (q - u) */
            QUANT_SIMD_SUM(n, Sqn, i, {
                double u = w_u(&s, x[i]);
                double t = u / alpha;
                t = t < -1.0 ? -1.0 : (t > 1.0 ? 1.0 : t);
                acc += (double)dy[i] * (alpha * rint(t) - u);
            });
            double K = Sqn / nm1;
#pragma omp parallel for schedule(static) if (nn > 65536)
            for (long i = 0; i < nn; i++) dx[i] += (float)((double)dy[i] + w_u(&s, x[i]) * K);
        } else {
            double SG, SGu;
            QUANT_SIMD_SUM(n, SG, i, { acc += (double)dy[i]; });
            QUANT_SIMD_SUM(n, SGu, i, { acc += (double)dy[i] * w_u(&s, x[i]); });
            double mean = SG / N, K = SGu / nm1;
#pragma omp parallel for schedule(static) if (nn > 65536)
            for (long i = 0; i < nn; i++)
                dx[i] += (float)(((double)dy[i] - mean - w_u(&s, x[i]) * K) / s.sigma);
        }
        return;
    }

    QUANT_CHUNKED_SUM(n, A, i, {
        double u = w_u(&s, x[i]);
        double dq;
        if (fabs(u) < alpha) {
            int32_t code;
            double c = u / alpha;
            dq = apot_signed_P(a, c < -1.0 ? -1.0 : (c > 1.0 ? 1.0 : c), &code) - c; /* P - c */
        } else {
            dq = u > 0.0 ? 1.0 : -1.0;
        }
        acc += (double)dy[i] * dq;
    });
    dalpha[0] += (float)(a->denorm ? s.sigma * A : A);
    if (!dx) return;
    double SGm; /* sum G m */
    QUANT_SIMD_SUM(n, SGm, i, { acc += fabs(w_u(&s, x[i])) < alpha ? (double)dy[i] : 0.0; });
    long nn = (long)n;
    if (a->denorm) {
        double SG;
        QUANT_SIMD_SUM(n, SG, i, { acc += (double)dy[i]; });
        double C = (SG - SGm) / N, K = alpha * A / nm1; /* sum G (q - m u) = alpha A */
#pragma omp parallel for schedule(static) if (nn > 65536)
        for (long i = 0; i < nn; i++) {
            double u = w_u(&s, x[i]);
            double gm = fabs(u) < alpha ? (double)dy[i] : 0.0;
            dx[i] += (float)(gm + C + u * K);
        }
    } else {
        double SGmu; /* sum G m u */
        QUANT_SIMD_SUM(n, SGmu, i, {
            double u = w_u(&s, x[i]);
            acc += fabs(u) < alpha ? (double)dy[i] * u : 0.0;
        });
        double mean = SGm / N, K = SGmu / nm1;
#pragma omp parallel for schedule(static) if (nn > 65536)
        for (long i = 0; i < nn; i++) {
            double u = w_u(&s, x[i]);
            double gm = fabs(u) < alpha ? (double)dy[i] : 0.0;
            dx[i] += (float)((gm - mean - u * K) / s.sigma);
        }
    }
}

/* --- activations --------------------------------------------------------------------------- */

static void apot_a_forward(Quantizer *q, QuantInput in, float *y) {
    const Apot *a = q->state;
    const float alpha = q->params[0]->t.data[0];
    const float *x = in.x;
    long n = (long)in.n;
    if (q->is_signed) {
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) {
            int32_t code;
            float c = qclip(x[i] / alpha, -1.0f, 1.0f);
            y[i] = alpha * (float)apot_signed_P(a, (double)c, &code);
        }
    } else {
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++) {
            int32_t code;
            float c = qclip(x[i] / alpha, 0.0f, 1.0f);
            y[i] = alpha * (float)apot_unsigned_P(a, (double)c, &code);
        }
    }
}

/* dx += G 1[inside]; dalpha += sum G (P - c inside, clipped: sign / 1 / 0). P comes from
 * the same float c as the forward; P - c uses c = x/alpha in double. */
static void apot_a_backward(Quantizer *q, QuantInput in, const float *dy, float *dx) {
    const Apot *a = q->state;
    const float alpha = q->params[0]->t.data[0];
    const double alphad = (double)alpha;
    const float *x = in.x;
    size_t n = in.n;
    double A;
    if (q->is_signed) {
        QUANT_CHUNKED_SUM(n, A, i, {
            float xi = x[i];
            double dq;
            if (fabsf(xi) < alpha) {
                int32_t code;
                float c = qclip(xi / alpha, -1.0f, 1.0f);
                dq = apot_signed_P(a, (double)c, &code) - (double)xi / alphad;
                if (dx) dx[i] += dy[i];
            } else {
                dq = xi > 0.0f ? 1.0 : -1.0;
            }
            acc += (double)dy[i] * dq;
        });
    } else {
        QUANT_CHUNKED_SUM(n, A, i, {
            float xi = x[i];
            double dq;
            if (xi > 0.0f && xi < alpha) {
                int32_t code;
                float c = qclip(xi / alpha, 0.0f, 1.0f);
                dq = apot_unsigned_P(a, (double)c, &code) - (double)xi / alphad;
                if (dx) dx[i] += dy[i];
            } else {
                dq = xi >= alpha ? 1.0 : 0.0;
            }
            acc += (double)dy[i] * dq;
        });
    }
    q->params[0]->t.grad[0] += (float)A;
}

/* --- ops ------------------------------------------------------------------------------------ */

static void apot_init(Quantizer *q, QuantInput in) {
    const Apot *a = q->state;
    float *alpha = q->params[0]->t.data;
    if (q->is_weight) {
        alpha[0] = APOT_ALPHA_W0;
    } else if (!a->alpha_max) {
        alpha[0] = a->alpha0;
    } else {
        double m = 0.0; /* max|x| over finite values */
        for (size_t i = 0; i < in.n; i++) {
            double v = fabs((double)in.x[i]);
            if (isfinite(v) && v > m) m = v;
        }
        alpha[0] = m >= APOT_ALPHA_MIN ? (float)m : APOT_ALPHA_MIN; /* all-zero batch */
    }
}

/* The float form differs from the forward's double arithmetic in the last place of c*L
 * (uniform mode) at most. */
static void apot_describe(const Quantizer *q, QuantFunc *f) {
    const Apot *a = q->state;
    QAT_ASSERT(!q->is_weight);
    float alpha = q->params[0]->t.data[0];
    switch (a->mode) {
    case APOT_LEVELS:
        *f = (QuantFunc){.sym = q->is_signed, .div = alpha, .lo = 0.0f, .hi = 1.0f, .levels = a->levels,
                         .nlevels = a->nlev, .out_scale = alpha};
        return;
    case APOT_UNIFORM:
        *f = (QuantFunc){.div = alpha / a->L, .lo = q->is_signed ? -a->L : 0.0f, .hi = a->L, .out_scale = alpha / a->L};
        return;
    case APOT_TERNARY:
        *f = (QuantFunc){.div = alpha, .lo = q->is_signed ? -1.0f : 0.0f, .hi = 1.0f, .out_scale = alpha};
        return;
    }
}

static void apot_forward(Quantizer *q, QuantInput in, float *y) {
    if (q->is_weight) apot_w_forward(q, in, y);
    else apot_a_forward(q, in, y);
}

static void apot_backward(Quantizer *q, QuantInput in, const float *dy, float *dx) {
    if (q->is_weight) apot_w_backward(q, in, dy, dx);
    else apot_a_backward(q, in, dy, dx);
}

static void apot_export(Quantizer *q, QuantInput in, QuantExport *out) {
    const Apot *a = q->state;
    const float alpha = q->params[0]->t.data[0];
    float scale = alpha, offset = 0.0f;
    if (q->is_weight) {
        WStats s = {0.0, 1.0, (double)alpha};
        if (in.n > 0) s = w_stats(q, in.x, in.n);
        for (size_t i = 0; i < in.n; i++) w_q(a, &s, w_u(&s, in.x[i]), &out->codes[i]);
        if (a->denorm) {
            scale = (float)(s.sigma * s.alpha);
            offset = (float)s.mu;
        }
    } else if (q->is_signed) {
        for (size_t i = 0; i < in.n; i++)
            apot_signed_P(a, (double)qclip(in.x[i] / alpha, -1.0f, 1.0f), &out->codes[i]);
    } else {
        for (size_t i = 0; i < in.n; i++)
            apot_unsigned_P(a, (double)qclip(in.x[i] / alpha, 0.0f, 1.0f), &out->codes[i]);
    }
    switch (a->mode) {
    case APOT_LEVELS:
        out->levels = a->table;
        out->nlevels = a->ntable;
        break;
    case APOT_UNIFORM:
        scale /= a->L;
        out->levels = NULL;
        out->nlevels = (int)(q->is_signed ? 2.0f * a->L + 1.0f : a->L + 1.0f);
        break;
    case APOT_TERNARY:
        out->levels = NULL;
        out->nlevels = 3;
        break;
    }
    out->scales[0] = scale;
    out->offset = offset;
}

static void apot_clamp(Quantizer *q) {
    float *alpha = q->params[0]->t.data;
    if (!(alpha[0] >= APOT_ALPHA_MIN)) alpha[0] = APOT_ALPHA_MIN; /* also NaN */
}

static void apot_destroy(Quantizer *q) {
    Apot *a = q->state;
    if (!a) return;
    if (a->table != a->levels) free(a->table);
    free(a->levels);
    free(a->mids);
    free(a->bucket);
    free(a);
}

static const QuantizerOps APOT_OPS = {
    .name = "apot", .init = apot_init, .forward = apot_forward, .backward = apot_backward,
    .describe = apot_describe, .export_codes = apot_export, .clamp = apot_clamp, .destroy = apot_destroy,
};

/* --- construction ---------------------------------------------------------------------------- */

/* quantizer.alpha_init: "max" or a positive finite number. */
static int parse_alpha_init(const char *s, float *out) {
    if (!strcmp(s, "max")) return 1;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(v) || !(v > 0.0) || v > 3.0e38)
        qat_die("apot: quantizer.alpha_init must be 'max' or a positive number (got '%s')", s);
    *out = (float)v < APOT_ALPHA_MIN ? APOT_ALPHA_MIN : (float)v;
    return 0;
}

Quantizer *apot_make(const QuantSpec *spec) {
    if (spec->bits < 2 || spec->bits > 16) qat_die("apot: bit width must be 2..16 (got %d)", spec->bits);
    const Config *cfg = spec->cfg;
    int denorm = cfg && cfg_has(cfg, "quantizer.denorm") ? cfg_bool(cfg, "quantizer.denorm") : 1;
    const char *hb = cfg && cfg_has(cfg, "quantizer.high_bits") ? cfg_str(cfg, "quantizer.high_bits") : "apot";
    int uniform_high;
    if (!strcmp(hb, "apot")) uniform_high = 0;
    else if (!strcmp(hb, "uniform")) uniform_high = 1;
    else qat_die("apot: quantizer.high_bits must be apot or uniform (got '%s')", hb);
    const char *ai = cfg && cfg_has(cfg, "quantizer.alpha_init") ? cfg_str(cfg, "quantizer.alpha_init") : "max";
    float alpha0 = 1.0f;
    int alpha_max = parse_alpha_init(ai, &alpha0);

    Quantizer *q = quant_spec_alloc(&APOT_OPS, spec);
    q->per_channel = 0; /* per-tensor only (see the top of this file) */
    Apot *a = qat_calloc(1, sizeof *a);
    a->denorm = denorm;
    a->alpha_max = alpha_max;
    a->alpha0 = alpha0;
    int b = q->bits;
    if (q->is_weight && b == 2) {
        a->mode = APOT_TERNARY;
    } else if (uniform_high && b >= 8) {
        a->mode = APOT_UNIFORM;
        a->L = q->is_signed ? ldexpf(1.0f, b - 1) - 1.0f : ldexpf(1.0f, b) - 1.0f;
    } else {
        a->mode = APOT_LEVELS;
        apot_build_levels(a, q->is_signed ? b - 1 : b);
        if (q->is_signed) {
            int L = a->nlev;
            a->ntable = 2 * L - 1;
            a->table = qat_malloc((size_t)a->ntable * sizeof *a->table);
            for (int k = 0; k < L; k++) {
                a->table[L - 1 + k] = a->levels[k];
                a->table[L - 1 - k] = k ? -a->levels[k] : 0.0f;
            }
        } else {
            a->table = a->levels;
            a->ntable = a->nlev;
        }
    }
    q->state = a;
    quantizer_add_param(q, "alpha", 1, 0, q->is_weight ? APOT_ALPHA_W0 : alpha0);
    return q;
}
