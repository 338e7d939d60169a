/* Every op's input and parameter gradients against central finite differences, a small
 * composed network (conv -> relu -> maxpool -> reshape -> linear -> cross-entropy) run
 * through graph_backward to check the tape end to end, and hand values from the spec
 * (GELU, the LayerNorm example, the pixel-shuffle index map).
 *
 * The loss is L = sum(y * dy) for a fixed random dy, accumulated in double from the
 * float forward. Keeping float32 rounding out of the differences:
 *  - ops that are linear in each variable (matmul, conv, embedding, pixel shuffle,
 *    dropout) or piecewise linear (relu, maxpool) get "dyadic" data (small multiples
 *    of 1/64) and dyadic steps, so their float forward is exact and one central
 *    difference is the exact derivative;
 *  - smooth ops (tanh, sigmoid, gelu, layernorm, the losses) use Richardson-
 *    extrapolated central differences (error O(h^4) or O(h^6)), with steps large
 *    enough that the rounding of y stays small against the derivative. What rounding
 *    remains is bounded per element (2 ulp on every output that differs between the
 *    two evaluations) and allowed on top of the tolerance;
 *  - the composed network is dyadic up to its logits (exact in float: checked against a
 *    double forward at every evaluation), and its cross-entropy is evaluated in double
 *    for the differences, while the analytic gradient comes from
 *    op_softmax_cross_entropy + graph_backward.
 * Ops with kinks record an "activation pattern" (relu signs, pool argmaxes); when an
 * evaluation sees another pattern than the base point, the step is halved (down to
 * h_min); an element still crossing a kink is skipped (the test requires few skips).
 *
 * Errors: |analytic_i - fd_i| <= 1e-4 * max(|fd_i|, floor) + rounding bound_i, with
 * floor = 1e-3 of the array's largest |fd| (entries near zero are measured against the
 * array's scale). Set QAT_TEST_VERBOSE=1 to print the errors. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "core/graph.h"
#include "core/rng.h"
#include "nn/ops.h"

#define TOL 1e-4
#define MAXV 6
/* Richardson levels and first steps for the smooth multi-output ops (their raw errors,
 * before any rounding allowance, are then below 1e-4 too). */
#define LN_LEVELS 3
#define LN_H 0.4
#define CE_LEVELS 3
#define CE_H 0.6

static int verbose;
static Rng rng;

typedef struct Case Case;
/* Builds the op on tensors t[0..nv) (the case's variables). analytic: the run whose
 * gradient is taken (the composed net then ends in op_softmax_cross_entropy). */
typedef Tensor *(*FwdFn)(Graph *g, Tensor **t, Case *c, int analytic);

struct Case {
    const char *name;
    int nv;
    const char *vname[MAXV];
    int ndim[MAXV], shape[MAXV][4];
    float *data[MAXV];
    int wants_grad[MAXV];
    FwdFn fwd;
    /* Loss of the forward's output in double; NULL: sum(y * dy). */
    double (*loss)(Case *c, const Tensor *y);
    int levels;  /* Richardson levels: 1 = one central difference (exact for linear ops) */
    int exact;   /* the float forward is exact (dyadic data): no rounding allowance */
    double h;    /* first step */
    double h_min; /* smallest step tried when a kink is crossed (0: h) */
    /* op settings */
    int stride, pad, r, padding_idx, n_ids;
    int *ids, *labels;
    float *target;
    float p;
    /* filled in by the harness / the forward */
    float *dy;
    size_t ny;
    uint64_t pattern; /* activation pattern of the last forward (0: none) */
    int inexact;      /* composed net: evaluations whose float logits were not exact */
};

/* ---- data ---------------------------------------------------------------------------- */

/* A multiple of 1/denom in [-maxabs, maxabs]. */
static float dyadic(float denom, float maxabs) {
    return roundf(rng_uniform_range(&rng, -maxabs, maxabs) * denom) / denom;
}

static size_t var_size(const Case *c, int v) { return shape_size(c->ndim[v], c->shape[v]); }

static void add_var(Case *c, const char *name, int wants_grad, int ndim, const int *shape) {
    int v = c->nv++;
    QAT_ASSERT(v < MAXV);
    c->vname[v] = name;
    c->wants_grad[v] = wants_grad;
    c->ndim[v] = ndim;
    for (int d = 0; d < ndim; d++) c->shape[v][d] = shape[d];
    c->data[v] = calloc(var_size(c, v), sizeof(float));
}

