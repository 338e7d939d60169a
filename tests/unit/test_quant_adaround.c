/* AdaRound (docs/METHODS.md 3): the worked examples A1-A5 of 3.9, the 80-candidate MSE grid
 * search, the reconstruction gradient of the real code path (hand values and central
 * differences, linear and conv), the quantizers (grid, idempotence, exported codes), and
 * end-to-end calibrations of a tiny linear and a tiny conv layer through
 * adaround_calibrate, where AdaRound's output error must not exceed round-to-nearest's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/graph.h"
#include "core/rng.h"
#include "io/config.h"
#include "layers/layers.h"
#include "ptq/adaround.h"
#include "quant/method.h"
#include "quant_check.h"

#define TOL 1e-5

/* ---- A1: V init, h, regulariser value and gradient ---- */
static void test_a1(void) {
    const float w[3] = {0.27f, -0.13f, 0.52f}, s = 0.1f;
    const float fl_want[3] = {2, -2, 5}, v0_want[3] = {0.693147f, 0.693147f, -1.098612f};
    const float h_want[3] = {0.7f, 0.7f, 0.2f};
    float v[3];
    for (int i = 0; i < 3; i++) {
        float fl = floorf(w[i] / s);
        CHECK(fl == fl_want[i]);
        v[i] = adaround_v_init(w[i], s, fl);
        CHECK_CLOSE(v[i], v0_want[i], 1e-5);
        CHECK_CLOSE(adaround_h(v[i]), h_want[i], 1e-5);
    }
    CHECK_CLOSE(adaround_reg(v, 3, 20.0), 2.99996342, 1e-6);
    CHECK_CLOSE(adaround_reg(v, 3, 2.0), 2.32, 1e-5);
    float d[3] = {0, 0, 0};
    adaround_reg_grad(v, 3, 2.0, 1.0, d);
    CHECK_CLOSE(d[0], -0.426667, 1e-5);
    CHECK_CLOSE(d[1], -0.426667, 1e-5);
    CHECK_CLOSE(d[2], 0.54, 1e-5);
    float dl[3] = {0, 0, 0};
    adaround_reg_grad(v, 3, 2.0, 0.01, dl);
    CHECK_CLOSE(dl[0], -0.004267, 1e-3);
    CHECK_CLOSE(dl[2], 0.0054, 1e-5);
    /* h(0) = 0.5, h'(0) = 0.3; h saturates outside |V| > ln(11) */
    CHECK_CLOSE(adaround_h(0.0f), 0.5, 1e-7);
    CHECK_CLOSE(adaround_h_grad(0.0f), 0.3, 1e-7);
    CHECK(adaround_h(3.0f) == 1.0f && adaround_h(-3.0f) == 0.0f);
    CHECK(adaround_h_grad(3.0f) == 0.0f && adaround_h_grad(-3.0f) == 0.0f);
    /* regulariser gradient against central differences at beta = 3.5 */
    float vv[4] = {0.3f, -1.2f, 1.7f, -0.05f}, g[4] = {0, 0, 0, 0};
    adaround_reg_grad(vv, 4, 3.5, 1.0, g);
    for (int i = 0; i < 4; i++) {
        float p[4], m[4];
        memcpy(p, vv, sizeof p);
        memcpy(m, vv, sizeof m);
        p[i] += 1e-3f;
        m[i] -= 1e-3f;
        double fd = (adaround_reg(p, 4, 3.5) - adaround_reg(m, 4, 3.5)) / ((double)p[i] - (double)m[i]);
        CHECK_CLOSE(g[i], fd, 2e-3);
    }
}

/* The 3-weight, one-output problem of A2/A3 on the real layer code path. */
static const float A_W[3] = {0.27f, -0.13f, 0.52f};
static float A_X[3] = {1.0f, 2.0f, -1.0f};
static float A_S = 0.1f, A_LO = -128.0f, A_HI = 127.0f;

static void a_layer(AdaLayer *L, LayerKind kind, float *target) {
    memset(L, 0, sizeof *L);
    L->kind = kind;
    L->out = 1;
    L->in = 3;
    if (kind == LAYER_CONV2D) { /* the same problem as a 1x1 conv on a 1x1 map */
        L->k = 1, L->stride = 1, L->pad = 0, L->H = 1, L->W = 1;
    }
    L->follow = FOLLOW_NONE;
    L->rows = 1;
    L->w = A_W;
    L->s = &A_S;
    L->lo = &A_LO;
    L->hi = &A_HI;
    L->x = A_X;
    L->nex = 1;
    adaround_layer_setup(L);
    adaround_layer_output(L, A_W, A_X, 1, target);
    L->target = target;
}

