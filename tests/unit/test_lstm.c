/* The packed LSTM op (nn/lstm.h):
 *  - the packing tables for uneven lengths;
 *  - the two-step worked example of docs/METHODS.md 7.1 (forward states and every gradient);
 *  - PyTorch nn.LSTM fixtures (packed, bidirectional, 2 layers, uneven lengths; and one
 *    layer, one direction): outputs, final states, every parameter gradient and dx;
 *  - central finite differences (Richardson-extrapolated, steps 0.1 and 0.05) on a
 *    2-layer bidirectional stack, every parameter and input element. The float32
 *    forward leaves ~1e-5 of noise in a difference, so an error is measured against
 *    max(|fd|, 5% of the array's largest |fd|) and must stay below 5e-3; the exact
 *    checks are the PyTorch fixtures (5e-5) and the double reference below (1e-4);
 *  - a plain double-precision reference, per sequence and step, FP and with the h_{t-1}
 *    quantizer (LSQ 4-bit): outputs, gradients, the step gradient accumulated over every
 *    step with N = sum_b L_b * H / B, and the initialisation from the first batch; at
 *    H = 4 (per-step products on OpenBLAS) and H = 32 (the packed AVX-512 kernel). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "core/graph.h"
#include "core/rng.h"
#include "fixture.h"
#include "layers/lstm.h"
#include "quant/method.h"

/* Runs the tape with the output gradients already seeded (several outputs, no scalar
 * loss). */
static void run_tape(Graph *g) {
    for (int i = g->n - 1; i >= 0; i--) g->nodes[i].fn(g->nodes[i].ctx);
}

/* A stack of layers (no dropout between them) and what one pass produced. */
typedef struct {
    int L, D, H, ndir, B;
    LstmLayer layer[2];
    ParamList params;
    QuantSiteList sites;
} Net;

static void net_init(Net *n, int L, int D, int H, int bidir, uint64_t seed) {
    memset(n, 0, sizeof *n);
    n->L = L, n->D = D, n->H = H, n->ndir = bidir ? 2 : 1;
    Rng rng;
    rng_seed(&rng, seed);
    LayerBuilder lb = {&n->params, &n->sites, &rng};
    for (int l = 0; l < L; l++) lstm_layer_init(&n->layer[l], &lb, "lstm", l, l ? n->ndir * H : D, H, bidir);
}

static void net_free(Net *n) {
    param_list_free(&n->params, 1);
    quant_site_list_free(&n->sites);
}

/* Forward of the stack on packed x; y: top outputs, fin[l]: final states of layer l. */
static void net_forward(Net *n, Graph *g, const LstmPack *p, Tensor *x, Tensor **y, Tensor **fin) {
    Tensor *h = x;
    for (int l = 0; l < n->L; l++) fin[l] = lstm_layer_forward(g, &n->layer[l], p, h, &h);
    *y = h;
}

/* Padded [B, T, D] <-> packed [N, D] */
static void pack_rows(const LstmPack *p, const float *pad, int T, int D, float *packed) {
    for (int t = 0; t < p->T; t++)
        for (int b = 0; b < p->bs[t]; b++)
            memcpy(packed + (size_t)(p->off[t] + b) * D, pad + ((size_t)b * T + t) * D, (size_t)D * sizeof(float));
}

/* ------------------------------------------------------------------------------------ */

static void test_pack(void) {
    Graph g;
    graph_init(&g, 1);
    int len[4] = {5, 3, 3, 1};
    LstmPack p;
    lstm_pack(&g, &p, len, 4);
    int bs[5] = {4, 3, 3, 1, 1}, off[6] = {0, 4, 7, 10, 11, 12};
    CHECK(p.T == 5 && p.N == 12);
    int ok = 1;
    for (int t = 0; t < 5; t++) ok &= p.bs[t] == bs[t] && p.off[t] == off[t];
    CHECK(ok && p.off[5] == 12);
    /* reverse scan step 0 reads each sequence's last step */
    CHECK(p.rev[0] == off[4] + 0 && p.rev[1] == off[2] + 1 && p.rev[2] == off[2] + 2 && p.rev[3] == 3);
    /* and its last step of sequence 0 is position 0 */
    CHECK(p.rev[11] == 0);
    graph_free(&g);
}

