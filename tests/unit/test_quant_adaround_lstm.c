/* AdaRound on LSTM layers (quant/adaround.c, LSTM paragraph): adaround_calibrate on a
 * tiny 2-layer bidirectional LSTM over packed batches of uneven lengths, whose per-step
 * h_{t-1} calls and [total steps, in] layer inputs are not multiples of the batch:
 *  - it runs, and every weight ends on its grid (the site's forward reproduces it, the
 *    exported codes are in range and give it back);
 *  - the layer input's scale is fitted on rows sampled over the whole pass, not on the
 *    first rows (the last batch is 8x larger than the others);
 *  - the first layer's W_ih (lstm.l0.ih, lstm.l0_reverse.ih: their input is the data
 *    itself), calibrated on all rows, reconstructs the FP product on them at least as
 *    well as round to nearest on the same grid; some weights are rounded otherwise;
 *  - a second calibration from the FP weights gives the same weights. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/graph.h"
#include "core/rng.h"
#include "io/config.h"
#include "layers/lstm.h"
#include "ptq/adaround.h"
#include "quant/method.h"

enum { L = 2, D = 4, H = 5, B = 4, NB = 4, BIG = 8 };

typedef struct {
    LstmLayer layer[L];
    ParamList params;
    QuantSiteList sites;
    int len[NB * B];   /* per batch, longest first */
    float *x;          /* the batches' packed inputs, one after the other */
    size_t xoff[NB + 1];
} Net;

static void net_init(Net *n, uint64_t seed) {
    memset(n, 0, sizeof *n);
    Rng rng;
    rng_seed(&rng, seed);
    LayerBuilder lb = {&n->params, &n->sites, &rng};
    for (int l = 0; l < L; l++) lstm_layer_init(&n->layer[l], &lb, "lstm", l, l ? 2 * H : D, H, 1);
    for (int b = 0; b < NB; b++) {
        int *len = n->len + b * B;
        for (int i = 0; i < B; i++) len[i] = 3 + (int)rng_below(&rng, 10);
        for (int i = 1; i < B; i++) /* longest first */
            for (int j = i; j > 0 && len[j] > len[j - 1]; j--) {
                int t = len[j];
                len[j] = len[j - 1], len[j - 1] = t;
            }
        int N = 0;
        for (int i = 0; i < B; i++) N += len[i];
        n->xoff[b + 1] = n->xoff[b] + (size_t)N * D;
    }
    n->x = malloc(n->xoff[NB] * sizeof(float));
    /* correlated features (a shared component per row), where the rounding errors of a
     * weight row add up unless they are chosen together */
    for (int b = 0; b < NB; b++)
        for (size_t r = n->xoff[b]; r < n->xoff[b + 1]; r += D) {
            float c = rng_normal(&rng);
            for (int j = 0; j < D; j++) n->x[r + j] = (rng_normal(&rng) + c) * (b == NB - 1 ? BIG : 1);
        }
}

static void net_free(Net *n) {
    free(n->x);
    quant_site_list_free(&n->sites);
    param_list_free(&n->params, 1);
}

static void net_forward(void *ctx, Graph *g, int b) {
    Net *n = ctx;
    LstmPack p;
    lstm_pack(g, &p, n->len + b * B, B);
    int s[2] = {p.N, D};
    Tensor *h = graph_input(g, n->x + n->xoff[b], 2, s);
    for (int l = 0; l < L; l++) lstm_layer_forward(g, &n->layer[l], &p, h, &h);
}

/* Mean over every row of the batches of ||Q_x(x) w^T - x w_fp^T||^2 (the bias cancels;
 * xq NULL: x unquantized). */
static double product_loss(const Net *n, Quantizer *xq, const float *w, const float *w_fp) {
    double sum = 0.0;
    size_t rows = 0;
    for (int b = 0; b < NB; b++) {
        const float *x = n->x + n->xoff[b];
        size_t cnt = n->xoff[b + 1] - n->xoff[b];
        float *xh = malloc(cnt * sizeof(float));
        QuantInput in = {x, cnt, 1, B, 0};
        if (xq) xq->ops->forward(xq, in, xh);
        else memcpy(xh, x, cnt * sizeof(float));
        for (size_t r = 0; r < cnt / D; r++, rows++)
            for (int o = 0; o < 4 * H; o++) {
                double a = 0.0, f = 0.0;
                for (int j = 0; j < D; j++) {
                    a += (double)xh[r * D + j] * w[o * D + j];
                    f += (double)x[r * D + j] * w_fp[o * D + j];
                }
                sum += (a - f) * (a - f);
            }
        free(xh);
    }
    return sum / (double)rows;
}

/* all_rows: max_samples covers every row, so AdaRound optimises the very loss the product
 * check measures (from a sample, beating nearest on the other rows is likely, not sure). */
