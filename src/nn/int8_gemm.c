#include "nn/int8_gemm.h"

#include <immintrin.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/runtime.h"

#define ROWS 6 /* rows of a register tile, every kernel */
#define VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))
#define AVX2 __attribute__((target("avx2")))
#define INLINE inline __attribute__((always_inline))

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

/* Outputs per column block (one register) and blocks per tile. */
static int block_width(Int8Kernel k) { return k == INT8_KERNEL_VNNI ? 16 : k == INT8_KERNEL_AVX2 ? 8 : 1; }
static int tile_blocks(Int8Kernel k) { return k == INT8_KERNEL_VNNI ? 4 : k == INT8_KERNEL_AVX2 ? 2 : 16; }
static int k_group(Int8Kernel k) { return k == INT8_KERNEL_VNNI ? 4 : k == INT8_KERNEL_AVX2 ? 2 : 1; }

static void *aligned_zeroed(size_t bytes) {
    bytes = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, bytes ? bytes : 64);
    if (!p) qat_die("out of memory (%zu bytes for packed integer weights)", bytes);
    memset(p, 0, bytes ? bytes : 64);
    return p;
}

Int8Packed *int8_pack(Int8Kernel k, int N, int K, const int8_t *B, size_t ldb) {
    if (k == INT8_KERNEL_AUTO)
        k = int8_kernel_available(INT8_KERNEL_VNNI)   ? INT8_KERNEL_VNNI
            : int8_kernel_available(INT8_KERNEL_AVX2) ? INT8_KERNEL_AVX2
                                                      : INT8_KERNEL_C;
    QAT_ASSERT(int8_kernel_available(k) && N > 0 && K > 0);
    Int8Packed *p = qat_calloc(1, sizeof *p);
    int bw = block_width(k), kg = k_group(k), nb = (N + bw - 1) / bw;
    p->kernel = k, p->N = N, p->K = K, p->Kp = (K + kg - 1) / kg * kg;
    size_t groups = (size_t)p->Kp / kg, elem = k == INT8_KERNEL_AVX2 ? 2 : 1;
    p->data = aligned_zeroed((size_t)nb * groups * bw * kg * elem);
    for (int n = 0; n < N; n++)
        for (int i = 0; i < K; i++) {
            size_t at = (((size_t)(n / bw) * groups + i / kg) * bw + n % bw) * kg + i % kg;
            int8_t v = B[(size_t)n * ldb + i];
            if (k == INT8_KERNEL_AVX2) ((int16_t *)p->data)[at] = v;
            else ((int8_t *)p->data)[at] = v;
        }
    if (k == INT8_KERNEL_VNNI) {
        p->bsum = aligned_zeroed((size_t)nb * bw * sizeof *p->bsum);
        for (int n = 0; n < N; n++) {
            int32_t s = 0;
            for (int i = 0; i < K; i++) s += B[(size_t)n * ldb + i];
            p->bsum[n] = 128 * s;
        }
    }
    return p;
}

void int8_packed_free(Int8Packed *p) {
    if (!p) return;
    free(p->data);
    free(p->bsum);
    free(p);
}

/* The tile: rows m0 .. m0+R-1, column blocks nb0 .. nb0+J-1. */
typedef struct {
    const uint8_t *A; /* row m0 */
    size_t lda;
    int a_signed;
    const Int8Packed *B;
    int nb0;
    float *Y; /* row m0 */
    size_t ldy;
    const Int8Rescale *r;
    const float *row_add; /* [R]: each row's offset term, or NULL */
} Tile;

/* The n-th column's scale and bias. */
static inline float col_scale(const Int8Rescale *r, int n) { return r->a_scale * r->b_scale[r->b_per_row ? n : 0]; }
static inline float col_bias(const Int8Rescale *r, int n) { return r->bias ? r->bias[n] : 0.0f; }
static inline float row_add(const Tile *t, int m) { return t->row_add ? t->row_add[m] : 0.0f; }

/* ---- portable C: B unpacked [N][K] ------------------------------------------------------ */

static void tile_c(const Tile *t, int R, int J) {
    const Int8Packed *B = t->B;
    int K = B->K;
    for (int j = 0; j < J; j++) {
        int n = t->nb0 + j;
        const int8_t *b = (const int8_t *)B->data + (size_t)n * K;
        for (int m = 0; m < R; m++) {
            const uint8_t *a = t->A + (size_t)m * t->lda;
            int32_t s = 0;
            if (t->a_signed)
                for (int i = 0; i < K; i++) s += (int8_t)a[i] * b[i];
            else
                for (int i = 0; i < K; i++) s += a[i] * b[i];
            t->Y[(size_t)m * t->ldy + n] = (float)s * col_scale(t->r, n) + col_bias(t->r, n) + row_add(t, m);
        }
    }
}

