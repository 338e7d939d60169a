/* The integer products of nn/int8_gemm.h: every kernel this CPU runs against exact sums in
 * int64, for uint8 and int8 activations, sizes around the kernels' steps (K = 1..65 and
 * 300: the 4-byte groups and their tails; N across the 8- and 16-output blocks), random codes
 * and the extremes (255 or -128 times -128 over 300 terms), on 1 and 2 threads. The
 * kernels this CPU lacks are named as skipped (make test-matrix runs the suite on CPUs of
 * both kinds). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "core/rng.h"
#include "nn/int8_gemm.h"

static void run(Int8Kernel k, int M, int N, int K, int a_signed, int extreme, Rng *rng) {
    uint8_t *A = malloc((size_t)M * K);
    int8_t *B = malloc((size_t)N * K);
    float *Y = malloc((size_t)M * N * sizeof *Y);
    float one = 1.0f;
    for (int i = 0; i < M * K; i++) {
        int v = extreme ? (a_signed ? -128 : 255) : (int)rng_below(rng, 256) - (a_signed ? 128 : 0);
        A[i] = (uint8_t)v;
    }
    for (int i = 0; i < N * K; i++) B[i] = (int8_t)(extreme ? -128 : (int)rng_below(rng, 256) - 128);
    Int8Packed *P = int8_pack(k, N, K, B, (size_t)K);
    int_fast64_t worst = 0;
    int bad = 0;
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        /* unit scales, no bias: Y holds the sums, exact in float below 2^24 */
        int8_gemm(M, A, (size_t)K, a_signed, P, Y, (size_t)N, (Int8Rescale){1.0f, &one, 0, NULL, 0.0f});
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                int64_t s = 0;
                for (int i = 0; i < K; i++)
                    s += (int64_t)(a_signed ? (int8_t)A[(size_t)m * K + i] : A[(size_t)m * K + i]) * B[(size_t)n * K + i];
                if ((float)s != Y[(size_t)m * N + n]) bad++, worst = s;
            }
    }
    char what[160];
    snprintf(what, sizeof what, "%s: M%d N%d K%d %s%s: every sum exact (%d wrong, e.g. want %lld)", int8_kernel_name(k),
             M, N, K, a_signed ? "int8" : "uint8", extreme ? " extremes" : "", bad, (long long)worst);
    check_true(bad == 0, what, __FILE__, __LINE__);
    int8_packed_free(P);
    free(A), free(B), free(Y);
}

/* The rescale: y = sum * a_scale * b_scale[n] + bias[n] (+ a_scale * b_offset * the row's
 * sum), per-row scales and one, as the float expression of the C kernel computes it. */
static void rescaled(Int8Kernel k, Rng *rng) {
    enum { M = 7, N = 37, K = 19 };
    uint8_t A[M * K];
    int8_t B[N * K];
    float bs[N], bias[N], Y[M * N];
    for (int i = 0; i < M * K; i++) A[i] = (uint8_t)rng_below(rng, 256);
    for (int i = 0; i < N * K; i++) B[i] = (int8_t)((int)rng_below(rng, 256) - 128);
    for (int n = 0; n < N; n++) bs[n] = 0.001f * (float)(n + 1), bias[n] = 0.5f * (float)n - 3.0f;
    Int8Packed *P = int8_pack(k, N, K, B, K);
    for (int per_row = 0; per_row <= 1; per_row++) {
        float offset = per_row ? 0.75f : 0.0f; /* B's values codes * scale + offset */
        int8_gemm(M, A, K, 1, P, Y, N, (Int8Rescale){0.25f, bs, per_row, bias, offset});
        int bad = 0;
        for (int m = 0; m < M; m++) {
            int32_t rowsum = 0;
            for (int i = 0; i < K; i++) rowsum += (int8_t)A[m * K + i];
            for (int n = 0; n < N; n++) {
                int32_t s = 0;
                for (int i = 0; i < K; i++) s += (int8_t)A[m * K + i] * B[n * K + i];
                float want = (float)s * (0.25f * bs[per_row ? n : 0]) + bias[n] + 0.25f * offset * (float)rowsum;
                bad += want != Y[m * N + n];
            }
        }
        char what[140];
        snprintf(what, sizeof what, "%s: rescaled, %s scales, bias, offset %g: every value as computed in float (%d differ)",
                 int8_kernel_name(k), per_row ? "per-row" : "one", offset, bad);
        check_true(bad == 0, what, __FILE__, __LINE__);
    }
    int8_packed_free(P);
}

int main(void) {
    static const int Ks[] = {1, 2, 15, 16, 17, 31, 63, 64, 65, 300};
    static const int Ns[] = {1, 3, 4, 5, 9};
    Rng rng;
    rng_seed(&rng, 5);
    for (Int8Kernel k = INT8_KERNEL_C; k <= INT8_KERNEL_VNNI; k++) {
        if (!int8_kernel_available(k)) {
            printf("int8_gemm: kernel %s: skipped, this CPU does not run it\n", int8_kernel_name(k));
            continue;
        }
        for (size_t i = 0; i < sizeof Ks / sizeof Ks[0]; i++)
            for (size_t j = 0; j < sizeof Ns / sizeof Ns[0]; j++)
                for (int s = 0; s <= 1; s++) run(k, 3, Ns[j], Ks[i], s, 0, &rng);
        for (int s = 0; s <= 1; s++) run(k, 2, 5, 300, s, 1, &rng);
        for (int s = 0; s <= 1; s++) run(k, 97, 33, 200, s, 0, &rng); /* the threaded rows */
        for (int s = 0; s <= 1; s++) run(k, 1, 1000, 256, s, 0, &rng);  /* one row: threaded columns */
        for (int s = 0; s <= 1; s++) run(k, 13, 70, 7, s, 0, &rng);     /* row and column tails */
        rescaled(k, &rng);
    }
    run(INT8_KERNEL_AUTO, 7, 6, 70, 1, 0, &rng);
    return check_done("int8_gemm");
}
