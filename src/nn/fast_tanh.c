#include "nn/fast_tanh.h"

#include <math.h>

typedef struct {
    Tensor *x, *y;
} TanhCtx;

/* Eigen's odd/even polynomials: tanh(x) ~ x P(x^2) / Q(x^2) on [-7.9, 7.9], where tanh
 * rounds to +-1 in float beyond; x itself below 4e-4. Plain loops that gcc vectorises,
 * with an AVX-512 clone where the CPU has it (the same arithmetic: ISO C does not
 * contract to FMA, so the same results). */
__attribute__((target_clones("avx512f", "default"))) void fast_tanh_serial(const float *in, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = in[i] > -7.90531110763549805f ? in[i] : -7.90531110763549805f; /* maxps/minps */
        x = x < 7.90531110763549805f ? x : 7.90531110763549805f;
        float x2 = x * x;
        float p = -2.76076847742355e-16f;
        p = p * x2 + 2.00018790482477e-13f;
        p = p * x2 - 8.60467152213735e-11f;
        p = p * x2 + 5.12229709037114e-08f;
        p = p * x2 + 1.48572235717979e-05f;
        p = p * x2 + 6.37261928875436e-04f;
        p = p * x2 + 4.89352455891786e-03f;
        float q = 1.19825839466702e-06f;
        q = q * x2 + 1.18534705686654e-04f;
        q = q * x2 + 2.26843463243900e-03f;
        q = q * x2 + 4.89352518554385e-03f;
        float r = x * p / q;
        out[i] = fabsf(x) < 0.0004f ? x : r;
    }
}

void fast_tanh(const float *in, float *out, size_t n) {
    long blocks = (long)((n + 4095) / 4096);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (long b = 0; b < blocks; b++) {
        size_t i0 = (size_t)b * 4096, len = n - i0 < 4096 ? n - i0 : 4096;
        fast_tanh_serial(in + i0, out + i0, len);
    }
}

static void tanh_backward(void *p) {
    TanhCtx *c = p;
    const float *y = c->y->data, *dy = c->y->grad;
    float *dx = c->x->grad;
    long n = (long)c->x->size;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++) dx[i] += dy[i] * (1.0f - y[i] * y[i]);
}

Tensor *op_fast_tanh(Graph *g, Tensor *x) {
    int grad = graph_needs_grad(g, x, NULL);
    Tensor *y = graph_tensor(g, grad, x->ndim, x->shape);
    fast_tanh(x->data, y->data, x->size);
    if (grad) {
        TanhCtx *c = graph_alloc(g, sizeof *c);
        *c = (TanhCtx){x, y};
        graph_push(g, tanh_backward, c);
    }
    return y;
}
