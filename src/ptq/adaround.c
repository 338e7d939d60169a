/* AdaRound's calibration (docs/METHODS.md 3): the procedure that fits the quantizers of
 * quant/adaround.c layer by layer, rebuilding each layer's output with the nn ops from
 * what its sites record (weight, bias, geometry: quant/quant_site.h).
 *
 * Calibration (adaround_calibrate), as in 3.1-3.7:
 *   1. ceil(max_samples / batch) training batches (at most all), of which the first
 *      max_samples examples are used;
 *   2. every input quantizer's scale: MSE search on the FP activations of that site
 *      (every quantizer off while capturing);
 *   3. every weight site in forward order: grid by the MSE search (per tensor or per
 *      row); at bits >= skip_at_bits or for an embedding: round to nearest, done.
 *      Otherwise: targets f_a(W x + b) from the FP model's inputs x; inputs x_hat from the
 *      partially quantized model (earlier layers hard-rounded, every input quantizer on,
 *      this layer's input quantizer applied, this layer's weight FP); then Adam on V over
 *      T iterations of random mini-batches, warm start 20% without the regulariser, beta
 *      annealed 20 -> 2; finally the hard-rounded weights are written.
 *   An example of the reconstruction mini-batch is one image for a conv (all its output
 *   positions: the loss sums over output channels and averages over images and
 *   positions), one row of the [M, in] input for a linear layer.
 *
 * LSTM layers (nn/lstm.h, sites of kind LAYER_LSTM) [decision]: each weight is
 * reconstructed on its own as a linear layer without activation, on its product in the
 * gate pre-activation: W_ih [4H, in] on rows x_t of the layer input (target
 * x_t W_ih^T + b_ih), W_hh [4H, H] on rows h_{t-1} (target h_{t-1} W_hh^T + b_hh; the
 * zero state before each scan's first step is not a row, it only adds the bias). Order:
 * per layer W_ih, W_hh of the forward direction, then of the reverse one. x_hat of W_hh
 * comes from the partially quantized scan (W_ih already rounded, the h_{t-1} quantizer
 * applied at every step, W_hh FP: teacher forcing). This is simpler than 3.6, which
 * optimises V_ih and V_hh jointly on the gate outputs [sigmoid, sigmoid, tanh,
 * sigmoid](z_t): the per-product loss ignores the gate slopes and how the errors of the
 * two products add up.
 *   An example of an LSTM (or linear) input is a row (one step of one sequence), not a
 *   review: the layer input arrives as one [total steps, in] tensor per batch, h_{t-1} as
 *   one [running sequences, H] tensor per time step, neither a multiple of the batch (nor
 *   are SASRec's linear inputs over the valid positions). The
 *   capture keeps max_samples rows, reservoir-sampled uniformly over all rows of the
 *   calibration batches (seeded per site, so the FP and the quantized passes keep the
 *   same rows in the same order); keeping the first rows instead would see only the
 *   first time steps of the first batch. The input-scale search of step 2 uses the same
 *   sample.
 *
 * How the inputs are captured: while capturing, a site's quantizer is replaced by a
 * "spy" quantizer that records the tensor (and the example count quant_site_apply
 * reports, which the plain site capture does not keep), then applies the real quantizer
 * (or none). The model itself is not changed. The LSTM calls its h_{t-1} quantizer
 * directly, once per time step, but takes it from the site at each forward, so the spy
 * sees those calls too. */
#include "ptq/adaround.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/quantizer.h"
#include "core/rng.h"
#include "core/runtime.h"
#include "nn/ops.h"
#include "nn/optim.h"
#include "quant/method.h"
#include "quant/reduce.h"
/* ------------------------------------------------------------------------------------ */
/* One layer's reconstruction                                                            */