/* ---- A2: reconstruction gradient at V = 0 ---- */
static void test_a2(void) {
    LayerKind kinds[2] = {LAYER_LINEAR, LAYER_CONV2D};
    for (int k = 0; k < 2; k++) {
        AdaLayer L;
        float target;
        a_layer(&L, kinds[k], &target);
        CHECK_CLOSE(target, -0.51, 1e-6);
        float v[3] = {0, 0, 0}, dv[3] = {0, 0, 0};
        double loss = adaround_recon_grad(&L, v, NULL, 1, dv);
        const float wt_want[3] = {0.25f, -0.15f, 0.55f};
        CHECK_ARRAY(L.wt, wt_want, 3, 1e-6, "A2 W~(0)");
        CHECK_CLOSE(loss, 0.0081, 1e-4);
        const float dv_want[3] = {-0.0054f, -0.0108f, 0.0054f};
        CHECK_ARRAY(dv, dv_want, 3, 1e-4, kinds[k] == LAYER_LINEAR ? "A2 dL/dV (linear)" : "A2 dL/dV (conv)");
        /* at V0 the soft weights equal W: zero loss, zero gradient */
        float v0[3], d0[3] = {0, 0, 0};
        adaround_init_v(&L, v0);
        double l0 = adaround_recon_grad(&L, v0, NULL, 1, d0);
        CHECK(l0 < 1e-12);
        CHECK(fabsf(d0[0]) < 1e-6f && fabsf(d0[1]) < 1e-6f && fabsf(d0[2]) < 1e-6f);
        adaround_layer_free(&L);
    }
}

/* ---- A3: optimal roundings vs nearest, and what the optimiser does ----
 * The single-example problem of A3 has two optimal roundings, (2,-1,5) and (3,-1,6)
 * (error 0.0001), while nearest (3,-1,5) has 0.0121. With the paper / AIMET settings
 * (Adam lr 1e-3, lambda 0.01, T = 10000, warm start 20%, beta 20 -> 2) the optimiser
 * does NOT reach them on this tiny problem: the rectified sigmoid saturates h1 -> 1 and
 * h3 -> 0 (where h' = 0, so they never come back), h2 alone keeps y~ on target at 0.45,
 * and the regulariser finally rounds it down: (3,-2,5), error 0.0081 (better than
 * nearest, not optimal). An independent double-precision re-implementation of 3.3-3.5
 * (Python, written for this test) ends at the same point for both beta schedules and for
 * lr 1e-2, lambda 1e-5..1e-1, T = 20000 and V0 = 0, so this is the method, not the code.
 * With one more example that separates the two optima (x2 = [0, 1, 0]) the optimiser
 * finds the unique optimum (2,-1,5); and on a larger random problem (below) it finds the
 * brute-force optimum of most rows. */
static void a3_run(float *X, float *Y, int nex, int linear_beta, int q[3], double *err_ada, double *err_near,
                   int *binary) {
    AdaLayer L;
    memset(&L, 0, sizeof L);
    L.kind = LAYER_LINEAR, L.out = 1, L.in = 3, L.follow = FOLLOW_NONE, L.rows = 1;
    L.w = A_W, L.s = &A_S, L.lo = &A_LO, L.hi = &A_HI, L.x = X, L.nex = nex;
    adaround_layer_setup(&L);
    adaround_layer_output(&L, A_W, X, nex, Y);
    L.target = Y;
    float v[3], wq[3], wn[3];
    adaround_init_v(&L, v);
    AdaOpts o = {10000, 32, 1e-3f, 0.01f, linear_beta, 7, NULL, NULL};
    adaround_optimize(&L, v, &o);
    adaround_hard_weights(&L, v, wq);
    adaround_hard_weights(&L, NULL, wn);
    for (int i = 0; i < 3; i++) q[i] = (int)lrintf(wq[i] / A_S);
    *err_ada = adaround_recon_loss(&L, wq);
    *err_near = adaround_recon_loss(&L, wn);
    /* converged: every h is (almost) 0 or 1 */
    int bin = 1;
    for (int i = 0; i < 3; i++) bin &= adaround_h(v[i]) < 0.05f || adaround_h(v[i]) > 0.95f;
    *binary = bin;
    adaround_layer_free(&L);
}

static void test_a3(void) {
    /* brute force over the 8 combinations (the table of A3) */
    const double table[8] = {.0361, .0841, .0001, .0081, .0081, .0361, .0121, .0001};
    for (int c = 0; c < 8; c++) {
        /* c = 4*i0 + 2*i1 + i2 over (2|3, -2|-1, 5|6) as in the table's order */
        int up[3] = {(c >> 2) & 1, (c >> 1) & 1, c & 1};
        double y = 0.0;
        for (int i = 0; i < 3; i++) y += A_S * (floorf(A_W[i] / A_S) + up[i]) * A_X[i];
        CHECK_CLOSE((y + 0.51) * (y + 0.51), table[c], 1e-6);
    }
    for (int k = 0; k < 2; k++) {
        float Y[1];
        int q[3];
        double ea, en;
        int bin;
        a3_run(A_X, Y, 1, k, q, &ea, &en, &bin);
        if (k == 0) CHECK(bin); /* linear beta leaves h2 at 0.11 after 10000 iterations */
        CHECK_CLOSE(en, 0.0121, 1e-3);
        CHECK(!(q[0] == 3 && q[1] == -1 && q[2] == 5)); /* not nearest */
        CHECK(ea < en);
        CHECK(q[0] == 3 && q[1] == -2 && q[2] == 5); /* the reference outcome (see above) */
        CHECK_CLOSE(ea, 0.0081, 1e-3);
    }
    /* with x2 = [0, 1, 0] the optimum (2,-1,5) is unique: errors (0.0001 + 0.0001)/2 */
    float X2[6] = {1, 2, -1, 0, 1, 0}, Y2[2];
    for (int k = 0; k < 2; k++) {
        int q[3];
        double ea, en;
        int bin;
        a3_run(X2, Y2, 2, k, q, &ea, &en, &bin);
        CHECK(bin);
        CHECK(q[0] == 2 && q[1] == -1 && q[2] == 5);
        CHECK_CLOSE(ea, 0.0005, 1e-3);
        CHECK_CLOSE(en, 0.0065, 1e-3);
    }
}

