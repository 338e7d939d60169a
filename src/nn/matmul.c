#include "core/blas.h"
#include "core/error.h"
#include "nn/ops.h"

typedef struct {
    Tensor *x, *w, *b, *y;
} MatmulCtx;

static void matmul_backward(void *p) {
    MatmulCtx *c = p;
    int M = c->x->shape[0], K = c->x->shape[1], N = c->w->shape[0];
    const float *dy = c->y->grad;
    /* dx[M,K] += dy[M,N] w[N,K] */
    if (c->x->grad)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 1.0f, dy, N,
                    c->w->data, K, 1.0f, c->x->grad, K);
    /* dw[N,K] += dy^T[N,M] x[M,K] */
    if (c->w->grad)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1.0f, dy, N,
                    c->x->data, K, 1.0f, c->w->grad, K);
    if (c->b && c->b->grad) {
        float *db = c->b->grad;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) db[j] += dy[(size_t)i * N + j];
    }
}

Tensor *op_matmul_bias(Graph *g, Tensor *x, Tensor *w, Tensor *b) {
    QAT_ASSERT(x->ndim == 2 && w->ndim == 2 && x->shape[1] == w->shape[1]);
    int M = x->shape[0], K = x->shape[1], N = w->shape[0];
    QAT_ASSERT(!b || (int)b->size == N);
    int grad = graph_needs_grad(g, x, w) || (g->training && b && b->grad);
    Tensor *y = graph_tensor2(g, grad, M, N);
    if (b) {
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) y->data[(size_t)i * N + j] = b->data[j];
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x->data, K, w->data, K,
                b ? 1.0f : 0.0f, y->data, N);
    if (grad) {
        MatmulCtx *c = graph_alloc(g, sizeof *c);
        *c = (MatmulCtx){x, w, b, y};
        graph_push(g, matmul_backward, c);
    }
    return y;
}