void adaround_layer_setup(AdaLayer *L) {
    QAT_ASSERT(L->kind == LAYER_LINEAR || L->kind == LAYER_CONV2D);
    if (L->kind == LAYER_CONV2D) {
        L->Ho = (L->H + 2 * L->pad - L->k) / L->stride + 1;
        L->Wo = (L->W + 2 * L->pad - L->k) / L->stride + 1;
        QAT_ASSERT(L->Ho > 0 && L->Wo > 0);
        L->row_len = L->in * L->k * L->k;
        L->ex_len = L->in * L->H * L->W;
        L->y_len = L->out * L->Ho * L->Wo;
    } else {
        L->row_len = L->in;
        L->ex_len = L->in;
        L->y_len = L->out;
    }
    L->nw = L->out * L->row_len;
    QAT_ASSERT(L->rows == 1 || L->rows == L->out);
    int per_row = L->nw / L->rows;
    L->fl = qat_malloc((size_t)L->nw * sizeof(float));
    L->mask = qat_malloc((size_t)L->nw);
    L->wt = qat_malloc((size_t)L->nw * sizeof(float));
    L->h = qat_malloc((size_t)L->nw * sizeof(float));
    L->hg = qat_malloc((size_t)L->nw * sizeof(float));
    for (int i = 0; i < L->nw; i++) {
        int r = i / per_row;
        L->fl[i] = floorf(L->w[i] / L->s[r]);
        L->mask[i] = (unsigned char)adaround_in_grid(L->fl[i], L->lo[r], L->hi[r]);
    }
    L->perm = qat_malloc((size_t)(L->nex > 0 ? L->nex : 1) * sizeof(int));
    for (int i = 0; i < L->nex; i++) L->perm[i] = i;
    graph_init(&L->g, 0);
}

void adaround_layer_free(AdaLayer *L) {
    free(L->fl);
    free(L->mask);
    free(L->wt);
    free(L->h);
    free(L->hg);
    free(L->perm);
    graph_free(&L->g);
    L->fl = L->wt = L->h = L->hg = NULL;
    L->mask = NULL;
    L->perm = NULL;
}

/* f_a(W x + b) of nb examples through the project's ops. */
static Tensor *layer_forward(AdaLayer *L, Graph *g, Tensor *x, Tensor *w) {
    Tensor *b = L->bias ? graph_input(g, (float *)L->bias, 1, &L->out) : NULL;
    Tensor *y;
    if (L->kind == LAYER_CONV2D) {
        ConvAct act = L->follow == FOLLOW_RELU ? CONV_ACT_RELU : CONV_ACT_NONE;
        y = op_conv2d(g, x, w, b, (ConvSpec){.stride = L->stride, .pad = L->pad, .act = act});
        if (L->follow == FOLLOW_RELU) return y;
    } else {
        y = op_matmul_bias(g, x, w, b);
        if (L->follow == FOLLOW_RELU) return op_relu(g, y);
    }
    if (L->follow == FOLLOW_TANH) return op_tanh(g, y);
    if (L->follow == FOLLOW_GELU) return op_gelu(g, y);
    return y;
}

static Tensor *input_tensor(AdaLayer *L, Graph *g, float *x, int nb) {
    if (L->kind == LAYER_CONV2D) {
        int s[4] = {nb, L->in, L->H, L->W};
        return graph_input(g, x, 4, s);
    }
    int s[2] = {nb, L->in};
    return graph_input(g, x, 2, s);
}

static void weight_shape(const AdaLayer *L, int *ndim, int *shape) {
    if (L->kind == LAYER_CONV2D) {
        *ndim = 4;
        shape[0] = L->out, shape[1] = L->in, shape[2] = L->k, shape[3] = L->k;
    } else {
        *ndim = 2;
        shape[0] = L->out, shape[1] = L->in;
    }
}

/* Examples per evaluation chunk (bounds the arena for the targets and final losses). */
static int eval_chunk(const AdaLayer *L) { return L->kind == LAYER_CONV2D ? 64 : 4096; }

void adaround_layer_output(AdaLayer *L, const float *w, const float *x, int nex, float *y) {
    int ndim, shape[4];
    weight_shape(L, &ndim, shape);
    int chunk = eval_chunk(L);
    for (int start = 0; start < nex; start += chunk) {
        int nb = nex - start < chunk ? nex - start : chunk;
        graph_reset(&L->g);
        L->g.training = 0;
        Tensor *xt = input_tensor(L, &L->g, (float *)x + (size_t)start * L->ex_len, nb);
        Tensor *wt = graph_input(&L->g, (float *)w, ndim, shape);
        Tensor *yt = layer_forward(L, &L->g, xt, wt);
        QAT_ASSERT(yt->size == (size_t)nb * L->y_len);
        memcpy(y + (size_t)start * L->y_len, yt->data, yt->size * sizeof(float));
    }
    graph_reset(&L->g);
}

double adaround_recon_loss(AdaLayer *L, const float *w) {
    int chunk = eval_chunk(L);
    float *y = qat_malloc((size_t)chunk * L->y_len * sizeof(float));
    double sum = 0.0;
    for (int start = 0; start < L->nex; start += chunk) {
        int nb = L->nex - start < chunk ? L->nex - start : chunk;
        adaround_layer_output(L, w, L->x + (size_t)start * L->ex_len, nb, y);
        const float *t = L->target + (size_t)start * L->y_len;
        for (size_t i = 0; i < (size_t)nb * L->y_len; i++) {
            double d = (double)y[i] - t[i];
            sum += d * d;
        }
    }
    free(y);
    /* mean over examples and positions of the squared norm over output features */
    return sum * L->out / ((double)L->nex * L->y_len);
}