/* A larger problem: 6 rows of 8 weights, 4-bit grid, 128 correlated input rows; each row
 * of a linear layer with identity f_a is an independent problem, solved by brute force
 * over the 2^8 floor/ceil choices. */
static void test_bruteforce(void) {
    enum { O = 6, I = 8, N = 128 };
    Rng r;
    rng_seed(&r, 2024);
    float w[O * I], x[N * I], y[N * O];
    for (int i = 0; i < O * I; i++) w[i] = rng_normal(&r) * 0.3f;
    for (int n = 0; n < N; n++) {
        float c = rng_normal(&r);
        for (int i = 0; i < I; i++) x[n * I + i] = rng_normal(&r) + 0.8f * c;
    }
    float s = adaround_grid_search(w, O * I, -8.0f, 7.0f), lo = -8.0f, hi = 7.0f;
    AdaLayer L;
    memset(&L, 0, sizeof L);
    L.kind = LAYER_LINEAR, L.out = O, L.in = I, L.follow = FOLLOW_NONE, L.rows = 1;
    L.w = w, L.s = &s, L.lo = &lo, L.hi = &hi, L.x = x, L.nex = N;
    adaround_layer_setup(&L);
    adaround_layer_output(&L, w, x, N, y);
    L.target = y;
    float v[O * I], wq[O * I], wn[O * I];
    adaround_init_v(&L, v);
    AdaOpts o = {10000, 32, 1e-3f, 0.01f, 0, 99, NULL, NULL};
    adaround_optimize(&L, v, &o);
    adaround_hard_weights(&L, v, wq);
    adaround_hard_weights(&L, NULL, wn);
    int optimal = 0;
    double tot_ada = 0, tot_near = 0, tot_best = 0;
    for (int o_ = 0; o_ < O; o_++) {
        double best = INFINITY, e_ada = 0, e_near = 0;
        for (int c = 0; c < (1 << I); c++) {
            double e = 0;
            for (int n = 0; n < N; n++) {
                double d = 0;
                for (int i = 0; i < I; i++)
                    d += (double)s * (L.fl[o_ * I + i] + ((c >> i) & 1)) * x[n * I + i];
                d -= y[n * O + o_];
                e += d * d;
            }
            best = fmin(best, e / N);
        }
        for (int n = 0; n < N; n++) {
            double da = -y[n * O + o_], dn = -y[n * O + o_];
            for (int i = 0; i < I; i++) {
                da += (double)wq[o_ * I + i] * x[n * I + i];
                dn += (double)wn[o_ * I + i] * x[n * I + i];
            }
            e_ada += da * da / N;
            e_near += dn * dn / N;
        }
        optimal += e_ada <= best * (1 + 1e-6) + 1e-12;
        tot_ada += e_ada, tot_near += e_near, tot_best += best;
    }
    printf("  brute force: %d of %d rows optimal; loss adaround %.5g, nearest %.5g, optimum %.5g\n", optimal, O,
           tot_ada, tot_near, tot_best);
    CHECK(tot_ada < tot_near);
    CHECK(optimal >= O / 2);
    adaround_layer_free(&L);
}

/* ---- A4: clipping and the mask (b = 2 grid [-2, 1]) ---- */
static void test_a4(void) {
    const float fl[4] = {-3, -2, 0, 1}, want[4] = {-2.0f, -1.3f, 0.7f, 1.0f};
    const int m_want[4] = {0, 1, 1, 0};
    for (int i = 0; i < 4; i++) {
        CHECK_CLOSE(adaround_soft_int(fl[i], 0.7f, -2.0f, 1.0f), want[i], 1e-6);
        CHECK(adaround_in_grid(fl[i], -2.0f, 1.0f) == m_want[i]);
    }
    /* the same through a layer: weights with those floors at s = 1, h = 0.7 */
    float w[4] = {-2.5f, -1.5f, 0.5f, 1.5f}, s = 1.0f, lo = -2.0f, hi = 1.0f, x[4] = {1, 1, 1, 1};
    AdaLayer L;
    memset(&L, 0, sizeof L);
    L.kind = LAYER_LINEAR, L.out = 1, L.in = 4, L.follow = FOLLOW_NONE, L.rows = 1;
    L.w = w, L.s = &s, L.lo = &lo, L.hi = &hi, L.x = x, L.nex = 1;
    adaround_layer_setup(&L);
    float target;
    adaround_layer_output(&L, w, x, 1, &target);
    L.target = &target;
    float v0 = adaround_v_init(0.7f, 1.0f, 0.0f), v[4] = {v0, v0, v0, v0}, dv[4] = {0, 0, 0, 0};
    adaround_soft_weights(&L, v);
    CHECK_ARRAY(L.wt, want, 4, 1e-5, "A4 W~");
    for (int i = 0; i < 4; i++) CHECK(L.fl[i] == fl[i] && L.mask[i] == m_want[i]);
    adaround_recon_grad(&L, v, NULL, 1, dv);
    CHECK(dv[0] == 0.0f && dv[3] == 0.0f && dv[1] != 0.0f && dv[2] != 0.0f);
    float hard[4];
    adaround_hard_weights(&L, v, hard); /* h >= 0.5 rounds up, then clipped */
    const float hard_want[4] = {-2, -1, 1, 1};
    CHECK_ARRAY(hard, hard_want, 4, 0.0, "A4 hard weights");
    adaround_layer_free(&L);
}

