/* Ranking metrics with one relevant item per query (docs/METHODS.md 8.3): HR@k, NDCG@k, MRR.
 * The rank is pessimistic: every other candidate scoring >= the target counts above it
 * (ties count against the target). Two candidate sets:
 *   full     every item except the excluded ones (the user's training and validation
 *            items, as docs/BASELINES.md; the target itself is never excluded);
 *   sampled  the target and n negatives drawn once, with a fixed seed, uniformly with
 *            replacement from the items the user never interacted with (the SASRec
 *            paper's protocol with n = 100). */
#ifndef QAT_METRICS_RANKING_H
#define QAT_METRICS_RANKING_H

#include "core/rng.h"

#define RANK_NK 3
extern const int RANK_KS[RANK_NK]; /* 5, 10, 20 */

/* 1-based rank of scores[target] among scores[0..n) without the j where skip[j] != 0
 * (skip may be NULL; skip[target] is ignored). */
int rank_of_target(const float *scores, int n, int target, const unsigned char *skip);
/* Rank of scores[0] among scores[0..n) (the sampled layout: target first). */
int rank_first(const float *scores, int n);

double ndcg_at(int rank, int k); /* 1/log2(rank+1) if rank <= k else 0 */
double hr_at(int rank, int k);   /* 1[rank <= k] */

/* Sums over queries; rank_stats_mean divides by the count. */
typedef struct {
    double ndcg[RANK_NK], hr[RANK_NK], mrr;
    long n;
} RankStats;

void rank_stats_add(RankStats *s, int rank);
void rank_stats_merge(RankStats *into, const RankStats *from);
void rank_stats_mean(const RankStats *s, RankStats *mean);

/* count negatives in 1..n_items, uniform with replacement among items with
 * touched[item] == 0. Dies if the user touched every item. */
void sample_negatives(Rng *r, int n_items, const unsigned char *touched, int count, int *out);

#endif
