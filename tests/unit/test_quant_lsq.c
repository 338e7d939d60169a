/* Tests for the LSQ quantizer (src/quant/lsq.c, docs/METHODS.md 1): the worked examples L1-L3
 * (per-element derivatives from one-hot upstream gradients, the gradient scale, init),
 * generic properties (grid, level count, idempotence, step gradient against central
 * finite differences of the STE-linearised function, b = 16 near identity), per-channel
 * against a per-row computation, export, clamp, gradient accumulation, determinism across
 * thread counts, the user-facing bit-width errors (in a forked child) and PyTorch fixtures
 * at b = 2, 4, 8 (scripts/gen_fixtures_quant_lsq_pact.py). Runs from the tests/ folder. */
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

static ConfigGrid cfg_def;

enum { WEIGHT, UNSIGNED_ACT, SIGNED_ACT };
static const char *const KIND_NAME[] = {"weight", "unsigned", "signed"};

static Quantizer *make_rows(int bits, int kind, int rows) {
    QuantSpec spec = {bits, kind != UNSIGNED_ACT, kind == WEIGHT, rows > 1, rows, &cfg_def};
    return lsq_make(&spec);
}
static Quantizer *make(int bits, int kind) { return make_rows(bits, kind, 1); }

static void set_s(Quantizer *q, float s) {
    for (size_t r = 0; r < q->params[0]->t.size; r++) q->params[0]->t.data[r] = s;
    q->initialized = 1;
}

static QuantInput input_rb(const float *x, size_t n, int rows, int batch) {
    QuantInput in = {x, n, rows, batch, 1};
    return in;
}
static QuantInput input(const float *x, size_t n, int batch) { return input_rb(x, n, 1, batch); }

static float ds_of(const Quantizer *q) { return quant_grad(q, 0); }

/* Per-element derivatives (upstream G = e_j): dvhat_j/dv_j and g * dvhat_j/ds. */
typedef struct {
    float y[16], dx[16], ds[16];
} Derivs;

static void derivs(Quantizer *q, const float *x, int n, int batch, Derivs *r) {
    quant_derivs(q, x, n, batch, r->y, r->dx, (float *const[]){r->ds}, 1);
}

static uint64_t rng_state = 0x2545F4914F6CDD1Dull; /* the draws these tests were written with (check.h) */
static float nrand(void) { return check_splitmix_normal(&rng_state); }

/* --- worked examples (docs/METHODS.md 1.7) ----------------------------------------------- */

static void test_l1(void) {
    const float v[6] = {-1.3f, -0.6f, -0.1f, 0.2f, 0.37f, 0.8f};
    const float G[6] = {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f};
    const float ones[6] = {1, 1, 1, 1, 1, 1};
    const double vhat[6] = {-1.0, -0.5, 0.0, 0.0, 0.5, 0.5};
    const double dvdv[6] = {0, 1, 1, 1, 1, 0};
    const double dvds[6] = {-2, 0.2, 0.2, -0.4, 0.26, 1};
    const double g = 0.408248; /* 1/sqrt(6*1) */
    Derivs r;
    Quantizer *q = make(2, WEIGHT);
    set_s(q, 0.5f);
    derivs(q, v, 6, 1, &r);
    CHECK_VEC(r.y, vhat, 6, "L1 vhat");
    CHECK_VEC(r.dx, dvdv, 6, "L1 dvhat/dv");
    double scaled[6];
    for (int i = 0; i < 6; i++) scaled[i] = g * dvds[i];
    CHECK_VEC(r.ds, scaled, 6, "L1 g*dvhat/ds");
    CHECK_CLOSE(1.0 / sqrt(6.0), g, 1e-6);
    /* codes -2,-1,0,0,1,1 */
    int32_t codes[6];
    float scale;
    QuantExport ex = {codes, &scale, NULL, 0, 0.0f};
    q->ops->export_codes(q, input(v, 6, 1), &ex);
    const int32_t want_codes[6] = {-2, -1, 0, 0, 1, 1};
    for (int i = 0; i < 6; i++) CHECK(codes[i] == want_codes[i]);
    CHECK(scale == 0.5f && ex.levels == NULL && ex.nlevels == 4);
    /* given G */
    float dx[6] = {0};
    quant_zero_grads(q);
    q->ops->backward(q, input(v, 6, 1), G, dx);
    const double dx_want[6] = {0, -0.2, 0.3, 0.4, -0.5, 0};
    CHECK_VEC(dx, dx_want, 6, "L1 dL/dv");
    CHECK_CLOSE(ds_of(q), 0.053072, 2e-5);
    quant_zero_grads(q);
    q->ops->backward(q, input(v, 6, 1), ones, NULL);
    CHECK_CLOSE(ds_of(q), -0.302104, 2e-5);
    /* init */
    q->ops->init(q, input(v, 6, 1));
    CHECK_CLOSE(q->params[0]->t.data[0], 1.123333, 2e-6);
    quant_destroy(q);
}