/* docs/METHODS.md 7.1: H = D = 1, gates [i f g o], loss = h_2. */
static void test_worked_example(void) {
    Net n;
    net_init(&n, 1, 1, 1, 0, 1);
    LstmDirection *d = &n.layer[0].dir[0];
    const float wih[4] = {0.5f, -0.3f, 0.8f, 0.2f}, whh[4] = {0.1f, 0.4f, -0.6f, 0.3f}, b[4] = {0, 0.1f, 0, -0.1f};
    memcpy(d->w_ih->t.data, wih, sizeof wih);
    memcpy(d->w_hh->t.data, whh, sizeof whh);
    memcpy(d->b_ih->t.data, b, sizeof b);
    memset(d->b_hh->t.data, 0, 4 * sizeof(float));
    Graph g;
    graph_init(&g, 1);
    g.training = 1;
    int len[1] = {2};
    LstmPack p;
    lstm_pack(&g, &p, len, 1);
    Tensor *x = graph_tensor2(&g, 1, 2, 1);
    x->data[0] = 1.0f, x->data[1] = -0.5f;
    Tensor *y, *fin;
    fin = lstm_layer_forward(&g, &n.layer[0], &p, x, &y);
    CHECK_CLOSE(y->data[0], 0.205425, 2e-6);
    CHECK_CLOSE(y->data[1], 0.013031, 2e-5);
    CHECK_CLOSE(fin->data[0], 0.013031, 2e-5);
    fin->grad[0] = 1.0f;
    run_tape(&g);
    const double dwih[4] = {0.064278, -0.023379, 0.002652, -0.011271};
    const double dwhh[4] = {-0.01132, 0.009605, 0.032557, 0.001431};
    const double db[4] = {-0.018383, 0.046759, 0.24038, -0.000822};
    for (int i = 0; i < 4; i++) {
        check_close(d->w_ih->t.grad[i], dwih[i], 0, 2e-6, "dW_ih (7.1)", __FILE__, __LINE__);
        check_close(d->w_hh->t.grad[i], dwhh[i], 0, 2e-6, "dW_hh (7.1)", __FILE__, __LINE__);
        check_close(d->b_ih->t.grad[i], db[i], 0, 2e-6, "db_ih (7.1)", __FILE__, __LINE__);
        check_close(d->b_hh->t.grad[i], db[i], 0, 2e-6, "db_hh (7.1)", __FILE__, __LINE__);
    }
    CHECK_CLOSE(x->grad[0], 0.082321, 2e-5);
    CHECK_CLOSE(x->grad[1], 0.0866, 2e-5);
    graph_free(&g);
    net_free(&n);
}

/* ------------------------------------------------------------------------------------ */

