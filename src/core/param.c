#include "core/param.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

Param *param_new(const char *name, int ndim, const int *shape, ParamGroup group) {
    QAT_ASSERT(ndim >= 1 && ndim <= QAT_MAX_DIMS);
    Param *p = qat_calloc(1, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->t.ndim = ndim;
    for (int i = 0; i < ndim; i++) p->t.shape[i] = shape[i];
    p->t.size = shape_size(ndim, shape);
    p->t.data = qat_calloc(p->t.size, sizeof(float));
    p->t.grad = qat_calloc(p->t.size, sizeof(float));
    p->m = qat_calloc(p->t.size, sizeof(float));
    p->v = qat_calloc(p->t.size, sizeof(float));
    p->group = group;
    p->lr_scale = 1.0f;
    return p;
}

void param_free(Param *p) {
    if (!p) return;
    free(p->t.data);
    free(p->t.grad);
    free(p->m);
    free(p->v);
    free(p);
}

void param_list_add(ParamList *l, Param *p) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->items = qat_realloc(l->items, (size_t)l->cap * sizeof *l->items);
    }
    l->items[l->n++] = p;
}

void param_list_free(ParamList *l, int free_params) {
    if (free_params)
        for (int i = 0; i < l->n; i++) param_free(l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

Param *param_list_find(const ParamList *l, const char *name) {
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->items[i]->name, name) == 0) return l->items[i];
    return NULL;
}

void param_list_zero_grad(ParamList *l) {
    for (int i = 0; i < l->n; i++) memset(l->items[i]->t.grad, 0, l->items[i]->t.size * sizeof(float));
}

size_t param_list_count(const ParamList *l) {
    size_t n = 0;
    for (int i = 0; i < l->n; i++) n += l->items[i]->t.size;
    return n;
}
