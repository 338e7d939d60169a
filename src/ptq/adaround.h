/* AdaRound's calibration (docs/METHODS.md 3): one layer's reconstruction problem, exposed for
 * the unit tests, and the whole procedure, adaround_calibrate. */
#ifndef QAT_PTQ_ADAROUND_H
#define QAT_PTQ_ADAROUND_H

#include <stddef.h>
#include <stdint.h>

#include "core/graph.h"
#include "io/config.h"
#include "ptq/calibration.h"
#include "quant/adaround.h"
#include "quant/quant_site.h"

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

/* Fits every site's AdaRound quantizer (quant_attach with adaround_make first) from the
 * calibration data, layer by layer, and writes the rounded weights. */
void adaround_calibrate(QuantSiteList *sites, ParamList *params, const Config *cfg,
                        CalibSource *src, uint64_t seed);

#endif
