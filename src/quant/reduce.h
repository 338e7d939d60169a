/* Deterministic parallel reductions for quantizers: a tensor is cut into a fixed number
 * of chunks whatever the thread count, each chunk sums in double, and the chunk sums are
 * added in order. So a parameter gradient is the same for 1, 2 or 16 threads. */
#ifndef QAT_QUANT_REDUCE_H
#define QAT_QUANT_REDUCE_H

#include <math.h>
#include <stddef.h>

#define QUANT_CHUNKS 64
#define QUANT_PARALLEL_MIN 65536 /* below this, no thread team (its start costs more) */

/* Chunks for n elements: a function of n only (never of the thread count), at most
 * QUANT_CHUNKS, each of at least ~1024 elements so that short pieces (one sample of a
 * fused conv) still run long vector loops. */
static inline int quant_chunks(size_t n) {
    size_t c = n / 1024;
    return c < 1 ? 1 : (c > QUANT_CHUNKS ? QUANT_CHUNKS : (int)c);
}

/* One chunk's loop; `acc` is the chunk's double accumulator. */
#define QUANT_CHUNK_LOOP_(n_, nc_, c_, i, simd_pragma, ...)                              \
    {                                                                                   \
        double acc = 0.0;                                                               \
        size_t lo_ = n_ * (size_t)c_ / (size_t)nc_, hi_ = n_ * (size_t)(c_ + 1) / (size_t)nc_; \
        simd_pragma for (size_t i = lo_; i < hi_; i++) __VA_ARGS__                      \
        part_[c_] = acc;                                                                \
    }

/* One chunk in float blocks of 256 elements (full-width vectors), added in double. */
#define QUANT_CHUNK_FLOAT_(n_, nc_, c_, i, simd_pragma, ...)                             \
    {                                                                                   \
        double dacc_ = 0.0;                                                             \
        size_t lo_ = n_ * (size_t)c_ / (size_t)nc_, hi_ = n_ * (size_t)(c_ + 1) / (size_t)nc_; \
        for (size_t b_ = lo_; b_ < hi_; b_ += 256) {                                    \
            size_t e_ = b_ + 256 < hi_ ? b_ + 256 : hi_;                                \
            float acc = 0.0f;                                                           \
            simd_pragma for (size_t i = b_; i < e_; i++) __VA_ARGS__                    \
            dacc_ += acc;                                                               \
        }                                                                               \
        part_[c_] = dacc_;                                                              \
    }

/* The chunks (CHUNK: one of the two above) over the threads for large n, in this thread
 * otherwise; the chunk sums are added in order. */
#define QUANT_REDUCE_(CHUNK, n, result, i, simd_pragma, ...)                             \
    do {                                                                                \
        size_t n_ = (n);                                                                \
        int nc_ = quant_chunks(n_);                                                     \
        double part_[QUANT_CHUNKS];                                                     \
        if (n_ > QUANT_PARALLEL_MIN) {                                                  \
            _Pragma("omp parallel for schedule(static)")                               \
            for (int c_ = 0; c_ < nc_; c_++) CHUNK(n_, nc_, c_, i, simd_pragma, __VA_ARGS__) \
        } else {                                                                        \
            for (int c_ = 0; c_ < nc_; c_++) CHUNK(n_, nc_, c_, i, simd_pragma, __VA_ARGS__) \
        }                                                                               \
        double tot_ = 0.0;                                                              \
        for (int c_ = 0; c_ < nc_; c_++) tot_ += part_[c_];                             \
        (result) = tot_;                                                                \
    } while (0)

/* QUANT_CHUNKED_SUM(n, result, i, BODY): BODY sees index `i` (size_t) and adds into the
 * double `acc`; result (double) receives the total. */
#define QUANT_CHUNKED_SUM(n, result, i, ...) QUANT_REDUCE_(QUANT_CHUNK_LOOP_, n, result, i, , __VA_ARGS__)

/* The same for bodies without loop-carried dependencies (each i touches only its own
 * elements, plus `acc`): the chunk loop is an OpenMP SIMD loop, so it vectorises. The
 * lane order is fixed at compile time, so results stay deterministic. */
#define QUANT_SIMD_SUM(n, result, i, ...) \
    QUANT_REDUCE_(QUANT_CHUNK_LOOP_, n, result, i, _Pragma("omp simd reduction(+:acc)"), __VA_ARGS__)

/* QUANT_SIMD_SUM with a float `acc` per block of 256 (the block sums added in double):
 * for the hot per-step gradients (LSQ's step). */
#define QUANT_SIMD_SUM_F(n, result, i, ...) \
    QUANT_REDUCE_(QUANT_CHUNK_FLOAT_, n, result, i, _Pragma("omp simd reduction(+:acc)"), __VA_ARGS__)

static inline double quant_sum_abs(const float *x, size_t n) {
    double s;
    QUANT_CHUNKED_SUM(n, s, i, { acc += fabs((double)x[i]); });
    return s;
}

static inline double quant_max_abs(const float *x, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double a = fabs((double)x[i]);
        if (a > m) m = a;
    }
    return m;
}

#endif
