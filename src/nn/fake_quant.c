#include "nn/ops.h"

typedef struct {
    Quantizer *q;
    Tensor *x, *y;
    int rows, batch;
} FakeQuantCtx;

static QuantInput input_of(const Tensor *x, int rows, int batch, int training) {
    QuantInput in = {x->data, x->size, rows, batch, training};
    return in;
}

static void fake_quant_backward(void *p) {
    FakeQuantCtx *c = p;
    c->q->ops->backward(c->q, input_of(c->x, c->rows, c->batch, 1), c->y->grad, c->x->grad);
}

Tensor *op_fake_quant(Graph *g, Quantizer *q, Tensor *x, int rows, int batch) {
    int grad = g->training;
    Tensor *y = graph_tensor(g, grad, x->ndim, x->shape);
    q->ops->forward(q, input_of(x, rows, batch, g->training), y->data);
    if (grad) {
        FakeQuantCtx *c = graph_alloc(g, sizeof *c);
        *c = (FakeQuantCtx){q, x, y, rows, batch};
        graph_push(g, fake_quant_backward, c);
    }
    return y;
}