static void run(const char *const *sets, int nsets, int all_rows, const char *what) {
    Net n;
    net_init(&n, 11);
    /* FP copies of every weight */
    float *wfp[2 * L * 2];
    QuantSite *wsites[2 * L * 2];
    int nw = 0;
    for (int i = 0; i < n.sites.n; i++) {
        QuantSite *s = n.sites.items[i];
        if (s->kind != SITE_WEIGHT) continue;
        CHECK(s->layer_kind == LAYER_LSTM && s->bias != NULL && s->geom.out == s->weight->t.shape[0]);
        wsites[nw] = s;
        wfp[nw] = malloc(s->weight->t.size * sizeof(float));
        memcpy(wfp[nw], s->weight->t.data, s->weight->t.size * sizeof(float));
        nw++;
    }
    CHECK(nw == 2 * L * 2);

    const CfgField *schemas[] = {quant_schema, NULL};
    ConfigGrid grid;
    config_grid_init(&grid, schemas);
    config_grid_set(&grid, "quantizer.bit_width=3");
    config_grid_set(&grid, "quantizer_optimizer.num_iterations=2000");
    config_grid_set(&grid, "quantizer_optimizer.batch_size=8");
    for (int i = 0; i < nsets; i++) config_grid_set(&grid, sets[i]);
    Config cfg;
    config_grid_get(&grid, 0, &cfg);
    quant_attach(adaround_make, &cfg, &n.sites, &n.params);
    CalibSource src = {net_forward, &n, NB, B, NULL, NULL, NULL};
    adaround_calibrate(&n.sites, &n.params, &cfg, &src, 7);

    /* every weight on its grid */
    int ok = 1, differ = 0;
    for (int k = 0; k < nw; k++) {
        QuantSite *s = wsites[k];
        Quantizer *q = s->q;
        CHECK(q && q->initialized);
        Param *wp = s->weight;
        int rows = q->per_channel ? s->rows : 1;
        size_t per = wp->t.size / (size_t)rows;
        float *y = malloc(wp->t.size * sizeof(float)), *rtn = malloc(wp->t.size * sizeof(float));
        int32_t *codes = malloc(wp->t.size * sizeof(int32_t));
        float *scales = malloc((size_t)rows * sizeof(float));
        QuantInput in = {wp->t.data, wp->t.size, rows, 1, 0};
        q->ops->forward(q, in, y);
        for (size_t i = 0; i < wp->t.size; i++) ok &= y[i] == wp->t.data[i];
        QuantExport ex = {codes, scales, NULL, 0, 0.0f};
        q->ops->export_codes(q, in, &ex);
        for (size_t i = 0; i < wp->t.size; i++) {
            int r = (int)(i / per);
            ok &= codes[i] >= -4 && codes[i] <= 3 && scales[r] * (float)codes[i] == wp->t.data[i];
        }
        QuantInput infp = {wfp[k], wp->t.size, rows, 1, 0};
        q->ops->forward(q, infp, rtn);
        for (size_t i = 0; i < wp->t.size; i++) differ += rtn[i] != wp->t.data[i];
        free(y), free(rtn), free(codes), free(scales);
    }
    printf("  %s: %d weights rounded otherwise than to nearest\n", what, differ);
    CHECK(ok);
    CHECK(differ > 0);

    /* input quantizers: the layer input's range covers the large last batch */
    QuantSite *x0 = &n.layer[0].x_q;
    if (x0->q) {
        for (int l = 0; l < L; l++) {
            CHECK(n.layer[l].x_q.q->initialized);
            for (int d = 0; d < 2; d++) CHECK(n.layer[l].dir[d].h_q.q && n.layer[l].dir[d].h_q.q->initialized);
        }
        float m0 = 0.0f;
        for (size_t i = 0; i < n.xoff[NB - 1]; i++) m0 = fmaxf(m0, fabsf(n.x[i]));
        float range = x0->q->params[0]->t.data[0] * 3.0f;
        printf("  %s: layer input range %.4g, max |x| of the batches before the last %.4g\n", what, range, m0);
        CHECK(range > 1.5f * m0);
    }

    /* layer 1's W_ih: AdaRound <= round to nearest on every row of the batches */
    for (int d = 0; d < 2; d++) {
        QuantSite *s = &n.layer[0].dir[d].wih_q;
        int k = 0;
        while (wsites[k] != s) k++;
        Param *wp = s->weight;
        int rows = s->q->per_channel ? s->rows : 1;
        float *rtn = malloc(wp->t.size * sizeof(float));
        QuantInput infp = {wfp[k], wp->t.size, rows, 1, 0};
        s->q->ops->forward(s->q, infp, rtn);
        double e_ada = product_loss(&n, x0->q, wp->t.data, wfp[k]), e_rtn = product_loss(&n, x0->q, rtn, wfp[k]);
        printf("  %s: %s product loss adaround %.6g, nearest %.6g\n", what, s->layer, e_ada, e_rtn);
        if (all_rows) CHECK(e_ada <= e_rtn);
        free(rtn);
    }

    /* deterministic: again from the FP weights, the same weights */
    float *wada[2 * L * 2];
    for (int k = 0; k < nw; k++) {
        Param *wp = wsites[k]->weight;
        wada[k] = malloc(wp->t.size * sizeof(float));
        memcpy(wada[k], wp->t.data, wp->t.size * sizeof(float));
        memcpy(wp->t.data, wfp[k], wp->t.size * sizeof(float));
    }
    adaround_calibrate(&n.sites, &n.params, &cfg, &src, 7);
    ok = 1;
    for (int k = 0; k < nw; k++) {
        Param *wp = wsites[k]->weight;
        ok &= memcmp(wada[k], wp->t.data, wp->t.size * sizeof(float)) == 0;
        free(wada[k]);
        free(wfp[k]);
    }
    CHECK(ok);

    config_grid_free(&cfg);
    config_grid_free(&grid);
    net_free(&n);
}

int main(void) {
    /* 48 rows sampled of about 120 per LSTM input */
    const char *sampled[] = {"quantizer.act_bits=3", "quantizer_optimizer.max_samples=48"};
    run(sampled, 2, 0, "W3A3 per tensor, 48 rows");
    /* every row: the reconstruction runs on exactly the rows the product check measures */
    const char *wa[] = {"quantizer.act_bits=3", "quantizer_optimizer.max_samples=1000"};
    run(wa, 2, 1, "W3A3 per tensor, all rows");
    const char *w_only[] = {"quantizer.act_bits=32", "quantizer.per_channel=true", "quantizer_optimizer.max_samples=1000"};
    run(w_only, 3, 1, "W3A32 per channel, all rows");
    return check_done("adaround_lstm");
}
