#include <string.h>

#include "core/error.h"
#include "nn/ops.h"

typedef struct {
    Tensor *table, *y;
    const int *ids;
    int n, padding_idx;
} EmbCtx;

static void emb_backward(void *p) {
    EmbCtx *c = p;
    int D = c->table->shape[1];
    for (int i = 0; i < c->n; i++) {
        if (c->ids[i] == c->padding_idx) continue;
        float *dst = c->table->grad + (size_t)c->ids[i] * D;
        const float *src = c->y->grad + (size_t)i * D;
        for (int d = 0; d < D; d++) dst[d] += src[d];
    }
}

Tensor *op_embedding(Graph *g, Tensor *table, const int *ids, int n, int padding_idx) {
    QAT_ASSERT(table->ndim == 2);
    int V = table->shape[0], D = table->shape[1];
    int grad = graph_needs_grad(g, table, NULL);
    Tensor *y = graph_tensor2(g, grad, n, D);
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= V) qat_die("embedding index %d outside the table of %d rows", ids[i], V);
        memcpy(y->data + (size_t)i * D, table->data + (size_t)ids[i] * D, (size_t)D * sizeof(float));
    }
    if (grad) {
        EmbCtx *c = graph_alloc(g, sizeof *c);
        int *saved = graph_alloc(g, (size_t)n * sizeof(int));
        memcpy(saved, ids, (size_t)n * sizeof(int));
        *c = (EmbCtx){table, y, saved, n, padding_idx};
        graph_push(g, emb_backward, c);
    }
    return y;
}
