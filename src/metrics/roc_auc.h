/* ROC-AUC of a binary classifier (docs/METHODS.md 8.2): the Mann-Whitney statistic, exact,
 * with tied scores counted one half (midranks). */
#ifndef QAT_METRICS_ROC_AUC_H
#define QAT_METRICS_ROC_AUC_H

#include <stddef.h>

/* scores[n] (higher = more likely class 1), labels[n] in {0, 1}.
 * AUC = (R_pos - n1(n1+1)/2) / (n1 n0), R_pos = sum of the 1-based midranks of the
 * positives in ascending score order. NaN when a class is absent or a score is NaN.
 * O(n log n). */
double roc_auc(const float *scores, const int *labels, size_t n);

#endif
