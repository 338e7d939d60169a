/* Tests for the APoT quantizer (src/quant/apot.c, docs/METHODS.md 4): the level sets Q(B)
 * (4.2, literally for B = 2..5, against the official base sets for B = 2..6, sizes up to
 * B = 16, the B = 7 / B = 8 values of the generalisation), the worked examples Q1 (official
 * and denorm gradients), Q2 and Q3, generic properties (grid and level count of 0.4,
 * export, idempotence of the activation quantizers, alpha and input gradients against
 * central finite differences of the STE-linearised function, b = 16 near identity),
 * init, clamp, names, gradient accumulation, determinism across thread counts, the
 * user-facing errors (in a forked child) and PyTorch fixtures at b = 2, 4, 8
 * (scripts/gen_fixtures_quant_apot.py). Runs from the tests/ folder. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fixture.h"
#include "core/quantizer.h"
#include "io/config.h"
#include "run/methods.h"
#include "quant_check.h"

/* --- helpers ------------------------------------------------------------------------ */

/* [denorm][uniform]: quantizer.denorm true/false x quantizer.high_bits apot/uniform */
static ConfigGrid cfgs[2][2];
static ConfigGrid cfg_alpha; /* quantizer.alpha_init = 2.5 */

static void configs_init(void) {
    static const CfgField *const schemas[] = {quant_schema, NULL};
    for (int dn = 0; dn < 2; dn++)
        for (int un = 0; un < 2; un++) {
            config_grid_init(&cfgs[dn][un], schemas);
            if (!dn) config_grid_set(&cfgs[dn][un], "quantizer.denorm=false");
            if (un) config_grid_set(&cfgs[dn][un], "quantizer.high_bits=uniform");
        }
    config_grid_init(&cfg_alpha, schemas);
    config_grid_set(&cfg_alpha, "quantizer.alpha_init=2.5");
}

static void configs_free(void) {
    for (int dn = 0; dn < 2; dn++)
        for (int un = 0; un < 2; un++) config_grid_free(&cfgs[dn][un]);
    config_grid_free(&cfg_alpha);
}

enum { WEIGHT, UNSIGNED_ACT, SIGNED_ACT };

static Quantizer *make_cfg(int bits, int kind, const Config *cfg) {
    QuantSpec spec = {bits, kind != UNSIGNED_ACT, kind == WEIGHT, 0, 1, cfg};
    return apot_make(&spec);
}

static Quantizer *make(int bits, int kind, int denorm, int uniform) {
    return make_cfg(bits, kind, &cfgs[denorm][uniform]);
}

static void set_alpha(Quantizer *q, float alpha) {
    q->params[0]->t.data[0] = alpha;
    q->initialized = 1;
}

static QuantInput input(const float *x, size_t n) {
    QuantInput in = {x, n, 1, 1, 1};
    return in;
}

static float *alpha_grad(const Quantizer *q) { return q->params[0]->t.grad; }

/* worked examples are printed with 6 decimals */
#define CHECK_VEC6(got, want, n, what) check_vec_close((got), (want), (n), 1e-5, 2e-6, (what), __FILE__, __LINE__)