/* ---- AVX-512 VNNI ------------------------------------------------------------------------ */

/* The 4 codes of A's row at k .. k+3 as one int32 (zeros past K), offset to uint8 when
 * signed: (x + 128) as a byte is x ^ 0x80. */
static INLINE int32_t a_quad(const uint8_t *a, int k, int K, int32_t flip) {
    uint32_t v = 0;
    if (K - k >= 4) memcpy(&v, a + k, 4);
    else
        for (int i = 0; i < K - k; i++) v |= (uint32_t)a[k + i] << (8 * i);
    return (int32_t)v ^ flip;
}

VNNI static INLINE void tile_vnni(const Tile *t, const int R, const int J) {
    const Int8Packed *B = t->B;
    int K = B->K, G = B->Kp / 4;
    int32_t flip = t->a_signed ? (int32_t)0x80808080u : 0;
    size_t bstride = (size_t)G * 64;
    const int8_t *bp = (const int8_t *)B->data + (size_t)t->nb0 * bstride;
    __m512i acc[ROWS][4];
    for (int m = 0; m < R; m++)
        for (int j = 0; j < J; j++) acc[m][j] = _mm512_setzero_si512();
    for (int g = 0; g < G; g++) {
        __m512i b[4];
        for (int j = 0; j < J; j++) b[j] = _mm512_load_si512(bp + j * bstride + (size_t)g * 64);
        for (int m = 0; m < R; m++) {
            __m512i a = _mm512_set1_epi32(a_quad(t->A + (size_t)m * t->lda, 4 * g, K, flip));
            for (int j = 0; j < J; j++) acc[m][j] = _mm512_dpbusd_epi32(acc[m][j], a, b[j]);
        }
    }
    for (int j = 0; j < J; j++) {
        int n = (t->nb0 + j) * 16, left = B->N - n;
        __mmask16 mask = left >= 16 ? 0xFFFF : (__mmask16)((1u << left) - 1);
        const Int8Rescale *r = t->r;
        __m512 s = r->b_per_row ? _mm512_mul_ps(_mm512_set1_ps(r->a_scale), _mm512_maskz_loadu_ps(mask, r->b_scale + n))
                                : _mm512_set1_ps(col_scale(r, 0));
        __m512 bias = r->bias ? _mm512_maskz_loadu_ps(mask, r->bias + n) : _mm512_setzero_ps();
        __m512i corr = t->a_signed ? _mm512_maskz_loadu_epi32(mask, B->bsum + n) : _mm512_setzero_si512();
        for (int m = 0; m < R; m++) {
            __m512 v = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[m][j], corr));
            v = _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(v, s), bias), _mm512_set1_ps(row_add(t, m)));
            _mm512_mask_storeu_ps(t->Y + (size_t)m * t->ldy + n, mask, v);
        }
    }
}

#define TILE_CASE(f, r, j)                                                                         \
    case (r) * 8 + (j): f(t, r, j); break;
#define TILE_ROW(f, r) TILE_CASE(f, r, 1) TILE_CASE(f, r, 2) TILE_CASE(f, r, 3) TILE_CASE(f, r, 4)
#define TILE_ALL(f) TILE_ROW(f, 1) TILE_ROW(f, 2) TILE_ROW(f, 3) TILE_ROW(f, 4) TILE_ROW(f, 5) TILE_ROW(f, 6)

/* Each (R, J) compiled with its constants, so the accumulators stay in registers. */
VNNI static void tile_vnni_any(const Tile *t, int R, int J) {
    switch (R * 8 + J) { TILE_ALL(tile_vnni) }
}

/* ---- AVX2: A's tile widened to int16 beforehand ----------------------------------------- */

/* a16 [R][Kp]: the tile's rows as int16, zeros past K. */
static void widen_rows(const uint8_t *A, size_t lda, int a_signed, int R, int K, int Kp, int16_t *a16) {
    for (int m = 0; m < R; m++) {
        const uint8_t *a = A + (size_t)m * lda;
        int16_t *o = a16 + (size_t)m * Kp;
        if (a_signed)
            for (int i = 0; i < K; i++) o[i] = (int8_t)a[i];
        else
            for (int i = 0; i < K; i++) o[i] = a[i];
        for (int i = K; i < Kp; i++) o[i] = 0;
    }
}

