/* Dropout fused with the op next to it, for the transformer blocks: one pass instead of
 * two over the largest tensors of the step, and the keep-mask is drawn once (forward)
 * and kept as bytes for backward, instead of being hashed again.
 *
 * Masks are counter-based like op_dropout's (same for any thread count; a per-call key
 * from the graph's RNG), with a 32-bit hash that vectorises with AVX2: keep element i
 * iff hash(key, i) / 2^24 >= p (24 random bits, as rng_counter_uniform). Identity when
 * p == 0 or not training. */
#ifndef QAT_NN_FUSED_DROPOUT_H
#define QAT_NN_FUSED_DROPOUT_H

#include <stdint.h>

#include "core/graph.h"

/* 24 uniform bits from (key, index): two rounds of a 32-bit integer mixer. */
static inline uint32_t dropout_bits(uint32_t key, uint32_t index) {
    uint32_t x = index ^ key;
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    x += key * 0x9E3779B9u;
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x >> 8;
}

/* The integer threshold: keep iff dropout_bits(...) >= dropout_threshold(p). */
static inline uint32_t dropout_threshold(float p) { return (uint32_t)(p * 16777216.0f); }

/* y = Dropout(x) */
Tensor *op_dropout_fast(Graph *g, Tensor *x, float p);
/* y = a + Dropout(b): a residual branch. */
Tensor *op_add_dropout(Graph *g, Tensor *a, Tensor *b, float p);
/* y = Dropout(act(x)), act ReLU (gelu = 0) or exact GELU (gelu = 1). */
Tensor *op_act_dropout(Graph *g, Tensor *x, int gelu, float p);

#endif