void adaround_soft_weights(AdaLayer *L, const float *v) {
    int per_row = L->nw / L->rows;
    /* element-wise (a sigmoid each): threads change nothing but the time */
#pragma omp parallel for schedule(static) if (L->nw > 65536)
    for (int i = 0; i < L->nw; i++) {
        int r = i / per_row;
        adaround_h_and_grad(v[i], &L->h[i], &L->hg[i]);
        L->wt[i] = L->s[r] * adaround_soft_int(L->fl[i], L->h[i], L->lo[r], L->hi[r]);
    }
}

void adaround_hard_weights(const AdaLayer *L, const float *v, float *wq) {
    int per_row = L->nw / L->rows;
    for (int i = 0; i < L->nw; i++) {
        int r = i / per_row;
        float k;
        if (v) k = qclip(L->fl[i] + (v[i] >= 0.0f ? 1.0f : 0.0f), L->lo[r], L->hi[r]);
        else k = qclip(qround(L->w[i] / L->s[r]), L->lo[r], L->hi[r]);
        wq[i] = L->s[r] * k;
    }
}

double adaround_recon_grad(AdaLayer *L, const float *v, const int *idx, int nb, float *dv) {
    Graph *g = &L->g;
    graph_reset(g);
    g->training = 1;
    float *xb = (float *)L->x, *tb = (float *)L->target;
    if (idx) {
        xb = graph_alloc(g, (size_t)nb * L->ex_len * sizeof(float));
        tb = graph_alloc(g, (size_t)nb * L->y_len * sizeof(float));
        for (int j = 0; j < nb; j++) {
            memcpy(xb + (size_t)j * L->ex_len, L->x + (size_t)idx[j] * L->ex_len, (size_t)L->ex_len * sizeof(float));
            memcpy(tb + (size_t)j * L->y_len, L->target + (size_t)idx[j] * L->y_len, (size_t)L->y_len * sizeof(float));
        }
    }
    adaround_soft_weights(L, v);
    int ndim, shape[4];
    weight_shape(L, &ndim, shape);
    Tensor *w = graph_tensor(g, 1, ndim, shape); /* W~ with a gradient */
    memcpy(w->data, L->wt, (size_t)L->nw * sizeof(float));
    Tensor *y = layer_forward(L, g, input_tensor(L, g, xb, nb), w);
    Tensor *loss = op_mse(g, y, tb);
    graph_backward(g, loss);
    /* op_mse averages over every output element; the objective sums over the output
     * features and averages over examples and positions: a factor `out`. */
    double scale = (double)L->out;
    double value = loss->data[0] * scale;
    if (dv) {
        int per_row = L->nw / L->rows;
#pragma omp parallel for schedule(static) if (L->nw > 65536)
        for (int i = 0; i < L->nw; i++) {
            if (!L->mask[i]) continue;
            float hg = L->hg[i];
            if (hg == 0.0f) continue;
            dv[i] += (float)(scale * w->grad[i] * L->s[i / per_row] * hg);
        }
    }
    graph_reset(g);
    g->training = 0;
    return value;
}

void adaround_init_v(const AdaLayer *L, float *v) {
    int per_row = L->nw / L->rows;
    for (int i = 0; i < L->nw; i++) v[i] = adaround_v_init(L->w[i], L->s[i / per_row], L->fl[i]);
}