static void test_l2(void) {
    const float x[6] = {-0.3f, 0.0f, 0.13f, 1.1f, 2.6f, 4.0f};
    const float ones[6] = {1, 1, 1, 1, 1, 1};
    const double xhat[6] = {0.0, 0.0, 0.25, 1.0, 2.5, 3.75};
    const double dxdx[6] = {0, 0, 1, 1, 1, 0};
    const double dxds[6] = {0, 0, 0.48, -0.4, -0.4, 15};
    const double g = 0.105409; /* 1/sqrt(6*15) */
    Derivs r;
    Quantizer *q = make(4, UNSIGNED_ACT);
    set_s(q, 0.25f);
    derivs(q, x, 6, 1, &r); /* one example of 6 features */
    CHECK_VEC(r.y, xhat, 6, "L2 xhat");
    CHECK_VEC(r.dx, dxdx, 6, "L2 dxhat/dx (x = 0: clipped branch, as the spec's table)");
    double scaled[6], sum = 0;
    for (int i = 0; i < 6; i++) {
        scaled[i] = g * dxds[i];
        sum += dxds[i];
    }
    CHECK_VEC(r.ds, scaled, 6, "L2 g*dxhat/ds");
    CHECK_CLOSE(sum, 14.68, 1e-9);
    quant_zero_grads(q);
    q->ops->backward(q, input(x, 6, 1), ones, NULL);
    CHECK_CLOSE(ds_of(q), 1.547408, 2e-5);
    q->ops->init(q, input(x, 6, 1));
    CHECK_CLOSE(q->params[0]->t.data[0], 0.699719, 2e-6);
    quant_destroy(q);

    /* N_F is per example: the same 6 features in a batch of 3 give the same g, and the
     * summed ds of three copies */
    float x3[18];
    for (int b = 0; b < 3; b++) memcpy(x3 + 6 * b, x, sizeof x);
    float ones3[18];
    for (int i = 0; i < 18; i++) ones3[i] = 1.0f;
    q = make(4, UNSIGNED_ACT);
    set_s(q, 0.25f);
    q->ops->backward(q, input(x3, 18, 3), ones3, NULL);
    CHECK_CLOSE(ds_of(q), 3 * 1.547408, 2e-5);
    quant_destroy(q);
}

static void test_l3(void) {
    const float x[4] = {0.5f, -1.3f, 1.275f, 0.004999f};
    const double want[4] = {0.5, -1.28, 1.27, 0.0};
    float y[4];
    Quantizer *q = make(8, SIGNED_ACT);
    set_s(q, 0.01f);
    q->ops->forward(q, input(x, 4, 1), y);
    CHECK_VEC(y, want, 4, "L3");
    int32_t codes[4];
    float scale;
    QuantExport ex = {codes, &scale, NULL, 0, 0.0f};
    q->ops->export_codes(q, input(x, 4, 1), &ex);
    CHECK(codes[0] == 50 && codes[1] == -128 && codes[2] == 127 && codes[3] == 0);
    CHECK(ex.nlevels == 256);
    quant_destroy(q);
}

/* --- init, clamp, names ------------------------------------------------------------- */

static void test_init_clamp(void) {
    Quantizer *q = make(4, WEIGHT);
    CHECK(q->nparams == 1 && !strcmp(q->params[0]->name, "s") && q->params[0]->frozen == 0);
    const float zeros[4] = {0, 0, 0, 0};
    q->ops->init(q, input(zeros, 4, 1));
    CHECK(q->params[0]->t.data[0] == 1e-8f);
    CHECK_CLAMP(q, -3.0f, 1e-8f, 0.3f);
    quant_destroy(q);
    /* per-channel only for weights */
    QuantSpec spec = {4, 1, 0, 1, 5, &cfg_def};
    q = lsq_make(&spec);
    CHECK(q->per_channel == 0 && q->params[0]->t.size == 1);
    quant_destroy(q);
    q = make_rows(4, WEIGHT, 5);
    CHECK(q->per_channel == 1 && q->params[0]->t.size == 5);
    quant_destroy(q);
}

