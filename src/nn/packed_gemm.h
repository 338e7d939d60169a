/* C[M, N] = A[M, K] B for a few rows M against a matrix B that stays the same over many
 * products: an LSTM's W_hh over the time steps (M = sequences still running, <= batch).
 * OpenBLAS packs B again on every call and its kernels lose much of their speed at small
 * M (33 GFLOP/s at M = 8 against 135 for large products on this machine); here B is
 * packed once into 32-column panels and an AVX-512 kernel runs on it. Without AVX-512,
 * or when N is not a multiple of 32, the product goes to OpenBLAS unchanged.
 * Internal to nn/: only files of nn/ include it (scripts/check_layers.sh). */
#ifndef QAT_NN_PACKED_GEMM_H
#define QAT_NN_PACKED_GEMM_H

#include <stddef.h>

typedef struct {
    const float *b; /* the matrix as given */
    int ldb, trans, K, N;
    float *panels;  /* packed copy, or NULL when OpenBLAS does the products */
} PackedMat;

/* Floats of packed storage for a [K, N] matrix (0 when it will not be packed). */
size_t packed_mat_floats(int K, int N);
/* B is [K, N]: b[k * ldb + n] (trans = 0) or b[n * ldb + k] (trans = 1). storage: at
 * least packed_mat_floats(K, N) floats, 64-byte aligned. b must stay valid while p is
 * used (the fallback reads it). */
void packed_mat_init(PackedMat *p, const float *b, int ldb, int trans, int K, int N, float *storage);
/* C = A B (overwrites C). Single-threaded: callers run several of these side by side. */
void packed_mat_gemm(const PackedMat *p, int M, const float *a, int lda, float *c, int ldc);

#endif
