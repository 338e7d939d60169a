#include "layers/layers.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/int_ops.h"

static Param *make_param(LayerBuilder *lb, const char *layer, const char *what, int ndim,
                         const int *shape, ParamGroup group) {
    char name[96];
    snprintf(name, sizeof name, "%s.%s", layer, what);
    Param *p = param_new(name, ndim, shape, group);
    param_list_add(lb->params, p);
    return p;
}

static void fill_uniform(Param *p, Rng *rng, float bound) {
    for (size_t i = 0; i < p->t.size; i++) p->t.data[i] = rng_uniform_range(rng, -bound, bound);
}

void linear_init(Linear *l, LayerBuilder *lb, const char *name, int in, int out, int bias,
                 SiteSpec spec) {
    memset(l, 0, sizeof *l);
    l->in = in;
    l->out = out;
    int ws[2] = {out, in};
    l->w = make_param(lb, name, "weight", 2, ws, PARAM_GROUP_WEIGHT);
    float bound = 1.0f / sqrtf((float)in);
    fill_uniform(l->w, lb->rng, bound);
    if (bias) {
        l->b = make_param(lb, name, "bias", 1, &out, PARAM_GROUP_NO_DECAY);
        fill_uniform(l->b, lb->rng, bound);
    }
    quant_site_declare(lb->sites, &l->wq, name, SITE_WEIGHT, 1, spec.position, out);
    quant_site_declare(lb->sites, &l->xq, name, SITE_INPUT, spec.input_signed, spec.position, 1);
    quant_site_bind(&l->wq, &l->xq, LAYER_LINEAR, (SiteGeometry){.in = in, .out = out}, l->w, l->b, spec.follow);
}

void conv2d_init(Conv2d *c, LayerBuilder *lb, const char *name, int in, int out, int k,
                 int stride, int pad, int bias, SiteSpec spec) {
    memset(c, 0, sizeof *c);
    c->in = in;
    c->out = out;
    c->k = k;
    c->stride = stride;
    c->pad = pad;
    int ws[4] = {out, in, k, k};
    c->w = make_param(lb, name, "weight", 4, ws, PARAM_GROUP_WEIGHT);
    float bound = 1.0f / sqrtf((float)(in * k * k));
    fill_uniform(c->w, lb->rng, bound);
    if (bias) {
        c->b = make_param(lb, name, "bias", 1, &out, PARAM_GROUP_NO_DECAY);
        fill_uniform(c->b, lb->rng, bound);
    }
    quant_site_declare(lb->sites, &c->wq, name, SITE_WEIGHT, 1, spec.position, out);
    quant_site_declare(lb->sites, &c->xq, name, SITE_INPUT, spec.input_signed, spec.position, 1);
    quant_site_bind(&c->wq, &c->xq, LAYER_CONV2D, (SiteGeometry){in, out, k, stride, pad}, c->w, c->b,
                    spec.follow);
}

void embedding_init(Embedding *e, LayerBuilder *lb, const char *name, int rows, int dim,
                    int padding_idx, SitePosition position) {
    memset(e, 0, sizeof *e);
    e->rows = rows;
    e->dim = dim;
    e->padding_idx = padding_idx;
    int s[2] = {rows, dim};
    e->table = make_param(lb, name, "weight", 2, s, PARAM_GROUP_WEIGHT);
    for (size_t i = 0; i < e->table->t.size; i++) e->table->t.data[i] = rng_normal(lb->rng);
    if (padding_idx >= 0) memset(e->table->t.data + (size_t)padding_idx * dim, 0, (size_t)dim * sizeof(float));
    quant_site_declare(lb->sites, &e->wq, name, SITE_WEIGHT, 1, position, rows);
    quant_site_bind(&e->wq, NULL, LAYER_EMBEDDING, (SiteGeometry){.in = rows, .out = dim}, e->table, NULL, FOLLOW_NONE);
}

/* ---- the integer engine (g->integer): the layer's product on codes, when its two sites
 * have integer grids; NULL (float, as fake-quant) otherwise ------------------------------ */

static int int_inputs(Graph *g, QuantSite *wq, const Param *w, QuantSite *xq, const Tensor *x, IntCodes *xc,
                      IntWeightCodes *wc) {
    return quant_site_int_weights(wq, w, 0, 0, wc) && quant_site_int_codes(g, xq, x, xc);
}

static Tensor *linear_int(Graph *g, Linear *l, Tensor *x) {
    IntCodes xc;
    IntWeightCodes wc;
    if (x->ndim != 2 || !int_inputs(g, &l->wq, l->w, &l->xq, x, &xc, &wc)) return NULL;
    return op_linear_int(g, xc, x->shape[0], l->in, wc, l->out, l->b ? &l->b->t : NULL);
}

static Tensor *conv2d_int(Graph *g, Conv2d *c, Tensor *x, ConvAct act, ConvLayout layout) {
    IntCodes xc;
    IntWeightCodes wc;
    if (!int_inputs(g, &c->wq, c->w, &c->xq, x, &xc, &wc)) return NULL;
    return op_conv2d_int(g, xc, x->shape, layout, wc, c->out, c->k, c->stride, c->pad, c->b ? &c->b->t : NULL, act);
}

/* Counts the call as integer or float; returns y. */
static Tensor *counted(Graph *g, Tensor *y) {
    graph_count_layer_call(g, y != NULL);
    return y;
}

Tensor *linear_forward(Graph *g, Linear *l, Tensor *x, int batch) {
    if (g->integer) {
        Tensor *y = counted(g, linear_int(g, l, x));
        if (y) return y;
    }
    Tensor *xq = quant_site_apply(g, &l->xq, x, batch);
    Tensor *wq = quant_site_apply(g, &l->wq, &l->w->t, 1);
    return op_matmul_bias(g, xq, wq, l->b ? &l->b->t : NULL);
}

Tensor *conv2d_forward(Graph *g, Conv2d *c, Tensor *x, ConvAct act, ConvLayout layout) {
    if (g->integer) {
        Tensor *y = counted(g, conv2d_int(g, c, x, act, layout));
        if (y) return y;
    }
    /* The input quantizer goes to the op, which fuses it into its loops where it can. */
    Quantizer *xq = quant_site_ready(&c->xq, x, x->shape[0], g->training);
    Tensor *wq = quant_site_apply(g, &c->wq, &c->w->t, 1);
    ConvSpec spec = {c->stride, c->pad, layout, act, xq};
    return op_conv2d(g, x, wq, c->b ? &c->b->t : NULL, spec);
}

Tensor *embedding_forward(Graph *g, Embedding *e, const int *ids, int n) {
    if (g->integer && e->wq.q) { /* the rows from codes, not the whole table quantized */
        Tensor *y = graph_tensor2(g, 0, n, e->table->t.shape[1]);
        if (counted(g, quant_site_int_rows(&e->wq, e->table, ids, n, y->data) ? y : NULL)) return y;
    }
    Tensor *tq = quant_site_apply(g, &e->wq, &e->table->t, 1);
    return op_embedding(g, tq, ids, n, e->padding_idx);
}
