#include "nn/int8_gemm.h"

#include <immintrin.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/runtime.h"

/* A's element k of row m as an int. */
static inline int a_at(const void *A, int a_signed, size_t i) {
    return a_signed ? ((const int8_t *)A)[i] : ((const uint8_t *)A)[i];
}

/* ---- portable C --------------------------------------------------------------------- */

static void row_c(int N, int K, const void *A, size_t a0, int a_signed, const int8_t *B, int32_t *c) {
    for (int n = 0; n < N; n++) {
        int32_t s = 0;
        const int8_t *b = B + (size_t)n * K;
        for (int k = 0; k < K; k++) s += a_at(A, a_signed, a0 + (size_t)k) * b[k];
        c[n] = s;
    }
}

/* ---- AVX2: bytes widened to int16, pairs multiplied and added into int32 ------------- */

__attribute__((target("avx2"))) static inline int32_t hsum256(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

__attribute__((target("avx2"))) static void row_avx2(int N, int K, const void *A, size_t a0, int a_signed,
                                                      const int8_t *B, int32_t *c) {
    const uint8_t *a = (const uint8_t *)A + a0;
    int K16 = K & ~15;
    int n = 0;
    for (; n + 4 <= N; n += 4) {
        __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                          _mm256_setzero_si256()};
        for (int k = 0; k < K16; k += 16) {
            __m128i raw = _mm_loadu_si128((const __m128i *)(a + k));
            __m256i x = a_signed ? _mm256_cvtepi8_epi16(raw) : _mm256_cvtepu8_epi16(raw);
            for (int j = 0; j < 4; j++) {
                __m256i w = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(B + (size_t)(n + j) * K + k)));
                acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(x, w));
            }
        }
        for (int j = 0; j < 4; j++) {
            int32_t s = hsum256(acc[j]);
            const int8_t *b = B + (size_t)(n + j) * K;
            for (int k = K16; k < K; k++) s += a_at(A, a_signed, a0 + (size_t)k) * b[k];
            c[n + j] = s;
        }
    }
    if (n < N) row_c(N - n, K, A, a0, a_signed, B + (size_t)n * K, c + n);
}

/* ---- AVX-512 VNNI: vpdpbusd multiplies unsigned bytes of A by signed bytes of B ------- */

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))

/* bsum[n] = 128 * sum_k B[n][k]: the correction of a signed A stored as A + 128. */
static void offset_sums(int N, int K, const int8_t *B, int32_t *bsum) {
    for (int n = 0; n < N; n++) {
        int32_t s = 0;
        for (int k = 0; k < K; k++) s += B[(size_t)n * K + k];
        bsum[n] = 128 * s;
    }
}

VNNI static void row_vnni(int N, int K, const void *A, size_t a0, int a_signed, const int8_t *B, const int32_t *bsum,
                          int32_t *c) {
    const uint8_t *a = (const uint8_t *)A + a0;
    const __m512i flip = _mm512_set1_epi8((char)0x80); /* int8 x -> uint8 x + 128 */
    int n = 0;
    for (; n < N; n += 4) {
        int nb = N - n < 4 ? N - n : 4;
        __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(),
                          _mm512_setzero_si512()};
        for (int k = 0; k < K; k += 64) {
            __mmask64 m = K - k >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (K - k)) - 1);
            __m512i x = _mm512_maskz_loadu_epi8(m, a + k);
            if (a_signed) x = _mm512_maskz_mov_epi8(m, _mm512_xor_si512(x, flip));
            for (int j = 0; j < nb; j++)
                acc[j] = _mm512_dpbusd_epi32(acc[j], x, _mm512_maskz_loadu_epi8(m, B + (size_t)(n + j) * K + k));
        }
        for (int j = 0; j < nb; j++) c[n + j] = _mm512_reduce_add_epi32(acc[j]) - (a_signed ? bsum[n + j] : 0);
    }
}

/* ---- dispatch ------------------------------------------------------------------------ */

int int8_kernel_available(Int8Kernel k) {
    switch (k) {
    case INT8_KERNEL_AUTO:
    case INT8_KERNEL_C: return 1;
    case INT8_KERNEL_AVX2: return __builtin_cpu_supports("avx2");
    case INT8_KERNEL_VNNI:
        return runtime_has_avx512() && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
    }
    return 0;
}

const char *int8_kernel_name(Int8Kernel k) {
    static const char *const NAMES[] = {"auto", "c", "avx2", "avx512-vnni"};
    return NAMES[k];
}

void int8_gemm(Int8Kernel k, int M, int N, int K, const void *A, int a_signed, const int8_t *B, int32_t *C) {
    if (k == INT8_KERNEL_AUTO)
        k = int8_kernel_available(INT8_KERNEL_VNNI)   ? INT8_KERNEL_VNNI
            : int8_kernel_available(INT8_KERNEL_AVX2) ? INT8_KERNEL_AVX2
                                                      : INT8_KERNEL_C;
    QAT_ASSERT(int8_kernel_available(k));
    int32_t *bsum = NULL;
    if (k == INT8_KERNEL_VNNI && a_signed) {
        bsum = qat_malloc((size_t)(N ? N : 1) * sizeof *bsum);
        offset_sums(N, K, B, bsum);
    }
    long work = (long)M * N * K;
#pragma omp parallel for schedule(static) if (M > 1 && work > 65536)
    for (int m = 0; m < M; m++) {
        size_t a0 = (size_t)m * K;
        int32_t *c = C + (size_t)m * N;
        if (k == INT8_KERNEL_VNNI) row_vnni(N, K, A, a0, a_signed, B, bsum, c);
        else if (k == INT8_KERNEL_AVX2) row_avx2(N, K, A, a0, a_signed, B, c);
        else row_c(N, K, A, a0, a_signed, B, c);
    }
    free(bsum);
}
