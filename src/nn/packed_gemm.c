#include "nn/packed_gemm.h"

#include <string.h>

#include "core/blas.h"
#include "core/runtime.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX512_KERNEL 1
#else
#define HAVE_AVX512_KERNEL 0
#endif

#define PANEL 32 /* columns per panel: two 16-float vectors */
#define MR 12    /* rows per block: 24 accumulators of 32 registers */

static int use_kernel(int N) {
#if HAVE_AVX512_KERNEL
    return N % PANEL == 0 && runtime_has_avx512();
#else
    (void)N;
    return 0;
#endif
}

size_t packed_mat_floats(int K, int N) { return use_kernel(N) ? (size_t)K * N : 0; }

void packed_mat_init(PackedMat *p, const float *b, int ldb, int trans, int K, int N, float *storage) {
    *p = (PackedMat){b, ldb, trans, K, N, use_kernel(N) ? storage : NULL};
    if (!p->panels) return;
    /* panel q holds columns [32q, 32q + 32): panels[q][k][0..32) */
    for (int q = 0; q < N / PANEL; q++) {
        float *dst = p->panels + (size_t)q * K * PANEL;
        for (int k = 0; k < K; k++)
            for (int c = 0; c < PANEL; c++) {
                int n = q * PANEL + c;
                dst[(size_t)k * PANEL + c] = trans ? b[(size_t)n * ldb + k] : b[(size_t)k * ldb + n];
            }
    }
}

#if HAVE_AVX512_KERNEL
/* One block of mr <= MR rows against one panel: the accumulators stay in registers over
 * the whole K loop. Inlined with a constant mr, the row loops unroll. */
__attribute__((target("avx512f"), always_inline)) static inline void block(int mr, int K, const float *a, int lda,
                                                                          const float *pan, float *c, int ldc) {
    __m512 acc0[MR], acc1[MR];
    for (int r = 0; r < mr; r++) acc0[r] = acc1[r] = _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m512 b0 = _mm512_load_ps(pan + (size_t)k * PANEL), b1 = _mm512_load_ps(pan + (size_t)k * PANEL + 16);
        for (int r = 0; r < mr; r++) {
            __m512 av = _mm512_set1_ps(a[(size_t)r * lda + k]);
            acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
            acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
        }
    }
    for (int r = 0; r < mr; r++) {
        _mm512_storeu_ps(c + (size_t)r * ldc, acc0[r]);
        _mm512_storeu_ps(c + (size_t)r * ldc + 16, acc1[r]);
    }
}

__attribute__((target("avx512f"))) static void kernel(const PackedMat *p, int M, const float *a, int lda, float *c,
                                                       int ldc) {
    int K = p->K;
    for (int q = 0; q < p->N / PANEL; q++) {
        const float *pan = p->panels + (size_t)q * K * PANEL;
        for (int m0 = 0; m0 < M; m0 += MR) {
            const float *ab = a + (size_t)m0 * lda;
            float *cb = c + (size_t)m0 * ldc + (size_t)q * PANEL;
            switch (M - m0 < MR ? M - m0 : MR) {
#define CASE(n) \
    case n: block(n, K, ab, lda, pan, cb, ldc); break;
                CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6) CASE(7) CASE(8) CASE(9) CASE(10) CASE(11) CASE(12)
#undef CASE
            }
        }
    }
}
#endif

void packed_mat_gemm(const PackedMat *p, int M, const float *a, int lda, float *c, int ldc) {
    if (M <= 0) return;
#if HAVE_AVX512_KERNEL
    /* one or two rows: streaming B is the cost, and OpenBLAS's GEMV-like path does it as well */
    if (p->panels && M > 2) {
        kernel(p, M, a, lda, c, ldc);
        return;
    }
#endif
    cblas_sgemm(CblasRowMajor, CblasNoTrans, p->trans ? CblasTrans : CblasNoTrans, M, p->N, p->K, 1.0f, a, lda, p->b,
                p->ldb, 0.0f, c, ldc);
}
