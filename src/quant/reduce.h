/* Deterministic parallel reductions for quantizers: a tensor is cut into a fixed number
 * of chunks whatever the thread count, each chunk sums in double, and the chunk sums are
 * added in order. So a parameter gradient is the same for 1, 2 or 16 threads. */
#ifndef QAT_QUANT_REDUCE_H
#define QAT_QUANT_REDUCE_H

#include <math.h>
#include <stddef.h>

#define QUANT_CHUNKS 64

/* QUANT_CHUNKED_SUM(n, result, i, BODY): BODY sees index `i` (size_t) and adds into the
 * double `acc`; result (double) receives the total. */
#define QUANT_CHUNKED_SUM(n, result, i, ...)                                       \
    do {                                                                            \
        size_t n_ = (n);                                                            \
        double part_[QUANT_CHUNKS];                                                 \
        _Pragma("omp parallel for schedule(static) if (n_ > 65536)")                \
        for (int c_ = 0; c_ < QUANT_CHUNKS; c_++) {                                 \
            double acc = 0.0;                                                       \
            size_t lo_ = n_ * (size_t)c_ / QUANT_CHUNKS, hi_ = n_ * (size_t)(c_ + 1) / QUANT_CHUNKS; \
            for (size_t i = lo_; i < hi_; i++) __VA_ARGS__                                 \
            part_[c_] = acc;                                                        \
        }                                                                           \
        double tot_ = 0.0;                                                          \
        for (int c_ = 0; c_ < QUANT_CHUNKS; c_++) tot_ += part_[c_];                \
        (result) = tot_;                                                            \
    } while (0)

/* The same for bodies without loop-carried dependencies (each i touches only its own
 * elements, plus `acc`): the chunk loop is an OpenMP SIMD loop, so it vectorises. The
 * lane order is fixed at compile time, so results stay deterministic. */
#define QUANT_SIMD_SUM(n, result, i, ...)                                          \
    do {                                                                            \
        size_t n_ = (n);                                                            \
        double part_[QUANT_CHUNKS];                                                 \
        _Pragma("omp parallel for schedule(static) if (n_ > 65536)")                \
        for (int c_ = 0; c_ < QUANT_CHUNKS; c_++) {                                 \
            double acc = 0.0;                                                       \
            size_t lo_ = n_ * (size_t)c_ / QUANT_CHUNKS, hi_ = n_ * (size_t)(c_ + 1) / QUANT_CHUNKS; \
            _Pragma("omp simd reduction(+:acc)")                                    \
            for (size_t i = lo_; i < hi_; i++) __VA_ARGS__                                 \
            part_[c_] = acc;                                                        \
        }                                                                           \
        double tot_ = 0.0;                                                          \
        for (int c_ = 0; c_ < QUANT_CHUNKS; c_++) tot_ += part_[c_];                \
        (result) = tot_;                                                            \
    } while (0)

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