/* ---- A5: beta schedules ---- */
static void test_a5(void) {
    for (long t = 0; t < 2000; t += 333) CHECK(adaround_beta(t, 10000, 0) == 0.0 && adaround_beta(t, 10000, 1) == 0.0);
    CHECK(adaround_beta(1999, 10000, 0) == 0.0);
    CHECK_CLOSE(adaround_beta(2000, 10000, 0), 20.0, 1e-9);
    CHECK_CLOSE(adaround_beta(4000, 10000, 0), 17.364, 1e-4);
    CHECK_CLOSE(adaround_beta(6000, 10000, 0), 11.0, 1e-9);
    CHECK_CLOSE(adaround_beta(8000, 10000, 0), 4.636, 1e-4);
    CHECK_CLOSE(adaround_beta(9999, 10000, 0), 2.000, 1e-4);
    CHECK_CLOSE(adaround_beta(2000, 10000, 1), 20.0, 1e-9);
    CHECK_CLOSE(adaround_beta(4000, 10000, 1), 15.5, 1e-9);
    CHECK_CLOSE(adaround_beta(8000, 10000, 1), 6.5, 1e-9);
    CHECK_CLOSE(adaround_beta(9999, 10000, 1), 2.0023, 1e-4);
}

/* ---- 80-candidate MSE grid search ---- */
static void test_grid_search(void) {
    /* b = 3 signed grid [-4, 3], x = {1, 0.5}: on s in [0.2, 1/3] the error is
     * (1 - 3s)^2 + (0.5 - 2s)^2, minimal at s = 8/26; among s_i = (1 - 0.01 i)/3 the best is
     * i = 8 (E = 0.019244) ahead of i = 7 (E = 0.0193) and i = 0 (E = 0.02778). */
    float x[2] = {1.0f, 0.5f};
    CHECK_CLOSE(adaround_grid_search(x, 2, -4.0f, 3.0f), 0.92 / 3.0, 1e-6);
    /* exact grid: the first candidate wins (ties go to the smaller i) */
    float e[4] = {-0.5f, 0.25f, 0.75f, 0.0f};
    CHECK_CLOSE(adaround_grid_search(e, 4, -4.0f, 3.0f), 0.25, 1e-7);
    /* unsigned activation grid [0, 3] */
    float a[3] = {3.0f, 0.0f, 1.0f};
    CHECK_CLOSE(adaround_grid_search(a, 3, 0.0f, 3.0f), 1.0, 1e-7);
    /* all zero */
    float z[3] = {0, 0, 0};
    CHECK(adaround_grid_search(z, 3, -4.0f, 3.0f) == 1.0f);
    /* asymmetric: {0,1,2,3} at b = 2 is exact with s = 1, z = 0; {-1,0,1,2} with z = 1 */
    float u[4] = {0, 1, 2, 3}, uu[4] = {-1, 0, 1, 2}, s, zp;
    adaround_grid_search_asym(u, 4, 2, &s, &zp);
    CHECK_CLOSE(s, 1.0, 1e-7);
    CHECK(zp == 0.0f);
    adaround_grid_search_asym(uu, 4, 2, &s, &zp);
    CHECK_CLOSE(s, 1.0, 1e-7);
    CHECK(zp == 1.0f);
    /* the search result is the argmin over the 80 candidates (brute force in double) */
    Rng r;
    rng_seed(&r, 11);
    float w[200];
    for (int i = 0; i < 200; i++) w[i] = rng_normal(&r) * 0.1f;
    float got = adaround_grid_search(w, 200, -8.0f, 7.0f);
    double m = 0.0, best = INFINITY;
    float bs = 0.0f;
    for (int i = 0; i < 200; i++) m = fmax(m, fabs(w[i]));
    for (int i = 0; i < 80; i++) {
        float sc = (float)(m * (1.0 - 0.01 * i) / 7.0);
        double err = 0.0;
        for (int j = 0; j < 200; j++) {
            double q = fmin(fmax(rint(w[j] / sc), -8.0), 7.0);
            err += (w[j] - sc * q) * (w[j] - sc * q);
        }
        if (err < best) best = err, bs = sc;
    }
    CHECK(got == bs);
    CHECK(got < (float)(m / 7.0)); /* Gaussian data: clipping the tail pays */
}