/* --- generic properties ------------------------------------------------------------- */

/* STE-linearised loss sum G vhat_lin(s) around s0 (round(t) frozen at t0, derivative 1):
 * inside: s R + v - v s/s0; clipped: s * bound. */
static double lin_loss(const float *v, const float *g, int n, double s, double s0, double qn, double qp) {
    double L = 0;
    for (int i = 0; i < n; i++) {
        double t0 = (double)v[i] * (double)(1.0f / (float)s0);
        double vl;
        if (t0 <= -qn) vl = -qn * s;
        else if (t0 >= qp) vl = qp * s;
        else vl = s * nearbyint(t0) + v[i] - v[i] * s / s0;
        L += g[i] * vl;
    }
    return L;
}

static void test_properties(void) {
    enum { N = 2000 };
    static float x[N], y[N], y2[N], g[N], dx[N], sorted[N];
    const int bits_list[5] = {2, 3, 4, 8, 16};
    for (int kind = 0; kind < 3; kind++) {
        for (int bi = 0; bi < 5; bi++) {
            int b = bits_list[bi];
            char what[128];
            double qn = kind == UNSIGNED_ACT ? 0 : ldexp(1, b - 1), qp = kind == UNSIGNED_ACT ? ldexp(1, b) - 1 : ldexp(1, b - 1) - 1;
            for (int i = 0; i < N; i++) {
                x[i] = kind == UNSIGNED_ACT ? nrand() + 0.6f : 0.5f * nrand();
                g[i] = nrand();
            }
            Quantizer *q = make(b, kind);
            q->ops->init(q, input(x, N, 4));
            q->initialized = 1;
            double s = q->params[0]->t.data[0];
            q->ops->forward(q, input(x, N, 4), y);
            /* (a) grid and level count */
            int on_grid = 1, nd = 0;
            for (int i = 0; i < N; i++) {
                double k = y[i] / s;
                if (fabs(k - nearbyint(k)) > 1e-2 || k < -qn - 0.01 || k > qp + 0.01) on_grid = 0;
                sorted[i] = y[i];
            }
            for (int i = 1; i < N; i++) {
                float v = sorted[i];
                int j = i - 1;
                while (j >= 0 && sorted[j] > v) {
                    sorted[j + 1] = sorted[j];
                    j--;
                }
                sorted[j + 1] = v;
            }
            for (int i = 0; i < N; i++) nd += i == 0 || sorted[i] != sorted[i - 1];
            snprintf(what, sizeof what, "lsq %s b=%d: outputs on the grid", KIND_NAME[kind], b);
            check_true(on_grid, what, __FILE__, __LINE__);
            snprintf(what, sizeof what, "lsq %s b=%d: %d distinct <= %g levels", KIND_NAME[kind], b, nd, qn + qp + 1);
            check_true(nd <= qn + qp + 1, what, __FILE__, __LINE__);
            /* (b) idempotence */
            q->ops->forward(q, input(y, N, 4), y2);
            snprintf(what, sizeof what, "lsq %s b=%d: Q(Q(x)) == Q(x)", KIND_NAME[kind], b);
            check_true(!memcmp(y, y2, sizeof y), what, __FILE__, __LINE__);
            /* (c) ds vs central difference of the STE-linearised loss, times g */
            memset(dx, 0, sizeof dx);
            quant_zero_grads(q);
            q->ops->backward(q, input(x, N, 4), g, dx);
            double h = 1e-4 * s;
            double fd = (lin_loss(x, g, N, s + h, s, qn, qp) - lin_loss(x, g, N, s - h, s, qn, qp)) / (2 * h);
            double gs = 1.0 / sqrt((kind == WEIGHT ? N : N / 4.0) * qp);
            snprintf(what, sizeof what, "lsq %s b=%d: ds vs finite difference", KIND_NAME[kind], b);
            check_close(ds_of(q), gs * fd, 2e-4, 1e-6 * fabs(gs) * N, what, __FILE__, __LINE__);
            int ok = 1;
            for (int i = 0; i < N; i++) {
                float t = x[i] * (1.0f / (float)s);
                ok &= dx[i] == ((t > -qn && t < qp) ? g[i] : 0.0f);
            }
            snprintf(what, sizeof what, "lsq %s b=%d: dx = G 1[inside]", KIND_NAME[kind], b);
            check_true(ok, what, __FILE__, __LINE__);
            /* (d) b = 16 */
            if (b == 16) {
                double worst = 0;
                for (int i = 0; i < N; i++) {
                    if (x[i] <= -qn * s || x[i] >= qp * s) continue;
                    double e = fabs(y[i] - x[i]) / s;
                    if (e > worst) worst = e;
                }
                snprintf(what, sizeof what, "lsq %s b=16: |Q(x) - x| <= s/2 (worst %.4f)", KIND_NAME[kind], worst);
                check_true(worst <= 0.51, what, __FILE__, __LINE__);
            }
            /* export reproduces the forward */
            {
                static int32_t codes[N];
                float scale;
                QuantExport ex = {codes, &scale, NULL, 0, 0.0f};
                q->ops->export_codes(q, input(x, N, 4), &ex);
                int mism = 0;
                for (int i = 0; i < N; i++) mism += scale * (float)codes[i] != y[i];
                snprintf(what, sizeof what, "lsq %s b=%d: export matches forward (%d differ)", KIND_NAME[kind], b, mism);
                check_true(mism == 0, what, __FILE__, __LINE__);
            }
            quant_destroy(q);
        }
    }
}

