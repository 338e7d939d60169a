/* ROC-AUC (metrics/roc_auc.h, docs/METHODS.md 8.2): hand cases with ties, the spec's example,
 * undefined cases, and random cases with many ties against the O(n1 n0) pair count. */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "core/rng.h"
#include "metrics/roc_auc.h"

/* sum over (pos, neg) pairs of 1[s_p > s_n] + 0.5 1[s_p == s_n], over n1 n0 */
static double pairwise(const float *s, const int *y, int n) {
    double u = 0.0, n1 = 0.0, n0 = 0.0;
    for (int i = 0; i < n; i++) {
        n1 += y[i] == 1;
        n0 += y[i] == 0;
        if (y[i] != 1) continue;
        for (int j = 0; j < n; j++)
            if (y[j] == 0) u += s[i] > s[j] ? 1.0 : (s[i] == s[j] ? 0.5 : 0.0);
    }
    return u / (n1 * n0);
}

int main(void) {
    /* docs/METHODS.md 8.2: midranks [5, 3.5, 3.5, 2, 1], R_pos = 9.5, U = 3.5, AUC = 3.5 / 6 */
    float s1[5] = {0.9f, 0.8f, 0.8f, 0.3f, 0.2f};
    int y1[5] = {1, 1, 0, 0, 1};
    CHECK_CLOSE(roc_auc(s1, y1, 5), 3.5 / 6.0, 1e-12);

    /* perfect, reversed, and every score tied */
    float s2[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    int y2[4] = {0, 0, 1, 1}, y3[4] = {1, 1, 0, 0};
    CHECK_CLOSE(roc_auc(s2, y2, 4), 1.0, 1e-12);
    CHECK_CLOSE(roc_auc(s2, y3, 4), 0.0, 1e-12);
    float s4[6] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
    int y4[6] = {1, 0, 1, 0, 0, 1};
    CHECK_CLOSE(roc_auc(s4, y4, 6), 0.5, 1e-12);

    /* one tie across the classes: pairs (p=2 vs n=2) count 1/2.
     * pos {3, 2, 1}, neg {2, 0}: wins 3>2,3>0, 2>0, 1>0 = 4, ties 2=2 -> 4.5 / 6 */
    float s5[5] = {3, 2, 1, 2, 0};
    int y5[5] = {1, 1, 1, 0, 0};
    CHECK_CLOSE(roc_auc(s5, y5, 5), 4.5 / 6.0, 1e-12);
    /* negative scores and a run of three equal scores over both classes */
    float s6[7] = {-1.5f, -0.25f, -0.25f, -0.25f, 2.0f, -3.0f, 0.0f};
    int y6[7] = {0, 1, 0, 1, 1, 0, 0};
    CHECK_CLOSE(roc_auc(s6, y6, 7), pairwise(s6, y6, 7), 1e-12);
    /* order of the input does not matter */
    float s7[7] = {0.0f, -3.0f, 2.0f, -0.25f, -0.25f, -0.25f, -1.5f};
    int y7[7] = {0, 0, 1, 1, 0, 1, 0};
    CHECK_CLOSE(roc_auc(s7, y7, 7), roc_auc(s6, y6, 7), 1e-15);

    /* undefined: one class absent, or a NaN score */
    int all1[4] = {1, 1, 1, 1};
    CHECK(isnan(roc_auc(s2, all1, 4)));
    int all0[4] = {0, 0, 0, 0};
    CHECK(isnan(roc_auc(s2, all0, 4)));
    float s8[3] = {0.1f, NAN, 0.3f};
    int y8[3] = {0, 1, 1};
    CHECK(isnan(roc_auc(s8, y8, 3)));
    CHECK(isnan(roc_auc(s2, y2, 0)));

    /* random cases with heavy ties (scores on a coarse grid) against the pair count */
    Rng r;
    rng_seed(&r, 3);
    int bad = 0;
    for (int c = 0; c < 50; c++) {
        int n = 2 + (int)rng_below(&r, 300);
        float *s = malloc((size_t)n * sizeof(float));
        int *y = malloc((size_t)n * sizeof(int));
        for (int i = 0; i < n; i++) {
            s[i] = (float)((int)rng_below(&r, 12) - 6) * 0.5f;
            y[i] = (int)rng_below(&r, 2);
        }
        y[0] = 0, y[1] = 1;
        if (fabs(roc_auc(s, y, (size_t)n) - pairwise(s, y, n)) > 1e-12) bad++;
        free(s);
        free(y);
    }
    CHECK(bad == 0);
    return check_done("test_roc_auc");
}