/* ---- reconstruction gradient against central differences (conv, tanh, bias, per-row) ----
 * The differences are taken on a double-precision reference of the objective (soft
 * weights, the stride-2 conv, tanh, the loss), so they carry no float32 noise: with
 * h = 1e-4 the truncation error h^2 f'''/6 is below 1e-8 of the gradients here. The
 * analytic dv is float32: each entry is a sum of at most nb*Ho*Wo = 27 products whose
 * factors come from 18-term dot products and tanh, so its error is a few hundred float
 * epsilons (~1e-5) of the largest gradient (2e-6 is seen). The bound 1e-4, relative to
 * max(|fd|, 1e-2 of the largest gradient), is ten times that, and far below the error a
 * wrong factor (a missing h'(V), s or mask) gives. */
typedef struct {
    const AdaLayer *L;
    const float *x, *target;
    const int *idx;
    int nb;
} ReconRef;

static double ref_h(double v) {
    double u = 1.0 / (1.0 + exp(-v)) * (ADAROUND_ZETA - ADAROUND_GAMMA) + ADAROUND_GAMMA;
    return u < 0.0 ? 0.0 : (u > 1.0 ? 1.0 : u);
}

/* The objective of adaround_recon_grad in double: mean over examples and positions of the
 * squared norm over channels of tanh(conv(x, W~(v)) + b) - target. */
static double ref_recon_loss(const ReconRef *R, const double *v) {
    const AdaLayer *L = R->L;
    int per_row = L->nw / L->rows;
    double *w = malloc((size_t)L->nw * sizeof(double));
    for (int i = 0; i < L->nw; i++) {
        int r = i / per_row;
        double t = (double)L->fl[i] + ref_h(v[i]);
        w[i] = (double)L->s[r] * (t < L->lo[r] ? L->lo[r] : (t > L->hi[r] ? L->hi[r] : t));
    }
    double sum = 0.0;
    for (int j = 0; j < R->nb; j++) {
        const float *xe = R->x + (size_t)R->idx[j] * L->ex_len;
        const float *te = R->target + (size_t)R->idx[j] * L->y_len;
        for (int o = 0; o < L->out; o++)
            for (int oy = 0; oy < L->Ho; oy++)
                for (int ox = 0; ox < L->Wo; ox++) {
                    double z = L->bias[o];
                    for (int c = 0; c < L->in; c++)
                        for (int ky = 0; ky < L->k; ky++)
                            for (int kx = 0; kx < L->k; kx++) {
                                int iy = oy * L->stride - L->pad + ky, ix = ox * L->stride - L->pad + kx;
                                if (iy < 0 || iy >= L->H || ix < 0 || ix >= L->W) continue;
                                z += w[((o * L->in + c) * L->k + ky) * L->k + kx] *
                                     (double)xe[(c * L->H + iy) * L->W + ix];
                            }
                    double d = tanh(z) - te[(o * L->Ho + oy) * L->Wo + ox];
                    sum += d * d;
                }
    }
    free(w);
    return sum / ((double)R->nb * L->Ho * L->Wo);
}

static void test_recon_gradcheck(void) {
    Rng r;
    rng_seed(&r, 5);
    int C = 2, O = 3, k = 3, H = 6, nex = 4;
    int nw = O * C * k * k;
    float *w = malloc(nw * sizeof(float)), *x = malloc((size_t)nex * C * H * H * sizeof(float));
    float s[3] = {0.05f, 0.08f, 0.1f}, lo[3] = {-8, -8, -8}, hi[3] = {7, 7, 7}, b[3] = {0.1f, -0.2f, 0.05f};
    for (int i = 0; i < nw; i++) w[i] = rng_uniform_range(&r, -0.5f, 0.5f);
    w[0] = 0.79f; /* floor = 7 = hi: clipped, mask 0 */
    w[1] = -0.42f; /* floor = -9 < lo: clipped, mask 0 */
    for (int i = 0; i < nex * C * H * H; i++) x[i] = rng_uniform_range(&r, -1.0f, 1.0f);
    AdaLayer L;
    memset(&L, 0, sizeof L);
    L.kind = LAYER_CONV2D, L.out = O, L.in = C, L.k = k, L.stride = 2, L.pad = 1, L.H = H, L.W = H;
    L.follow = FOLLOW_TANH, L.bias = b, L.rows = O, L.w = w, L.s = s, L.lo = lo, L.hi = hi;
    L.x = x, L.nex = nex;
    adaround_layer_setup(&L);
    float *target = malloc((size_t)nex * L.y_len * sizeof(float));
    for (int i = 0; i < nex * L.y_len; i++) target[i] = rng_uniform_range(&r, -0.5f, 0.5f);
    L.target = target;
    CHECK(L.mask[0] == 0 && L.mask[1] == 0);
    float *v = malloc(nw * sizeof(float)), *dv = calloc(nw, sizeof(float));
    /* |v| <= 2 keeps h(v) away from its clipped ends (|v| > 2.4), where it has kinks */
    for (int i = 0; i < nw; i++) v[i] = rng_uniform_range(&r, -2.0f, 2.0f);
    int idx[3] = {3, 0, 2};
    double l_float = adaround_recon_grad(&L, v, idx, 3, dv);
    ReconRef R = {&L, x, target, idx, 3};
    double *vd = malloc(nw * sizeof(double));
    for (int i = 0; i < nw; i++) vd[i] = v[i];
    /* the float32 objective agrees with the reference to float accuracy */
    CHECK_CLOSE(l_float, ref_recon_loss(&R, vd), 1e-5);
    double worst = 0.0, scale = 0.0;
    for (int i = 0; i < nw; i++) scale = fmax(scale, fabs(dv[i]));
    for (int i = 0; i < nw; i++) {
        double keep = vd[i], hstep = 1e-4;
        vd[i] = keep + hstep;
        double lp = ref_recon_loss(&R, vd);
        vd[i] = keep - hstep;
        double lm = ref_recon_loss(&R, vd);
        vd[i] = keep;
        double fd = (lp - lm) / (2.0 * hstep);
        double err = fabs(fd - dv[i]) / fmax(fabs(fd), 1e-2 * scale);
        worst = fmax(worst, err);
    }
    if (worst > 1e-4) fprintf(stderr, "recon gradcheck: worst rel error %g\n", worst);
    CHECK(worst <= 1e-4);
    CHECK(scale > 0.0);
    CHECK(dv[0] == 0.0f && dv[1] == 0.0f);
    /* the loss is the mean over examples and positions of the squared norm over channels */
    double l_all = adaround_recon_grad(&L, v, NULL, nex, NULL);
    adaround_soft_weights(&L, v);
    float *y = malloc((size_t)nex * L.y_len * sizeof(float));
    adaround_layer_output(&L, L.wt, x, nex, y);
    double sum = 0.0;
    for (int i = 0; i < nex * L.y_len; i++) sum += ((double)y[i] - target[i]) * ((double)y[i] - target[i]);
    CHECK_CLOSE(l_all, sum / (nex * L.Ho * L.Wo), 1e-5);
    adaround_layer_free(&L);
    free(w), free(x), free(target), free(v), free(vd), free(dv), free(y);
}

