/* Causal multi-head self-attention over a batch of variable-length sequences: the op
 * (the layers and transformer blocks built on it are layers/attention.h; docs/METHODS.md 7.2,
 * docs/BASELINES.md SASRec).
 *
 * Layout: the sequences of a batch are packed row after row ("ragged"): a tensor [T, d]
 * holds sequence s in rows off[s] .. off[s+1]-1, oldest item first, and no padding at
 * all. This equals a padded batch (left- or right-padded) under a causal plus key-padding
 * mask, restricted to the real positions: a real query only ever sees real keys, and
 * padded positions reach no loss, so forward values and every gradient are the same,
 * while no work is spent on padding. */
#ifndef QAT_NN_ATTENTION_H
#define QAT_NN_ATTENTION_H

#include "core/graph.h"

typedef struct {
    int n;          /* sequences */
    const int *off; /* [n + 1] row offsets */
    int max_len;    /* longest sequence */
} SeqBatch;

/* Columns col .. col+d-1 of a 2-D tensor (its row stride is shape[1]). */
typedef struct {
    Tensor *t;
    int col;
} Cols;

/* O[T, d] = per sequence and head: Dropout(softmax(Q K^T / sqrt(d/heads), causal)) V.
 * Dropout (p) acts on the attention probabilities, in training only. Backward:
 * dPd = dO V^T, dV = Pd^T dO, dS = Pm .* (dPm - rowsum(dPm .* Pm)), dQ = dS K / sqrt(dh),
 * dK = dS^T Q / sqrt(dh); accumulated into q, k, v's gradients. */
Tensor *op_causal_attention(Graph *g, Cols q, Cols k, Cols v, int d, int heads, float p,
                            const SeqBatch *sb);

/* y = a + b (same shape). */
Tensor *op_add(Graph *g, Tensor *a, Tensor *b);

#endif