static void test_torch_fixture(const char *path) {
    Fixture f;
    fixture_load(&f, path);
    int L = fixture_int(&f, "layers"), H = fixture_int(&f, "hidden"), bidir = fixture_int(&f, "bidirectional");
    const FixtureArray *xa = fixture_get(&f, "x");
    int B = xa->shape[0], T = xa->shape[1], D = xa->shape[2];
    size_t nb;
    int *len = fixture_ints(&f, "lengths", &nb);
    Net n;
    net_init(&n, L, D, H, bidir, 3);
    int nd = n.ndir;
    for (int k = 0; k < n.params.n; k++) {
        Param *p = n.params.items[k];
        memcpy(p->t.data, fixture_data(&f, p->name + 5, p->t.size), p->t.size * sizeof(float));
    }
    Graph g;
    graph_init(&g, 1);
    g.training = 1;
    LstmPack p;
    lstm_pack(&g, &p, len, B);
    Tensor *x = graph_tensor2(&g, 1, p.N, D);
    pack_rows(&p, xa->data, T, D, x->data);
    Tensor *y, *fin[2];
    net_forward(&n, &g, &p, x, &y, fin);

    float *want = malloc((size_t)p.N * nd * H * sizeof(float));
    pack_rows(&p, fixture_data(&f, "out", 0), T, nd * H, want);
    char what[160];
    snprintf(what, sizeof what, "%s: packed outputs", path);
    check_array_close(y->data, want, (size_t)p.N * nd * H, 2e-5, 1e-2, what, __FILE__, __LINE__);
    pack_rows(&p, fixture_data(&f, "dout", 0), T, nd * H, y->grad);
    const float *hn = fixture_data(&f, "h_n", (size_t)L * nd * B * H);
    const float *dhn = fixture_data(&f, "dh_n", (size_t)L * nd * B * H);
    float *fin_want = malloc((size_t)B * nd * H * sizeof(float));
    for (int l = 0; l < L; l++) {
        for (int d = 0; d < nd; d++)
            for (int b = 0; b < B; b++)
                for (int j = 0; j < H; j++) {
                    size_t src = (((size_t)l * nd + d) * B + b) * H + j, dst = ((size_t)b * nd + d) * H + j;
                    fin_want[dst] = hn[src];
                    fin[l]->grad[dst] = dhn[src];
                }
        snprintf(what, sizeof what, "%s: final states of layer %d", path, l);
        check_array_close(fin[l]->data, fin_want, (size_t)B * nd * H, 2e-5, 1e-2, what, __FILE__, __LINE__);
    }
    run_tape(&g);
    for (int k = 0; k < n.params.n; k++) {
        Param *q = n.params.items[k];
        char name[128];
        snprintf(name, sizeof name, "d%s", q->name + 5);
        snprintf(what, sizeof what, "%s: %s", path, name);
        check_array_close(q->t.grad, fixture_data(&f, name, q->t.size), q->t.size, 5e-5, 1e-2, what, __FILE__,
                          __LINE__);
    }
    float *dx_want = malloc((size_t)p.N * D * sizeof(float));
    pack_rows(&p, fixture_data(&f, "dx", 0), T, D, dx_want);
    snprintf(what, sizeof what, "%s: dx", path);
    check_array_close(x->grad, dx_want, (size_t)p.N * D, 5e-5, 1e-2, what, __FILE__, __LINE__);
    free(want);
    free(fin_want);
    free(dx_want);
    free(len);
    graph_free(&g);
    net_free(&n);
    fixture_free(&f);
}

/* ------------------------------------------------------------------------------------ */
/* Finite differences                                                                    */

typedef struct {
    Net *n;
    LstmPack p;
    int *len;
    float *x;            /* packed input */
    float *ry, *rf[2];   /* loss weights of the top outputs and of each layer's finals */
} FdCase;

/* loss = sum(y_top * ry) + sum_l sum(fin_l * rf_l), in double from a float forward */
static double fd_loss(FdCase *c) {
    Graph g;
    graph_init(&g, 1);
    LstmPack p;
    lstm_pack(&g, &p, c->len, c->p.B);
    Net *n = c->n;
    int w = n->ndir * n->H;
    Tensor *x = graph_input(&g, c->x, 2, (int[]){p.N, n->D});
    Tensor *y, *fin[2];
    net_forward(n, &g, &p, x, &y, fin);
    double s = 0.0;
    for (size_t i = 0; i < (size_t)p.N * w; i++) s += (double)y->data[i] * c->ry[i];
    for (int l = 0; l < n->L; l++)
        for (size_t i = 0; i < (size_t)p.B * w; i++) s += (double)fin[l]->data[i] * c->rf[l][i];
    graph_free(&g);
    return s;
}

/* Richardson-extrapolated central difference of fd_loss in *v. */
static double fd_grad(FdCase *c, float *v) {
    const double h = 0.1;
    float v0 = *v;
    double dd[2];
    for (int k = 0; k < 2; k++) {
        double hk = h / (1 << k);
        *v = (float)(v0 + hk);
        double hp = (double)*v - v0; /* the step float can hold */
        double lp = fd_loss(c);
        *v = (float)(v0 - hp);
        double lm = fd_loss(c);
        dd[k] = (lp - lm) / (2.0 * hp);
    }
    *v = v0;
    return (4.0 * dd[1] - dd[0]) / 3.0;
}

