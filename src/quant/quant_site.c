#include "quant/quant_site.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nn/ops.h"

void quant_site_declare(QuantSiteList *l, QuantSite *s, const char *layer, SiteKind kind,
                        int is_signed, SitePosition position, int rows) {
    memset(s, 0, sizeof *s);
    snprintf(s->layer, sizeof s->layer, "%s", layer);
    s->kind = kind;
    s->is_signed = is_signed;
    s->position = position;
    s->rows = rows;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->items = qat_realloc(l->items, (size_t)l->cap * sizeof *l->items);
    }
    l->items[l->n++] = s;
}

void quant_site_bind(QuantSite *w, QuantSite *x, LayerKind kind, SiteGeometry geom, Param *weight, Param *bias,
                     FollowAct follow) {
    QuantSite *both[2] = {w, x};
    for (int i = 0; i < 2; i++) {
        if (!both[i]) continue;
        both[i]->layer_kind = kind;
        both[i]->geom = geom;
        both[i]->weight = weight;
        both[i]->bias = bias;
        both[i]->follow = follow;
        both[i]->partner = both[1 - i];
    }
}

void quant_sites_clamp(QuantSiteList *l) {
    for (int i = 0; i < l->n; i++) {
        Quantizer *q = l->items[i]->q;
        if (q && q->ops->clamp) q->ops->clamp(q);
    }
}

void quant_sites_mark_loaded(QuantSiteList *l) {
    for (int i = 0; i < l->n; i++) {
        Quantizer *q = l->items[i]->q;
        if (!q || q->nparams == 0) continue;
        int all = 1;
        for (int k = 0; k < q->nparams; k++) all &= q->params[k]->loaded;
        if (all) q->initialized = 1;
    }
}

void quant_site_list_free(QuantSiteList *l) {
    for (int i = 0; i < l->n; i++) {
        quantizer_free(l->items[i]->q);
        l->items[i]->q = NULL;
    }
    free(l->items);
    memset(l, 0, sizeof *l);
}

static QuantInput site_input(const QuantSite *s, const Tensor *x, int batch, int training) {
    QuantInput in = {x->data, x->size, s->q->per_channel ? s->rows : 1, batch, training};
    return in;
}

static void init_on_first_use(QuantSite *s, const Tensor *x, int batch, int training) {
    if (s->q->initialized) return;
    s->q->ops->init(s->q, site_input(s, x, batch, training));
    s->q->initialized = 1;
}

Quantizer *quant_site_ready(QuantSite *s, const Tensor *x, int batch, int training) {
    if (!s->q) return NULL;
    init_on_first_use(s, x, batch, training);
    if (training) quantizer_begin_step(s->q, site_input(s, x, batch, training));
    return s->q;
}

Tensor *quant_site_apply(Graph *g, QuantSite *s, Tensor *x, int batch) {
    graph_set_scope(g, s->layer);
    Quantizer *q = s->q;
    if (!q) return x;
    init_on_first_use(s, x, batch, g->training);
    if (g->training) quantizer_begin_step(q, site_input(s, x, batch, 1));
    return op_fake_quant(g, q, x, q->per_channel ? s->rows : 1, batch);
}
