/* Tests for the PACT quantizer (src/quant/pact.c, docs/METHODS.md 2): the worked examples
 * P1-P4 (per-element derivatives from one-hot upstream gradients, the given upstream
 * gradient, the L2 term), the L2 term once per optimizer step, init and clamp, SAWB
 * frozen for evaluation, generic properties (grid, level count, idempotence, gradients
 * against central finite differences of the STE-linearised function, b = 16 near
 * identity), export, gradient accumulation, determinism across thread counts, the
 * user-facing errors (in a forked child) and PyTorch fixtures at b = 2, 4, 8
 * (scripts/gen_fixtures_quant_lsq_pact.py). Runs from the tests/ folder. */
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
#include "quant/method.h"
#include "quant_check.h"

/* --- helpers ------------------------------------------------------------------------ */

static ConfigGrid cfg_def, cfg_nol2, cfg_dorefa, cfg_init10, cfg_bad;

static void configs_init(void) {
    static const CfgField *const schemas[] = {quant_schema, NULL};
    config_grid_init(&cfg_def, schemas);
    config_grid_init(&cfg_nol2, schemas);
    config_grid_set(&cfg_nol2, "quantizer.lambda_alpha=0");
    config_grid_init(&cfg_dorefa, schemas);
    config_grid_set(&cfg_dorefa, "quantizer.weight_quantizer=dorefa");
    config_grid_init(&cfg_init10, schemas);
    config_grid_set(&cfg_init10, "quantizer.alpha_init=10");
    config_grid_init(&cfg_bad, schemas);
}

enum { UNSIGNED_ACT, SIGNED_ACT, SAWB, DOREFA };
static const char *const KIND_NAME[] = {"unsigned", "signed", "sawb", "dorefa"};

static Quantizer *make_cfg(int bits, int kind, const Config *cfg) {
    QuantSpec spec = {bits, kind != UNSIGNED_ACT, kind >= SAWB, 0, 1, cfg};
    if (kind == DOREFA && cfg == &cfg_def) spec.cfg = &cfg_dorefa;
    return pact_make(&spec);
}
/* Default options, except lambda_alpha = 0 for activations (pure data gradients). */
static Quantizer *make(int bits, int kind) { return make_cfg(bits, kind, kind <= SIGNED_ACT ? &cfg_nol2 : &cfg_def); }

static void set_alpha(Quantizer *q, float a) {
    q->params[0]->t.data[0] = a;
    q->initialized = 1;
}

static QuantInput input(const float *x, size_t n, int training) {
    QuantInput in = {x, n, 1, 1, training};
    return in;
}

/* A training step's forward: the per-step hook (SAWB: alpha_w from these weights), then
 * the forward, as quant sites run them. */
static void train_forward(Quantizer *q, QuantInput in, float *y) {
    quantizer_begin_step(q, in);
    q->ops->forward(q, in, y);
}

static float dalpha(const Quantizer *q) { return quant_grad(q, 0); }

/* Per-element derivatives (upstream G = e_j for each j): dY_j/dx_j and dY_j/dalpha. */
typedef struct {
    float y[16], dx[16], da[16];
} Derivs;

