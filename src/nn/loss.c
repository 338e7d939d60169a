#include <math.h>
#include <string.h>

#include "core/error.h"
#include "nn/ops.h"

typedef struct {
    Tensor *logits, *loss;
    float *prob;
    const int *labels;
} CeCtx;

static void ce_backward(void *p) {
    CeCtx *c = p;
    int B = c->logits->shape[0], K = c->logits->shape[1];
    float s = c->loss->grad[0] / (float)B;
    for (int b = 0; b < B; b++)
        for (int k = 0; k < K; k++) {
            size_t i = (size_t)b * K + k;
            c->logits->grad[i] += s * (c->prob[i] - (k == c->labels[b] ? 1.0f : 0.0f));
        }
}

Tensor *op_softmax_cross_entropy(Graph *g, Tensor *logits, const int *labels) {
    QAT_ASSERT(logits->ndim == 2);
    int B = logits->shape[0], K = logits->shape[1];
    int grad = graph_needs_grad(g, logits, NULL);
    int one = 1;
    Tensor *loss = graph_tensor(g, grad, 1, &one);
    float *prob = graph_alloc(g, logits->size * sizeof(float));
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        const float *z = logits->data + (size_t)b * K;
        float *pr = prob + (size_t)b * K;
        if (labels[b] < 0 || labels[b] >= K) qat_die("label %d outside 0..%d", labels[b], K - 1);
        float mx = z[0];
        for (int k = 1; k < K; k++) mx = z[k] > mx ? z[k] : mx;
        double sum = 0.0;
        for (int k = 0; k < K; k++) sum += (pr[k] = expf(z[k] - mx));
        for (int k = 0; k < K; k++) pr[k] = (float)(pr[k] / sum);
        total += -((double)(z[labels[b]] - mx) - log(sum));
    }
    loss->data[0] = (float)(total / B);
    if (grad) {
        /* Own copy: the caller's label buffer may be refilled before backward. */
        int *saved = graph_alloc(g, (size_t)B * sizeof(int));
        memcpy(saved, labels, (size_t)B * sizeof(int));
        CeCtx *c = graph_alloc(g, sizeof *c);
        *c = (CeCtx){logits, loss, prob, saved};
        graph_push(g, ce_backward, c);
    }
    return loss;
}

typedef struct {
    Tensor *pred, *loss;
    const float *target;
} MseCtx;

/* Elements per block of the loss sum: blocks are summed in parallel, then in order, so
 * the loss does not depend on the thread count. */
#define MSE_BLOCK 4096

static void mse_backward(void *p) {
    MseCtx *c = p;
    float s = 2.0f * c->loss->grad[0] / (float)c->pred->size;
    long n = (long)c->pred->size;
#pragma omp parallel for schedule(static) if (n > 4 * MSE_BLOCK)
    for (long i = 0; i < n; i++) c->pred->grad[i] += s * (c->pred->data[i] - c->target[i]);
}

Tensor *op_mse(Graph *g, Tensor *pred, const float *target) {
    int grad = graph_needs_grad(g, pred, NULL);
    int one = 1;
    Tensor *loss = graph_tensor(g, grad, 1, &one);
    long blocks = (long)((pred->size + MSE_BLOCK - 1) / MSE_BLOCK);
    double *part = graph_alloc(g, (size_t)blocks * sizeof(double)), total = 0.0;
#pragma omp parallel for schedule(static) if (blocks > 4)
    for (long b = 0; b < blocks; b++) {
        size_t i0 = (size_t)b * MSE_BLOCK, i1 = i0 + MSE_BLOCK < pred->size ? i0 + MSE_BLOCK : pred->size;
        double sum = 0.0;
        for (size_t i = i0; i < i1; i++) {
            double d = (double)pred->data[i] - target[i];
            sum += d * d;
        }
        part[b] = sum;
    }
    for (long b = 0; b < blocks; b++) total += part[b];
    loss->data[0] = (float)(total / (double)pred->size);
    if (grad) {
        /* Own copy of the target, as for the labels above. */
        float *saved = graph_alloc(g, pred->size * sizeof(float));
        memcpy(saved, target, pred->size * sizeof(float));
        MseCtx *c = graph_alloc(g, sizeof *c);
        *c = (MseCtx){pred, loss, saved};
        graph_push(g, mse_backward, c);
    }
    return loss;
}