static void fd_check(const char *what, const float *analytic, float *vals, size_t n, FdCase *c) {
    double *fd = malloc(n * sizeof(double)), scale = 0.0;
    for (size_t i = 0; i < n; i++) {
        fd[i] = fd_grad(c, &vals[i]);
        if (fabs(fd[i]) > scale) scale = fabs(fd[i]);
    }
    double worst = 0.0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(analytic[i] - fd[i]) / (fabs(fd[i]) + 5e-2 * scale + 1e-6);
        if (e > worst) worst = e, wi = i;
    }
    char msg[200];
    snprintf(msg, sizeof msg, "finite differences %s: worst rel err %.2e at %zu (analytic %.6g, fd %.6g)", what,
             worst, wi, (double)analytic[wi], fd[wi]);
    check_true(worst < 5e-3, msg, __FILE__, __LINE__);
    if (getenv("QAT_TEST_VERBOSE")) printf("%s\n", msg);
    free(fd);
}

static void test_finite_differences(void) {
    Net n;
    net_init(&n, 2, 3, 3, 1, 5);
    for (int k = 0; k < n.params.n; k++) /* a bit beyond the default init, as the fixtures */
        for (size_t i = 0; i < n.params.items[k]->t.size; i++) n.params.items[k]->t.data[i] *= 1.8f;
    int len[4] = {4, 3, 3, 1};
    FdCase c = {&n, {0}, len, NULL, NULL, {NULL, NULL}};
    Graph g;
    graph_init(&g, 1);
    g.training = 1;
    lstm_pack(&g, &c.p, len, 4);
    int N = c.p.N, w = n.ndir * n.H;
    Rng rng;
    rng_seed(&rng, 9);
    c.x = malloc((size_t)N * n.D * sizeof(float));
    c.ry = malloc((size_t)N * w * sizeof(float));
    for (int l = 0; l < 2; l++) c.rf[l] = malloc((size_t)4 * w * sizeof(float));
    for (int i = 0; i < N * n.D; i++) c.x[i] = rng_normal(&rng);
    for (int i = 0; i < N * w; i++) c.ry[i] = rng_normal(&rng);
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < 4 * w; i++) c.rf[l][i] = rng_normal(&rng);
    Tensor *x = graph_tensor2(&g, 1, N, n.D);
    memcpy(x->data, c.x, (size_t)N * n.D * sizeof(float));
    Tensor *y, *fin[2];
    net_forward(&n, &g, &c.p, x, &y, fin);
    memcpy(y->grad, c.ry, (size_t)N * w * sizeof(float));
    for (int l = 0; l < 2; l++) memcpy(fin[l]->grad, c.rf[l], (size_t)4 * w * sizeof(float));
    run_tape(&g);
    for (int k = 0; k < n.params.n; k++) {
        Param *p = n.params.items[k];
        fd_check(p->name, p->t.grad, p->t.data, p->t.size, &c);
    }
    float *dx = malloc((size_t)N * n.D * sizeof(float));
    memcpy(dx, x->grad, (size_t)N * n.D * sizeof(float));
    fd_check("x", dx, c.x, (size_t)N * n.D, &c);
    free(dx);
    free(c.x);
    free(c.ry);
    free(c.rf[0]);
    free(c.rf[1]);
    graph_free(&g);
    net_free(&n);
}

/* ------------------------------------------------------------------------------------ */
/* The h_{t-1} quantizer against a plain reference                                       */

#define QN 8.0
#define QP 7.0

static double sig(double v) { return 1.0 / (1.0 + exp(-v)); }

static double lsq_q(double v, double s) {
    double t = v / s;
    t = t < -QN ? -QN : (t > QP ? QP : t);
    return nearbyint(t) * s;
}

static double lsq_dvds(double v, double s) {
    double t = v / s;
    return t <= -QN ? -QN : (t >= QP ? QP : nearbyint(t) - t);
}

/* One layer, every direction, per sequence, in double. Quantizes h_{t-1} with step s[d]
 * (quant = 0: FP). Outputs: y [N, nd*H] packed, fin [B, nd*H]; with gradients ry/rf:
 * parameter gradients (same layout as the params), dx [N, D], ds[d]. hsum: sum |h_{t-1}|
 * over every step (h_{-1} = 0 included), for the init check. */