/* Fill variable v with dyadic values (denominator, magnitude) or normals * scale. */
static void fill_dyadic(Case *c, int v, float denom, float maxabs) {
    for (size_t i = 0; i < var_size(c, v); i++) c->data[v][i] = dyadic(denom, maxabs);
}

static void fill_uniform(Case *c, int v, float lo, float hi) {
    for (size_t i = 0; i < var_size(c, v); i++) c->data[v][i] = rng_uniform_range(&rng, lo, hi);
}

static void case_free(Case *c) {
    for (int v = 0; v < c->nv; v++) free(c->data[v]);
    free(c->dy);
    free(c->ids);
    free(c->labels);
    free(c->target);
}

/* FNV-1a over a byte pattern. */
static uint64_t hash_add(uint64_t h, uint64_t v) {
    for (int i = 0; i < 8; i++) {
        h ^= (v >> (8 * i)) & 0xff;
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t relu_pattern(uint64_t h, const Tensor *x) {
    for (size_t i = 0; i < x->size; i++) h = hash_add(h, x->data[i] > 0.0f);
    return h;
}

/* Argmax (first maximum) of every k x k / stride s window, as op_maxpool2d picks it. */
static uint64_t pool_pattern(uint64_t h, const Tensor *x, int k, int s) {
    int NC = x->shape[0] * x->shape[1], H = x->shape[2], W = x->shape[3];
    int Ho = (H - k) / s + 1, Wo = (W - k) / s + 1;
    for (int nc = 0; nc < NC; nc++)
        for (int i = 0; i < Ho; i++)
            for (int j = 0; j < Wo; j++) {
                const float *in = x->data + (size_t)nc * H * W;
                int best = i * s * W + j * s;
                for (int u = 0; u < k; u++)
                    for (int v = 0; v < k; v++) {
                        int idx = (i * s + u) * W + j * s + v;
                        if (in[idx] > in[best]) best = idx;
                    }
                h = hash_add(h, (uint64_t)best);
            }
    return h;
}

/* ---- the harness ---------------------------------------------------------------------- */

/* One forward (and, with grads != NULL, the backward) of the case at its current data. */
static double evaluate(Case *c, Graph *g, float **grads, float *yout) {
    graph_reset(g);
    rng_seed(&g->rng, 4242); /* dropout draws the same mask every time */
    g->training = 1;
    Tensor *t[MAXV];
    for (int v = 0; v < c->nv; v++) {
        t[v] = graph_tensor(g, c->wants_grad[v], c->ndim[v], c->shape[v]);
        memcpy(t[v]->data, c->data[v], var_size(c, v) * sizeof(float));
    }
    c->pattern = 0;
    Tensor *y = c->fwd(g, t, c, grads != NULL);
    if (!c->loss && !c->dy) {
        c->ny = y->size;
        c->dy = malloc(c->ny * sizeof(float));
        for (size_t i = 0; i < c->ny; i++) c->dy[i] = rng_normal(&rng);
    }
    double L = 0.0;
    if (grads) {
        if (c->loss) {
            graph_backward(g, y); /* the analytic forward ends in a [1] loss */
        } else {
            QAT_ASSERT(y->size == c->ny && y->grad);
            memcpy(y->grad, c->dy, c->ny * sizeof(float));
            for (int i = g->n - 1; i >= 0; i--) g->nodes[i].fn(g->nodes[i].ctx);
        }
        for (int v = 0; v < c->nv; v++)
            if (c->wants_grad[v]) memcpy(grads[v], t[v]->grad, var_size(c, v) * sizeof(float));
    } else if (c->loss) {
        L = c->loss(c, y);
    } else {
        for (size_t i = 0; i < y->size; i++) L += (double)y->data[i] * (double)c->dy[i];
        if (yout) memcpy(yout, y->data, y->size * sizeof(float));
    }
    return L;
}

/* Central difference of variable v, element i, step h: (L(+h) - L(-h)) / (x+ - x-).
 * *moved: set when an evaluation saw another activation pattern than base.
 * *noise: a bound on the float32 rounding in the difference: each output y_j that differs
 * between the two evaluations carries up to 2 ulp (2^-22 relative) of error, weighted by
 * |dy_j|. Outputs that do not change round the same way and cancel exactly. */
static double central(Case *c, Graph *g, int v, size_t i, double h, uint64_t base, int *moved,
                      double *noise, float *yp, float *ym) {
    float orig = c->data[v][i];
    float xp = (float)(orig + h), xm = (float)(orig - h);
    c->data[v][i] = xp;
    double lp = evaluate(c, g, NULL, yp);
    if (c->pattern != base) *moved = 1;
    c->data[v][i] = xm;
    double lm = evaluate(c, g, NULL, ym);
    if (c->pattern != base) *moved = 1;
    c->data[v][i] = orig;
    double step = (double)xp - (double)xm, e = 0.0;
    if (!c->loss && !c->exact) /* exact forwards, or a loss in double: no float rounding */
        for (size_t j = 0; j < c->ny; j++)
            if (yp[j] != ym[j]) e += ldexp(fabs((double)yp[j]) + fabs((double)ym[j]), -22) * fabs((double)c->dy[j]);
    *noise = e / step;
    return (lp - lm) / step;
}

/* Richardson extrapolation over c->levels steps h, h/2, h/4...: R[j][m] =
 * (4^m R[j][m-1] - R[j-1][m-1]) / (4^m - 1); the rounding bounds combine the same way
 * with absolute weights. */
static double richardson(Case *c, Graph *g, int v, size_t i, double h, uint64_t base,
                         int *moved, double *noise, float *yp, float *ym) {
    double R[4][4], N[4][4];
    int L = c->levels < 1 ? 1 : c->levels;
    QAT_ASSERT(L <= 4);
    for (int j = 0; j < L; j++) {
        R[j][0] = central(c, g, v, i, h / (double)(1 << j), base, moved, &N[j][0], yp, ym);
        double f = 1.0;
        for (int m = 1; m <= j; m++) {
            f *= 4.0;
            R[j][m] = (f * R[j][m - 1] - R[j - 1][m - 1]) / (f - 1.0);
            N[j][m] = (f * N[j][m - 1] + N[j - 1][m - 1]) / (f - 1.0);
        }
    }
    *noise = N[L - 1][L - 1];
    return R[L - 1][L - 1];
}

static void gradcheck(Case *c) {
    Graph g;
    graph_init(&g, 1);
    float *grads[MAXV] = {0};
    for (int v = 0; v < c->nv; v++)
        if (c->wants_grad[v]) grads[v] = calloc(var_size(c, v), sizeof(float));
    evaluate(c, &g, grads, NULL);
    evaluate(c, &g, NULL, NULL);
    uint64_t base = c->pattern;
    float *yp = malloc((c->ny ? c->ny : 1) * sizeof(float)), *ym = malloc((c->ny ? c->ny : 1) * sizeof(float));
    for (int v = 0; v < c->nv; v++) {
        if (!c->wants_grad[v]) continue;
        size_t n = var_size(c, v);
        double *fd = malloc(n * sizeof(double)), *noise = malloc(n * sizeof(double));
        int skipped = 0;
        for (size_t i = 0; i < n; i++) {
            int moved = 1;
            double d = 0.0, e = 0.0;
            for (double h = c->h; moved && h >= (c->h_min > 0 ? c->h_min : c->h); h /= 2) {
                moved = 0;
                d = richardson(c, &g, v, i, h, base, &moved, &e, yp, ym);
            }
            if (moved) { /* at a kink: not differentiable there, leave it out */
                skipped++;
                d = grads[v][i];
                e = 0.0;
            }
            fd[i] = d;
            noise[i] = e;
        }
        double mx = 0.0, worst = 0.0, excess = 0.0, maxnoise = 0.0;
        size_t wi = 0;
        for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(fd[i]));
        double floor = fmax(1e-3 * mx, 1e-7);
        for (size_t i = 0; i < n; i++) {
            double err = fabs((double)grads[v][i] - fd[i]), den = fmax(fabs(fd[i]), floor);
            double ex = (err - noise[i]) / den; /* error beyond the rounding bound */
            if (isnan(err)) ex = INFINITY;
            worst = fmax(worst, err / den);
            maxnoise = fmax(maxnoise, noise[i] / den);
            if (ex > excess || i == 0) {
                excess = ex;
                wi = i;
            }
        }
        char what[160];
        snprintf(what, sizeof what, "gradcheck %s: d/d%s", c->name, c->vname[v]);
        if (verbose)
            printf("  %-44s n=%-5zu max rel err %.3g (float rounding allows %.2g), max |g| %.3g, "
                   "kinks skipped %d\n", what, n, worst, maxnoise, mx, skipped);
        /* |analytic - fd| <= 1e-4 max(|fd|, floor) + the difference's rounding bound */
        if (excess <= TOL) {
            check_passed++;
        } else {
            check_failed++;
            fprintf(stderr, "FAIL %s:%d: %s: rel error %.3g (beyond rounding %.3g) at [%zu] "
                    "(analytic %.9g, finite difference %.9g)\n", __FILE__, __LINE__, what,
                    excess, noise[wi] / fmax(fabs(fd[wi]), floor), wi, (double)grads[v][wi], fd[wi]);
        }
        /* A gradient that is all zero would pass trivially: every case has signal. */
        snprintf(what, sizeof what, "gradcheck %s: d/d%s is not all zero", c->name, c->vname[v]);
        check_true(mx > 1e-3, what, __FILE__, __LINE__);
        snprintf(what, sizeof what, "gradcheck %s: d/d%s: few kinks crossed", c->name, c->vname[v]);
        check_true(skipped * 10 <= (int)n, what, __FILE__, __LINE__);
        free(fd);
        free(noise);
    }
    free(yp);
    free(ym);
    for (int v = 0; v < c->nv; v++) free(grads[v]);
    graph_free(&g);
}

/* ---- op forwards ------------------------------------------------------------------------- */

static Tensor *fwd_matmul(Graph *g, Tensor **t, Case *c, int a) {
    (void)a;
    return op_matmul_bias(g, t[0], t[1], c->nv > 2 ? t[2] : NULL);
}
static Tensor *fwd_conv(Graph *g, Tensor **t, Case *c, int a) {
    (void)a;
    return op_conv2d(g, t[0], t[1], c->nv > 2 ? t[2] : NULL, (ConvSpec){.stride = c->stride, .pad = c->pad});
}
static Tensor *fwd_relu(Graph *g, Tensor **t, Case *c, int a) {
    (void)a;
    c->pattern = relu_pattern(1469598103934665603ull, t[0]);
    return op_relu(g, t[0]);
}
static Tensor *fwd_tanh(Graph *g, Tensor **t, Case *c, int a) {
    (void)c, (void)a;
    return op_tanh(g, t[0]);
}
static Tensor *fwd_sigmoid(Graph *g, Tensor **t, Case *c, int a) {
    (void)c, (void)a;
    return op_sigmoid(g, t[0]);
}
static Tensor *fwd_gelu(Graph *g, Tensor **t, Case *c, int a) {
    (void)c, (void)a;
    return op_gelu(g, t[0]);
}
static Tensor *fwd_maxpool(Graph *g, Tensor **t, Case *c, int a) {
    (void)a;
    c->pattern = pool_pattern(1469598103934665603ull, t[0], c->r, c->stride);
    return op_maxpool2d(g, t[0], c->r, c->stride);
}
static Tensor *fwd_embedding(Graph *g, Tensor **t, Case *c, int a) {
    (void)a;
    return op_embedding(g, t[0], c->ids, c->n_ids, c->padding_idx);
}
static Tensor *fwd_layernorm(Graph *g, Tensor **t, Case *c, int a) {
    (void)c, (void)a;
    return op_layernorm(g, t[0], t[1], t[2], 1e-5f);
}
static Tensor *fwd_dropout(Graph *g, Tensor **t, Case *c, int a) {
    (void)a;
    return op_dropout(g, t[0], c->p);
}
static Tensor *fwd_pixel_shuffle(Graph *g, Tensor **t, Case *c, int a) {
    (void)a;
    return op_pixel_shuffle(g, t[0], c->r);
}
static Tensor *fwd_ce(Graph *g, Tensor **t, Case *c, int a) {
    (void)a;
    return op_softmax_cross_entropy(g, t[0], c->labels);
}
static Tensor *fwd_mse(Graph *g, Tensor **t, Case *c, int a) {
    (void)a;
    return op_mse(g, t[0], c->target);
}

/* The composed net's logits in double: conv 3x3 s1 p0 -> relu -> maxpool 2x2 -> linear. */
static void net_logits_double(Tensor **t, double *out) {
    const Tensor *x = t[0], *cw = t[1], *cb = t[2], *fw = t[3], *fb = t[4];
    int N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int O = cw->shape[0], Ho = H - 2, Wo = W - 2, Hp = Ho / 2, Wp = Wo / 2, K = fw->shape[0];
    double conv[4][8][8][8];
    QAT_ASSERT(N <= 4 && O <= 8 && Ho <= 8 && Wo <= 8 && O * Hp * Wp == fw->shape[1]);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++)
            for (int i = 0; i < Ho; i++)
                for (int j = 0; j < Wo; j++) {
                    double a = cb->data[o];
                    for (int ch = 0; ch < C; ch++)
                        for (int u = 0; u < 3; u++)
                            for (int v = 0; v < 3; v++)
                                a += (double)x->data[((n * C + ch) * H + i + u) * W + j + v] *
                                     cw->data[((o * C + ch) * 3 + u) * 3 + v];
                    conv[n][o][i][j] = a > 0.0 ? a : 0.0;
                }
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) {
            double a = fb->data[k];
            for (int o = 0; o < O; o++)
                for (int i = 0; i < Hp; i++)
                    for (int j = 0; j < Wp; j++) {
                        double m = fmax(fmax(conv[n][o][2 * i][2 * j], conv[n][o][2 * i][2 * j + 1]),
                                        fmax(conv[n][o][2 * i + 1][2 * j], conv[n][o][2 * i + 1][2 * j + 1]));
                        a += m * fw->data[k * fw->shape[1] + (o * Hp + i) * Wp + j];
                    }
            out[n * K + k] = a;
        }
}

