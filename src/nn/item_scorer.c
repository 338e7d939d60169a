#include "nn/item_scorer.h"

#include <math.h>
#include <string.h>

#include "core/error.h"

typedef struct {
    Tensor *h, *table, *loss;
    int *items; /* [rows, k] */
    float *dscore; /* d loss / d score, before the upstream factor */
    int k;
} ScorerCtx;

static float dot(const float *a, const float *b, int d) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < d; i++) s += a[i] * b[i];
    return s;
}

/* dh[t] += g ds[t,c] E[item]; dE[item] += g ds[t,c] h[t]. Rows of h are independent, the
 * table scatter is serial (items repeat). */
static void scorer_backward(void *p) {
    ScorerCtx *c = p;
    int rows = c->h->shape[0], d = c->h->shape[1], k = c->k;
    float up = c->loss->grad[0];
    const float *E = c->table->data, *H = c->h->data;
    if (c->h->grad) {
#pragma omp parallel for schedule(static) if ((long)rows * k * d > 65536)
        for (int t = 0; t < rows; t++) {
            float *dh = c->h->grad + (size_t)t * d;
            for (int j = 0; j < k; j++) {
                float s = up * c->dscore[(size_t)t * k + j];
                const float *e = E + (size_t)c->items[(size_t)t * k + j] * d;
                for (int i = 0; i < d; i++) dh[i] += s * e[i];
            }
        }
    }
    if (c->table->grad) {
        for (int t = 0; t < rows; t++)
            for (int j = 0; j < k; j++) {
                float s = up * c->dscore[(size_t)t * k + j];
                float *de = c->table->grad + (size_t)c->items[(size_t)t * k + j] * d;
                const float *h = H + (size_t)t * d;
                for (int i = 0; i < d; i++) de[i] += s * h[i];
            }
    }
}

static Tensor *scorer_finish(Graph *g, Tensor *h, Tensor *table, int *items, float *dscore, int k, double total) {
    int one = 1;
    int grad = graph_needs_grad(g, h, table);
    Tensor *loss = graph_tensor(g, grad, 1, &one);
    loss->data[0] = (float)(total / h->shape[0]);
    if (grad) {
        ScorerCtx *c = graph_alloc(g, sizeof *c);
        *c = (ScorerCtx){h, table, loss, items, dscore, k};
        graph_push(g, scorer_backward, c);
    }
    return loss;
}

static void check_items(const Tensor *table, const int *items, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (items[i] < 0 || items[i] >= table->shape[0])
            qat_die("item %d outside the table of %d rows", items[i], table->shape[0]);
}

static double softplus(double x) { return (x > 0 ? x : 0.0) + log1p(exp(-fabs(x))); }
static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

Tensor *op_scorer_bce(Graph *g, Tensor *h, Tensor *table, const int *pos, const int *neg) {
    QAT_ASSERT(h->ndim == 2 && table->ndim == 2 && h->shape[1] == table->shape[1]);
    int T = h->shape[0], d = h->shape[1];
    int *items = graph_alloc(g, (size_t)T * 2 * sizeof(int));
    for (int t = 0; t < T; t++) {
        items[2 * t] = pos[t];
        items[2 * t + 1] = neg[t];
    }
    check_items(table, items, (size_t)T * 2);
    float *ds = graph_alloc(g, (size_t)T * 2 * sizeof(float));
    double total = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : total) if ((long)T * d > 65536)
    for (int t = 0; t < T; t++) {
        const float *ht = h->data + (size_t)t * d;
        double sp = dot(ht, table->data + (size_t)items[2 * t] * d, d);
        double sn = dot(ht, table->data + (size_t)items[2 * t + 1] * d, d);
        total += softplus(-sp) + softplus(sn);
        ds[2 * t] = (float)((sigmoid(sp) - 1.0) / T);
        ds[2 * t + 1] = (float)(sigmoid(sn) / T);
    }
    return scorer_finish(g, h, table, items, ds, 2, total);
}

Tensor *op_scorer_sampled_softmax(Graph *g, Tensor *h, Tensor *table, const int *cand, int k) {
    QAT_ASSERT(h->ndim == 2 && table->ndim == 2 && h->shape[1] == table->shape[1] && k >= 1);
    int B = h->shape[0], d = h->shape[1];
    int *items = graph_alloc(g, (size_t)B * k * sizeof(int));
    memcpy(items, cand, (size_t)B * k * sizeof(int));
    check_items(table, items, (size_t)B * k);
    float *ds = graph_alloc(g, (size_t)B * k * sizeof(float));
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        const float *hb = h->data + (size_t)b * d;
        float *s = ds + (size_t)b * k;
        float mx = -INFINITY;
        for (int j = 0; j < k; j++) {
            s[j] = dot(hb, table->data + (size_t)items[(size_t)b * k + j] * d, d);
            mx = s[j] > mx ? s[j] : mx;
        }
        double sum = 0.0;
        for (int j = 0; j < k; j++) sum += exp((double)s[j] - mx);
        total += log(sum) - ((double)s[0] - mx);
        for (int j = 0; j < k; j++) s[j] = (float)((exp((double)s[j] - mx) / sum - (j == 0)) / B);
    }
    return scorer_finish(g, h, table, items, ds, k, total);
}
