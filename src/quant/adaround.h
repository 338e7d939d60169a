/* AdaRound's quantizer and formulas (docs/METHODS.md 3), shared with its calibration
 * (ptq/adaround.h) and the unit tests. The quantizer is adaround_make in quant/method.h.
 *
 * Grids are written as an integer clip range [lo, hi] for floor(W/s) + h: the symmetric
 * grid has lo = -2^(b-1), hi = 2^(b-1) - 1; the asymmetric one (unsigned [0, 2^b-1]
 * with integer zero point z) has lo = -z, hi = 2^b - 1 - z, so W~ = s*(clip(...) ) is
 * the same formula for both. */
#ifndef QAT_QUANT_ADAROUND_H
#define QAT_QUANT_ADAROUND_H

#include <math.h>
#include <stddef.h>

#include "core/quantizer.h"

#define ADAROUND_ZETA 1.1
#define ADAROUND_GAMMA (-0.1)

/* Rectified sigmoid h(V) = clip(sigmoid(V)*(zeta-gamma) + gamma, 0, 1) and its
 * derivative (0 where the clip is active). */
float adaround_h(float v);
float adaround_h_grad(float v);
/* Both from one sigmoid (the optimisation loop needs both per weight). */
static inline void adaround_h_and_grad(float v, float *h, float *hg) {
    double sig = 1.0 / (1.0 + exp(-(double)v));
    double u = sig * (ADAROUND_ZETA - ADAROUND_GAMMA) + ADAROUND_GAMMA;
    *h = (float)(u < 0.0 ? 0.0 : (u > 1.0 ? 1.0 : u));
    *hg = u > 0.0 && u < 1.0 ? (float)((ADAROUND_ZETA - ADAROUND_GAMMA) * sig * (1.0 - sig)) : 0.0f;
}
/* V0 with h(V0) = frac(W/s) (3.5). fl = floor(W/s) as used everywhere else. */
float adaround_v_init(float w, float s, float fl);
/* clip(fl + h, lo, hi) and the mask m = 1[lo <= fl <= hi - 1] (3.4). */
static inline float adaround_soft_int(float fl, float h, float lo, float hi) {
    float t = fl + h;
    return t < lo ? lo : (t > hi ? hi : t);
}
static inline int adaround_in_grid(float fl, float lo, float hi) { return fl >= lo && fl <= hi - 1.0f; }

/* f_reg(V) = sum (1 - |2h(V) - 1|^beta) */
double adaround_reg(const float *v, size_t n, double beta);
/* dv[i] += lambda * d f_reg / dV_i */
void adaround_reg_grad(const float *v, size_t n, double beta, double lambda, float *dv);
/* The same given h(V) and h'(V). */
void adaround_reg_grad_from_h(const float *h, const float *hg, size_t n, double beta, double lambda, float *dv);
/* beta at 0-based iteration t of T; 0 during the warm start (t < 0.2 T: regulariser off).
 * linear = 0: AIMET cosine, 1: BRECQ linear. */
double adaround_beta(long t, long T, int linear);

/* 80-candidate MSE search (3.2): m = max|x|, s_i = m (1 - 0.01 i) / hi, error with
 * clip(round(x/s), lo, hi); returns the best s (ties: smaller i). lo/hi: integer grid
 * ([-2^(b-1), 2^(b-1)-1] signed, [0, 2^b-1] unsigned). 1 when x is all zero. */
float adaround_grid_search(const float *x, size_t n, float lo, float hi);
/* Asymmetric option: range [min(x,0), max(x,0)] shrunk by (1 - 0.01 i), s = range/(2^b-1),
 * z = round(-min'/s); error of s*(clip(round(x/s) + z, 0, 2^b-1) - z). */
void adaround_grid_search_asym(const float *x, size_t n, int bits, float *s, float *z);

/* The grid of row r of a weight quantizer (or of an input quantizer: r = 0). */
void adaround_row_grid(const Quantizer *q, int r, float *lo, float *hi);
/* The grid of a weight tensor w[n] (rows = 1 or per channel) by the MSE search, into q. */
void adaround_weight_grid(Quantizer *q, const float *w, size_t n, int rows);

#endif