AVX2 static INLINE void tile_avx2(const Tile *t, const int16_t *a16, const int R, const int J) {
    const Int8Packed *B = t->B;
    int Kp = B->Kp, G = Kp / 2;
    size_t bstride = (size_t)G * 16;
    const int16_t *bp = (const int16_t *)B->data + (size_t)t->nb0 * bstride;
    __m256i acc[ROWS][2];
    for (int m = 0; m < R; m++)
        for (int j = 0; j < J; j++) acc[m][j] = _mm256_setzero_si256();
    for (int g = 0; g < G; g++) {
        __m256i b[2];
        for (int j = 0; j < J; j++) b[j] = _mm256_loadu_si256((const __m256i *)(bp + j * bstride + (size_t)g * 16));
        for (int m = 0; m < R; m++) {
            int32_t pair;
            memcpy(&pair, a16 + (size_t)m * Kp + 2 * g, 4);
            __m256i a = _mm256_set1_epi32(pair);
            for (int j = 0; j < J; j++) acc[m][j] = _mm256_add_epi32(acc[m][j], _mm256_madd_epi16(a, b[j]));
        }
    }
    for (int j = 0; j < J; j++) {
        int n = (t->nb0 + j) * 8, left = B->N - n;
        float s[8], bias[8], y[8];
        for (int i = 0; i < 8; i++) {
            s[i] = i < left ? col_scale(t->r, n + i) : 0.0f;
            bias[i] = i < left ? col_bias(t->r, n + i) : 0.0f;
        }
        __m256 vs = _mm256_loadu_ps(s), vb = _mm256_loadu_ps(bias);
        for (int m = 0; m < R; m++) {
            __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[m][j]), vs), vb);
            v = _mm256_add_ps(v, _mm256_set1_ps(row_add(t, m)));
            float *dst = t->Y + (size_t)m * t->ldy + n;
            if (left >= 8) _mm256_storeu_ps(dst, v);
            else {
                _mm256_storeu_ps(y, v);
                memcpy(dst, y, (size_t)left * sizeof(float));
            }
        }
    }
}

#define TILE2_CASE(f, r, j)                                                                        \
    case (r) * 8 + (j): f(t, a16, r, j); break;
#define TILE2_ROW(f, r) TILE2_CASE(f, r, 1) TILE2_CASE(f, r, 2)
AVX2 static void tile_avx2_any(const Tile *t, const int16_t *a16, int R, int J) {
    switch (R * 8 + J) { TILE2_ROW(tile_avx2, 1) TILE2_ROW(tile_avx2, 2) TILE2_ROW(tile_avx2, 3)
                         TILE2_ROW(tile_avx2, 4) TILE2_ROW(tile_avx2, 5) TILE2_ROW(tile_avx2, 6) }
}

/* ---- the product: row tiles x column tiles over the team -------------------------------- */

void int8_gemm(int M, const void *A, size_t lda, int a_signed, const Int8Packed *B, float *Y, size_t ldy,
               Int8Rescale r) {
    if (M <= 0) return;
    Int8Kernel k = B->kernel;
    int bw = block_width(k), tb = tile_blocks(k);
    int nblocks = (B->N + bw - 1) / bw, row_tiles = (M + ROWS - 1) / ROWS, col_tiles = (nblocks + tb - 1) / tb;
    long tiles = (long)row_tiles * col_tiles;
    int parallel = (double)M * B->N * B->K > 1 << 17 && !omp_in_parallel() && tiles > 1;
#pragma omp parallel if (parallel)
    {
        int16_t *a16 = k == INT8_KERNEL_AVX2 ? qat_malloc((size_t)ROWS * B->Kp * sizeof *a16) : NULL;
        long widened = -1; /* the row tile a16 holds */
#pragma omp for schedule(static)
        for (long i = 0; i < tiles; i++) {
            int rt = (int)(i / col_tiles), ct = (int)(i % col_tiles);
            int m0 = rt * ROWS, R = M - m0 < ROWS ? M - m0 : ROWS;
            int nb0 = ct * tb, J = nblocks - nb0 < tb ? nblocks - nb0 : tb;
            Tile t = {(const uint8_t *)A + (size_t)m0 * lda, lda, a_signed, B, nb0, Y + (size_t)m0 * ldy, ldy, &r, NULL};
            float radd[ROWS];
            if (r.b_offset != 0.0f) { /* the rows' sums, for B's offset */
                for (int m = 0; m < R; m++) {
                    const uint8_t *a = t.A + (size_t)m * lda;
                    int32_t sum = 0;
                    for (int i = 0; i < B->K; i++) sum += a_signed ? (int8_t)a[i] : a[i];
                    radd[m] = r.a_scale * r.b_offset * (float)sum;
                }
                t.row_add = radd;
            }
            if (k == INT8_KERNEL_VNNI) tile_vnni_any(&t, R, J);
            else if (k == INT8_KERNEL_AVX2) {
                if (widened != rt) widen_rows(t.A, lda, a_signed, R, B->K, B->Kp, a16), widened = rt;
                tile_avx2_any(&t, a16, R, J);
            } else
                tile_c(&t, R, J);
        }
        free(a16);
    }
}