typedef struct {
    double *y, *fin, *dwih[2], *dwhh[2], *db[2], *dx, ds[2], habs[2];
} Ref;

static void reference(const Net *n, const LstmPack *p, const float *x, const double *s, int quant, const float *ry,
                      const float *rf, Ref *r) {
    int H = n->H, D = n->D, nd = n->ndir, G = 4 * H, B = p->B, w = nd * H;
    const LstmLayer *l = &n->layer[0];
    r->y = calloc((size_t)p->N * w, sizeof(double));
    r->fin = calloc((size_t)B * w, sizeof(double));
    r->dx = calloc((size_t)p->N * D, sizeof(double));
    for (int d = 0; d < nd; d++) {
        r->dwih[d] = calloc((size_t)G * D, sizeof(double));
        r->dwhh[d] = calloc((size_t)G * H, sizeof(double));
        r->db[d] = calloc((size_t)G, sizeof(double));
        r->ds[d] = 0.0;
        r->habs[d] = 0.0;
        const float *Wi = l->dir[d].w_ih->t.data, *Wh = l->dir[d].w_hh->t.data;
        const float *bi = l->dir[d].b_ih->t.data, *bh = l->dir[d].b_hh->t.data;
        for (int b = 0; b < B; b++) {
            int Lb = p->len[b];
            /* per step k of the scan: position, h_prev (FP and quantized), gates, c */
            double *hp = calloc((size_t)Lb * H, sizeof(double)), *hq = calloc((size_t)Lb * H, sizeof(double));
            double *gt = calloc((size_t)Lb * G, sizeof(double)), *cc = calloc((size_t)Lb * H, sizeof(double));
            double *hh = calloc((size_t)Lb * H, sizeof(double));
            int *pos = malloc((size_t)Lb * sizeof(int));
            for (int k = 0; k < Lb; k++) {
                int t = d ? Lb - 1 - k : k;
                pos[k] = p->off[t] + b;
                for (int j = 0; j < H; j++) {
                    hp[k * H + j] = k ? hh[(k - 1) * H + j] : 0.0;
                    hq[k * H + j] = quant ? lsq_q(hp[k * H + j], s[d]) : hp[k * H + j];
                    r->habs[d] += fabs(hp[k * H + j]);
                }
                const float *xr = x + (size_t)pos[k] * D;
                double z[512];
                for (int o = 0; o < G; o++) {
                    double v = (double)bi[o] + bh[o];
                    for (int i = 0; i < D; i++) v += (double)Wi[o * D + i] * xr[i];
                    for (int i = 0; i < H; i++) v += (double)Wh[o * H + i] * hq[k * H + i];
                    z[o] = v;
                }
                for (int j = 0; j < H; j++) {
                    double ig = sig(z[j]), fg = sig(z[H + j]), gg = tanh(z[2 * H + j]), og = sig(z[3 * H + j]);
                    double cv = fg * (k ? cc[(k - 1) * H + j] : 0.0) + ig * gg;
                    gt[k * G + j] = ig, gt[k * G + H + j] = fg, gt[k * G + 2 * H + j] = gg, gt[k * G + 3 * H + j] = og;
                    cc[k * H + j] = cv;
                    hh[k * H + j] = og * tanh(cv);
                    r->y[(size_t)pos[k] * w + d * H + j] = hh[k * H + j];
                }
            }
            for (int j = 0; j < H; j++) r->fin[(size_t)b * w + d * H + j] = hh[(Lb - 1) * H + j];
            if (ry) {
                double dh[128] = {0}, dc[128] = {0};
                for (int j = 0; j < H; j++) dh[j] = rf[(size_t)b * w + d * H + j];
                for (int k = Lb - 1; k >= 0; k--) {
                    double dz[512];
                    for (int j = 0; j < H; j++) {
                        dh[j] += ry[(size_t)pos[k] * w + d * H + j];
                        double ig = gt[k * G + j], fg = gt[k * G + H + j], gg = gt[k * G + 2 * H + j],
                               og = gt[k * G + 3 * H + j], tcv = tanh(cc[k * H + j]);
                        double dcv = dc[j] + dh[j] * og * (1 - tcv * tcv);
                        double cp = k ? cc[(k - 1) * H + j] : 0.0;
                        dz[j] = dcv * gg * ig * (1 - ig);
                        dz[H + j] = dcv * cp * fg * (1 - fg);
                        dz[2 * H + j] = dcv * ig * (1 - gg * gg);
                        dz[3 * H + j] = dh[j] * tcv * og * (1 - og);
                        dc[j] = dcv * fg;
                    }
                    const float *xr = x + (size_t)pos[k] * D;
                    for (int o = 0; o < G; o++) {
                        r->db[d][o] += dz[o];
                        for (int i = 0; i < D; i++) r->dwih[d][o * D + i] += dz[o] * xr[i];
                        for (int i = 0; i < H; i++) r->dwhh[d][o * H + i] += dz[o] * hq[k * H + i];
                    }
                    for (int i = 0; i < D; i++) {
                        double v = 0.0;
                        for (int o = 0; o < G; o++) v += dz[o] * Wi[o * D + i];
                        r->dx[(size_t)pos[k] * D + i] += v;
                    }
                    for (int i = 0; i < H; i++) {
                        double v = 0.0;
                        for (int o = 0; o < G; o++) v += dz[o] * Wh[o * H + i];
                        if (quant) {
                            double hv = hp[k * H + i], t = hv / s[d];
                            r->ds[d] += v * lsq_dvds(hv, s[d]);
                            v = (t > -QN && t < QP) ? v : 0.0;
                        }
                        dh[i] = v;
                    }
                }
            }
            free(hp), free(hq), free(gt), free(cc), free(hh), free(pos);
        }
        double nper = 0.0;
        for (int b = 0; b < B; b++) nper += p->len[b];
        nper = nper * H / B;
        r->ds[d] /= sqrt(nper * QP);
    }
}