/* x -> conv(w1, b1) -> relu -> maxpool 2x2 -> reshape [N, -1] -> linear(w2, b2) -> CE. */
static Tensor *fwd_net(Graph *g, Tensor **t, Case *c, int analytic) {
    Tensor *h = op_conv2d(g, t[0], t[1], t[2], (ConvSpec){.stride = 1, .pad = 0});
    uint64_t pat = relu_pattern(1469598103934665603ull, h);
    h = op_relu(g, h);
    c->pattern = pool_pattern(pat, h, 2, 2);
    h = op_maxpool2d(g, h, 2, 2);
    int flat[2] = {h->shape[0], (int)(h->size / (size_t)h->shape[0])};
    h = graph_reshape(g, h, 2, flat);
    Tensor *logits = op_matmul_bias(g, h, t[3], t[4]);
    if (analytic) return op_softmax_cross_entropy(g, logits, c->labels);
    double ref[64];
    QAT_ASSERT(logits->size <= 64);
    net_logits_double(t, ref);
    for (size_t i = 0; i < logits->size; i++)
        if ((double)logits->data[i] != ref[i]) {
            c->inexact++;
            break;
        }
    return logits;
}

/* Mean softmax cross-entropy in double, from the (float) logits. */
static double ce_double(Case *c, const Tensor *z) {
    int B = z->shape[0], K = z->shape[1];
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        const float *row = z->data + (size_t)b * K;
        double mx = row[0], s = 0.0;
        for (int k = 1; k < K; k++) mx = fmax(mx, row[k]);
        for (int k = 0; k < K; k++) s += exp((double)row[k] - mx);
        total += log(s) - ((double)row[c->labels[b]] - mx);
    }
    return total / B;
}

