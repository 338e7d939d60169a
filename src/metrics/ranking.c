#include "metrics/ranking.h"

#include <math.h>

#include "core/error.h"

const int RANK_KS[RANK_NK] = {5, 10, 20};

int rank_of_target(const float *scores, int n, int target, const unsigned char *skip) {
    float st = scores[target];
    int above = 0;
    for (int j = 0; j < n; j++) above += (j != target) & (scores[j] >= st) & (!skip || !skip[j]);
    return 1 + above;
}

int rank_first(const float *scores, int n) { return rank_of_target(scores, n, 0, NULL); }

double ndcg_at(int rank, int k) { return rank <= k ? 1.0 / log2(rank + 1.0) : 0.0; }

double hr_at(int rank, int k) { return rank <= k ? 1.0 : 0.0; }

void rank_stats_add(RankStats *s, int rank) {
    for (int i = 0; i < RANK_NK; i++) {
        s->ndcg[i] += ndcg_at(rank, RANK_KS[i]);
        s->hr[i] += hr_at(rank, RANK_KS[i]);
    }
    s->mrr += 1.0 / rank;
    s->n++;
}

void rank_stats_merge(RankStats *into, const RankStats *from) {
    for (int i = 0; i < RANK_NK; i++) {
        into->ndcg[i] += from->ndcg[i];
        into->hr[i] += from->hr[i];
    }
    into->mrr += from->mrr;
    into->n += from->n;
}

void rank_stats_mean(const RankStats *s, RankStats *mean) {
    double d = s->n > 0 ? (double)s->n : NAN;
    for (int i = 0; i < RANK_NK; i++) {
        mean->ndcg[i] = s->ndcg[i] / d;
        mean->hr[i] = s->hr[i] / d;
    }
    mean->mrr = s->mrr / d;
    mean->n = s->n;
}

void sample_negatives(Rng *r, int n_items, const unsigned char *touched, int count, int *out) {
    int free_items = 0;
    for (int j = 1; j <= n_items; j++) free_items += !touched[j];
    if (free_items == 0) qat_die("cannot sample negatives: the user interacted with all %d items", n_items);
    for (int i = 0; i < count; i++) {
        int j;
        do j = 1 + (int)rng_below(r, (uint64_t)n_items);
        while (touched[j]);
        out[i] = j;
    }
}
