#include "metrics/metrics.h"

int accuracy_count(const float *logits, const int *labels, int n, int k) {
    int correct = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (long)i * k;
        int best = 0;
        for (int j = 1; j < k; j++)
            if (z[j] > z[best]) best = j;
        correct += best == labels[i];
    }
    return correct;
}