static void derivs(Quantizer *q, const float *x, int n, Derivs *r) {
    quant_derivs(q, x, n, 1, r->y, r->dx, (float *const[]){r->da}, 1);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull; /* the draws these tests were written with (check.h) */
static float nrand(void) { return check_splitmix_normal(&rng_state); }

/* --- worked examples (docs/METHODS.md 2.8) ----------------------------------------------- */

static void test_p1(void) {
    const float x[5] = {-0.5f, 0.3f, 0.9f, 1.5f, 2.5f};
    const float G[5] = {0.5f, -1.0f, 0.25f, 2.0f, -0.75f};
    const double yq[5] = {0, 0, 0.666667, 1.333333, 2.0};
    const double dydx[5] = {0, 1, 1, 1, 0}, dyda[5] = {0, 0, 0, 0, 1};
    const double dx_want[5] = {0, -1, 0.25, 2, 0};
    Derivs r;
    Quantizer *q = make(2, UNSIGNED_ACT);
    set_alpha(q, 2.0f);
    derivs(q, x, 5, &r);
    CHECK_VEC(r.y, yq, 5, "P1 yq");
    CHECK_VEC(r.dx, dydx, 5, "P1 dyq/dx");
    CHECK_VEC(r.da, dyda, 5, "P1 dyq/dalpha");
    /* y*n/alpha = [0, 0.45, 1.35, 2.25, 3]: codes */
    int32_t codes[5];
    float scale;
    QuantExport ex = {codes, &scale, NULL, 0, 0.0f};
    q->ops->export_codes(q, input(x, 5, 0), &ex);
    const int32_t want_codes[5] = {0, 0, 1, 2, 3};
    for (int i = 0; i < 5; i++) CHECK(codes[i] == want_codes[i]);
    CHECK_CLOSE(scale, 2.0 / 3.0, 1e-6);
    CHECK(ex.levels == NULL && ex.nlevels == 4 && ex.offset == 0.0f);
    /* the given G, lambda = 0 */
    float dx[5] = {0};
    quant_zero_grads(q);
    q->ops->backward(q, input(x, 5, 1), G, dx);
    CHECK_VEC(dx, dx_want, 5, "P1 dL/dx");
    CHECK_CLOSE(dalpha(q), -0.75, 1e-6);
    quant_destroy(q);

    /* default lambda_alpha = 1e-4: + 2*1e-4*2 = 0.0004 */
    q = make_cfg(2, UNSIGNED_ACT, &cfg_def);
    set_alpha(q, 2.0f);
    float y[5];
    memset(dx, 0, sizeof dx);
    train_forward(q, input(x, 5, 1), y);
    q->ops->backward(q, input(x, 5, 1), G, dx);
    CHECK_VEC(dx, dx_want, 5, "P1 dL/dx (L2)");
    CHECK_CLOSE(dalpha(q), -0.75 + 0.0004, 1e-6);
    quant_destroy(q);
}

static void test_p2(void) {
    const float x[6] = {-1.4f, -0.52f, -0.05f, 0.2f, 0.93f, 1.1f};
    const double yq[6] = {-1, -0.571429, 0, 0.142857, 1.0, 1.0};
    const double dydx[6] = {0, 1, 1, 1, 1, 0}, dyda[6] = {-1, 0, 0, 0, 0, 1};
    Derivs r;
    Quantizer *q = make(4, SIGNED_ACT);
    set_alpha(q, 1.0f);
    derivs(q, x, 6, &r);
    CHECK_VEC(r.y, yq, 6, "P2 yq");
    CHECK_VEC(r.dx, dydx, 6, "P2 dyq/dx");
    CHECK_VEC(r.da, dyda, 6, "P2 dyq/dalpha");
    int32_t codes[6];
    float scale;
    QuantExport ex = {codes, &scale, NULL, 0, 0.0f};
    q->ops->export_codes(q, input(x, 6, 0), &ex);
    const int32_t want_codes[6] = {-7, -4, 0, 1, 7, 7}; /* 0.93*7 = 6.51 -> 7 */
    for (int i = 0; i < 6; i++) CHECK(codes[i] == want_codes[i]);
    CHECK_CLOSE(scale, 1.0 / 7.0, 1e-6);
    CHECK(ex.nlevels == 15);
    quant_destroy(q);
}

static const float P3W[8] = {0.31f, -0.12f, 0.05f, -0.44f, 0.22f, -0.03f, 0.18f, -0.27f};

static void test_p3(void) {
    float y[8], dx[8];
    /* E1, E2 (as the test's own check of the example's statistics) */
    double e1 = 0, e2 = 0;
    for (int i = 0; i < 8; i++) {
        e1 += fabs(P3W[i]) / 8;
        e2 += (double)P3W[i] * P3W[i] / 8;
    }
    CHECK_CLOSE(e1, 0.2025, 1e-6);
    CHECK_CLOSE(sqrt(e2), 0.240104, 2e-6);

    Quantizer *q = make(2, SAWB);
    CHECK(q->nparams == 1 && !strcmp(q->params[0]->name, "alpha_w") && q->params[0]->frozen == 1);
    train_forward(q, input(P3W, 8, 1), y);
    CHECK_CLOSE(q->params[0]->t.data[0], 0.331165, 2e-6);
    {
        const double want[8] = {0.331165, -0.110388, 0.110388, -0.331165, 0.110388, -0.110388, 0.110388, -0.331165};
        CHECK_VEC(y, want, 8, "P3 b=2 wq");
    }
    /* backward: G 1[|w| < alpha_w]; no parameter gradient */
    float ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    memset(dx, 0, sizeof dx);
    q->ops->backward(q, input(P3W, 8, 1), ones, dx);
    {
        const double want[8] = {1, 1, 1, 0, 1, 1, 1, 1};
        CHECK_VEC(dx, want, 8, "P3 b=2 dw");
    }
    /* export: codes k, levels 2k/L - 1, scale alpha_w */
    int32_t codes[8];
    float scale;
    QuantExport ex = {codes, &scale, NULL, 0, 0.0f};
    q->ops->export_codes(q, input(P3W, 8, 0), &ex);
    const int32_t want_codes[8] = {3, 1, 2, 0, 2, 1, 2, 0};
    for (int i = 0; i < 8; i++) CHECK(codes[i] == want_codes[i]);
    CHECK(ex.levels && ex.nlevels == 4);
    if (ex.levels) {
        CHECK_CLOSE(ex.levels[0], -1.0, 1e-7);
        CHECK_CLOSE(ex.levels[1], -1.0 / 3, 1e-7);
        CHECK_CLOSE(ex.levels[2], 1.0 / 3, 1e-7);
        CHECK_CLOSE(ex.levels[3], 1.0, 1e-7);
        for (int i = 0; i < 8; i++) CHECK_CLOSE(scale * ex.levels[codes[i]], y[i], 1e-6);
    }
    CHECK_CLOSE(scale, 0.331165, 2e-6);
    quant_destroy(q);

    q = make(4, SAWB);
    train_forward(q, input(P3W, 8, 1), y);
    CHECK_CLOSE(q->params[0]->t.data[0], 0.452521, 5e-6);
    {
        const double want[8] = {0.331848, -0.090504, 0.030168, -0.452521, 0.211176, -0.030168, 0.150840, -0.271512};
        check_vec_close(y, want, 8, 5e-6, 2e-6, "P3 b=4 wq", __FILE__, __LINE__);
    }
    quant_destroy(q);

    q = make(8, SAWB);
    train_forward(q, input(P3W, 8, 1), y);
    CHECK(q->params[0]->t.data[0] == 0.44f); /* max|w| */
    double step = 0.88 / 255;
    for (int i = 0; i < 8; i++) {
        double k = (y[i] + 0.44) / step; /* integer code 0..255 */
        CHECK(fabs(k - nearbyint(k)) < 1e-3 && k > -0.5 && k < 255.5);
        CHECK(fabs(y[i] - P3W[i]) <= step / 2 + 1e-7);
    }
    memset(dx, 0, sizeof dx);
    q->ops->backward(q, input(P3W, 8, 1), ones, dx);
    for (int i = 0; i < 8; i++) CHECK(dx[i] == (i == 3 ? 0.0f : 1.0f)); /* |w| = alpha_w: clipped */
    quant_destroy(q);
}

static void test_p4(void) {
    float y[8];
    Quantizer *q = make(2, DOREFA);
    CHECK(q->nparams == 0);
    train_forward(q, input(P3W, 8, 1), y);
    const double want[8] = {1, -1.0 / 3, 1.0 / 3, -1, 1.0 / 3, -1.0 / 3, 1.0 / 3, -1.0 / 3};
    CHECK_VEC(y, want, 8, "P4 DoReFa b=2");
    int32_t codes[8];
    float scale;
    QuantExport ex = {codes, &scale, NULL, 0, 0.0f};
    q->ops->export_codes(q, input(P3W, 8, 0), &ex);
    CHECK(ex.levels && ex.nlevels == 4 && scale == 1.0f);
    if (ex.levels)
        for (int i = 0; i < 8; i++) CHECK_CLOSE(ex.levels[codes[i]], want[i], 1e-6);
    quant_destroy(q);
}

/* --- the L2 term: once per optimizer step ------------------------------------------- */

static void test_l2_once_per_step(void) {
    const float x[5] = {-0.5f, 0.3f, 0.9f, 1.5f, 2.5f};
    const float G[5] = {0.5f, -1.0f, 0.25f, 2.0f, -0.75f};
    Quantizer *q = make_cfg(2, UNSIGNED_ACT, &cfg_def); /* lambda 1e-4 */
    set_alpha(q, 2.0f);
    float y[5];
    /* step 1: three calls (an LSTM-like site): data part 3 * -0.75, L2 once */
    for (int c = 0; c < 3; c++) {
        train_forward(q, input(x, 5, 1), y);
        q->ops->backward(q, input(x, 5, 1), G, NULL);
    }
    CHECK_CLOSE(dalpha(q), 3 * -0.75 + 0.0004, 1e-6);
    /* optimizer step, clamp, zero grads: the next step's first backward adds it again */
    q->params[0]->t.data[0] = 3.0f;
    q->ops->clamp(q);
    quant_zero_grads(q);
    train_forward(q, input(x, 5, 1), y);
    q->ops->backward(q, input(x, 5, 1), G, NULL);
    CHECK_CLOSE(dalpha(q), 2 * 1e-4 * 3.0, 1e-6); /* no x >= 3 */
    q->ops->backward(q, input(x, 5, 1), G, NULL);
    CHECK_CLOSE(dalpha(q), 2 * 1e-4 * 3.0, 1e-6);
    quant_destroy(q);

    /* signed: 2*lambda*alpha too, lambda from the config */
    config_grid_set(&cfg_bad, "quantizer.lambda_alpha=0.5");
    q = make_cfg(3, SIGNED_ACT, &cfg_bad);
    set_alpha(q, 1.0f);
    const float xs[3] = {-2.0f, 0.1f, 2.0f};
    const float gs[3] = {1.0f, 1.0f, 3.0f};
    q->ops->backward(q, input(xs, 3, 1), gs, NULL);
    CHECK_CLOSE(dalpha(q), -1.0 + 3.0 + 2 * 0.5 * 1.0, 1e-6);
    quant_destroy(q);
    config_grid_set(&cfg_bad, "quantizer.lambda_alpha=0.0001");
}

/* --- init, clamp, names, granularity ------------------------------------------------ */

static void test_init_clamp(void) {
    const float x[6] = {-3.5f, 0.3f, 0.9f, 1.5f, 2.5f, NAN};
    Quantizer *q = make_cfg(4, SIGNED_ACT, &cfg_def);
    CHECK(q->nparams == 1 && !strcmp(q->params[0]->name, "alpha") && q->params[0]->frozen == 0);
    q->ops->init(q, input(x, 6, 1));
    CHECK(q->params[0]->t.data[0] == 3.5f); /* max|x| of the first batch (NaN skipped) */
    CHECK_CLAMP(q, -1.0f, 1e-6f, 0.5f);
    quant_destroy(q);

    q = make_cfg(4, UNSIGNED_ACT, &cfg_def);
    q->ops->init(q, input(x, 5, 1));
    CHECK(q->params[0]->t.data[0] == 3.5f); /* max|x| (spec 2.4) */
    quant_destroy(q);

    const float zeros[4] = {0, 0, 0, 0};
    q = make_cfg(4, UNSIGNED_ACT, &cfg_def);
    q->ops->init(q, input(zeros, 4, 1));
    CHECK(q->params[0]->t.data[0] == 1e-6f);
    quant_destroy(q);

    q = make_cfg(4, UNSIGNED_ACT, &cfg_init10);
    CHECK(q->params[0]->t.data[0] == 10.0f);
    q->ops->init(q, input(x, 5, 1));
    CHECK(q->params[0]->t.data[0] == 10.0f);
    quant_destroy(q);

    /* SAWB init from the FP weights; DoReFa: nothing to init */
    q = make(2, SAWB);
    CHECK(q->params[0]->t.data[0] == 0.0f);
    q->ops->init(q, input(P3W, 8, 1));
    CHECK_CLOSE(q->params[0]->t.data[0], 0.331165, 2e-6);
    q->ops->clamp(q); /* no-op for weights */
    CHECK_CLOSE(q->params[0]->t.data[0], 0.331165, 2e-6);
    quant_destroy(q);

    /* per_channel is ignored (per-tensor) */
    QuantSpec spec = {4, 1, 1, 1, 4, &cfg_def};
    q = pact_make(&spec);
    CHECK(q->per_channel == 0 && q->nparams == 1 && q->params[0]->t.size == 1);
    quant_destroy(q);

    /* degenerate SAWB tensors: b = 4 coefficients give a negative clip for |w| constant */
    const float pm[4] = {0.5f, -0.5f, 0.5f, -0.5f};
    float y[4];
    q = make(4, SAWB);
    train_forward(q, input(pm, 4, 1), y);
    CHECK(q->params[0]->t.data[0] == 0.5f); /* fallback max|w| */
    for (int i = 0; i < 4; i++) CHECK_CLOSE(y[i], pm[i], 1e-6);
    train_forward(q, input(zeros, 4, 1), y);
    CHECK(q->params[0]->t.data[0] == 1e-8f);
    for (int i = 0; i < 4; i++) CHECK(fabsf(y[i]) <= 1e-8f / 15 * 1.0001f);
    quant_destroy(q);
}

/* SAWB: recomputed at every training step (begin_step), frozen for evaluation; a
 * forward alone stores nothing. */
static void test_sawb_frozen(void) {
    float w2[8], y[8], y2[8];
    for (int i = 0; i < 8; i++) w2[i] = 2.0f * P3W[i];
    Quantizer *q = make(2, SAWB);
    /* never set: evaluation computes from the weights, without storing */
    q->ops->forward(q, input(P3W, 8, 0), y);
    CHECK(q->params[0]->t.data[0] == 0.0f);
    CHECK_CLOSE(y[0], 0.331165, 2e-6);
    /* a training forward alone does not set it; the step's hook does */
    q->ops->forward(q, input(P3W, 8, 1), y);
    CHECK(q->params[0]->t.data[0] == 0.0f);
    train_forward(q, input(P3W, 8, 1), y);
    float a1 = q->params[0]->t.data[0];
    CHECK_CLOSE(a1, 0.331165, 2e-6);
    /* evaluation on changed weights keeps the trained value */
    q->ops->forward(q, input(w2, 8, 0), y2);
    CHECK(q->params[0]->t.data[0] == a1);
    for (int i = 0; i < 8; i++) {
        double t = w2[i] / a1, k = nearbyint(((t < -1 ? -1 : (t > 1 ? 1 : t)) + 1) / 2 * 3);
        CHECK_CLOSE(y2[i], (2 * k / 3 - 1) * a1, 1e-6);
    }
    /* the next training forward follows the weights */
    train_forward(q, input(w2, 8, 1), y2);
    CHECK_CLOSE(q->params[0]->t.data[0], 2 * 0.331165, 4e-6);
    for (int i = 0; i < 8; i++) CHECK_CLOSE(y2[i], 2 * y[i], 2e-6);
    quant_destroy(q);
}

/* --- generic properties ------------------------------------------------------------- */

static double levels_of(int kind, int b) {
    return kind == SIGNED_ACT ? ldexp(1, b) - 1 : ldexp(1, b);
}

/* STE-linearised loss of the activation quantizer as a function of alpha and x:
 * sum G clip(x, lo, alpha) (step alpha/n a constant, round's derivative 1). */
static double act_lin(const float *x, const float *g, int n, double a, int is_signed) {
    double s = 0;
    for (int i = 0; i < n; i++) {
        double v = x[i], lo = is_signed ? -a : 0.0;
        s += g[i] * (v < lo ? lo : (v > a ? a : v));
    }
    return s;
}

/* DoReFa STE-linearised: sum G tanh(w)/max|tanh(w)| (2u - 1 with round's derivative 1). */
static double dorefa_lin(const double *w, const float *g, int n) {
    double m = 0, s = 0;
    for (int i = 0; i < n; i++)
        if (fabs(tanh(w[i])) > m) m = fabs(tanh(w[i]));
    for (int i = 0; i < n; i++) s += g[i] * tanh(w[i]) / m;
    return s;
}

static void test_properties(void) {
    enum { N = 2000 };
    static float x[N], y[N], y2[N], g[N], dx[N];
    const int bits_list[5] = {2, 3, 4, 8, 16};
    for (int kind = 0; kind < 4; kind++) {
        for (int bi = 0; bi < 5; bi++) {
            int b = bits_list[bi];
            char what[128];
            for (int i = 0; i < N; i++) {
                x[i] = kind == UNSIGNED_ACT ? 1.2f * nrand() + 0.7f : (kind == SIGNED_ACT ? 1.1f * nrand() : 0.3f * nrand());
                g[i] = nrand();
            }
            Quantizer *q = make(b, kind);
            float alpha = kind == UNSIGNED_ACT ? 2.1f : 1.7f;
            if (kind <= SIGNED_ACT) set_alpha(q, alpha);
            train_forward(q, input(x, N, 1), y);
            double L = kind == SIGNED_ACT ? ldexp(1, b - 1) - 1 : ldexp(1, b) - 1;
            double a = kind <= SIGNED_ACT ? alpha : (kind == SAWB ? q->params[0]->t.data[0] : 1.0);
            /* (a) on the grid, and no more distinct outputs than the level count */
            int on_grid = 1, ndistinct = 0;
            static float sorted[N];
            for (int i = 0; i < N; i++) {
                double k;
                if (kind == UNSIGNED_ACT) k = y[i] / (a / L);
                else if (kind == SIGNED_ACT) k = y[i] / (a / L);
                else k = (y[i] / (a / L) + L) / 2; /* (2k - L) a / L */
                double lo = kind == SIGNED_ACT ? -L : 0.0;
                if (fabs(k - nearbyint(k)) > 1e-2 || k < lo - 0.01 || k > L + 0.01) on_grid = 0;
                sorted[i] = y[i];
            }
            for (int i = 1; i < N; i++) { /* insertion sort is fine for 2000 */
                float v = sorted[i];
                int j = i - 1;
                while (j >= 0 && sorted[j] > v) {
                    sorted[j + 1] = sorted[j];
                    j--;
                }
                sorted[j + 1] = v;
            }
            for (int i = 0; i < N; i++) ndistinct += i == 0 || sorted[i] != sorted[i - 1];
            snprintf(what, sizeof what, "%s b=%d: outputs on the grid", KIND_NAME[kind], b);
            check_true(on_grid, what, __FILE__, __LINE__);
            snprintf(what, sizeof what, "%s b=%d: %d distinct <= %g levels", KIND_NAME[kind], b, ndistinct, levels_of(kind, b));
            check_true(ndistinct <= levels_of(kind, b), what, __FILE__, __LINE__);
            if (b <= 4 && kind != DOREFA) { /* DoReFa's end levels need both tails near max|w| */
                snprintf(what, sizeof what, "%s b=%d: all %g levels used", KIND_NAME[kind], b, levels_of(kind, b));
                check_true(ndistinct == levels_of(kind, b), what, __FILE__, __LINE__);
            }

            /* (b) idempotence with fixed parameters (evaluation forward: alpha_w frozen);
             * DoReFa is not a projection (tanh of its output differs), so not checked */
            if (kind != DOREFA) {
                q->ops->forward(q, input(y, N, 0), y2);
                snprintf(what, sizeof what, "%s b=%d: Q(Q(x)) == Q(x)", KIND_NAME[kind], b);
                check_true(!memcmp(y, y2, sizeof y), what, __FILE__, __LINE__);
            }

            /* (c) gradients against central differences of the STE-linearised function */
            memset(dx, 0, sizeof dx);
            quant_zero_grads(q);
            q->ops->backward(q, input(x, N, 1), g, dx);
            if (kind <= SIGNED_ACT) {
                double h = 1e-4;
                double fd = (act_lin(x, g, N, alpha + h, kind == SIGNED_ACT) - act_lin(x, g, N, alpha - h, kind == SIGNED_ACT)) / (2 * h);
                snprintf(what, sizeof what, "%s b=%d: dalpha vs finite difference", KIND_NAME[kind], b);
                check_close(dalpha(q), fd, 1e-4, 1e-4, what, __FILE__, __LINE__);
                /* dx: d/dx_i of g_i clip(x_i) */
                double worst = 0;
                for (int i = 0; i < N; i++) {
                    double v = x[i], lo = kind == SIGNED_ACT ? -alpha : 0.0;
                    double hi_ = v + 1e-5, lo_ = v - 1e-5;
                    double c1 = hi_ < lo ? lo : (hi_ > alpha ? alpha : hi_);
                    double c0 = lo_ < lo ? lo : (lo_ > alpha ? alpha : lo_);
                    double fdx = g[i] * (c1 - c0) / 2e-5;
                    if (fabs(fdx - dx[i]) > worst) worst = fabs(fdx - dx[i]);
                }
                snprintf(what, sizeof what, "%s b=%d: dx vs finite differences (worst %g)", KIND_NAME[kind], b, worst);
                check_true(worst < 1e-4, what, __FILE__, __LINE__);
            } else if (kind == SAWB) {
                int ok = 1;
                for (int i = 0; i < N; i++) ok &= dx[i] == (fabs(x[i]) < a ? g[i] : 0.0f);
                snprintf(what, sizeof what, "%s b=%d: dw = G 1[|w| < alpha_w]", KIND_NAME[kind], b);
                check_true(ok, what, __FILE__, __LINE__);
            } else {
                /* exact derivative through tanh and the max (40 elements: O(n^2) FD) */
                enum { M = 40 };
                double w[M];
                float dxm[M] = {0};
                for (int i = 0; i < M; i++) w[i] = x[i];
                Quantizer *q2 = make(b, DOREFA);
                q2->ops->backward(q2, input(x, M, 1), g, dxm);
                double worst = 0;
                for (int i = 0; i < M; i++) {
                    double keep = w[i], h = 1e-6;
                    w[i] = keep + h;
                    double fp = dorefa_lin(w, g, M);
                    w[i] = keep - h;
                    double fm = dorefa_lin(w, g, M);
                    w[i] = keep;
                    double fd = (fp - fm) / (2 * h);
                    double e = fabs(fd - dxm[i]) / (fabs(fd) > 1e-2 ? fabs(fd) : 1e-2);
                    if (e > worst) worst = e;
                }
                snprintf(what, sizeof what, "%s b=%d: dw vs finite differences (worst rel %g)", KIND_NAME[kind], b, worst);
                check_true(worst < 1e-4, what, __FILE__, __LINE__);
                quant_destroy(q2);
            }

            /* (d) b = 16: error at most half the local step inside the range (float32
             * rounding of x*n/alpha at t ~ 6.5e4 adds up to ~1% of a step) */
            if (b == 16) {
                double worst = 0, m = 0;
                for (int j = 0; j < N; j++)
                    if (fabs(tanh(x[j])) > m) m = fabs(tanh(x[j]));
                for (int i = 0; i < N; i++) {
                    double ref, step;
                    if (kind <= SIGNED_ACT) {
                        double lo = kind == SIGNED_ACT ? -a : 0.0;
                        if (x[i] <= lo || x[i] >= a) continue;
                        ref = x[i];
                        step = a / L;
                    } else if (kind == SAWB) {
                        if (fabs(x[i]) >= a) continue;
                        ref = x[i];
                        step = 2 * a / L;
                    } else {
                        ref = tanh(x[i]) / m; /* the unrounded 2u - 1 */
                        step = 2 / L;
                    }
                    double e = fabs(y[i] - ref) / step;
                    if (e > worst) worst = e;
                }
                snprintf(what, sizeof what, "%s b=16: |Q(x) - x| <= step/2 (worst %.4f steps)", KIND_NAME[kind], worst);
                check_true(worst <= 0.51, what, __FILE__, __LINE__);
            }

            /* export reproduces the evaluation forward */
            {
                static int32_t codes[N];
                float scale;
                QuantExport ex = {codes, &scale, NULL, 0, 0.0f};
                q->ops->forward(q, input(x, N, 0), y2);
                q->ops->export_codes(q, input(x, N, 0), &ex);
                double worst = 0;
                for (int i = 0; i < N; i++) {
                    double v = scale * (ex.levels ? ex.levels[codes[i]] : (double)codes[i]) + ex.offset;
                    double e = fabs(v - y2[i]);
                    if (e > worst) worst = e;
                }
                double unit = kind <= SIGNED_ACT ? a / L : 2 * a / L;
                snprintf(what, sizeof what, "%s b=%d: export matches forward (worst %g)", KIND_NAME[kind], b, worst);
                check_true(worst <= 1e-3 * unit + 1e-6 * a, what, __FILE__, __LINE__);
                snprintf(what, sizeof what, "%s b=%d: export nlevels", KIND_NAME[kind], b);
                check_true(ex.nlevels == (int)levels_of(kind, b), what, __FILE__, __LINE__);
            }
            quant_destroy(q);
        }
    }
}

/* --- accumulation and determinism --------------------------------------------------- */

static void test_accumulation(void) {
    enum { N = 300 };
    float x[N], g[N], y[N], dx1[N], dx2[N];
    for (int i = 0; i < N; i++) {
        x[i] = 0.4f * nrand();
        g[i] = nrand();
    }
    for (int kind = 0; kind < 4; kind++) {
        Quantizer *q = make(4, kind);
        if (kind <= SIGNED_ACT) set_alpha(q, 0.5f);
        train_forward(q, input(x, N, 1), y);
        memset(dx1, 0, sizeof dx1);
        memset(dx2, 0, sizeof dx2);
        q->ops->backward(q, input(x, N, 1), g, dx1);
        float once = dalpha(q);
        quant_zero_grads(q);
        q->ops->backward(q, input(x, N, 1), g, dx2);
        q->ops->backward(q, input(x, N, 1), g, dx2);
        char what[96];
        snprintf(what, sizeof what, "%s: two backward calls double the parameter grad", KIND_NAME[kind]);
        check_true(dalpha(q) == 2 * once, what, __FILE__, __LINE__);
        int ok = 1;
        for (int i = 0; i < N; i++) ok &= dx2[i] == 2 * dx1[i];
        snprintf(what, sizeof what, "%s: dx accumulates", KIND_NAME[kind]);
        check_true(ok, what, __FILE__, __LINE__);
        if (kind <= SIGNED_ACT) CHECK(once != 0.0f);
        quant_destroy(q);
    }
}

static void test_determinism(void) {
    const size_t n = 3 * 65536 + 1234;
    float *x = malloc(n * sizeof *x), *g = malloc(n * sizeof *g);
    float *dx[2] = {malloc(n * sizeof(float)), malloc(n * sizeof(float))};
    float *yy[2] = {malloc(n * sizeof(float)), malloc(n * sizeof(float))};
    for (size_t i = 0; i < n; i++) {
        x[i] = 0.9f * nrand() + 0.1f;
        g[i] = nrand();
    }
    int saved = omp_get_max_threads();
    for (int kind = 0; kind < 4; kind++) {
        float grad[2], aw[2];
        for (int t = 0; t < 2; t++) {
            omp_set_num_threads(t + 1);
            Quantizer *q = make_cfg(4, kind, &cfg_def);
            q->ops->init(q, input(x, n, 1));
            q->initialized = 1;
            train_forward(q, input(x, n, 1), yy[t]);
            memset(dx[t], 0, n * sizeof(float));
            q->ops->backward(q, input(x, n, 1), g, dx[t]);
            grad[t] = dalpha(q);
            aw[t] = q->nparams ? q->params[0]->t.data[0] : 0.0f;
            quant_destroy(q);
        }
        char what[96];
        snprintf(what, sizeof what, "%s: 1 vs 2 threads: identical parameter grad", KIND_NAME[kind]);
        check_true(!memcmp(&grad[0], &grad[1], sizeof(float)), what, __FILE__, __LINE__);
        snprintf(what, sizeof what, "%s: 1 vs 2 threads: identical parameter/state", KIND_NAME[kind]);
        check_true(!memcmp(&aw[0], &aw[1], sizeof(float)), what, __FILE__, __LINE__);
        snprintf(what, sizeof what, "%s: 1 vs 2 threads: identical y and dx", KIND_NAME[kind]);
        check_true(!memcmp(dx[0], dx[1], n * sizeof(float)) && !memcmp(yy[0], yy[1], n * sizeof(float)), what,
                   __FILE__, __LINE__);
        if (kind <= SIGNED_ACT) CHECK(grad[0] != 0.0f);
    }
    omp_set_num_threads(saved);
    free(x);
    free(g);
    for (int t = 0; t < 2; t++) {
        free(dx[t]);
        free(yy[t]);
    }
}

/* --- user-facing errors (forked child: qat_die exits) -------------------------------- */

/* arg: "section.key=value" applied to a fresh config, then a weight and an activation
 * quantizer are made through the method registry. */
static void child_make_with(const void *assignment) {
    static const CfgField *const schemas[] = {quant_schema, NULL};
    ConfigGrid c;
    config_grid_init(&c, schemas);
    config_grid_set(&c, assignment);
    QuantSpec spec = {4, 1, 0, 0, 1, &c};
    pact_make(&spec);
    spec.is_weight = 1;
    pact_make(&spec);
}

static void child_make_bits(const void *arg) {
    QuantSpec spec = {atoi(arg), 0, 0, 0, 1, &cfg_def};
    pact_make(&spec);
}

static void test_errors(void) {
    CHECK_DIES(child_make_with, "quantizer.weight_quantizer=sawbb", "quantizer.weight_quantizer", "one of sawb, dorefa",
               "'sawbb'");
    CHECK_DIES(child_make_with, "quantizer.weight_quantizer=DoReFa", "quantizer.weight_quantizer", "'DoReFa'");
    CHECK_DIES(child_make_with, "quantizer.alpha_init=maximum", "quantizer.alpha_init", "'max' or a positive number",
               "'maximum'");
    CHECK_DIES(child_make_with, "quantizer.alpha_init=-1", "quantizer.alpha_init", "'-1'");
    CHECK_DIES(child_make_with, "quantizer.alpha_init=0", "quantizer.alpha_init", "'0'");
    CHECK_DIES(child_make_with, "quantizer.alpha_init=10x", "quantizer.alpha_init", "'10x'");
    CHECK_DIES(child_make_with, "quantizer.alpha_init=nan", "quantizer.alpha_init", "'nan'");
    CHECK_DIES(child_make_with, "quantizer.lambda_alpha=-0.1", "quantizer.lambda_alpha", ">= 0", "-0.1");
    CHECK_DIES(child_make_with, "quantizer.lambda_alpha=abc", "quantizer.lambda_alpha");
    CHECK_DIES(child_make_bits, "1", "pact", "bit width", "2..16", "got 1");
    CHECK_DIES(child_make_bits, "17", "pact", "bit width", "got 17");
    CHECK_DIES(child_make_bits, "32", "pact", "bit width", "got 32");
    /* and the valid spellings are accepted */
    Quantizer *q = make_cfg(4, UNSIGNED_ACT, &cfg_init10);
    CHECK(q->params[0]->t.data[0] == 10.0f);
    quant_destroy(q);
}

/* --- PyTorch fixtures ---------------------------------------------------------------- */

static void test_fixtures(void) {
    const char *const cases[] = {"u", "s", "w", "r"};
    for (int b = 2; b <= 8; b *= 2) {
        char path[64];
        snprintf(path, sizeof path, "fixtures/quant_pact_b%d.bin", b);
        Fixture f;
        fixture_load(&f, path);
        for (int c = 0; c < 4; c++) {
            char key[64], what[128];
#define FX(suffix) (snprintf(key, sizeof key, "%s_%s", cases[c], suffix), key)
            const FixtureArray *xa = fixture_get(&f, FX("x"));
            size_t n = xa->size;
            const float *x = xa->data;
            const float *dy = fixture_data(&f, FX("dy"), n);
            int kind = fixture_int(&f, FX("kind"));
            CHECK(fixture_int(&f, FX("bits")) == b && kind == c);
            float lambda = fixture_scalar(&f, FX("lambda"));
            Quantizer *q;
            if (kind <= SIGNED_ACT) {
                CHECK(lambda == 1e-4f); /* the default, so the default config applies */
                q = make_cfg(b, kind, &cfg_def);
                set_alpha(q, fixture_scalar(&f, FX("alpha")));
            } else {
                q = make(b, kind);
            }
            float *y = malloc(n * sizeof *y), *dx = calloc(n, sizeof *dx);
            train_forward(q, input(x, n, 1), y);
            q->ops->backward(q, input(x, n, 1), dy, dx);
            snprintf(what, sizeof what, "pact b=%d %s: y", b, cases[c]);
            check_array_close(y, fixture_data(&f, FX("y"), n), n, 1e-4, 1e-3, what, __FILE__, __LINE__);
            snprintf(what, sizeof what, "pact b=%d %s: dx", b, cases[c]);
            check_array_close(dx, fixture_data(&f, FX("dx"), n), n, 1e-4, 1e-3, what, __FILE__, __LINE__);
            if (kind <= SIGNED_ACT) {
                snprintf(what, sizeof what, "pact b=%d %s: dalpha (with the L2 term)", b, cases[c]);
                check_close(dalpha(q), fixture_scalar(&f, FX("dalpha")), 1e-4, 1e-6, what, __FILE__, __LINE__);
                /* the "max" init */
                Quantizer *q2 = make_cfg(b, kind, &cfg_def);
                q2->ops->init(q2, input(x, n, 1));
                snprintf(what, sizeof what, "pact b=%d %s: alpha0 = max|x|", b, cases[c]);
                check_close(q2->params[0]->t.data[0], fixture_scalar(&f, FX("alpha0")), 1e-7, 0, what, __FILE__,
                            __LINE__);
                quant_destroy(q2);
            } else if (kind == SAWB) {
                snprintf(what, sizeof what, "pact b=%d %s: alpha_w", b, cases[c]);
                check_close(q->params[0]->t.data[0], fixture_scalar(&f, FX("alpha_w")), 1e-6, 0, what, __FILE__,
                            __LINE__);
            }
#undef FX
            free(y);
            free(dx);
            quant_destroy(q);
        }
        fixture_free(&f);
    }
}

int main(void) {
    configs_init();
    test_p1();
    test_p2();
    test_p3();
    test_p4();
    test_l2_once_per_step();
    test_init_clamp();
    test_sawb_frozen();
    test_properties();
    test_accumulation();
    test_determinism();
    test_errors();
    test_fixtures();
    config_grid_free(&cfg_def);
    config_grid_free(&cfg_nol2);
    config_grid_free(&cfg_dorefa);
    config_grid_free(&cfg_init10);
    config_grid_free(&cfg_bad);
    return check_done("test_quant_pact");
}