/* --- per-channel against a per-row computation --------------------------------------- */

static void test_per_channel(void) {
    enum { R = 3, C = 50 };
    float w[R * C], g[R * C], y[R * C], dx[R * C] = {0};
    for (int i = 0; i < R * C; i++) {
        w[i] = (0.2f + 0.3f * (i / C)) * nrand();
        g[i] = nrand();
    }
    Quantizer *q = make_rows(4, WEIGHT, R);
    q->ops->init(q, input_rb(w, R * C, R, 1));
    q->initialized = 1;
    q->params[0]->t.data[1] *= 0.7f; /* rows differ beyond init */
    q->ops->forward(q, input_rb(w, R * C, R, 1), y);
    q->ops->backward(q, input_rb(w, R * C, R, 1), g, dx);
    int32_t codes[R * C];
    float scales[R];
    QuantExport ex = {codes, scales, NULL, 0, 0.0f};
    q->ops->export_codes(q, input_rb(w, R * C, R, 1), &ex);
    for (int r = 0; r < R; r++) {
        Quantizer *p = make(4, WEIGHT);
        p->ops->init(p, input(w + r * C, C, 1));
        char what[96];
        snprintf(what, sizeof what, "per-channel init row %d", r);
        if (r != 1) check_close(q->params[0]->t.data[r], p->params[0]->t.data[0], 0, 0, what, __FILE__, __LINE__);
        set_s(p, q->params[0]->t.data[r]);
        float yr[C], dxr[C] = {0};
        p->ops->forward(p, input(w + r * C, C, 1), yr);
        p->ops->backward(p, input(w + r * C, C, 1), g + r * C, dxr);
        snprintf(what, sizeof what, "per-channel y row %d", r);
        check_true(!memcmp(yr, y + r * C, sizeof yr), what, __FILE__, __LINE__);
        snprintf(what, sizeof what, "per-channel dx row %d", r);
        check_true(!memcmp(dxr, dx + r * C, sizeof dxr), what, __FILE__, __LINE__);
        snprintf(what, sizeof what, "per-channel ds row %d (g from the row's N)", r);
        check_close(q->params[0]->t.grad[r], ds_of(p), 0, 0, what, __FILE__, __LINE__);
        CHECK(scales[r] == q->params[0]->t.data[r]);
        for (int i = 0; i < C; i++) CHECK(scales[r] * (float)codes[r * C + i] == y[r * C + i]);
        quant_destroy(p);
    }
    /* The step's learning-rate scale is mean(s) (docs/METHODS.md 1.5), set by the per-step
     * hook from the step sizes it finds; a forward leaves it. */
    q->params[0]->t.data[0] = 0.5f, q->params[0]->t.data[1] = 1.5f, q->params[0]->t.data[2] = 4.0f;
    q->params[0]->lr_scale = 1.0f;
    q->ops->forward(q, input_rb(w, R * C, R, 1), y);
    CHECK(q->params[0]->lr_scale == 1.0f);
    quantizer_begin_step(q, input_rb(w, R * C, R, 1));
    CHECK(q->params[0]->lr_scale == 2.0f);
    quant_destroy(q);
}

