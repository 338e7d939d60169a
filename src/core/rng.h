/* Seeded random numbers. A run is a pure function of (config, seed, threads), so every
 * random draw comes from here. Rng is a sequential xoshiro256** stream; rng_counter_*
 * hash (key, index) so parallel loops (dropout masks) draw the same values whatever the
 * thread count. */
#ifndef QAT_CORE_RNG_H
#define QAT_CORE_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_u64(Rng *r);
/* Uniform in [0, 1) with 24 random bits. */
float rng_uniform(Rng *r);
/* Uniform in [lo, hi). */
float rng_uniform_range(Rng *r, float lo, float hi);
/* Standard normal (Box-Muller, one value per call). */
float rng_normal(Rng *r);
/* Uniform integer in [0, n). */
uint64_t rng_below(Rng *r, uint64_t n);
/* Fisher-Yates shuffle of idx[0..n). */
void rng_shuffle(Rng *r, int *idx, size_t n);

/* Stateless: a uniform [0,1) value from (key, index); same for any thread layout. */
float rng_counter_uniform(uint64_t key, uint64_t index);

#endif
