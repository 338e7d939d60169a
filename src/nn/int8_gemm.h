/* Integer matrix products, the kernel of the integer inference engine (docs/EXPORT.md):
 *     Y[M, N] = (A[M, K] B[N, K]^T) * a_scale * b_scale[n] + bias[n]
 *               (+ a_scale * b_offset * sum_k A[m, k] when B's grid has an offset)
 * A holds activation codes (uint8 for unsigned grids, int8 for signed ones), B weight
 * codes (int8), a row of B one output. The sums are exact in int32 (every kernel gives
 * the same integers); only the rescale is float. B is packed once for the kernel
 * (Int8Packed, cached with the weights), so a product streams its bytes in order.
 * Kernels, chosen at run time from the CPU:
 * - AVX-512 VNNI: vpdpbusd, 16 outputs x 4 k per instruction; B packed [N/16][K/4][16][4];
 *   a signed A is offset by 128 and corrected with 128 x B's row sums;
 * - AVX2: codes widened to int16, vpmaddwd (no saturation); B packed [N/8][K/2][8][2];
 * - portable C.
 * Each keeps a tile of up to 6 rows x 64 (VNNI) or 16 (AVX2) outputs in registers. */
#ifndef QAT_NN_INT8_GEMM_H
#define QAT_NN_INT8_GEMM_H

#include <stddef.h>
#include <stdint.h>

typedef enum { INT8_KERNEL_AUTO, INT8_KERNEL_C, INT8_KERNEL_AVX2, INT8_KERNEL_VNNI } Int8Kernel;

/* Whether this CPU runs the kernel (AUTO and C: always; VNNI needs AVX-512 VNNI and
 * BW, and QAT_NO_AVX512 unset). */
int int8_kernel_available(Int8Kernel k);
const char *int8_kernel_name(Int8Kernel k);

/* B [N, K] (row n at B + n * ldb) in a kernel's layout. */
typedef struct {
    Int8Kernel kernel; /* never AUTO */
    int N, K;
    int Kp;            /* K rounded up to the kernel's k group (4, 2 or 1), zero-filled */
    void *data;
    int32_t *bsum;     /* VNNI: 128 * sum_k B[n][k], the signed-A correction */
} Int8Packed;

/* AUTO: the fastest kernel this CPU runs. */
Int8Packed *int8_pack(Int8Kernel k, int N, int K, const int8_t *B, size_t ldb);
void int8_packed_free(Int8Packed *p);

typedef struct {
    float a_scale;
    const float *b_scale; /* [N] when b_per_row, else [1] */
    int b_per_row;
    const float *bias;    /* [N] or NULL */
    float b_offset;       /* B's values are codes * b_scale + b_offset: adds
                             a_scale * b_offset * (sum of A's row) */
} Int8Rescale;

/* Y (row m at Y + m * ldy) from A (row m at A + m * lda, K codes; a_signed: int8, else
 * uint8). Threads: tiles over the OpenMP team when the product is large enough and not
 * already inside a parallel region. */
void int8_gemm(int M, const void *A, size_t lda, int a_signed, const Int8Packed *B, float *Y, size_t ldy,
               Int8Rescale r);

#endif