static void ref_free(Ref *r, int nd) {
    free(r->y), free(r->fin), free(r->dx);
    for (int d = 0; d < nd; d++) free(r->dwih[d]), free(r->dwhh[d]), free(r->db[d]);
}

static void check_vs(const float *a, const double *want, size_t n, double tol, const char *what) {
    float *w = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) w[i] = (float)want[i];
    check_array_close(a, w, n, tol, 1e-2, what, __FILE__, __LINE__);
    free(w);
}

/* One bidirectional layer against the reference: H = 4 runs the per-step products on
 * OpenBLAS, H = 32 on the packed AVX-512 kernel (nn/packed_gemm.h) where the CPU has it;
 * B = 14 gives blocks of 12 rows and remainders. quant: LSQ 4-bit on h_{t-1}, first
 * initialised by an evaluation pass. */
static void test_reference(int H, const int *len, int B, int quant) {
    Net n;
    net_init(&n, 1, 3, H, 1, 13);
    for (int k = 0; k < n.params.n; k++)
        for (size_t i = 0; i < n.params.items[k]->t.size; i++) n.params.items[k]->t.data[i] *= 1.5f;
    LstmLayer *l = &n.layer[0];
    QuantSpec spec = {4, 1, 0, 0, 1, NULL};
    for (int d = 0; quant && d < 2; d++) {
        Quantizer *q = lsq_make(&spec);
        l->dir[d].h_q.q = q;
        for (int k = 0; k < q->nparams; k++) param_list_add(&n.params, q->params[k]);
    }
    Graph g;
    graph_init(&g, 1);
    LstmPack p;
    lstm_pack(&g, &p, len, B);
    int N = p.N, w = 2 * n.H;
    Rng rng;
    rng_seed(&rng, 21);
    float *x = malloc((size_t)N * n.D * sizeof(float)), *ry = malloc((size_t)N * w * sizeof(float));
    float *rf = malloc((size_t)B * w * sizeof(float));
    for (int i = 0; i < N * n.D; i++) x[i] = rng_normal(&rng);
    for (int i = 0; i < N * w; i++) ry[i] = rng_normal(&rng);
    for (int i = 0; i < B * w; i++) rf[i] = rng_normal(&rng);
    char what[128];

    /* 1. Initialisation: an evaluation pass on the first batch sets s0 = 2 mean|h_{t-1}| /
     * sqrt(Qp) from the FP states of every step (h_{-1} = 0 included). */
    double s[2] = {1, 1};
    if (quant) {
        Ref fp;
        reference(&n, &p, x, s, 0, NULL, NULL, &fp);
        Tensor *xt = graph_input(&g, x, 2, (int[]){N, n.D});
        lstm_layer_forward(&g, l, &p, xt, NULL);
        for (int d = 0; d < 2; d++) {
            s[d] = l->dir[d].h_q.q->params[0]->t.data[0];
            CHECK(l->dir[d].h_q.q->initialized);
            CHECK_CLOSE(s[d], 2.0 * fp.habs[d] / ((double)N * n.H) / sqrt(QP), 1e-5);
        }
        ref_free(&fp, 2);
    }

    /* 2. A training pass against the per-step reference. */
    graph_reset(&g);
    g.training = 1;
    lstm_pack(&g, &p, len, B);
    Tensor *xg = graph_tensor2(&g, 1, N, n.D);
    memcpy(xg->data, x, (size_t)N * n.D * sizeof(float));
    Tensor *y;
    Tensor *fin = lstm_layer_forward(&g, l, &p, xg, &y);
    memcpy(y->grad, ry, (size_t)N * w * sizeof(float));
    memcpy(fin->grad, rf, (size_t)B * w * sizeof(float));
    run_tape(&g);
    Ref r;
    reference(&n, &p, x, s, quant, ry, rf, &r);
    snprintf(what, sizeof what, "H %d, %s: ", H, quant ? "quantized h" : "FP");
    size_t wl = strlen(what);
#define WHAT(t) (snprintf(what + wl, sizeof what - wl, "%s", t), what)
    check_vs(y->data, r.y, (size_t)N * w, 2e-5, WHAT("outputs"));
    check_vs(fin->data, r.fin, (size_t)B * w, 2e-5, WHAT("final states"));
    check_vs(xg->grad, r.dx, (size_t)N * n.D, 1e-4, WHAT("dx"));
    for (int d = 0; d < 2; d++) {
        LstmDirection *dir = &l->dir[d];
        check_vs(dir->w_ih->t.grad, r.dwih[d], dir->w_ih->t.size, 1e-4, WHAT("dW_ih"));
        check_vs(dir->w_hh->t.grad, r.dwhh[d], dir->w_hh->t.size, 1e-4, WHAT("dW_hh"));
        check_vs(dir->b_ih->t.grad, r.db[d], dir->b_ih->t.size, 1e-4, WHAT("db_ih"));
        check_vs(dir->b_hh->t.grad, r.db[d], dir->b_hh->t.size, 1e-4, WHAT("db_hh"));
        if (!quant) continue;
        /* the step gradient: every step's contribution, scaled once with N = sum L_b H / B */
        CHECK_CLOSE(dir->h_q.q->params[0]->t.grad[0], r.ds[d], 1e-4);
        CHECK(fabs(r.ds[d]) > 1e-4);
    }
#undef WHAT
    if (quant) { /* the quantizer did something: outputs differ from the FP reference */
        Ref fp2;
        reference(&n, &p, x, s, 0, NULL, NULL, &fp2);
        double diff = 0.0;
        for (int i = 0; i < N * w; i++) diff = fmax(diff, fabs(fp2.y[i] - r.y[i]));
        CHECK(diff > 1e-3);
        ref_free(&fp2, 2);
    }
    ref_free(&r, 2);
    free(x), free(ry), free(rf);
    graph_free(&g);
    net_free(&n);
}

int main(void) {
    test_pack();
    test_worked_example();
    test_torch_fixture("fixtures/lstm_bidir2.bin");
    test_torch_fixture("fixtures/lstm_uni1.bin");
    test_finite_differences();
    const int len5[5] = {6, 4, 4, 2, 1};
    const int len14[14] = {9, 9, 8, 8, 7, 7, 7, 6, 5, 5, 4, 3, 3, 1};
    test_reference(4, len5, 5, 0);
    test_reference(4, len5, 5, 1);
    test_reference(32, len14, 14, 0);
    test_reference(32, len14, 14, 1);
    return check_done("test_lstm");
}