static const char *kind_name(int kind) {
    return kind == WEIGHT ? "weight" : (kind == UNSIGNED_ACT ? "unsigned" : "signed");
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL; /* the draws these tests were written with (check.h) */
static double urand(void) { return check_xorshift_uniform(&rng_state); }
static double nrand(void) { return check_xorshift_normal(&rng_state); }

/* Mean and unbiased std of a float tensor, in double (as the quantizer). */
static void stats(const float *w, size_t n, double *mu, double *sigma) {
    double s = 0.0, ss = 0.0;
    for (size_t i = 0; i < n; i++) s += w[i];
    *mu = s / (double)n;
    for (size_t i = 0; i < n; i++) ss += ((double)w[i] - *mu) * ((double)w[i] - *mu);
    *sigma = sqrt(ss / (double)(n - 1));
}

/* The level table an unsigned activation quantizer exports: Q(bits). Caller frees. */
static float *levels_of(int bits, int *count) {
    Quantizer *q = make(bits, UNSIGNED_ACT, 1, 0);
    set_alpha(q, 1.0f);
    float x = 0.0f, scale;
    int32_t code;
    QuantExport ex = {&code, &scale, NULL, 0, 0.0f};
    q->ops->export_codes(q, input(&x, 1), &ex);
    *count = ex.nlevels;
    float *l = malloc((size_t)ex.nlevels * sizeof *l);
    memcpy(l, ex.levels, (size_t)ex.nlevels * sizeof *l);
    quant_destroy(q);
    return l;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* --- level sets (4.2) --------------------------------------------------------------- */

static void test_level_sets(void) {
    /* Q(2)..Q(5) as printed */
    static const double q2[4] = {0, 0.25, 0.5, 1};
    static const double q3[8] = {0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1};
    static const double q4[16] = {0,     1.0 / 48, 1.0 / 24, 1.0 / 16, 1.0 / 12, 1.0 / 8, 1.0 / 6, 3.0 / 16,
                                  1.0 / 4, 1.0 / 3, 3.0 / 8, 1.0 / 2, 2.0 / 3, 11.0 / 16, 3.0 / 4, 1};
    static const double q5[32] = {0,   .01, .02, .03, .04, .05, .06, .07, .08, .10, .12, .14, .16, .17, .20, .21,
                                  .24, .28, .32, .34, .36, .38, .48, .52, .64, .65, .68, .69, .72, .76, .96, 1};
    const double *lit[4] = {q2, q3, q4, q5};
    for (int B = 2; B <= 5; B++) {
        int n;
        float *l = levels_of(B, &n);
        char what[64];
        snprintf(what, sizeof what, "Q(%d) has %d levels", B, 1 << B);
        check_true(n == (1 << B), what, __FILE__, __LINE__);
        snprintf(what, sizeof what, "Q(%d) literal", B);
        if (n == (1 << B)) check_vec_close(l, lit[B - 2], n, 0, 2e-7, what, __FILE__, __LINE__);
        free(l);
    }

    /* B = 2..6 against the official build_power_value base sets (sums / max) */
    static const int base[5][3][4] = {
        {{0, 1, 2, 3}, {-1}, {-1}},           /* B=2: a = {0, 2^-1, 2^-2, 2^-3} */
        {{0, 1, 2, 4}, {0, 3, -1}, {-1}},     /* B=3: a = {0,2^-1,2^-2,2^-4}, b = {0,2^-3} */
        {{0, 1, 3, 5}, {0, 2, 4, 6}, {-1}},   /* B=4 */
        {{0, 1, 3, 6}, {0, 2, 4, 7}, {0, 5, -1}}, /* B=5 */
        {{0, 1, 4, 7}, {0, 2, 5, 8}, {0, 3, 6, 9}}, /* B=6 */
    };
    for (int B = 2; B <= 6; B++) {
        /* exponent 0 stands for the element 0; -1 ends a set; a set {-1} is {0} */
        double sets[3][4];
        int len[3];
        for (int s = 0; s < 3; s++) {
            len[s] = 0;
            for (int k = 0; k < 4 && base[B - 2][s][k] >= 0; k++)
                sets[s][len[s]++] = base[B - 2][s][k] ? ldexp(1.0, -base[B - 2][s][k]) : 0.0;
            if (len[s] == 0) sets[s][len[s]++] = 0.0;
        }
        double v[64];
        int nv = 0;
        for (int i = 0; i < len[0]; i++)
            for (int j = 0; j < len[1]; j++)
                for (int k = 0; k < len[2]; k++) v[nv++] = sets[0][i] + sets[1][j] + sets[2][k];
        qsort(v, (size_t)nv, sizeof v[0], cmp_double);
        double mx = v[nv - 1];
        for (int i = 0; i < nv; i++) v[i] /= mx;
        int n;
        float *l = levels_of(B, &n);
        char what[64];
        snprintf(what, sizeof what, "Q(%d) = official build_power_value", B);
        check_true(n == nv, what, __FILE__, __LINE__);
        if (n == nv) check_vec_close(l, v, n, 1e-7, 0, what, __FILE__, __LINE__);
        free(l);
    }

    /* |Q(B)| = 2^B, strictly increasing, from 0 to 1, B = 2..16 */
    for (int B = 2; B <= 16; B++) {
        int n;
        float *l = levels_of(B, &n);
        int ok = n == (1 << B) && l[0] == 0.0f && l[n - 1] == 1.0f;
        for (int i = 1; ok && i < n; i++) ok = l[i] > l[i - 1];
        char what[80];
        snprintf(what, sizeof what, "|Q(%d)| = %d (got %d), strictly increasing in [0, 1]", B, 1 << B, n);
        check_true(ok, what, __FILE__, __LINE__);
        if (B == 7) CHECK_CLOSE(l[1], 0.0011062, 5e-5); /* 1/904 */
        if (B == 8) {
            check_close(l[n - 3], 0.93359, 0, 5e-6, "Q(8) third largest", __FILE__, __LINE__);
            check_close(l[n - 2], 0.9375, 0, 1e-7, "Q(8) second largest", __FILE__, __LINE__);
            CHECK(l[n - 1] == 1.0f);
            CHECK_CLOSE(l[n - 3], 3585.0 / 3840.0, 1e-7);
        }
        free(l);
    }

    /* the signed tables: -Q(B) u Q(B) (2^(B+1) - 1 entries); B = 1 is {-1, 0, 1} */
    for (int b = 2; b <= 5; b++) {
        Quantizer *q = make(b, SIGNED_ACT, 1, 0);
        set_alpha(q, 1.0f);
        float x = 0.0f, scale;
        int32_t code;
        QuantExport ex = {&code, &scale, NULL, 0, 0.0f};
        q->ops->export_codes(q, input(&x, 1), &ex);
        int n, L = 1 << (b - 1);
        float *l = b >= 3 ? levels_of(b - 1, &n) : NULL;
        int ok = ex.nlevels == 2 * L - 1 && code == L - 1;
        for (int k = 0; ok && k < L; k++) {
            float lk = l ? l[k] : (float)k;
            ok = ex.levels[L - 1 + k] == lk && ex.levels[L - 1 - k] == -lk;
        }
        char what[80];
        snprintf(what, sizeof what, "signed b=%d table = -Q(%d) u Q(%d), %d entries", b, b - 1, b - 1, 2 * L - 1);
        check_true(ok, what, __FILE__, __LINE__);
        free(l);
        quant_destroy(q);
    }
}

/* Projection Pi_B against brute force (nearest level, exact ties to the lower one), via
 * the unsigned activation quantizer with alpha = 1 (y = Pi_b(x) exactly), B = 2..16:
 * random c, every level, the midpoints that float32 can hold (ties) and their float
 * neighbours. */
static void test_projection(void) {
    for (int B = 2; B <= 16; B++) {
        int nl;
        float *lv = levels_of(B, &nl);
        size_t cap = 4000 + 4 * (size_t)nl, n = 0;
        float *x = malloc(cap * sizeof *x), *y = malloc(cap * sizeof *y);
        int nties = 0;
        for (int i = 0; i < 2000; i++) x[n++] = (float)urand();
        for (int i = 0; i < 1000; i++) x[n++] = (float)(urand() * urand() * urand() * 0.01); /* dense end */
        for (int k = 0; k < nl; k++) {
            x[n++] = lv[k];
            if (k + 1 < nl) {
                double mid = 0.5 * ((double)lv[k] + (double)lv[k + 1]);
                float fm = (float)mid;
                if ((double)fm == mid) {
                    x[n++] = fm; /* an exact tie */
                    nties++;
                }
                x[n++] = nextafterf(fm, 2.0f);
                x[n++] = nextafterf(fm, -1.0f);
            }
        }
        Quantizer *q = make(B, UNSIGNED_ACT, 1, 0);
        set_alpha(q, 1.0f);
        q->ops->forward(q, input(x, n), y);
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) {
            double c = x[i] < 0.0f ? 0.0 : (x[i] > 1.0f ? 1.0 : (double)x[i]);
            /* nearest by bisection over the sorted levels, then the two neighbours */
            int lo = 0, hi = nl - 1;
            while (hi - lo > 1) {
                int mid = (lo + hi) / 2;
                if ((double)lv[mid] <= c) lo = mid;
                else hi = mid;
            }
            double dl = c - (double)lv[lo], dh = (double)lv[hi] - c;
            float want = dh < dl ? lv[hi] : lv[lo]; /* tie: lower */
            if (c == (double)lv[hi]) want = lv[hi];
            if (y[i] != want && bad++ < 3)
                fprintf(stderr, "  B=%d x=%.9g: got %.9g, want %.9g\n", B, x[i], y[i], want);
        }
        char what[128];
        snprintf(what, sizeof what, "Pi_%d = nearest level, ties lower (%zu inputs, %d exact ties)", B, n, nties);
        check_true(bad == 0 && nties > 0, what, __FILE__, __LINE__);
        quant_destroy(q);
        free(lv);
        free(x);
        free(y);
    }
    /* ties literally: Q(2) = {0, .25, .5, 1}; signed ties go towards 0 */
    const float xt[6] = {0.75f, 0.375f, 0.125f, -0.375f, -0.75f, 0.7500001f};
    float yt[6];
    Quantizer *q = make(2, UNSIGNED_ACT, 1, 0);
    set_alpha(q, 1.0f);
    q->ops->forward(q, input(xt, 3), yt);
    CHECK(yt[0] == 0.5f && yt[1] == 0.25f && yt[2] == 0.0f);
    q->ops->forward(q, input(xt + 5, 1), yt + 5);
    CHECK(yt[5] == 1.0f);
    quant_destroy(q);
    q = make(3, SIGNED_ACT, 1, 0); /* +-Q(2) */
    set_alpha(q, 2.0f);
    const float xs[4] = {-1.5f, -0.75f, 1.5f, -0.25f};
    q->ops->forward(q, input(xs, 4), yt);
    CHECK(yt[0] == -1.0f && yt[1] == -0.5f && yt[2] == 1.0f && yt[3] == 0.0f && !signbit(yt[3]));
    quant_destroy(q);
}

/* --- worked examples (4.9) ---------------------------------------------------------- */

/* Per-element dq_j/dalpha from one-hot upstream gradients (official mode for weights). */
static void dalpha_per_element(Quantizer *q, const float *x, int n, float *out) {
    for (int j = 0; j < n; j++) {
        float g[16] = {0};
        g[j] = 1.0f;
        alpha_grad(q)[0] = 0.0f;
        q->ops->backward(q, input(x, (size_t)n), g, NULL);
        out[j] = alpha_grad(q)[0];
    }
}

static void test_q1(void) {
    const float W[8] = {0.12f, -0.05f, 0.30f, -0.22f, 0.02f, 0.08f, -0.15f, 0.40f};
    const float G[8] = {0.3f, -0.1f, 0.2f, 0.5f, -0.4f, 0.1f, 0.25f, -0.2f};
    float y[8], dx[8], dq[8];
    double mu, sigma;
    stats(W, 8, &mu, &sigma);
    CHECK_CLOSE(mu, 0.0625, 1e-6);
    check_close(sigma, 0.211576, 0, 1e-6, "Q1 sigma", __FILE__, __LINE__);

    /* official (denorm: false) */
    Quantizer *q = make(4, WEIGHT, 0, 0);
    set_alpha(q, 1.5f);
    q->ops->forward(q, input(W, 8), y);
    const double qw[8] = {0.3, -0.6, 1.2, -1.2, -0.15, 0.15, -0.9, 1.5};
    CHECK_VEC6(y, qw, 8, "Q1 official q");
    dalpha_per_element(q, W, 8, dq);
    const double dqa[8] = {0.018820, -0.045517, 0.051647, 0.090146, 0.033916, 0.044858, 0.069579, 1};
    CHECK_VEC6(dq, dqa, 8, "Q1 dq/dalpha");
    memset(dx, 0, sizeof dx);
    alpha_grad(q)[0] = 0.0f;
    q->ops->backward(q, input(W, 8), G, dx);
    check_close(alpha_grad(q)[0], -0.126086, 0, 2e-6, "Q1 official dL/dalpha", __FILE__, __LINE__);
    const double dwo[8] = {1.002153, -1.143882, 0.799995, 1.436523, -2.456625, -0.003243, 0.360102, 0.004978};
    CHECK_VEC6(dx, dwo, 8, "Q1 official dL/dW");
    quant_destroy(q);

    /* denorm (default) */
    q = make(4, WEIGHT, 1, 0);
    set_alpha(q, 1.5f);
    q->ops->forward(q, input(W, 8), y);
    const double wq[8] = {0.125973, -0.064445, 0.316391, -0.191391, 0.030764, 0.094236, -0.127918, 0.379864};
    CHECK_VEC6(y, wq, 8, "Q1 denorm W_q");
    memset(dx, 0, sizeof dx);
    alpha_grad(q)[0] = 0.0f;
    q->ops->backward(q, input(W, 8), G, dx);
    check_close(alpha_grad(q)[0], -0.026677, 0, 2e-6, "Q1 denorm dL/dalpha", __FILE__, __LINE__);
    const double dwd[8] = {0.267657, -0.110634, 0.144671, 0.511075, -0.419573, 0.072765, 0.252136, -0.068099};
    CHECK_VEC6(dx, dwd, 8, "Q1 denorm dL/dW");
    /* denorm dalpha = sigma * official dalpha */
    CHECK_CLOSE(alpha_grad(q)[0], sigma * -0.126086, 2e-5);
    quant_destroy(q);
}

static void test_q2(void) {
    const float x[6] = {-0.4f, 0.15f, 0.55f, 0.9f, 1.7f, 2.6f};
    float y[6], dx[6], da[6];
    Quantizer *q = make(3, UNSIGNED_ACT, 1, 0);
    set_alpha(q, 2.0f);
    q->ops->forward(q, input(x, 6), y);
    const double yw[6] = {0, 0.2, 0.6, 0.8, 1.6, 2.0};
    CHECK_VEC6(y, yw, 6, "Q2 y");
    for (int j = 0; j < 6; j++) {
        float g[6] = {0}, d[6] = {0};
        g[j] = 1.0f;
        alpha_grad(q)[0] = 0.0f;
        q->ops->backward(q, input(x, 6), g, d);
        dx[j] = d[j];
        for (int i = 0; i < 6; i++) CHECK(i == j || d[i] == 0.0f);
        da[j] = alpha_grad(q)[0];
    }
    const double dxw[6] = {0, 1, 1, 1, 1, 0};
    const double daw[6] = {0, 0.025, 0.025, -0.05, -0.05, 1};
    CHECK_VEC6(dx, dxw, 6, "Q2 dy/dx");
    CHECK_VEC6(da, daw, 6, "Q2 dy/dalpha");
    quant_destroy(q);
}

/* Q3 is stated on normalised u. The quantizer normalises W itself, so the six u values
 * are embedded in an 8-element tensor whose two extra elements make mean 0 and unbiased
 * std 1: then u = W (to float rounding). a + b = 0.65, a^2 + b^2 = 1.8775. */
static void test_q3(void) {
    const double r = sqrt(3.3325);
    const float W[8] = {-1.7f, -0.6f, -0.3f, 0.2f, 0.55f, 1.2f, (float)((0.65 + r) / 2), (float)((0.65 - r) / 2)};
    double mu, sigma;
    stats(W, 8, &mu, &sigma);
    CHECK(fabs(mu) < 1e-7 && fabs(sigma - 1.0) < 1e-6);
    for (int denorm = 0; denorm < 2; denorm++) {
        Quantizer *q = make(2, WEIGHT, denorm, 0);
        CHECK(q->nparams == 1);
        set_alpha(q, 1.0f);
        float y[8], dq[8];
        q->ops->forward(q, input(W, 8), y);
        if (!denorm) {
            const double qw[6] = {-1, -1, 0, 0, 1, 1};
            CHECK_VEC6(y, qw, 6, "Q3 q");
            dalpha_per_element(q, W, 8, dq);
            const double dqa[6] = {-1, -0.4, 0.3, -0.2, 0.45, 1};
            CHECK_VEC6(dq, dqa, 6, "Q3 dq/dalpha");
        } else {
            float dqd[8];
            dalpha_per_element(q, W, 8, dqd);
            const double dqa[6] = {-sigma, -0.4 * sigma, 0.3 * sigma, -0.2 * sigma, 0.45 * sigma, sigma};
            CHECK_VEC6(dqd, dqa, 6, "Q3 denorm dq/dalpha (sigma * official)");
        }
        /* dq/du = 1 everywhere (also for the clipped u = -1.7, 1.2): the gradient of
         * W_j from G = e_i is the normalisation backward of r = e_i, unmasked. */
        int ok = 1;
        for (int i = 0; i < 8 && ok; i++) {
            float g[8] = {0}, dx[8] = {0};
            g[i] = 1.0f;
            q->ops->backward(q, input(W, 8), g, dx);
            double ui = ((double)W[i] - mu) / sigma;
            double qi = (double)(denorm ? (y[i] - mu) / sigma : y[i]);
            for (int j = 0; j < 8; j++) {
                double uj = ((double)W[j] - mu) / sigma;
                double want = denorm ? (i == j) + uj * (qi - ui) / 7.0 : ((i == j) - 1.0 / 8 - uj * ui / 7.0) / sigma;
                if (fabs(dx[j] - want) > 2e-6) {
                    ok = 0;
                    fprintf(stderr, "Q3 denorm=%d dW[%d] from G=e_%d: got %.9g, want %.9g\n", denorm, j, i, dx[j], want);
                }
            }
        }
        check_true(ok, "Q3 dq/du = 1 (calibrated, unmasked) through the normalisation", __FILE__, __LINE__);
        quant_destroy(q);
    }
}

/* --- generic properties ------------------------------------------------------------- */

/* Level count of docs/METHODS.md 0.4 (uniform mode: the same counts). */
static int level_count(int bits, int kind) {
    if (kind == UNSIGNED_ACT) return 1 << bits;
    return bits == 2 && kind == WEIGHT ? 3 : (1 << bits) - 1;
}

static void fill(float *x, size_t n, int kind, double spread) {
    for (size_t i = 0; i < n; i++) {
        double v = nrand() * spread;
        x[i] = (float)(kind == UNSIGNED_ACT ? fabs(v) * (urand() < 0.1 ? -0.2 : 1.0) : v + 0.05);
    }
}

/* Grid: the export value scale * level(code) + offset equals the forward output, codes
 * in range, distinct outputs <= the level count of 0.4 (and all used at b <= 4). */
static void test_grid_and_levels(void) {
    const int bits_list[] = {2, 3, 4, 5, 8, 16};
    const size_t n = 40000;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    int32_t *codes = malloc(n * sizeof *codes);
    for (int bi = 0; bi < 6; bi++)
        for (int kind = 0; kind < 3; kind++)
            for (int denorm = 0; denorm < 2; denorm++)
                for (int uniform = 0; uniform < 2; uniform++) {
                    int bits = bits_list[bi];
                    if ((kind != WEIGHT && denorm == 0) || (uniform && bits < 8)) continue;
                    Quantizer *q = make(bits, kind, denorm, uniform);
                    fill(x, n, kind, 1.0);
                    set_alpha(q, kind == WEIGHT ? 2.0f : 1.7f);
                    QuantInput in = input(x, n);
                    q->ops->forward(q, in, y);
                    float scale;
                    QuantExport ex = {codes, &scale, NULL, 0, 0.0f};
                    q->ops->export_codes(q, in, &ex);
                    int nl = level_count(bits, kind);
                    int32_t lo, hi;
                    if (ex.levels) {
                        lo = 0;
                        hi = ex.nlevels - 1;
                    } else {
                        hi = kind == UNSIGNED_ACT ? ex.nlevels - 1 : (ex.nlevels - 1) / 2;
                        lo = kind == UNSIGNED_ACT ? 0 : -hi;
                    }
                    int ok_val = 1, ok_range = 1, ok_exact = 1;
                    double worst = 0.0;
                    for (size_t i = 0; i < n; i++) {
                        ok_range &= codes[i] >= lo && codes[i] <= hi;
                        if (codes[i] < lo || codes[i] > hi) continue;
                        float lv = ex.levels ? ex.levels[codes[i]] : (float)codes[i];
                        double v = (double)scale * lv + ex.offset;
                        double e = fabs(v - y[i]);
                        if (e > worst) worst = e;
                        ok_val &= e <= 1e-6 + 2e-6 * fabs(v);
                        /* activations on an APoT set: y = alpha * level, bit for bit */
                        if (kind != WEIGHT && ex.levels) ok_exact &= y[i] == scale * lv;
                    }
                    char what[200];
                    const char *tag = uniform ? " uniform" : "";
                    snprintf(what, sizeof what, "b=%d %s denorm=%d%s: export value = forward (worst %.3g)", bits,
                             kind_name(kind), denorm, tag, worst);
                    check_true(ok_val && ok_exact, what, __FILE__, __LINE__);
                    snprintf(what, sizeof what, "b=%d %s denorm=%d%s: codes in [%d, %d]", bits, kind_name(kind), denorm,
                             tag, lo, hi);
                    check_true(ok_range, what, __FILE__, __LINE__);
                    snprintf(what, sizeof what, "b=%d %s%s: nlevels %d = %d", bits, kind_name(kind), tag, ex.nlevels, nl);
                    check_true(ex.nlevels == nl, what, __FILE__, __LINE__);
                    int ok_meta = ex.levels ? !uniform && !(kind == WEIGHT && bits == 2)
                                            : (uniform || (kind == WEIGHT && bits == 2));
                    ok_meta &= (kind == WEIGHT && denorm) ? ex.offset != 0.0f : ex.offset == 0.0f;
                    snprintf(what, sizeof what, "b=%d %s denorm=%d%s: level table iff APoT set, offset iff denorm",
                             bits, kind_name(kind), denorm, tag);
                    check_true(ok_meta, what, __FILE__, __LINE__);
                    size_t nd = quant_count_distinct(y, n);
                    snprintf(what, sizeof what, "b=%d %s denorm=%d%s: %zu distinct outputs <= %d", bits,
                             kind_name(kind), denorm, tag, nd, nl);
                    check_true(nd <= (size_t)nl, what, __FILE__, __LINE__);
                    if (bits <= 4) {
                        snprintf(what, sizeof what, "b=%d %s denorm=%d: all %d levels used (got %zu)", bits,
                                 kind_name(kind), denorm, nl, nd);
                        check_true(nd == (size_t)nl, what, __FILE__, __LINE__);
                    }
                    quant_destroy(q);
                }
    free(x);
    free(y);
    free(codes);
}

/* Q(Q(x)) = Q(x) bit for bit for the activation quantizers (fixed alpha) up to b = 8 and
 * in uniform mode; at b = 16 the APoT levels are denser than float32 can separate after
 * the product alpha*P (up to a neighbouring level). Weights are not idempotent: W_q has
 * another mean and std than W, so it is normalised differently. */
static void test_idempotence(void) {
    const size_t n = 20000;
    float *x = malloc(n * sizeof *x), *y1 = malloc(n * sizeof *y1), *y2 = malloc(n * sizeof *y2);
    const int bits_list[] = {2, 3, 4, 8, 16};
    for (int bi = 0; bi < 5; bi++)
        for (int kind = UNSIGNED_ACT; kind <= SIGNED_ACT; kind++)
            for (int uniform = 0; uniform < 2; uniform++) {
                if (uniform && bits_list[bi] < 8) continue;
                Quantizer *q = make(bits_list[bi], kind, 1, uniform);
                fill(x, n, kind, 0.8);
                set_alpha(q, 1.3f);
                q->ops->forward(q, input(x, n), y1);
                q->ops->forward(q, input(y1, n), y2);
                char what[128];
                snprintf(what, sizeof what, "idempotent: b=%d %s%s", bits_list[bi], kind_name(kind),
                         uniform ? " uniform" : "");
                size_t bad = 0, far = 0;
                for (size_t i = 0; i < n; i++) {
                    bad += y1[i] != y2[i];
                    far += fabsf(y2[i] - y1[i]) > 2.5e-7f * fabsf(y1[i]);
                }
                if (bits_list[bi] < 16 || uniform) {
                    check_true(bad == 0, what, __FILE__, __LINE__);
                } else {
                    /* Q(16), Q(15): neighbouring levels can be closer than 2 float32 ulps, so
                     * alpha*P/alpha may land past the midpoint: a neighbouring level */
                    snprintf(what, sizeof what, "idempotent up to a neighbouring level: b=16 %s (%zu of %zu moved)",
                             kind_name(kind), bad, n);
                    check_true(far == 0 && bad < n / 20, what, __FILE__, __LINE__);
                }
                quant_destroy(q);
            }
    free(x);
    free(y1);
    free(y2);
}

/* The STE-linearised function at (x0, alpha0), in double: the projection offsets
 * P0 - c0 are frozen, so y_i = alpha (P0_i + c_i - c0_i) with c_i = clip(v_i/alpha) and
 * v = x (activations) or u = (W - mu(W))/sigma(W) (weights; denorm: sigma y + mu).
 * F = sum_i G_i y_i. P0 is the exported level of x0 (exactly what the forward used). */
typedef struct {
    const float *x0, *G;
    const double *P0, *c0;
    size_t n;
    int kind, denorm;
} Lin;

static double lin_F(const Lin *L, const double *dir, double h, double alpha) {
    size_t n = L->n;
    double mu = 0.0, sigma = 1.0, F = 0.0;
    double *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = (double)L->x0[i] + (dir ? h * dir[i] : 0.0);
    if (L->kind == WEIGHT) {
        double s = 0.0, ss = 0.0;
        for (size_t i = 0; i < n; i++) s += v[i];
        mu = s / (double)n;
        for (size_t i = 0; i < n; i++) ss += (v[i] - mu) * (v[i] - mu);
        sigma = sqrt(ss / (double)(n - 1));
        for (size_t i = 0; i < n; i++) v[i] = (v[i] - mu) / sigma;
    }
    double lo = L->kind == UNSIGNED_ACT ? 0.0 : -1.0;
    for (size_t i = 0; i < n; i++) {
        double c = v[i] / alpha;
        c = c < lo ? lo : (c > 1.0 ? 1.0 : c);
        double y = alpha * (L->P0[i] + c - L->c0[i]);
        if (L->kind == WEIGHT && L->denorm) y = sigma * y + mu;
        F += (double)L->G[i] * y;
    }
    free(v);
    return F;
}

static void test_gradients_fd(void) {
    const size_t n = 600;
    float *x = malloc(n * sizeof *x), *G = malloc(n * sizeof *G), *dx = malloc(n * sizeof *dx);
    int32_t *codes = malloc(n * sizeof *codes);
    double *P0 = malloc(n * sizeof *P0), *c0 = malloc(n * sizeof *c0), *dir = malloc(n * sizeof *dir);
    const int bits_list[] = {2, 3, 4, 8, 16};
    for (int bi = 0; bi < 5; bi++)
        for (int kind = 0; kind < 3; kind++)
            for (int denorm = 0; denorm < 2; denorm++)
                for (int uniform = 0; uniform < 2; uniform++) {
                    int bits = bits_list[bi];
                    if ((kind != WEIGHT && denorm == 0) || (uniform && bits < 8)) continue;
                    int ternary = kind == WEIGHT && bits == 2;
                    Quantizer *q = make(bits, kind, denorm, uniform);
                    float alpha = ternary ? 2.0f : (kind == WEIGHT ? 1.8f : 1.1f);
                    set_alpha(q, alpha);
                    /* inputs clear of the clipping kink |v| = alpha (and of 0 for unsigned);
                     * the ternary dW equals the linearisation only with nothing clipped:
                     * uniform [-1, 1] data has |u| <= sqrt(3) < alpha */
                    double mu = 0.0, sigma = 1.0;
                    if (ternary)
                        for (size_t i = 0; i < n; i++) x[i] = (float)(2.0 * urand() - 1.0);
                    else
                        fill(x, n, kind, 0.8);
                    for (int it = 0; it < 100; it++) { /* redraw offenders until clean */
                        if (kind == WEIGHT) stats(x, n, &mu, &sigma);
                        int bad = 0;
                        for (size_t i = 0; i < n; i++) {
                            double v = ((double)x[i] - mu) / sigma;
                            if (fabs(fabs(v) - alpha) > 1e-3 && fabs(v) > 1e-4) continue;
                            x[i] = (float)(mu + sigma * (urand() - 0.5));
                            bad++;
                        }
                        if (!bad) break;
                    }
                    for (size_t i = 0; i < n; i++) {
                        G[i] = (float)nrand();
                        dir[i] = nrand();
                        dx[i] = 0.0f;
                    }
                    float scale;
                    QuantExport ex = {codes, &scale, NULL, 0, 0.0f};
                    q->ops->export_codes(q, input(x, n), &ex);
                    double L_ = ex.levels ? 1.0 : (ternary ? 1.0 : (kind == UNSIGNED_ACT ? ex.nlevels - 1 : (ex.nlevels - 1) / 2));
                    double lo = kind == UNSIGNED_ACT ? 0.0 : -1.0;
                    for (size_t i = 0; i < n; i++) {
                        P0[i] = ex.levels ? (double)ex.levels[codes[i]] : codes[i] / L_;
                        double c = ((double)x[i] - mu) / sigma / alpha;
                        c0[i] = c < lo ? lo : (c > 1.0 ? 1.0 : c);
                    }
                    Lin L = {x, G, P0, c0, n, kind, denorm};
                    alpha_grad(q)[0] = 0.0f;
                    q->ops->backward(q, input(x, n), G, dx);
                    const double h = 1e-6;
                    double fd_a = (lin_F(&L, NULL, 0, alpha + h) - lin_F(&L, NULL, 0, alpha - h)) / (2 * h);
                    double fd_x = (lin_F(&L, dir, h, alpha) - lin_F(&L, dir, -h, alpha)) / (2 * h);
                    double an_x = 0.0, nrm = 0.0;
                    for (size_t i = 0; i < n; i++) {
                        an_x += (double)dx[i] * dir[i];
                        nrm += fabs((double)dx[i] * dir[i]);
                    }
                    /* the linearisation at the base point itself: F(alpha0) = sum G y */
                    float *y = malloc(n * sizeof *y);
                    q->ops->forward(q, input(x, n), y);
                    double F0 = 0.0;
                    for (size_t i = 0; i < n; i++) F0 += (double)G[i] * y[i];
                    free(y);
                    double Fl = lin_F(&L, NULL, 0, alpha);
                    char what[200];
                    const char *tag = uniform ? " uniform" : "";
                    snprintf(what, sizeof what, "linearisation b=%d %s denorm=%d%s passes through Q (%.7g vs %.7g)",
                             bits, kind_name(kind), denorm, tag, Fl, F0);
                    check_true(fabs(Fl - F0) <= 1e-5 * fmax(1.0, fabs(F0)) + 1e-4, what, __FILE__, __LINE__);
                    float ga = alpha_grad(q)[0];
                    snprintf(what, sizeof what, "FD dalpha b=%d %s denorm=%d%s (got %.7g, fd %.7g)", bits,
                             kind_name(kind), denorm, tag, ga, fd_a);
                    check_true(fabs(ga - fd_a) <= 1e-5 * fmax(fabs(fd_a), 1.0), what, __FILE__, __LINE__);
                    snprintf(what, sizeof what, "FD dx.dir b=%d %s denorm=%d%s (got %.7g, fd %.7g)", bits,
                             kind_name(kind), denorm, tag, an_x, fd_x);
                    check_true(fabs(an_x - fd_x) <= 1e-5 * fmax(nrm, 1.0), what, __FILE__, __LINE__);
                    quant_destroy(q);
                }
    free(x);
    free(G);
    free(dx);
    free(codes);
    free(P0);
    free(c0);
    free(dir);
}

/* b = 16: |Q(x) - x| is at most half the local level spacing inside the clipping range
 * (APoT spacing grows towards the top: Q(16) jumps by ~2^-8 just below 1). */
static void test_b16_identity(void) {
    const size_t n = 50000;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    int nq16, nq15;
    float *q16 = levels_of(16, &nq16), *q15 = levels_of(15, &nq15);
    for (int kind = 0; kind < 3; kind++)
        for (int uniform = 0; uniform < 2; uniform++) {
            Quantizer *q = make(16, kind, 0, uniform);
            float alpha = kind == WEIGHT ? 3.0f : 1.3f;
            set_alpha(q, alpha);
            fill(x, n, kind, 0.5);
            double mu = 0.0, sigma = 1.0;
            if (kind == WEIGHT) stats(x, n, &mu, &sigma);
            q->ops->forward(q, input(x, n), y);
            const float *lv = kind == UNSIGNED_ACT ? q16 : q15;
            int nl = kind == UNSIGNED_ACT ? nq16 : nq15;
            double L = kind == UNSIGNED_ACT ? 65535.0 : 32767.0;
            int ok = 1, inside = 0;
            double worst = 0.0;
            for (size_t i = 0; i < n; i++) {
                double v = ((double)x[i] - mu) / sigma; /* official weights: y = q ~ u */
                double c = fabs(v) / alpha;
                if (c >= 1.0 || (kind == UNSIGNED_ACT && v < 0.0)) continue;
                inside++;
                double half;
                if (uniform) {
                    half = 0.5 / L;
                } else {
                    int lo = 0, hi = nl - 1; /* lv[lo] <= c < lv[lo + 1] */
                    while (hi - lo > 1) {
                        int mid = (lo + hi) / 2;
                        if ((double)lv[mid] <= c) lo = mid;
                        else hi = mid;
                    }
                    half = 0.5 * ((double)lv[lo + 1] - (double)lv[lo]);
                }
                double e = fabs((double)y[i] - v) / alpha;
                worst = fmax(worst, e);
                if (e > half * 1.001 + 3e-7) ok = 0;
            }
            char what[160];
            snprintf(what, sizeof what, "b=16 %s%s: |Q(x)-x| <= alpha * half the local spacing (%d inside, worst %.3g alpha)",
                     kind_name(kind), uniform ? " uniform" : "", inside, worst);
            check_true(ok && inside > (int)n / 2, what, __FILE__, __LINE__);
            /* the largest gap of Q(16) is 2^-8 (just below 1), of Q(15) about 2^-7 */
            snprintf(what, sizeof what, "b=16 %s%s: max |Q(x)-x| = %.3g alpha <= %s", kind_name(kind),
                     uniform ? " uniform" : "", worst, kind == UNSIGNED_ACT ? "2^-9" : "2^-8");
            check_true(worst <= ldexp(1.0, kind == UNSIGNED_ACT ? -9 : -8) * 1.001, what, __FILE__, __LINE__);
            quant_destroy(q);
        }
    free(q16);
    free(q15);
    free(x);
    free(y);
}

/* --- init, clamp, names ------------------------------------------------------------- */

static void test_init_clamp_names(void) {
    const float w[6] = {0.2f, -1.5f, 0.7f, 0.0f, 1.1f, -0.3f};
    for (int bits = 2; bits <= 4; bits += 2) {
        Quantizer *q = make(bits, WEIGHT, 1, 0);
        CHECK(q->nparams == 1 && q->is_signed && q->is_weight && q->per_channel == 0);
        CHECK(!strcmp(q->params[0]->name, "alpha") && !q->params[0]->frozen &&
              q->params[0]->group == PARAM_GROUP_QUANT && q->params[0]->t.size == 1);
        CHECK(q->params[0]->t.data[0] == 3.0f);
        q->params[0]->t.data[0] = 0.5f;
        q->ops->init(q, input(w, 6));
        CHECK(q->params[0]->t.data[0] == 3.0f); /* weights: 3.0 (sigma units) */
        CHECK_CLAMP(q, -1.0f, 1e-6f, 2.5f);
        quant_destroy(q);
    }
    /* activations: max|x| of the first batch (default alpha_init: max) */
    Quantizer *q = make(4, UNSIGNED_ACT, 1, 0);
    CHECK(q->nparams == 1 && !q->is_signed && !q->is_weight);
    q->ops->init(q, input(w, 6));
    CHECK(q->params[0]->t.data[0] == 1.5f);
    const float zeros[3] = {0, 0, 0};
    q->ops->init(q, input(zeros, 3));
    CHECK(q->params[0]->t.data[0] == 1e-6f); /* all-zero batch: the clamp floor */
    quant_destroy(q);
    q = make(4, SIGNED_ACT, 1, 0);
    CHECK(q->is_signed && !q->is_weight);
    q->ops->init(q, input(w, 6));
    CHECK(q->params[0]->t.data[0] == 1.5f);
    quant_destroy(q);
    /* alpha_init = 2.5 */
    q = make_cfg(4, SIGNED_ACT, &cfg_alpha);
    q->ops->init(q, input(w, 6));
    CHECK(q->params[0]->t.data[0] == 2.5f);
    quant_destroy(q);
    q = make_cfg(4, WEIGHT, &cfg_alpha); /* weights keep 3.0 */
    q->ops->init(q, input(w, 6));
    CHECK(q->params[0]->t.data[0] == 3.0f);
    quant_destroy(q);
    /* per_channel is not supported: the quantizer is per-tensor */
    QuantSpec spec = {4, 1, 1, 1, 3, &cfgs[1][0]};
    q = apot_make(&spec);
    CHECK(q->per_channel == 0 && q->nparams == 1 && q->params[0]->t.size == 1);
    quant_destroy(q);
    /* registry */
    const QuantMethod *m = quant_method_find("apot");
    CHECK(m && m->make == apot_make && !m->is_ptq);
    /* a constant weight tensor: sigma floored, W_q = W, finite gradients */
    q = make(4, WEIGHT, 1, 0);
    const float c4[4] = {0.1f, 0.1f, 0.1f, 0.1f};
    const float g4[4] = {1.0f, -2.0f, 0.5f, 0.25f};
    float y4[4], d4[4] = {0};
    q->ops->forward(q, input(c4, 4), y4);
    q->ops->backward(q, input(c4, 4), g4, d4);
    int ok = isfinite(alpha_grad(q)[0]);
    for (int i = 0; i < 4; i++) ok &= y4[i] == 0.1f && isfinite(d4[i]);
    CHECK(ok);
    quant_destroy(q);
}

/* --- accumulation and determinism --------------------------------------------------- */

static void test_accumulation(void) {
    const size_t n = 257;
    float x[257], G[257], dx1[257], dx2[257], pre[257];
    for (int kind = 0; kind < 3; kind++)
        for (int bits = 2; bits <= 8; bits *= 2) {
            Quantizer *q = make(bits, kind, 1, 0);
            set_alpha(q, 1.2f);
            fill(x, n, kind, 0.8);
            for (size_t i = 0; i < n; i++) {
                G[i] = (float)nrand();
                pre[i] = (float)nrand();
                dx1[i] = 0.0f;
                dx2[i] = pre[i];
            }
            alpha_grad(q)[0] = 0.0f;
            q->ops->backward(q, input(x, n), G, dx1);
            float a1 = alpha_grad(q)[0];
            q->ops->backward(q, input(x, n), G, dx2);
            q->ops->backward(q, input(x, n), G, dx2);
            float a3 = alpha_grad(q)[0];
            q->ops->backward(q, input(x, n), G, NULL); /* no input gradient: alpha only */
            float a4 = alpha_grad(q)[0];
            int ok = 1;
            for (size_t i = 0; i < n; i++) ok &= fabsf(dx2[i] - (pre[i] + 2 * dx1[i])) <= 1e-5f * (1 + fabsf(dx2[i]));
            char what[128];
            snprintf(what, sizeof what, "b=%d %s: dx accumulates (dx += ...)", bits, kind_name(kind));
            check_true(ok, what, __FILE__, __LINE__);
            snprintf(what, sizeof what, "b=%d %s: dalpha accumulates (%g, %g, %g)", bits, kind_name(kind), a1, a3, a4);
            check_true(fabsf(a3 - 3 * a1) <= 1e-5f * fabsf(a3) + 1e-7f && fabsf(a4 - 4 * a1) <= 1e-5f * fabsf(a4) + 1e-7f,
                       what, __FILE__, __LINE__);
            quant_destroy(q);
        }
}

static void test_threads(void) {
    const size_t n = 100003; /* > 65536: the parallel paths */
    float *x = malloc(n * sizeof *x), *G = malloc(n * sizeof *G);
    float *y[2], *dx[2];
    static const int cases[][4] = { /* bits, kind, denorm, uniform */
        {4, WEIGHT, 1, 0}, {8, WEIGHT, 0, 0}, {2, WEIGHT, 1, 0}, {2, WEIGHT, 0, 0}, {8, WEIGHT, 1, 1},
        {4, UNSIGNED_ACT, 1, 0}, {8, SIGNED_ACT, 1, 0}, {16, UNSIGNED_ACT, 1, 1}, {16, SIGNED_ACT, 1, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        Quantizer *q = make(cases[c][0], cases[c][1], cases[c][2], cases[c][3]);
        set_alpha(q, 1.4f);
        fill(x, n, cases[c][1], 0.9);
        for (size_t i = 0; i < n; i++) G[i] = (float)nrand();
        float da[2];
        for (int t = 0; t < 2; t++) {
            omp_set_num_threads(t + 1);
            y[t] = malloc(n * sizeof(float));
            dx[t] = calloc(n, sizeof(float));
            q->ops->forward(q, input(x, n), y[t]);
            alpha_grad(q)[0] = 0.0f;
            q->ops->backward(q, input(x, n), G, dx[t]);
            da[t] = alpha_grad(q)[0];
        }
        char what[128];
        snprintf(what, sizeof what, "threads 1 vs 2 bit-identical: b=%d %s denorm=%d uniform=%d", cases[c][0],
                 kind_name(cases[c][1]), cases[c][2], cases[c][3]);
        check_true(!memcmp(y[0], y[1], n * sizeof(float)) && !memcmp(dx[0], dx[1], n * sizeof(float)) &&
                       !memcmp(&da[0], &da[1], sizeof(float)),
                   what, __FILE__, __LINE__);
        for (int t = 0; t < 2; t++) {
            free(y[t]);
            free(dx[t]);
        }
        quant_destroy(q);
    }
    omp_set_num_threads(2);
    free(x);
    free(G);
}

/* --- user-facing errors (forked child: qat_die exits) -------------------------------- */

static void child_make_bits(const void *arg) {
    QuantSpec spec = {atoi(arg), 1, 1, 0, 1, &cfgs[1][0]};
    apot_make(&spec);
}

/* Sets the option, then builds an activation quantizer (the option is checked there). */
static void child_set_make(const void *assignment) {
    config_grid_set(&cfgs[1][0], assignment);
    QuantSpec spec = {4, 0, 0, 0, 1, &cfgs[1][0]};
    apot_make(&spec);
}

/* Options are checked for weight quantizers too (alpha_init is only used by activations). */
static void child_set_make_weight(const void *assignment) {
    config_grid_set(&cfgs[1][0], assignment);
    QuantSpec spec = {4, 1, 1, 0, 1, &cfgs[1][0]};
    apot_make(&spec);
}

static void test_errors(void) {
    CHECK_DIES(child_make_bits, "1", "apot", "bit width", "2..16", "got 1");
    CHECK_DIES(child_make_bits, "17", "apot", "bit width", "got 17");
    CHECK_DIES(child_make_bits, "32", "apot", "bit width", "got 32");
    CHECK_DIES(child_set_make, "quantizer.high_bits=fp16", "quantizer.high_bits", "fp16", "one of apot, uniform");
    CHECK_DIES(child_set_make, "quantizer.high_bits=Uniform", "quantizer.high_bits", "Uniform");
    CHECK_DIES(child_set_make, "quantizer.alpha_init=maximum", "quantizer.alpha_init", "maximum");
    CHECK_DIES(child_set_make, "quantizer.alpha_init=-2", "quantizer.alpha_init", "-2");
    CHECK_DIES(child_set_make, "quantizer.alpha_init=0", "quantizer.alpha_init", "got '0'");
    CHECK_DIES(child_set_make, "quantizer.alpha_init=nan", "quantizer.alpha_init", "nan");
    CHECK_DIES(child_set_make, "quantizer.alpha_init=6x", "quantizer.alpha_init", "6x");
    CHECK_DIES(child_set_make_weight, "quantizer.alpha_init=abc", "quantizer.alpha_init", "abc");
    CHECK_DIES(child_set_make_weight, "quantizer.high_bits=none", "quantizer.high_bits", "none");
    CHECK_DIES(child_set_make, "quantizer.denorm=maybe", "denorm");
}

/* --- PyTorch fixtures ---------------------------------------------------------------- */

static void test_fixtures(void) {
    static const char *const names[] = {"w", "wo", "a", "s", "wu", "wuo", "au", "su"};
    for (int b = 2; b <= 8; b *= 2) {
        char path[64];
        snprintf(path, sizeof path, "fixtures/quant_apot_b%d.bin", b);
        Fixture f;
        fixture_load(&f, path);
        int cases = 0;
        for (int k = 0; k < 8; k++) {
            char name[64], what[128];
#define FX(field) (snprintf(name, sizeof name, "%s_%s", names[k], (field)), name)
            const FixtureArray *xa = fixture_find(&f, FX("x"));
            if (!xa) continue;
            cases++;
            size_t n = xa->size;
            int weight = fixture_int(&f, FX("weight")), is_signed = fixture_int(&f, FX("signed"));
            int denorm = fixture_int(&f, FX("denorm")), uniform = fixture_int(&f, FX("uniform"));
            int bits = fixture_int(&f, FX("bits"));
            CHECK(bits == b);
            Quantizer *q = make(bits, weight ? WEIGHT : (is_signed ? SIGNED_ACT : UNSIGNED_ACT), denorm, uniform);
            set_alpha(q, fixture_scalar(&f, FX("alpha")));
            const float *dy = fixture_data(&f, FX("dy"), n);
            const float *y_ref = fixture_data(&f, FX("y"), n);
            const float *dx_ref = fixture_data(&f, FX("dx"), n);
            float *y = malloc(n * sizeof *y), *dx = calloc(n, sizeof *dx);
            q->ops->forward(q, input(xa->data, n), y);
            alpha_grad(q)[0] = 0.0f;
            q->ops->backward(q, input(xa->data, n), dy, dx);
            snprintf(what, sizeof what, "b=%d case %s: y", b, names[k]);
            CHECK_ARRAY(y, y_ref, n, 1e-4, what);
            snprintf(what, sizeof what, "b=%d case %s: dx", b, names[k]);
            CHECK_ARRAY(dx, dx_ref, n, 1e-4, what);
            float da = alpha_grad(q)[0], da_ref = fixture_scalar(&f, FX("dalpha"));
            snprintf(what, sizeof what, "b=%d case %s: dalpha", b, names[k]);
            CHECK_ARRAY(&da, &da_ref, 1, 1e-4, what);
#undef FX
            free(y);
            free(dx);
            quant_destroy(q);
        }
        char what[64];
        snprintf(what, sizeof what, "b=%d fixture has %d cases", b, cases);
        check_true(cases == (b == 8 ? 8 : 4), what, __FILE__, __LINE__);
        fixture_free(&f);
    }
}

int main(void) {
    configs_init();
    test_level_sets();
    test_projection();
    test_q1();
    test_q2();
    test_q3();
    test_grid_and_levels();
    test_idempotence();
    test_gradients_fd();
    test_b16_identity();
    test_init_clamp_names();
    test_accumulation();
    test_threads();
    test_errors();
    test_fixtures();
    configs_free();
    return check_done("apot");
}
