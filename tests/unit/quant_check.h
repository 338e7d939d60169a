/* Helpers shared by the quantizer tests (test_quant_*.c): freeing a quantizer with its
 * parameters, gradients, per-element derivatives and level counts. Static inline so the
 * tests can include it without another source file in the build. */
#ifndef QAT_TESTS_QUANT_CHECK_H
#define QAT_TESTS_QUANT_CHECK_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/param.h"
#include "core/quantizer.h"

/* got[i] ~ want[i] to the tolerance of the worked examples' printed digits. */
#define CHECK_VEC(got, want, n, what) check_vec_close((got), (want), (n), 2e-5, 2e-6, (what), __FILE__, __LINE__)

/* Frees the quantizer and its parameters (which a model would own). The parameter
 * pointers are saved first: quantizer_free frees q itself. */
static inline void quant_destroy(Quantizer *q) {
    Param *p[QUANT_MAX_PARAMS];
    int np = q->nparams;
    memcpy(p, q->params, sizeof p);
    quantizer_free(q);
    for (int k = 0; k < np; k++) param_free(p[k]);
}

static inline void quant_zero_grads(Quantizer *q) {
    for (int k = 0; k < q->nparams; k++)
        memset(q->params[k]->t.grad, 0, q->params[k]->t.size * sizeof *q->params[k]->t.grad);
}

/* The first gradient entry of parameter k; 0 when the quantizer has no parameter k. */
static inline float quant_grad(const Quantizer *q, int k) {
    return k < q->nparams ? q->params[k]->t.grad[0] : 0.0f;
}

/* Per-element derivatives of one elementwise training-mode call on x[0..n) (n <= 16, one
 * row, `batch` examples): y gets the forward output; for each j the upstream gradient e_j
 * gives dx[j] = dY_j/dx_j and dparam[k][j] = dY_j/d(parameter k), k < nparam. Checks that
 * e_j reaches no other input (one check per pair). */
static inline void quant_derivs(Quantizer *q, const float *x, int n, int batch, float *y, float *dx,
                                float *const *dparam, int nparam) {
    QuantInput in = {x, (size_t)n, 1, batch, 1};
    q->ops->forward(q, in, y);
    for (int j = 0; j < n; j++) {
        float g[16] = {0}, dxj[16] = {0};
        g[j] = 1.0f;
        quant_zero_grads(q);
        q->ops->backward(q, in, g, dxj);
        dx[j] = dxj[j];
        for (int i = 0; i < n; i++) CHECK(i == j || dxj[i] == 0.0f); /* elementwise */
        for (int k = 0; k < nparam; k++) dparam[k][j] = quant_grad(q, k);
    }
}

/* clamp() lifts the first parameter from `below` (negative) and from NaN to `floor` and
 * leaves an in-range `inside` alone: three checks, reported at the caller's line. */
static inline void quant_check_clamp(Quantizer *q, float below, float floor, float inside, const char *file,
                                     int line) {
    float *p = q->params[0]->t.data;
    p[0] = below;
    q->ops->clamp(q);
    check_true(p[0] == floor, "clamp lifts a negative parameter to its floor", file, line);
    p[0] = NAN;
    q->ops->clamp(q);
    check_true(p[0] == floor, "clamp lifts a NaN parameter to its floor", file, line);
    p[0] = inside;
    q->ops->clamp(q);
    check_true(p[0] == inside, "clamp keeps an in-range parameter", file, line);
}
#define CHECK_CLAMP(q, below, floor, inside) quant_check_clamp((q), (below), (floor), (inside), __FILE__, __LINE__)

static inline int quant_cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* How many distinct values y[0..n) holds: the levels a quantizer's output uses. */
static inline size_t quant_count_distinct(const float *y, size_t n) {
    float *s = malloc(n * sizeof *s);
    memcpy(s, y, n * sizeof *s);
    qsort(s, n, sizeof *s, quant_cmp_float);
    size_t k = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) k += s[i] != s[i - 1];
    free(s);
    return k;
}

#endif