double adaround_optimize(AdaLayer *L, float *v, const AdaOpts *o) {
    int nw = L->nw;
    Param *V = param_new("adaround.V", 1, &nw, PARAM_GROUP_QUANT);
    memcpy(V->t.data, v, (size_t)nw * sizeof(float));
    ParamList pl = {0};
    param_list_add(&pl, V);
    AdamW opt;
    adamw_init(&opt, o->lr, 0.0f); /* weight decay 0: plain Adam */
    Rng rng;
    rng_seed(&rng, o->seed);
    int bs = o->batch < L->nex ? o->batch : L->nex;
    int *idx = qat_malloc((size_t)bs * sizeof(int));
    long tail_from = o->iters - (o->iters / 100 > 1 ? o->iters / 100 : 1);
    double tail = 0.0;
    long tail_n = 0;
    for (long t = 0; t < o->iters; t++) {
        if (o->poll) o->poll(o->poll_ctx);
        /* bs distinct examples: a partial Fisher-Yates shuffle of the running order */
        for (int j = 0; j < bs; j++) {
            int r = j + (int)rng_below(&rng, (uint64_t)(L->nex - j));
            int tmp = L->perm[j];
            L->perm[j] = L->perm[r];
            L->perm[r] = tmp;
            idx[j] = L->perm[j];
        }
        memset(V->t.grad, 0, (size_t)nw * sizeof(float));
        double l = adaround_recon_grad(L, V->t.data, idx, bs, V->t.grad);
        double beta = adaround_beta(t, o->iters, o->linear_beta);
        /* L->h, L->hg: of V->t.data, from adaround_recon_grad's soft weights */
        if (beta > 0.0) adaround_reg_grad_from_h(L->h, L->hg, (size_t)nw, beta, o->lambda, V->t.grad);
        adamw_step(&opt, &pl);
        if (t >= tail_from) {
            tail += l;
            tail_n++;
        }
    }
    memcpy(v, V->t.data, (size_t)nw * sizeof(float));
    free(idx);
    param_list_free(&pl, 1);
    return tail_n ? tail / tail_n : 0.0;
}

/* ------------------------------------------------------------------------------------ */
/* Capturing a site's input                                                              */

typedef struct {
    QuantSite *site;
    Quantizer *inner; /* applied after recording (NULL: identity) */
    int record_output; /* record the inner quantizer's output instead of its input */
    float *data;
    size_t len, cap;
    long examples, max_examples;
    size_t per_example;
    /* linear and LSTM inputs: examples are rows of row_width features, reservoir-sampled */
    int row_width;
    long rows_seen;
    Rng rng;
} Spy;

/* The input of a linear layer or an LSTM weight is sampled as rows of the width of the
 * weight it feeds: an LSTM's layer input and h_{t-1} arrive in calls whose sizes are not
 * multiples of the sequence count, and so does a linear layer applied to the valid
 * positions of padded sequences (SASRec's attention). 0 for conv inputs (whole images). */
static int sampled_row_width(const QuantSite *s) {
    if (s->kind != SITE_INPUT || (s->layer_kind != LAYER_LSTM && s->layer_kind != LAYER_LINEAR)) return 0;
    QAT_ASSERT(s->weight && s->weight->t.ndim == 2);
    return s->weight->t.shape[1];
}

static void spy_init(Quantizer *q, QuantInput in) { (void)q, (void)in; }

/* Reservoir sampling (Algorithm R) of max_examples rows over every row of the pass: row
 * t (0-based, in arrival order) takes slot t while t < max_examples, then slot
 * rng_below(t + 1) when that is < max_examples. The draws depend only on the row count
 * and the spy's seed, so two passes with the same seed keep the same rows in the same
 * slots (the FP inputs and the quantized ones stay paired). */
static void spy_rows(Spy *sp, const float *x, size_t n) {
    size_t w = (size_t)sp->row_width;
    if (n % w)
        qat_die("adaround: the input of %s (%zu values) is not a whole number of rows of %zu features",
                sp->site->layer, n, w);
    for (size_t r = 0; r < n / w; r++, sp->rows_seen++) {
        long slot = sp->rows_seen;
        if (slot >= sp->max_examples) slot = (long)rng_below(&sp->rng, (uint64_t)sp->rows_seen + 1);
        if (slot >= sp->max_examples) continue;
        if (slot == sp->examples) { /* a new slot at the end */
            if (sp->len + w > sp->cap) {
                sp->cap = 2 * (sp->len + w);
                sp->data = qat_realloc(sp->data, sp->cap * sizeof(float));
            }
            sp->len += w;
            sp->examples++;
        }
        memcpy(sp->data + (size_t)slot * w, x + r * w, w * sizeof(float));
    }
}

