/* Ranking metrics (metrics/ranking.h, docs/METHODS.md 8.3): NDCG/HR values by rank, ties counted
 * against the target, excluded candidates, averaging, and the sampled negatives. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "metrics/ranking.h"

static void test_values(void) {
    /* docs/METHODS.md 8.3: rank 1 -> 1; 2 -> 0.630930; 3 -> 0.5; 10 -> 0.289065; 11 -> 0 */
    CHECK_CLOSE(ndcg_at(1, 10), 1.0, 1e-9);
    CHECK_CLOSE(ndcg_at(2, 10), 0.630930, 1e-6);
    CHECK_CLOSE(ndcg_at(3, 10), 0.5, 1e-9);
    CHECK_CLOSE(ndcg_at(10, 10), 0.289065, 1e-6);
    CHECK(ndcg_at(11, 10) == 0.0);
    CHECK(hr_at(10, 10) == 1.0 && hr_at(11, 10) == 0.0);
    CHECK(hr_at(5, 5) == 1.0 && hr_at(6, 5) == 0.0);
}

static void test_ties(void) {
    /* docs/METHODS.md 8.3: target index 2 ties with two others: optimistic rank 3, pessimistic 5. */
    float s[5] = {0.5f, 1.2f, 0.5f, 0.9f, 0.5f};
    int r = rank_of_target(s, 5, 2, NULL);
    CHECK(r == 5);
    CHECK_CLOSE(ndcg_at(r, 10), 0.386853, 1e-6);
    /* All equal: last. A unique maximum: first. */
    float eq[4] = {1, 1, 1, 1};
    CHECK(rank_of_target(eq, 4, 0, NULL) == 4);
    CHECK(rank_of_target(s, 5, 1, NULL) == 1);
    /* The sampled layout: target first. */
    float c[4] = {0.3f, 0.1f, 0.3f, 0.7f};
    CHECK(rank_first(c, 4) == 3);
}

static void test_skip(void) {
    float s[6] = {9.0f, 0.4f, 0.8f, 0.6f, 0.8f, 0.1f};
    unsigned char skip[6] = {1, 0, 0, 0, 1, 0}; /* pad (index 0) and a history item */
    /* target 3 (0.6): above it 2 (0.8); 4 (0.8) and 0 (9.0) are excluded */
    CHECK(rank_of_target(s, 6, 3, skip) == 2);
    CHECK(rank_of_target(s, 6, 3, NULL) == 4);
    /* the target itself is never excluded, even when its flag is set */
    skip[3] = 1;
    CHECK(rank_of_target(s, 6, 3, skip) == 2);
    /* a tie with an excluded candidate does not count */
    CHECK(rank_of_target(s, 6, 2, skip) == 1);
}

static void test_stats(void) {
    RankStats s = {0}, m, t = {0};
    rank_stats_add(&s, 1);
    rank_stats_add(&s, 3);
    rank_stats_add(&t, 12);
    rank_stats_merge(&s, &t);
    rank_stats_mean(&s, &m);
    CHECK(m.n == 3);
    CHECK(RANK_KS[0] == 5 && RANK_KS[1] == 10 && RANK_KS[2] == 20);
    CHECK_CLOSE(m.ndcg[1], (1.0 + 0.5 + 0.0) / 3, 1e-12);
    CHECK_CLOSE(m.ndcg[2], (1.0 + 0.5 + 1.0 / log2(13.0)) / 3, 1e-12);
    CHECK_CLOSE(m.hr[0], 2.0 / 3, 1e-12);
    CHECK_CLOSE(m.hr[1], 2.0 / 3, 1e-12);
    CHECK_CLOSE(m.hr[2], 1.0, 1e-12);
    CHECK_CLOSE(m.mrr, (1.0 + 1.0 / 3 + 1.0 / 12) / 3, 1e-12);
    RankStats empty = {0};
    rank_stats_mean(&empty, &m);
    CHECK(isnan(m.mrr));
}

static void test_negatives(void) {
    int n_items = 50, count = 20000;
    unsigned char touched[51] = {0};
    for (int j = 1; j <= 50; j += 3) touched[j] = 1;
    int *a = malloc((size_t)count * sizeof(int)), *b = malloc((size_t)count * sizeof(int));
    Rng r1, r2;
    rng_seed(&r1, 2018);
    rng_seed(&r2, 2018);
    sample_negatives(&r1, n_items, touched, count, a);
    sample_negatives(&r2, n_items, touched, count, b);
    CHECK(memcmp(a, b, (size_t)count * sizeof(int)) == 0); /* fixed seed: same negatives */
    int hist[51] = {0}, bad = 0;
    for (int i = 0; i < count; i++) {
        bad += a[i] < 1 || a[i] > n_items || touched[a[i]];
        if (a[i] >= 1 && a[i] <= n_items) hist[a[i]]++;
    }
    CHECK(bad == 0);
    /* uniform over the 33 free items: each about 606 +- 24 */
    int lo = count, hi = 0;
    for (int j = 1; j <= 50; j++)
        if (!touched[j]) {
            lo = hist[j] < lo ? hist[j] : lo;
            hi = hist[j] > hi ? hist[j] : hi;
        }
    CHECK(lo > 500 && hi < 720);
    free(a);
    free(b);
}

int main(void) {
    test_values();
    test_ties();
    test_skip();
    test_stats();
    test_negatives();
    return check_done("test_ranking");
}