/* --- accumulation and determinism --------------------------------------------------- */

static void test_accumulation(void) {
    enum { N = 300 };
    float x[N], g[N], dx1[N] = {0}, dx2[N] = {0};
    for (int i = 0; i < N; i++) {
        x[i] = nrand();
        g[i] = nrand();
    }
    for (int kind = 0; kind < 3; kind++) {
        Quantizer *q = make(4, kind);
        set_s(q, 0.2f);
        memset(dx1, 0, sizeof dx1);
        memset(dx2, 0, sizeof dx2);
        q->ops->backward(q, input(x, N, 2), g, dx1);
        float once = ds_of(q);
        quant_zero_grads(q);
        q->ops->backward(q, input(x, N, 2), g, dx2);
        q->ops->backward(q, input(x, N, 2), g, dx2);
        char what[96];
        snprintf(what, sizeof what, "lsq %s: two backward calls double ds", KIND_NAME[kind]);
        check_true(ds_of(q) == 2 * once && once != 0.0f, what, __FILE__, __LINE__);
        int ok = 1;
        for (int i = 0; i < N; i++) ok &= dx2[i] == 2 * dx1[i];
        snprintf(what, sizeof what, "lsq %s: dx accumulates", KIND_NAME[kind]);
        check_true(ok, what, __FILE__, __LINE__);
        quant_destroy(q);
    }
}

