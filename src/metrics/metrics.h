/* Evaluation metrics (docs/METHODS.md section 8). */
#ifndef QAT_METRICS_METRICS_H
#define QAT_METRICS_METRICS_H

/* Number of rows of logits[n,k] whose argmax equals the label; argmax ties go to the
 * lowest class index (torch semantics). */
int accuracy_count(const float *logits, const int *labels, int n, int k);

#endif