/* ---- the cases ------------------------------------------------------------------------------ */

static void gc_matmul(void) {
    Case c = {.name = "matmul_bias", .fwd = fwd_matmul, .h = 0.25, .exact = 1};
    add_var(&c, "x", 1, 2, (int[]){5, 7});
    add_var(&c, "w", 1, 2, (int[]){4, 7});
    add_var(&c, "b", 1, 1, (int[]){4});
    for (int v = 0; v < 3; v++) fill_dyadic(&c, v, 64, 1);
    gradcheck(&c);
    case_free(&c);
}

static void gc_conv(const char *name, int N, int C, int H, int W, int O, int k, int stride,
                    int pad, int bias) {
    Case c = {.name = name, .fwd = fwd_conv, .h = 0.25, .exact = 1, .stride = stride, .pad = pad};
    add_var(&c, "x", 1, 4, (int[]){N, C, H, W});
    add_var(&c, "w", 1, 4, (int[]){O, C, k, k});
    if (bias) add_var(&c, "b", 1, 1, (int[]){O});
    for (int v = 0; v < c.nv; v++) fill_dyadic(&c, v, 64, 1);
    gradcheck(&c);
    case_free(&c);
}

static void gc_activation(const char *name, FwdFn fn, float lo, float hi, int levels, double h) {
    Case c = {.name = name, .fwd = fn, .levels = levels, .exact = levels == 1, .h = h};
    add_var(&c, "x", 1, 2, (int[]){3, 29});
    if (levels > 1) {
        fill_uniform(&c, 0, lo, hi);
    } else { /* relu: dyadic, at least 1/8 away from the kink */
        for (size_t i = 0; i < var_size(&c, 0); i++) {
            float v = dyadic(64, hi);
            c.data[0][i] = fabsf(v) < 0.125f ? (v < 0 ? -0.25f : 0.25f) : v;
        }
    }
    gradcheck(&c);
    case_free(&c);
}

