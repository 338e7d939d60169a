/* Integer matrix products, the kernel of the integer inference engine (docs/EXPORT.md):
 *     C[M, N] (int32) = A[M, K] B[N, K]^T
 * A holds activation codes (uint8 for unsigned grids, int8 for signed ones) and B weight
 * codes (int8), both row-major, so a row of B is one output channel. The sums are exact
 * integers: every kernel gives the same C. Kernels, chosen at run time from the CPU:
 * AVX-512 VNNI (vpdpbusd: 64 byte products per instruction; a signed A is offset by 128
 * and corrected with the column sums of B), AVX2 (bytes widened to int16, vpmaddwd: no
 * saturation), and portable C. */
#ifndef QAT_NN_INT8_GEMM_H
#define QAT_NN_INT8_GEMM_H

#include <stdint.h>

typedef enum { INT8_KERNEL_AUTO, INT8_KERNEL_C, INT8_KERNEL_AVX2, INT8_KERNEL_VNNI } Int8Kernel;

/* Whether this CPU runs the kernel (AUTO and C: always; VNNI needs AVX-512 VNNI and
 * BW, and QAT_NO_AVX512 unset). */
int int8_kernel_available(Int8Kernel k);
const char *int8_kernel_name(Int8Kernel k);

/* a_signed: A is int8 (else uint8). K any size. Threads: rows of A over the OpenMP
 * team when M is large enough. */
void int8_gemm(Int8Kernel k, int M, int N, int K, const void *A, int a_signed, const int8_t *B, int32_t *C);

#endif
