/* Losses of a recommender whose scores are dot products with its item table (the table
 * is tied: the same tensor is the input embedding). score(t, j) = h[t] . E[j].
 * The table's gradient is a scatter-add over the scored items, on top of whatever the
 * lookup adds (docs/METHODS.md 7.2: M receives gradient from both). */
#ifndef QAT_NN_ITEM_SCORER_H
#define QAT_NN_ITEM_SCORER_H

#include "core/graph.h"

/* SASRec paper loss, one positive and one negative item per row t of h[T, d]:
 *   L = (1/T) sum_t softplus(-h[t].E[pos[t]]) + softplus(h[t].E[neg[t]])
 * (binary cross-entropy with logits, labels 1 and 0). Returns a [1] tensor. */
Tensor *op_scorer_bce(Graph *g, Tensor *h, Tensor *table, const int *pos, const int *neg);

/* Sampled softmax over the candidates cand[b, 0..k) of row b of h[B, d], the target
 * first: L = mean_b -ln softmax(s_b)[0], ds = p - e_0 (docs/METHODS.md 7.2, example SSM). */
Tensor *op_scorer_sampled_softmax(Graph *g, Tensor *h, Tensor *table, const int *cand, int k);

#endif