static void test_determinism(void) {
    const size_t n = 2 * 70001;
    float *x = malloc(n * sizeof *x), *g = malloc(n * sizeof *g);
    float *dx[2] = {malloc(n * sizeof(float)), malloc(n * sizeof(float))};
    float *yy[2] = {malloc(n * sizeof(float)), malloc(n * sizeof(float))};
    for (size_t i = 0; i < n; i++) {
        x[i] = 0.7f * nrand();
        g[i] = nrand();
    }
    int saved = omp_get_max_threads();
    for (int kind = 0; kind < 4; kind++) { /* 3: per-channel weights, 2 rows of 70001 */
        int rows = kind == 3 ? 2 : 1;
        float grad[2][2], s[2][2];
        for (int t = 0; t < 2; t++) {
            omp_set_num_threads(t + 1);
            Quantizer *q = make_rows(4, kind == 3 ? WEIGHT : kind, rows);
            q->ops->init(q, input_rb(x, n, rows, 8));
            q->initialized = 1;
            q->ops->forward(q, input_rb(x, n, rows, 8), yy[t]);
            memset(dx[t], 0, n * sizeof(float));
            q->ops->backward(q, input_rb(x, n, rows, 8), g, dx[t]);
            for (int r = 0; r < rows; r++) {
                grad[t][r] = q->params[0]->t.grad[r];
                s[t][r] = q->params[0]->t.data[r];
            }
            quant_destroy(q);
        }
        char what[96];
        const char *name = kind == 3 ? "per-channel" : KIND_NAME[kind];
        snprintf(what, sizeof what, "lsq %s: 1 vs 2 threads: identical init and ds", name);
        check_true(!memcmp(grad[0], grad[1], rows * sizeof(float)) && !memcmp(s[0], s[1], rows * sizeof(float)),
                   what, __FILE__, __LINE__);
        snprintf(what, sizeof what, "lsq %s: 1 vs 2 threads: identical y and dx", name);
        check_true(!memcmp(dx[0], dx[1], n * sizeof(float)) && !memcmp(yy[0], yy[1], n * sizeof(float)), what,
                   __FILE__, __LINE__);
        CHECK(grad[0][0] != 0.0f);
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

/* The bit widths of an LSQ run (quant_bits validates what the user wrote). */
static void child_bits(const void *assignment) {
    static const CfgField *const schemas[] = {quant_schema, NULL};
    ConfigGrid c;
    config_grid_init(&c, schemas);
    config_grid_set(&c, assignment);
    quant_bits(lsq_make, &c);
}

static void test_errors(void) {
    CHECK_DIES(child_bits, "quantizer.bit_width=1", "quantizer.bit_width", "2..16 or 32", "got 1");
    CHECK_DIES(child_bits, "quantizer.bit_width=17", "quantizer.bit_width", "got 17");
    CHECK_DIES(child_bits, "quantizer.weight_bits=33", "quantizer.weight_bits", "got 33");
    CHECK_DIES(child_bits, "quantizer.act_bits=-2", "quantizer.act_bits", "got -2");
    CHECK_DIES(child_bits, "quantizer.first_last=16", "quantizer.first_last", "'16'");
    CHECK_DIES(child_bits, "quantizer.per_channel=sometimes", "quantizer.per_channel");
    /* valid: weight 2, activations 8 */
    static const CfgField *const schemas[] = {quant_schema, NULL};
    ConfigGrid c;
    config_grid_init(&c, schemas);
    config_grid_set(&c, "quantizer.weight_bits=2");
    config_grid_set(&c, "quantizer.act_bits=8");
    QuantBits qb = quant_bits(lsq_make, &c);
    CHECK(qb.weight_bits == 2 && qb.act_bits == 8);
    config_grid_free(&c);
}

/* --- PyTorch fixtures ---------------------------------------------------------------- */

static void test_fixtures(void) {
    const char *const cases[] = {"w", "wc", "a", "s"};
    for (int b = 2; b <= 8; b *= 2) {
        char path[64];
        snprintf(path, sizeof path, "fixtures/quant_lsq_b%d.bin", b);
        Fixture f;
        fixture_load(&f, path);
        for (int c = 0; c < 4; c++) {
            char key[64], what[128];
#define FX(suffix) (snprintf(key, sizeof key, "%s_%s", cases[c], suffix), key)
            const FixtureArray *xa = fixture_get(&f, FX("x"));
            size_t n = xa->size;
            const float *x = xa->data;
            const float *dy = fixture_data(&f, FX("dy"), n);
            int rows = fixture_int(&f, FX("rows")), batch = fixture_int(&f, FX("batch"));
            int weight = fixture_int(&f, FX("weight")), sgn = fixture_int(&f, FX("signed"));
            CHECK(fixture_int(&f, FX("bits")) == b);
            int kind = weight ? WEIGHT : (sgn ? SIGNED_ACT : UNSIGNED_ACT);
            const float *s = fixture_data(&f, FX("s"), (size_t)rows);
            Quantizer *q = make_rows(b, kind, rows);
            for (int r = 0; r < rows; r++) q->params[0]->t.data[r] = s[r];
            q->initialized = 1;
            float *y = malloc(n * sizeof *y), *dx = calloc(n, sizeof *dx);
            q->ops->forward(q, input_rb(x, n, rows, batch), y);
            q->ops->backward(q, input_rb(x, n, rows, batch), dy, dx);
            snprintf(what, sizeof what, "lsq b=%d %s: y", b, cases[c]);
            check_array_close(y, fixture_data(&f, FX("y"), n), n, 1e-4, 1e-3, what, __FILE__, __LINE__);
            snprintf(what, sizeof what, "lsq b=%d %s: dx", b, cases[c]);
            check_array_close(dx, fixture_data(&f, FX("dx"), n), n, 1e-4, 1e-3, what, __FILE__, __LINE__);
            snprintf(what, sizeof what, "lsq b=%d %s: ds", b, cases[c]);
            check_array_close(q->params[0]->t.grad, fixture_data(&f, FX("ds"), (size_t)rows), (size_t)rows, 1e-4, 1e-4,
                              what, __FILE__, __LINE__);
            Quantizer *q2 = make_rows(b, kind, rows);
            q2->ops->init(q2, input_rb(x, n, rows, batch));
            snprintf(what, sizeof what, "lsq b=%d %s: init s0", b, cases[c]);
            check_array_close(q2->params[0]->t.data, fixture_data(&f, FX("s0"), (size_t)rows), (size_t)rows, 1e-6,
                              1e-8, what, __FILE__, __LINE__);
            quant_destroy(q2);
#undef FX
            free(y);
            free(dx);
            quant_destroy(q);
        }
        fixture_free(&f);
    }
}

int main(void) {
    static const CfgField *const schemas[] = {quant_schema, NULL};
    config_grid_init(&cfg_def, schemas);
    test_l1();
    test_l2();
    test_l3();
    test_init_clamp();
    test_properties();
    test_per_channel();
    test_accumulation();
    test_determinism();
    test_errors();
    test_fixtures();
    config_grid_free(&cfg_def);
    return check_done("test_quant_lsq");
}
