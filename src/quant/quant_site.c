#include "quant/quant_site.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

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

void quant_site_list_free(QuantSiteList *l) {
    free(l->items);
    memset(l, 0, sizeof *l);
}

typedef struct {
    QuantSite *site;
    Tensor *x, *y;
    int batch;
} QuantCtx;

static QuantInput site_input(const QuantSite *s, const Tensor *x, int batch) {
    QuantInput in = {x->data, x->size, s->q->per_channel ? s->rows : 1, batch};
    return in;
}

static void quant_backward(void *p) {
    QuantCtx *c = p;
    Quantizer *q = c->site->q;
    q->ops->backward(q, site_input(c->site, c->x, c->batch), c->y->grad, c->x->grad);
}

Tensor *quant_site_apply(Graph *g, QuantSite *s, Tensor *x, int batch) {
    Quantizer *q = s->q;
    if (!q) return x;
    QuantInput in = site_input(s, x, batch);
    if (!q->initialized) {
        q->ops->init(q, in);
        q->initialized = 1;
    }
    /* Quantizer parameters learn even when x itself takes no gradient. */
    int grad = g->training;
    Tensor *y = graph_tensor(g, grad, x->ndim, x->shape);
    q->ops->forward(q, in, y->data);
    if (grad) {
        QuantCtx *c = graph_alloc(g, sizeof *c);
        c->site = s;
        c->x = x;
        c->y = y;
        c->batch = batch;
        graph_push(g, quant_backward, c);
    }
    return y;
}