static void spy_forward(Quantizer *q, QuantInput in, float *y) {
    Spy *sp = q->state;
    if (sp->inner) {
        QuantInput ii = in;
        ii.rows = sp->inner->per_channel ? sp->site->rows : 1;
        QAT_ASSERT(sp->inner->initialized);
        sp->inner->ops->forward(sp->inner, ii, y);
    } else {
        memcpy(y, in.x, in.n * sizeof(float));
    }
    if (sp->row_width > 0) {
        spy_rows(sp, sp->record_output ? y : in.x, in.n);
        return;
    }
    long batch = in.batch > 0 ? in.batch : 1;
    if (in.n % (size_t)batch)
        qat_die("adaround: the input of %s (%zu values) does not split into %ld examples", sp->site->layer,
                in.n, batch);
    size_t per = in.n / (size_t)batch;
    if (sp->per_example == 0) sp->per_example = per;
    else if (per != sp->per_example)
        qat_die("adaround: the input of %s changes size between calls (%zu vs %zu values per example)",
                sp->site->layer, per, sp->per_example);
    long take = sp->max_examples - sp->examples;
    if (take > batch) take = batch;
    if (take <= 0) return;
    size_t add = (size_t)take * per;
    if (sp->len + add > sp->cap) {
        sp->cap = 2 * (sp->len + add);
        sp->data = qat_realloc(sp->data, sp->cap * sizeof(float));
    }
    memcpy(sp->data + sp->len, sp->record_output ? y : in.x, add * sizeof(float));
    sp->len += add;
    sp->examples += take;
}

static void spy_backward(Quantizer *q, QuantInput in, const float *dy, float *dx) {
    (void)q, (void)in, (void)dy, (void)dx;
    QAT_ASSERT(!"adaround capture runs in evaluation mode");
}

static void spy_destroy(Quantizer *q) {
    Spy *sp = q->state;
    free(sp->data);
    free(sp);
}

static const QuantizerOps SPY_OPS = {
    .name = "adaround_capture", .init = spy_init, .forward = spy_forward, .backward = spy_backward,
    .destroy = spy_destroy,
};

/* seed: the row sampling of an LSTM input (the same seed keeps the same rows). */
static Quantizer *spy_new(QuantSite *site, Quantizer *inner, long max_examples, int record_output, uint64_t seed) {
    Quantizer *q = qat_calloc(1, sizeof *q);
    q->ops = &SPY_OPS;
    q->bits = 32;
    q->initialized = 1;
    Spy *sp = qat_calloc(1, sizeof *sp);
    sp->site = site;
    sp->inner = inner;
    sp->record_output = record_output;
    sp->max_examples = max_examples;
    sp->row_width = sampled_row_width(site);
    sp->per_example = (size_t)sp->row_width;
    rng_seed(&sp->rng, seed);
    q->state = sp;
    return q;
}

/* Takes the captured data out of the spy (the caller frees it) and frees the spy. */
static float *spy_take(Quantizer *q, size_t *len, long *examples, size_t *per_example) {
    Spy *sp = q->state;
    float *d = sp->data;
    *len = sp->len;
    *examples = sp->examples;
    *per_example = sp->per_example;
    sp->data = NULL;
    quantizer_free(q);
    return d;
}

static void run_batches(CalibSource *src, Graph *g, int nb) {
    for (int b = 0; b < nb; b++) {
        if (src->poll) src->poll(src->ctx);
        graph_reset(g);
        g->training = 0;
        src->forward(src->ctx, g, b);
    }
    graph_reset(g);
}

/* Swaps the contents of the weights of the layers already rounded with their FP copies
 * (fp[j] != NULL): once to run the FP model, once more to go back. */
static void swap_fp_weights(QuantSiteList *sites, float **fp) {
    for (int j = 0; j < sites->n; j++) {
        if (!fp[j]) continue;
        float *w = sites->items[j]->weight->t.data;
        for (size_t k = 0; k < sites->items[j]->weight->t.size; k++) {
            float t = w[k];
            w[k] = fp[j][k];
            fp[j][k] = t;
        }
    }
}

/* The row-sampling seed of site i's captures: the same in every pass over that site. */
static uint64_t row_seed(uint64_t seed, int i) { return (seed ^ 0x5a3b1e5ULL) + (uint64_t)i * 0x9e3779b97f4a7c15ULL; }

static int site_index(const QuantSiteList *sites, const QuantSite *s) {
    for (int i = 0; i < sites->n; i++)
        if (sites->items[i] == s) return i;
    return -1;
}

/* Captures the input of `site` over the calibration batches with the quantizers
 * active[] on every site (NULL entries: FP). apply: the quantizer applied to the
 * captured input (its output is recorded), NULL for the raw input. */
static float *capture_input(QuantSiteList *sites, Quantizer **active, QuantSite *site, Quantizer *apply,
                            CalibSource *src, Graph *g, int nb, long max_examples, uint64_t seed, size_t *len,
                            long *examples, size_t *per_example) {
    for (int j = 0; j < sites->n; j++) sites->items[j]->q = active[j];
    Quantizer *spy = spy_new(site, apply, max_examples, 1, seed);
    site->q = spy;
    run_batches(src, g, nb);
    site->q = NULL;
    return spy_take(spy, len, examples, per_example);
}