static void gc_maxpool(const char *name, int H, int W, int k, int s) {
    Case c = {.name = name, .fwd = fwd_maxpool, .h = 1.0 / 64, .exact = 1, .r = k, .stride = s};
    add_var(&c, "x", 1, 4, (int[]){2, 2, H, W});
    /* distinct values 1/16 apart, shuffled: no ties, no kink within the step */
    size_t n = var_size(&c, 0);
    int *perm = malloc(n * sizeof(int));
    for (size_t i = 0; i < n; i++) perm[i] = (int)i;
    rng_shuffle(&rng, perm, n);
    for (size_t i = 0; i < n; i++) c.data[0][i] = (float)perm[i] / 16.0f - (float)n / 32.0f;
    free(perm);
    gradcheck(&c);
    case_free(&c);
}

static void gc_embedding(void) {
    Case c = {.name = "embedding", .fwd = fwd_embedding, .h = 0.25, .exact = 1, .padding_idx = 3};
    add_var(&c, "table", 1, 2, (int[]){9, 5});
    fill_dyadic(&c, 0, 64, 1);
    int ids[] = {1, 3, 3, 8, 0, 1, 1, 5, 3, 7};
    c.n_ids = (int)(sizeof ids / sizeof ids[0]);
    c.ids = malloc(sizeof ids);
    memcpy(c.ids, ids, sizeof ids);
    /* The op (like torch) sends no gradient to the padding row, although its forward
     * reads it: give the rows that look it up a zero upstream gradient, so the true
     * derivative is zero there as well (test_ops_torch checks the padding behaviour). */
    int D = c.shape[0][1];
    c.ny = (size_t)c.n_ids * D;
    c.dy = malloc(c.ny * sizeof(float));
    for (int i = 0; i < c.n_ids; i++)
        for (int d = 0; d < D; d++) c.dy[i * D + d] = ids[i] == c.padding_idx ? 0.0f : rng_normal(&rng);
    gradcheck(&c);
    case_free(&c);
}