/* ---- the quantizers ---- */
static void test_quantizers(void) {
    QuantSpec ws = {4, 1, 1, 0, 2, NULL};
    Quantizer *q = adaround_make(&ws);
    CHECK(q->nparams == 1 && strcmp(q->params[0]->name, "s") == 0 && q->params[0]->frozen);
    float w[6] = {0.7f, -0.33f, 0.05f, -0.8f, 0.26f, 0.0f}, y[6], y2[6];
    QuantInput in = {w, 6, 1, 1, 0};
    q->ops->init(q, in);
    float s = q->params[0]->t.data[0];
    CHECK(s == adaround_grid_search(w, 6, -8.0f, 7.0f));
    q->ops->forward(q, in, y);
    QuantInput in2 = {y, 6, 1, 1, 0};
    q->ops->forward(q, in2, y2);
    CHECK_ARRAY(y2, y, 6, 0.0, "weight quantizer idempotent");
    int32_t codes[6];
    float scales[1];
    QuantExport ex = {codes, scales, NULL, 0, 0.0f};
    q->ops->export_codes(q, in, &ex);
    int ok = ex.nlevels == 16 && scales[0] == s;
    for (int i = 0; i < 6; i++) ok &= codes[i] >= -8 && codes[i] <= 7 && scales[0] * (float)codes[i] == y[i];
    CHECK(ok);
    quant_destroy(q);

    /* per-channel asymmetric weights (config), unsigned activations */
    const CfgField *schemas[] = {quant_schema, NULL};
    ConfigGrid grid;
    config_grid_init(&grid, schemas);
    config_grid_set(&grid, "quantizer.grid=asymmetric");
    Config cfg;
    config_grid_get(&grid, 0, &cfg);
    QuantSpec as = {3, 1, 1, 1, 2, &cfg};
    Quantizer *qa = adaround_make(&as);
    CHECK(qa->nparams == 2 && strcmp(qa->params[1]->name, "zero_point") == 0 && qa->params[0]->t.size == 2);
    QuantInput ina = {w, 6, 2, 1, 0};
    qa->ops->init(qa, ina);
    qa->ops->forward(qa, ina, y);
    int32_t ca[6];
    float sa[2];
    QuantExport exa = {ca, sa, NULL, 0, 0.0f};
    qa->ops->export_codes(qa, ina, &exa);
    ok = exa.nlevels == 8;
    for (int i = 0; i < 6; i++) {
        int r = i / 3;
        float z = qa->params[1]->t.data[r];
        ok &= ca[i] >= -z && ca[i] <= 7 - z && sa[r] * (float)ca[i] == y[i];
        ok &= z >= 0 && z <= 7;
    }
    CHECK(ok);
    quant_destroy(qa);
    config_grid_free(&cfg);
    config_grid_free(&grid);

    QuantSpec us = {2, 0, 0, 0, 1, NULL};
    Quantizer *qu = adaround_make(&us);
    float a[5] = {0.0f, 0.4f, 1.0f, 2.2f, 3.0f}, ya[5];
    QuantInput inu = {a, 5, 1, 5, 0};
    qu->ops->init(qu, inu);
    qu->ops->forward(qu, inu, ya);
    int32_t cu[5];
    float su[1];
    QuantExport exu = {cu, su, NULL, 0, 0.0f};
    qu->ops->export_codes(qu, inu, &exu);
    ok = exu.nlevels == 4;
    for (int i = 0; i < 5; i++) ok &= cu[i] >= 0 && cu[i] <= 3 && su[0] * (float)cu[i] == ya[i];
    CHECK(ok);
    quant_destroy(qu);
}