/* ------------------------------------------------------------------------------------ */
/* Calibration                                                                           */

typedef struct {
    long up, nearest_up, differ, n;
    double loss_rtn, loss_ada, loss_soft;
} LayerStats;

static void optimise_layer(QuantSite *site, Quantizer *wq, const float *x_fp, const float *x_hat, long nex_img,
                           size_t per_example, const AdaOpts *o, LayerStats *st) {
    AdaLayer L;
    memset(&L, 0, sizeof L);
    L.kind = site->layer_kind;
    L.follow = site->follow;
    Param *wp = site->weight;
    int rows = wq->per_channel ? site->rows : 1;
    if (L.kind == LAYER_CONV2D) {
        const SiteGeometry *c = &site->geom;
        L.out = c->out, L.in = c->in, L.k = c->k, L.stride = c->stride, L.pad = c->pad;
        size_t hw = per_example / (size_t)c->in;
        int side = (int)lround(sqrt((double)hw));
        if (per_example % (size_t)c->in || (size_t)side * (size_t)side != hw)
            qat_die("adaround: the input of conv %s (%zu values per example, %d channels) is not a square "
                    "map; the capture does not record the map's shape",
                    site->layer, per_example, c->in);
        L.H = L.W = side;
        L.nex = (int)nex_img;
    } else if (L.kind == LAYER_LSTM) {
        /* One product of the gate pre-activation, x W_ih^T + b_ih or h_{t-1} W_hh^T + b_hh,
         * as a linear layer without activation; an example is one sampled row. */
        QAT_ASSERT(site->bias);
        L.kind = LAYER_LINEAR;
        L.follow = FOLLOW_NONE;
        L.out = wp->t.shape[0], L.in = wp->t.shape[1];
        if (per_example != (size_t)L.in)
            qat_die("adaround: the captured input of LSTM weight %s has rows of %zu values, expected %d",
                    site->layer, per_example, L.in);
        L.nex = (int)nex_img;
    } else {
        L.out = site->geom.out, L.in = site->geom.in;
        if (per_example % (size_t)L.in)
            qat_die("adaround: the input of linear %s is not a multiple of %d features", site->layer, L.in);
        L.nex = (int)(nex_img * (long)(per_example / (size_t)L.in)); /* one example per row */
    }
    L.bias = site->bias ? site->bias->t.data : NULL;
    L.rows = rows;
    L.w = wp->t.data;
    L.s = wq->params[0]->t.data;
    float *lo = qat_malloc((size_t)rows * sizeof(float)), *hi = qat_malloc((size_t)rows * sizeof(float));
    for (int r = 0; r < rows; r++) adaround_row_grid(wq, r, &lo[r], &hi[r]);
    L.lo = lo, L.hi = hi;
    L.x = x_hat;
    adaround_layer_setup(&L);
    QAT_ASSERT((size_t)L.nw == wp->t.size);

    float *target = qat_malloc((size_t)L.nex * L.y_len * sizeof(float));
    adaround_layer_output(&L, wp->t.data, x_fp, L.nex, target);
    L.target = target;

    float *v = qat_malloc((size_t)L.nw * sizeof(float));
    float *wq_rtn = qat_malloc((size_t)L.nw * sizeof(float)), *wq_ada = qat_malloc((size_t)L.nw * sizeof(float));
    adaround_init_v(&L, v);
    st->loss_soft = adaround_optimize(&L, v, o);
    adaround_hard_weights(&L, NULL, wq_rtn);
    adaround_hard_weights(&L, v, wq_ada);
    st->loss_rtn = adaround_recon_loss(&L, wq_rtn);
    st->loss_ada = adaround_recon_loss(&L, wq_ada);
    st->n = L.nw;
    st->up = st->nearest_up = st->differ = 0;
    int per_row = L.nw / rows;
    for (int i = 0; i < L.nw; i++) {
        float s = L.s[i / per_row];
        st->up += v[i] >= 0.0f;
        st->nearest_up += qround(L.w[i] / s) > L.fl[i];
        st->differ += wq_rtn[i] != wq_ada[i];
    }
    /* The final hard-rounded weights: the site's round-to-nearest forward reproduces them. */
    memcpy(wp->t.data, wq_ada, (size_t)L.nw * sizeof(float));
    free(v);
    free(wq_rtn);
    free(wq_ada);
    free(target);
    free(lo);
    free(hi);
    adaround_layer_free(&L);
}