static void gc_layernorm(void) {
    Case c = {.name = "layernorm", .fwd = fwd_layernorm, .levels = LN_LEVELS, .h = LN_H};
    add_var(&c, "x", 1, 3, (int[]){2, 3, 6});
    add_var(&c, "gamma", 1, 1, (int[]){6});
    add_var(&c, "beta", 1, 1, (int[]){6});
    fill_uniform(&c, 0, -1.5f, 2.5f);
    fill_uniform(&c, 1, 0.5f, 1.5f);
    fill_uniform(&c, 2, -0.5f, 0.5f);
    gradcheck(&c);
    case_free(&c);
}

static void gc_dropout(void) {
    Case c = {.name = "dropout", .fwd = fwd_dropout, .h = 0.25, .exact = 1, .p = 0.5f};
    add_var(&c, "x", 1, 2, (int[]){4, 16});
    fill_dyadic(&c, 0, 64, 1);
    gradcheck(&c);
    case_free(&c);
}

static void gc_pixel_shuffle(void) {
    Case c = {.name = "pixel_shuffle", .fwd = fwd_pixel_shuffle, .h = 0.25, .exact = 1, .r = 2};
    add_var(&c, "x", 1, 4, (int[]){2, 8, 2, 3});
    fill_dyadic(&c, 0, 64, 1);
    gradcheck(&c);
    case_free(&c);
}

static void gc_cross_entropy(void) {
    Case c = {.name = "cross_entropy", .fwd = fwd_ce, .levels = CE_LEVELS, .h = CE_H};
    add_var(&c, "logits", 1, 2, (int[]){3, 5});
    fill_uniform(&c, 0, -2.0f, 2.0f);
    int labels[] = {4, 0, 2};
    c.labels = malloc(sizeof labels);
    memcpy(c.labels, labels, sizeof labels);
    gradcheck(&c);
    case_free(&c);
}