/* ---- end to end: adaround_calibrate on a tiny layer ---- */
typedef struct {
    Linear lin;
    Conv2d conv;
    int is_conv;
    float *data; /* nb batches of B examples */
    int B, ex_len;
} Tiny;

static void tiny_forward(void *ctx, Graph *g, int b) {
    Tiny *t = ctx;
    float *x = t->data + (size_t)b * t->B * t->ex_len;
    if (t->is_conv) {
        int s[4] = {t->B, 2, 7, 7};
        conv2d_forward(g, &t->conv, graph_input(g, x, 4, s), CONV_ACT_RELU, CONV_NCHW);
    } else {
        int s[2] = {t->B, 6};
        linear_forward(g, &t->lin, graph_input(g, x, 2, s), t->B);
    }
}

/* Mean squared output error of layer weights wq against the FP weights over all data
 * (inputs through the input quantizer when there is one). */
static double tiny_error(Tiny *t, const float *wfp, QuantSite *xq, int nb) {
    Graph g;
    graph_init(&g, 1);
    g.training = 0;
    Param *wp = t->is_conv ? t->conv.w : t->lin.w;
    QuantSite *wsite = t->is_conv ? &t->conv.wq : &t->lin.wq;
    double err = 0.0;
    size_t cnt = 0;
    float *wq = malloc(wp->t.size * sizeof(float));
    memcpy(wq, wp->t.data, wp->t.size * sizeof(float));
    Quantizer *keepw = wsite->q, *keepx = xq->q;
    for (int b = 0; b < nb; b++) {
        graph_reset(&g);
        wsite->q = keepw;
        xq->q = keepx;
        float *x = t->data + (size_t)b * t->B * t->ex_len;
        int s4[4] = {t->B, 2, 7, 7}, s2[2] = {t->B, 6};
        Tensor *xt = t->is_conv ? graph_input(&g, x, 4, s4) : graph_input(&g, x, 2, s2);
        Tensor *yq = t->is_conv ? conv2d_forward(&g, &t->conv, xt, CONV_ACT_RELU, CONV_NCHW) : linear_forward(&g, &t->lin, xt, t->B);
        memcpy(wp->t.data, wfp, wp->t.size * sizeof(float));
        wsite->q = NULL;
        xq->q = NULL;
        Tensor *yf = t->is_conv ? conv2d_forward(&g, &t->conv, xt, CONV_ACT_RELU, CONV_NCHW) : linear_forward(&g, &t->lin, xt, t->B);
        memcpy(wp->t.data, wq, wp->t.size * sizeof(float));
        for (size_t i = 0; i < yq->size; i++) err += ((double)yq->data[i] - yf->data[i]) * ((double)yq->data[i] - yf->data[i]);
        cnt += yq->size;
    }
    wsite->q = keepw;
    xq->q = keepx;
    free(wq);
    graph_free(&g);
    return err / (double)cnt;
}

