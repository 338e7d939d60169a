#include "metrics/roc_auc.h"

#include <math.h>
#include <stdlib.h>

#include "core/error.h"

typedef struct {
    float s;
    int y;
} Scored;

static int by_score(const void *a, const void *b) {
    float x = ((const Scored *)a)->s, y = ((const Scored *)b)->s;
    return (x > y) - (x < y);
}

double roc_auc(const float *scores, const int *labels, size_t n) {
    size_t n1 = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(scores[i])) return NAN;
        n1 += labels[i] == 1;
    }
    size_t n0 = n - n1;
    if (n1 == 0 || n0 == 0) return NAN;
    Scored *v = qat_malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = (Scored){scores[i], labels[i] == 1};
    qsort(v, n, sizeof *v, by_score);
    /* A run of equal scores at 0-based positions [i, j) gets the midrank (i + 1 + j) / 2.
     * Sums of ranks are integers or halves: exact in double up to n ~ 1e7. */
    double r_pos = 0.0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1, pos = (size_t)v[i].y;
        while (j < n && v[j].s == v[i].s) pos += (size_t)v[j++].y;
        r_pos += (double)pos * 0.5 * (double)(i + 1 + j);
        i = j;
    }
    free(v);
    return (r_pos - 0.5 * (double)n1 * (double)(n1 + 1)) / ((double)n1 * (double)n0);
}