static void gc_mse(void) {
    /* L is quadratic in pred: one central difference is exact for any step. */
    Case c = {.name = "mse", .fwd = fwd_mse, .h = 0.25};
    add_var(&c, "pred", 1, 2, (int[]){3, 4});
    fill_dyadic(&c, 0, 64, 1);
    c.target = malloc(12 * sizeof(float));
    for (int i = 0; i < 12; i++) c.target[i] = dyadic(64, 1);
    gradcheck(&c);
    case_free(&c);
}

static void gc_net(void) {
    /* Grids sized so every evaluation is exact in float: x, conv.w, fc.w, fc.b are
     * multiples of 1/16, conv.b an odd multiple of 1/512 (so no conv output is ever
     * exactly 0, the ReLU's kink), and steps go down to 2^-11: the logits then need
     * at most 24 significant bits. */
    Case c = {.name = "net conv-relu-pool-linear-CE", .fwd = fwd_net, .loss = ce_double,
              .levels = 2, .h = 1.0 / 16, .h_min = 1.0 / 1024};
    add_var(&c, "x", 1, 4, (int[]){2, 2, 8, 8}); /* conv 6x6, pool 3x3: 27 features */
    add_var(&c, "conv.w", 1, 4, (int[]){3, 2, 3, 3});
    add_var(&c, "conv.b", 1, 1, (int[]){3});
    add_var(&c, "fc.w", 1, 2, (int[]){4, 27});
    add_var(&c, "fc.b", 1, 1, (int[]){4});
    fill_dyadic(&c, 0, 16, 1);
    fill_dyadic(&c, 1, 16, 0.5f);
    for (int o = 0; o < 3; o++) c.data[2][o] = (2.0f * dyadic(1, 32) + 1.0f) / 512.0f;
    fill_dyadic(&c, 3, 16, 0.5f);
    fill_dyadic(&c, 4, 16, 0.5f);
    int labels[] = {1, 3};
    c.labels = malloc(sizeof labels);
    memcpy(c.labels, labels, sizeof labels);
    gradcheck(&c);
    if (verbose) printf("  net: evaluations with inexact float logits: %d\n", c.inexact);
    CHECK(c.inexact == 0); /* the dyadic design holds: the float forward was exact */
    case_free(&c);
}

/* ---- hand values from the spec -------------------------------------------------------------- */

/* Values printed to 6 decimals: checked to 1e-6 absolute (half a unit is 5e-7). */
#define CHECK_SPEC(a, b) check_close((a), (b), 0.0, 1e-6, #a " ~ " #b, __FILE__, __LINE__)

static void hand_gelu(void) {
    Graph g;
    graph_init(&g, 1);
    g.training = 1;
    Tensor *x = graph_tensor2(&g, 1, 1, 4);
    const float xs[4] = {-1.0f, 0.0f, 0.5f, 2.0f};
    const double ys[4] = {-0.158655, 0.0, 0.345731, 1.954500};
    const double ds[4] = {-0.083315, 0.5, 0.867495, 1.085232};
    memcpy(x->data, xs, sizeof xs);
    Tensor *y = op_gelu(&g, x);
    for (int i = 0; i < 4; i++) y->grad[i] = 1.0f;
    for (int i = g.n - 1; i >= 0; i--) g.nodes[i].fn(g.nodes[i].ctx);
    for (int i = 0; i < 4; i++) {
        CHECK_SPEC(y->data[i], ys[i]);
        CHECK_SPEC(x->grad[i], ds[i]);
    }
    graph_free(&g);
}

/* At the kink ReLU passes no gradient (PyTorch: relu'(0) = 0). */
static void hand_relu_kink(void) {
    Graph g;
    graph_init(&g, 1);
    g.training = 1;
    Tensor *x = graph_tensor2(&g, 1, 1, 3);
    memcpy(x->data, (float[]){-0.0f, 0.0f, 1e-30f}, 3 * sizeof(float));
    Tensor *y = op_relu(&g, x);
    for (int i = 0; i < 3; i++) y->grad[i] = 1.0f;
    for (int i = g.n - 1; i >= 0; i--) g.nodes[i].fn(g.nodes[i].ctx);
    CHECK(y->data[0] == 0.0f && y->data[1] == 0.0f && y->data[2] == 1e-30f);
    CHECK(x->grad[0] == 0.0f && x->grad[1] == 0.0f && x->grad[2] == 1.0f);
    graph_free(&g);
}

