/* AdaRound internals (METHODS.md 3), exposed for the unit tests. The method itself is
 * adaround_make / adaround_calibrate in quant/method.h.
 *
 * Grids are written as an integer clip range [lo, hi] for floor(W/s) + h: the symmetric
 * grid has lo = -2^(b-1), hi = 2^(b-1) - 1; the asymmetric one (unsigned [0, 2^b-1]
 * with integer zero point z) has lo = -z, hi = 2^b - 1 - z, so W~ = s*(clip(...) ) is
 * the same formula for both. */
#ifndef QAT_QUANT_ADAROUND_H
#define QAT_QUANT_ADAROUND_H

#include <stddef.h>
#include <stdint.h>

#include "core/graph.h"
#include "core/param.h"
#include "nn/optim.h"
#include "quant/quant_site.h"

#define ADAROUND_ZETA 1.1
#define ADAROUND_GAMMA (-0.1)

/* Rectified sigmoid h(V) = clip(sigmoid(V)*(zeta-gamma) + gamma, 0, 1) and its
 * derivative (0 where the clip is active). */
float adaround_h(float v);
float adaround_h_grad(float v);
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

/* One layer's reconstruction problem (3.3). Examples: for conv one image (all its output
 * positions), for linear one row of the [M, in] input. */
typedef struct {
    /* the layer */
    LayerKind kind;  /* LAYER_LINEAR or LAYER_CONV2D */
    int out;         /* output features / channels */
    int in;          /* input features / channels */
    int k, stride, pad, H, W; /* conv only: kernel, input map */
    FollowAct follow;
    const float *bias; /* [out] or NULL */
    /* the grid: per row r of the weight (rows = 1 or out) */
    int rows;
    const float *w;     /* FP weights [out * row_len] */
    const float *s;     /* [rows] */
    const float *lo, *hi; /* [rows] integer clip range */
    /* calibration data */
    const float *x;      /* x_hat [nex * ex_len] (after the input quantizer) */
    const float *target; /* f_a(W x + b) of the FP model [nex * y_len] */
    int nex;
    /* derived by adaround_layer_setup */
    int row_len, nw, ex_len, y_len, Ho, Wo;
    float *fl;            /* floor(W/s) */
    unsigned char *mask;  /* 1[lo <= fl <= hi-1] */
    float *wt;            /* W~ scratch */
    float *h, *hg;        /* h(V) and h'(V) of the last adaround_soft_weights */
    float *xb, *tb;       /* mini-batch scratch */
    int *perm;            /* example order for sampling without replacement */
    Graph g;              /* persistent graph, graph_reset each step */
} AdaLayer;

typedef struct {
    long iters;
    int batch;
    float lr;
    float lambda;
    int linear_beta; /* 0 cosine, 1 linear */
    uint64_t seed;
    void (*poll)(void *ctx); /* optional: called every iteration (see CalibSource) */
    void *poll_ctx;
} AdaOpts;

void adaround_layer_setup(AdaLayer *L);
void adaround_layer_free(AdaLayer *L);
/* f_a(w x + b) of nex examples x through the project's ops (evaluation mode). */
void adaround_layer_output(AdaLayer *L, const float *w, const float *x, int nex, float *y);
/* Soft weights W~(V) into L->wt (and h(V), h'(V) into L->h, L->hg). */
void adaround_soft_weights(AdaLayer *L, const float *v);
/* Hard weights s*clip(fl + 1[V >= 0], lo, hi) (v == NULL: round to nearest). */
void adaround_hard_weights(const AdaLayer *L, const float *v, float *wq);
/* Reconstruction loss (mean over examples of the squared L2 norm over output features)
 * of W~(V) on the examples idx[0..nb) (idx NULL: 0..nb-1); dv (may be NULL) += dL/dV. */
double adaround_recon_grad(AdaLayer *L, const float *v, const int *idx, int nb, float *dv);
/* Reconstruction loss of given weights over all examples. */
double adaround_recon_loss(AdaLayer *L, const float *w);
/* V0 into v[nw]. */
void adaround_init_v(const AdaLayer *L, float *v);
/* Adam on V (v holds V0 on entry, the final V on return); returns the mean soft
 * reconstruction loss of the last 1% of iterations. */
double adaround_optimize(AdaLayer *L, float *v, const AdaOpts *o);

#endif
