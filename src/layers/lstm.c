#include "layers/lstm.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

/* ------------------------------------------------------------------------------------ */
/* Parameters and quant sites                                                            */

static Param *new_param(LayerBuilder *lb, const char *name, const char *what, int index, int reverse,
                        int rows, int cols, float bound) {
    char full[96];
    snprintf(full, sizeof full, "%s.%s_l%d%s", name, what, index, reverse ? "_reverse" : "");
    int shape[2] = {rows, cols};
    Param *p = param_new(full, cols ? 2 : 1, shape, cols ? PARAM_GROUP_WEIGHT : PARAM_GROUP_NO_DECAY);
    for (size_t i = 0; i < p->t.size; i++) p->t.data[i] = rng_uniform_range(lb->rng, -bound, bound);
    param_list_add(lb->params, p);
    return p;
}

void lstm_layer_init(LstmLayer *l, LayerBuilder *lb, const char *name, int index, int in, int hidden,
                     int bidirectional) {
    memset(l, 0, sizeof *l);
    l->in = in;
    l->hidden = hidden;
    l->ndir = bidirectional ? 2 : 1;
    int G = 4 * hidden;
    float bound = 1.0f / sqrtf((float)hidden);
    char site[64];
    snprintf(site, sizeof site, "%s.l%d", name, index);
    quant_site_declare(lb->sites, &l->x_q, site, SITE_INPUT, 1, SITE_MIDDLE, 1);
    for (int d = 0; d < l->ndir; d++) {
        LstmDirection *dir = &l->dir[d];
        dir->w_ih = new_param(lb, name, "weight_ih", index, d, G, in, bound);
        dir->w_hh = new_param(lb, name, "weight_hh", index, d, G, hidden, bound);
        dir->b_ih = new_param(lb, name, "bias_ih", index, d, G, 0, bound);
        dir->b_hh = new_param(lb, name, "bias_hh", index, d, G, 0, bound);
        snprintf(site, sizeof site, "%s.l%d%s.ih", name, index, d ? "_reverse" : "");
        quant_site_declare(lb->sites, &dir->wih_q, site, SITE_WEIGHT, 1, SITE_MIDDLE, G);
        snprintf(site, sizeof site, "%s.l%d%s.hh", name, index, d ? "_reverse" : "");
        quant_site_declare(lb->sites, &dir->whh_q, site, SITE_WEIGHT, 1, SITE_MIDDLE, G);
        quant_site_declare(lb->sites, &dir->h_q, site, SITE_INPUT, 1, SITE_MIDDLE, 1);
        /* Weight and input of each product, for the site table, the model size and PTQ
         * (AdaRound rebuilds each product x W^T + b from the direction's parameters). */
        dir->wih_q.layer_kind = dir->whh_q.layer_kind = dir->h_q.layer_kind = LAYER_LSTM;
        dir->wih_q.geom = (SiteGeometry){.in = in, .out = G};
        dir->whh_q.geom = dir->h_q.geom = (SiteGeometry){.in = hidden, .out = G};
        dir->wih_q.weight = dir->w_ih;
        dir->wih_q.bias = dir->b_ih;
        dir->wih_q.partner = &l->x_q;
        dir->whh_q.weight = dir->w_hh;
        dir->whh_q.bias = dir->b_hh;
        dir->whh_q.partner = &dir->h_q;
        dir->h_q.weight = dir->w_hh;
        dir->h_q.bias = dir->b_hh;
        dir->h_q.partner = &dir->whh_q;
    }
    l->x_q.layer_kind = LAYER_LSTM;
    l->x_q.geom = l->dir[0].wih_q.geom;
    l->x_q.partner = &l->dir[0].wih_q;
    l->x_q.weight = l->dir[0].w_ih;
    l->x_q.bias = l->dir[0].b_ih;
}

/* The integer engine's codes of both directions: 1 when every product can run on them
 * (the input, W_ih, W_hh and h_{t-1} sites all integer grids, h's initialised). */
static int lstm_integer(Graph *g, LstmLayer *l, const Tensor *x, LstmInt *in8) {
    IntCodes xc;
    if (!quant_site_int_codes(g, &l->x_q, x, &xc)) return 0;
    for (int d = 0; d < l->ndir; d++) {
        LstmDirection *dir = &l->dir[d];
        Quantizer *hq = dir->h_q.q;
        if (!quant_site_int_weights(&dir->wih_q, dir->w_ih, 0, 0, &in8[d].wih) ||
            !quant_site_int_weights(&dir->whh_q, dir->w_hh, 0, 0, &in8[d].whh) || !hq || !hq->initialized ||
            !hq->ops->describe)
            return 0;
        in8[d].x = xc;
        hq->ops->describe(hq, &in8[d].h);
        if (!quant_int_grid(&in8[d].h, &in8[d].hg)) return 0;
    }
    return 1;
}

Tensor *lstm_layer_forward(Graph *g, LstmLayer *l, const LstmPack *p, Tensor *x, Tensor **y) {
    if (x->ndim != 2 || x->shape[0] != p->N || x->shape[1] != l->in) {
        char s[64];
        qat_die("lstm: input %s, expected [%d, %d]", tensor_shape_str(x, s, sizeof s), p->N, l->in);
    }
    LstmInt in8[2];
    int integer = g->integer && lstm_integer(g, l, x, in8);
    if (g->integer) graph_count_layer_call(g, integer);
    /* (the integer products read codes: no fake-quantized copies) */
    Tensor *xq = integer ? x : quant_site_apply(g, &l->x_q, x, p->B);
    LstmWeights w[2];
    for (int d = 0; d < l->ndir; d++) {
        LstmDirection *dir = &l->dir[d];
        w[d].w_ih = integer ? &dir->w_ih->t : quant_site_apply(g, &dir->wih_q, &dir->w_ih->t, 1);
        w[d].w_hh = integer ? &dir->w_hh->t : quant_site_apply(g, &dir->whh_q, &dir->w_hh->t, 1);
        w[d].b_ih = &dir->b_ih->t, w[d].b_hh = &dir->b_hh->t;
        /* taken from the site at each forward: a calibration that swaps it sees the calls */
        w[d].hq = dir->h_q.q;
        w[d].integer = integer ? &in8[d] : NULL;
    }
    /* An h_{t-1} quantizer not yet initialised takes its parameters from this batch's FP
     * states (as every activation quantizer does from its first batch); then the batch
     * runs quantized. */
    float *h[2] = {NULL, NULL};
    int need_init = 0;
    for (int d = 0; d < l->ndir; d++)
        if (w[d].hq && !w[d].hq->initialized) {
            h[d] = graph_alloc(g, (size_t)p->N * l->hidden * sizeof(float));
            need_init = 1;
        }
    if (need_init) {
        op_lstm_fp_h(g, p, xq, w, l->ndir, l->hidden, h);
        for (int d = 0; d < l->ndir; d++) {
            if (!h[d]) continue;
            QuantInput in = {h[d], (size_t)p->N * l->hidden, 1, p->B, g->training};
            w[d].hq->ops->init(w[d].hq, in);
            w[d].hq->initialized = 1;
        }
    }
    for (int d = 0; d < l->ndir && g->training; d++)
        if (w[d].hq) /* after its initialisation; h itself comes only inside the op */
            quantizer_begin_step(w[d].hq, (QuantInput){NULL, (size_t)p->N * l->hidden, 1, p->B, 1});
    return op_lstm(g, p, xq, w, l->ndir, l->hidden, y);
}