static void hand_layernorm(void) {
    Graph g;
    graph_init(&g, 1);
    g.training = 1;
    Tensor *x = graph_tensor2(&g, 1, 1, 4), *ga = graph_tensor2(&g, 1, 1, 4), *be = graph_tensor2(&g, 1, 1, 4);
    memcpy(x->data, (float[]){1, 2, 4, -1}, 4 * sizeof(float));
    memcpy(ga->data, (float[]){1, 0.5f, 2, 1}, 4 * sizeof(float));
    memcpy(be->data, (float[]){0, 0.1f, 0, -0.2f}, 4 * sizeof(float));
    Tensor *y = op_layernorm(&g, x, ga, be, 1e-5f);
    const double yw[4] = {-0.27735, 0.238675, 2.773497, -1.586748};
    const double dxw[4] = {-0.007467, -0.17281, 0.106673, 0.073604};
    const double dgw[4] = {-0.027735, -0.05547, 0.416025, -0.069337};
    const float dy[4] = {0.1f, -0.2f, 0.3f, 0.05f};
    memcpy(y->grad, dy, sizeof dy);
    for (int i = g.n - 1; i >= 0; i--) g.nodes[i].fn(g.nodes[i].ctx);
    for (int i = 0; i < 4; i++) {
        CHECK_SPEC(y->data[i], yw[i]);
        CHECK_SPEC(x->grad[i], dxw[i]);
        CHECK_SPEC(ga->grad[i], dgw[i]);
        CHECK_SPEC(be->grad[i], dy[i]); /* dbeta = dy */
    }
    graph_free(&g);
}

static void hand_pixel_shuffle(void) {
    Graph g;
    graph_init(&g, 1);
    g.training = 1;
    /* r = 3: input channel 5 is (c 0, i 1, j 2); LR (2, 4) lands on HR (7, 14). */
    Tensor *x = graph_tensor4(&g, 1, 1, 9, 4, 6);
    memset(x->data, 0, x->size * sizeof(float));
    x->data[(5 * 4 + 2) * 6 + 4] = 1.0f;
    Tensor *y = op_pixel_shuffle(&g, x, 3);
    CHECK(y->shape[0] == 1 && y->shape[1] == 1 && y->shape[2] == 12 && y->shape[3] == 18);
    size_t hr = 7 * 18 + 14;
    CHECK(y->data[hr] == 1.0f);
    double sum = 0.0;
    for (size_t i = 0; i < y->size; i++) sum += y->data[i];
    CHECK(sum == 1.0);
    /* and back: a gradient at HR (7, 14) reaches channel 5 at (2, 4) only */
    y->grad[hr] = 1.0f;
    for (int i = g.n - 1; i >= 0; i--) g.nodes[i].fn(g.nodes[i].ctx);
    CHECK(x->grad[(5 * 4 + 2) * 6 + 4] == 1.0f);
    sum = 0.0;
    for (size_t i = 0; i < x->size; i++) sum += x->grad[i];
    CHECK(sum == 1.0);
    graph_free(&g);
}

int main(void) {
    verbose = getenv("QAT_TEST_VERBOSE") != NULL;
    rng_seed(&rng, 20240611);
    gc_matmul();
    gc_conv("conv2d s1 p0", 2, 3, 6, 5, 4, 3, 1, 0, 0);
    gc_conv("conv2d s5 p0 (8->8 on 26x26)", 1, 8, 26, 26, 8, 3, 5, 0, 1);
    gc_conv("conv2d s1 p1 bias", 2, 3, 5, 6, 4, 3, 1, 1, 1);
    gc_conv("conv2d s2 p2 k5", 2, 2, 7, 8, 3, 5, 2, 2, 1);
    gc_activation("relu", fwd_relu, -2.0f, 2.0f, 1, 1.0 / 16);
    gc_activation("tanh", fwd_tanh, -2.0f, 2.0f, 2, 0.1);
    gc_activation("sigmoid", fwd_sigmoid, -3.0f, 3.0f, 2, 0.1);
    gc_activation("gelu", fwd_gelu, -3.0f, 3.0f, 2, 0.1);
    gc_maxpool("maxpool2d 2x2 s2 (7x9)", 7, 9, 2, 2);
    gc_maxpool("maxpool2d 3x3 s2 (7x8)", 7, 8, 3, 2);
    gc_embedding();
    gc_layernorm();
    gc_dropout();
    gc_pixel_shuffle();
    gc_cross_entropy();
    gc_mse();
    gc_net();
    hand_gelu();
    hand_relu_kink();
    hand_layernorm();
    hand_pixel_shuffle();
    return check_done("test_ops_gradcheck");
}