static void run_tiny(int is_conv, const char *const *sets, int nsets, const char *what) {
    ParamList params = {0};
    QuantSiteList sites = {0};
    Rng rng;
    rng_seed(&rng, 3);
    LayerBuilder lb = {&params, &sites, &rng};
    Tiny t;
    memset(&t, 0, sizeof t);
    t.is_conv = is_conv;
    if (is_conv) conv2d_init(&t.conv, &lb, "conv", 2, 4, 3, 2, 1, 1, (SiteSpec){0, SITE_MIDDLE, FOLLOW_RELU});
    else linear_init(&t.lin, &lb, "fc", 6, 5, 1, (SiteSpec){1, SITE_MIDDLE, FOLLOW_NONE});
    t.B = 16;
    t.ex_len = is_conv ? 2 * 7 * 7 : 6;
    int nb = 4;
    t.data = malloc((size_t)nb * t.B * t.ex_len * sizeof(float));
    /* conv: images in [0, 1); linear: correlated features (a shared component), where
     * rounding errors of a row add up unless they are chosen together */
    for (int e = 0; e < nb * t.B; e++) {
        float c = rng_normal(&rng);
        for (int i = 0; i < t.ex_len; i++)
            t.data[(size_t)e * t.ex_len + i] = is_conv ? rng_uniform(&rng) : rng_normal(&rng) + c;
    }
    Param *wp = is_conv ? t.conv.w : t.lin.w;
    float *wfp = malloc(wp->t.size * sizeof(float));
    memcpy(wfp, wp->t.data, wp->t.size * sizeof(float));

    const CfgField *schemas[] = {quant_schema, NULL};
    ConfigGrid grid;
    config_grid_init(&grid, schemas);
    config_grid_set(&grid, "quantizer.bit_width=3");
    config_grid_set(&grid, "quantizer_optimizer.num_iterations=3000");
    config_grid_set(&grid, "quantizer_optimizer.batch_size=8");
    for (int i = 0; i < nsets; i++) config_grid_set(&grid, sets[i]);
    Config cfg;
    config_grid_get(&grid, 0, &cfg);
    quant_attach(adaround_make, &cfg, &sites, &params);
    QuantSite *ws = is_conv ? &t.conv.wq : &t.lin.wq, *xs = is_conv ? &t.conv.xq : &t.lin.xq;
    CHECK(ws->q != NULL);
    CalibSource src = {tiny_forward, &t, nb, t.B, NULL, NULL, NULL};
    long max_samples = cfg_int(&cfg, "quantizer_optimizer.max_samples");
    adaround_calibrate(&sites, &params, &cfg, &src, 42);
    CHECK(ws->q && ws->q->initialized);
    CHECK(!xs->q || xs->q->initialized);

    /* the input scale is the MSE search over the captured FP inputs (the first
     * max_samples examples of the batches) */
    if (xs->q) {
        long n_ex = max_samples < nb * t.B ? max_samples : nb * t.B;
        float want = adaround_grid_search(t.data, (size_t)n_ex * t.ex_len, xs->q->is_signed ? -4.0f : 0.0f,
                                          xs->q->is_signed ? 3.0f : 7.0f);
        CHECK(xs->q->params[0]->t.data[0] == want);
    }
    /* the weights now lie on the grid: the site's forward reproduces them exactly, and
     * the exported codes are in range */
    Quantizer *q = ws->q;
    int rows = q->per_channel ? ws->rows : 1;
    float *y = malloc(wp->t.size * sizeof(float));
    int32_t *codes = malloc(wp->t.size * sizeof(int32_t));
    float *scales = malloc((size_t)rows * sizeof(float));
    QuantInput in = {wp->t.data, wp->t.size, rows, 1, 0};
    q->ops->forward(q, in, y);
    CHECK_ARRAY(y, wp->t.data, wp->t.size, 0.0, "hard weights reproduced by the site quantizer");
    QuantExport ex = {codes, scales, NULL, 0, 0.0f};
    q->ops->export_codes(q, in, &ex);
    int ok = 1;
    size_t per = wp->t.size / rows;
    for (size_t i = 0; i < wp->t.size; i++) {
        int r = (int)(i / per);
        float z = q->nparams > 1 ? q->params[1]->t.data[r] : 4.0f;
        float lo = q->nparams > 1 ? -z : -4.0f, hi = q->nparams > 1 ? 7.0f - z : 3.0f;
        ok &= codes[i] >= lo && codes[i] <= hi && scales[r] * (float)codes[i] == wp->t.data[i];
    }
    CHECK(ok);

    /* AdaRound's output error <= round to nearest's (same grid, same data) */
    double e_ada = tiny_error(&t, wfp, xs, nb);
    float *wada = malloc(wp->t.size * sizeof(float));
    memcpy(wada, wp->t.data, wp->t.size * sizeof(float));
    QuantInput infp = {wfp, wp->t.size, rows, 1, 0};
    q->ops->forward(q, infp, wp->t.data); /* round to nearest */
    double e_rtn = tiny_error(&t, wfp, xs, nb);
    int differ = 0;
    for (size_t i = 0; i < wp->t.size; i++) differ += wada[i] != wp->t.data[i];
    printf("  %s: output MSE adaround %.6g, nearest %.6g (%d of %zu weights rounded otherwise)\n", what, e_ada,
           e_rtn, differ, wp->t.size);
    CHECK(e_ada <= e_rtn);
    CHECK(differ > 0);

    /* deterministic: the same seed from the same FP weights gives the same weights */
    memcpy(wp->t.data, wfp, wp->t.size * sizeof(float));
    adaround_calibrate(&sites, &params, &cfg, &src, 42);
    CHECK_ARRAY(wp->t.data, wada, wp->t.size, 0.0, "calibration is deterministic");

    free(wada), free(y), free(codes), free(scales), free(wfp), free(t.data);
    config_grid_free(&cfg);
    config_grid_free(&grid);
    quant_site_list_free(&sites);
    param_list_free(&params, 1);
}

static void test_end_to_end(void) {
    const char *lin_w_only[] = {"quantizer.act_bits=32"};
    run_tiny(0, lin_w_only, 1, "linear W3A32");
    const char *lin_wa2[] = {"quantizer_optimizer.max_samples=40"};
    run_tiny(0, lin_wa2, 1, "linear W3A3, 40 samples");
    const char *conv_pc[] = {"quantizer.per_channel=true", "quantizer.act_bits=32"};
    run_tiny(1, conv_pc, 2, "conv+relu W3A32 per-channel");
    const char *conv_asym[] = {"quantizer.grid=asymmetric", "quantizer.beta_schedule=linear"};
    run_tiny(1, conv_asym, 2, "conv+relu W3A3 asymmetric, linear beta");
}

int main(void) {
    test_a1();
    test_a2();
    test_a3();
    test_bruteforce();
    test_a4();
    test_a5();
    test_grid_search();
    test_recon_gradcheck();
    test_quantizers();
    test_end_to_end();
    return check_done("adaround");
}