void adaround_calibrate(QuantSiteList *sites, ParamList *params, const Config *cfg, CalibSource *src,
                        uint64_t seed) {
    (void)params;
    double t_start = runtime_now();
    long max_samples = (long)cfg_int(cfg, "quantizer_optimizer.max_samples");
    long iters_cfg = (long)cfg_int(cfg, "quantizer_optimizer.num_iterations");
    long batch = (long)cfg_int(cfg, "quantizer_optimizer.batch_size");
    double lr = cfg_float(cfg, "quantizer_optimizer.lr");
    double lambda = cfg_float(cfg, "quantizer_optimizer.lambda_reg");
    long skip_bits = (long)cfg_int(cfg, "quantizer.skip_at_bits");
    const char *sched = cfg_str(cfg, "quantizer.beta_schedule");
    int linear_beta = strcmp(sched, "linear") == 0; /* the schema's ranges hold for all of these */
    if (src->batch_size < 1 || src->nbatches < 1) qat_die("adaround: no calibration data");
    long nbl = (max_samples + src->batch_size - 1) / src->batch_size;
    int nb = (int)(nbl < src->nbatches ? nbl : src->nbatches);

    int n = sites->n;
    Quantizer **saved = qat_calloc((size_t)(n > 0 ? n : 1), sizeof *saved);
    Quantizer **active = qat_calloc((size_t)(n > 0 ? n : 1), sizeof *active);
    float **fpw = qat_calloc((size_t)(n > 0 ? n : 1), sizeof *fpw); /* FP copies of rounded weights */
    for (int i = 0; i < n; i++) saved[i] = sites->items[i]->q;
    Graph g;
    graph_init(&g, seed ^ 0xada0ada0ULL);
    Rng rng;
    rng_seed(&rng, seed ^ 0xada5eedULL);
    long seen = 0;
    int first_site = 0;
    const CalibProgress *rp = src->resume;
    if (rp) {
        /* A resumed run: the finished steps' results are in the params already. */
        rng = rp->rng;
        seen = rp->seen;
        first_site = rp->next_site;
        for (int i = 0; i < n; i++)
            if (rp->fp_weights[i]) {
                fpw[i] = qat_malloc(sites->items[i]->weight->t.size * sizeof(float));
                memcpy(fpw[i], rp->fp_weights[i], sites->items[i]->weight->t.size * sizeof(float));
            }
        fprintf(stderr, "adaround: resuming at site %d of %d\n", first_site + 1, n);
    }
    CalibProgress progress = {1, 0, rng, 0, fpw};

    /* 1. Static input quantizers (3.7): MSE search on the FP activations. */
    Quantizer **spies = qat_calloc((size_t)(n > 0 ? n : 1), sizeof *spies);
    int ninputs = 0;
    for (int i = 0; i < n; i++) {
        QuantSite *s = sites->items[i];
        s->q = NULL;
        if (s->kind == SITE_INPUT && saved[i] && !(rp && rp->inputs_done)) {
            spies[i] = spy_new(s, NULL, max_samples, 0, row_seed(seed, i));
            ninputs++;
        }
    }
    if (ninputs) {
        for (int i = 0; i < n; i++) sites->items[i]->q = spies[i];
        run_batches(src, &g, nb);
        for (int i = 0; i < n; i++) {
            if (!spies[i]) continue;
            QuantSite *s = sites->items[i];
            s->q = NULL;
            size_t len, per;
            long ex;
            int rows = sampled_row_width(s) > 0;
            float *x = spy_take(spies[i], &len, &ex, &per);
            if (!rows && ex > seen) seen = ex;
            Quantizer *q = saved[i];
            if (len == 0) {
                fprintf(stderr, "adaround: warning: input %s saw no calibration data; its scale is set on "
                                "first use\n", s->layer);
            } else {
                float lo, hi;
                adaround_row_grid(q, 0, &lo, &hi);
                q->params[0]->t.data[0] = adaround_grid_search(x, len, lo, hi);
                q->initialized = 1;
                fprintf(stderr, "adaround: input %-12s %2d-bit %-8s scale %.6g (%ld %s)\n", s->layer, q->bits,
                        q->is_signed ? "signed" : "unsigned", (double)q->params[0]->t.data[0], ex,
                        rows ? "sampled rows" : "examples");
            }
            free(x);
        }
    }
    free(spies);
    if (!rp && src->save) {
        for (int i = 0; i < n; i++) sites->items[i]->q = saved[i];
        progress.rng = rng, progress.seen = seen;
        src->save(src->ctx, &progress);
    }

    /* 2. Weights, one layer at a time in forward order. */
    for (int i = first_site; i < n; i++) {
        QuantSite *site = sites->items[i];
        Quantizer *wq = saved[i];
        if (site->kind != SITE_WEIGHT || !wq) continue;
        double tl = runtime_now();
        Param *wp = site->weight;
        int rows = wq->per_channel ? site->rows : 1;
        adaround_weight_grid(wq, wp->t.data, wp->t.size, rows);
        wq->initialized = 1;
        if (wq->bits >= skip_bits || site->layer_kind == LAYER_EMBEDDING) {
            fprintf(stderr, "adaround: %-12s %2d-bit weights: round to nearest (%s)\n", site->layer, wq->bits,
                    site->layer_kind == LAYER_EMBEDDING ? "embedding" : "bits >= quantizer.skip_at_bits");
            continue;
        }
        QAT_ASSERT(site->layer_kind == LAYER_LINEAR || site->layer_kind == LAYER_CONV2D ||
                   site->layer_kind == LAYER_LSTM);
        QAT_ASSERT(site->partner && site->geom.in > 0 && site->geom.out > 0);
        int pi = site_index(sites, site->partner);
        QAT_ASSERT(pi >= 0);
        int by_rows = sampled_row_width(site->partner) > 0;

        /* x: the FP model's input to this layer (every quantizer off, the FP weights of
         * the layers already rounded swapped back in for the pass). */
        for (int j = 0; j < n; j++) active[j] = NULL;
        size_t len_fp, per_fp, len_q, per_q;
        long ex_fp, ex_q;
        swap_fp_weights(sites, fpw);
        float *x_fp = capture_input(sites, active, site->partner, NULL, src, &g, nb, max_samples,
                                    row_seed(seed, pi), &len_fp, &ex_fp, &per_fp);
        swap_fp_weights(sites, fpw);
        if (!by_rows && ex_fp > seen) seen = ex_fp;
        /* x_hat: earlier layers hard-rounded, input quantizers on (this layer's own input
         * quantizer applied to what is recorded), this layer and later ones FP. */
        for (int j = 0; j < n; j++)
            active[j] = sites->items[j]->kind == SITE_INPUT ? saved[j] : (j < i ? saved[j] : NULL);
        Quantizer *own = active[pi];
        active[pi] = NULL;
        float *x_hat = capture_input(sites, active, site->partner, own, src, &g, nb, max_samples,
                                     row_seed(seed, pi), &len_q, &ex_q, &per_q);
        if (len_fp == 0)
            qat_die("adaround: no calibration data reached the input of %s (%d batches)", site->layer, nb);
        if (len_fp != len_q || ex_fp != ex_q)
            qat_die("adaround: the FP and quantized passes gave different inputs for %s (%zu vs %zu values)",
                    site->layer, len_fp, len_q);

        long T = iters_cfg ? iters_cfg : (wq->bits >= 8 ? 10000 : 15000);
        AdaOpts o = {T, (int)batch, (float)lr, (float)lambda, linear_beta, rng_u64(&rng), src->poll, src->ctx};
        LayerStats st;
        fpw[i] = qat_malloc(wp->t.size * sizeof(float));
        memcpy(fpw[i], wp->t.data, wp->t.size * sizeof(float));
        optimise_layer(site, wq, x_fp, x_hat, ex_fp, per_fp, &o, &st);
        free(x_fp);
        free(x_hat);
        fprintf(stderr,
                "adaround: %-12s %2d-bit weights: %ld it, rec loss %.4g (nearest %.4g, soft %.4g), "
                "rounded up %ld/%ld (nearest: %ld), %ld differ from nearest, %.1f s\n",
                site->layer, wq->bits, T, st.loss_ada, st.loss_rtn, st.loss_soft, st.up, st.n, st.nearest_up,
                st.differ, runtime_now() - tl);
        if (src->save) {
            /* the model as it will run: every site with its own quantizer */
            for (int j = 0; j < n; j++) sites->items[j]->q = saved[j];
            progress.next_site = i + 1, progress.rng = rng, progress.seen = seen;
            src->save(src->ctx, &progress);
        }
    }

    for (int i = 0; i < n; i++) sites->items[i]->q = saved[i];
    for (int i = 0; i < n; i++) free(fpw[i]);
    free(fpw);
    free(saved);
    free(active);
    graph_free(&g);
    /* LSTM inputs count sampled rows, not examples: with only those, print the batches */
    if (seen > 0)
        fprintf(stderr, "adaround: calibration on %ld examples (%d batches) took %.1f s\n", seen, nb,
                runtime_now() - t_start);
    else
        fprintf(stderr, "adaround: calibration on %d batches took %.1f s\n", nb, runtime_now() - t_start);
}
