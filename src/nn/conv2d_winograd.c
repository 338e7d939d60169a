/* Winograd F(6x6, 3x3) (Lavin & Gray 2016). Per 6x6 output tile, with d the 8x8 input
 * window at the tile's origin and g a 3x3 kernel:
 *     Y = A^T [ (G g G^T) (.) (B^T d B) ] A
 * (.) elementwise over the 64 positions xi. Summed over input channels, position xi is a
 * matrix product: M_xi [T x O] = V_xi [T x C] U_xi [C x O], T tiles, U = G g G^T, V =
 * B^T d B. The backward is the adjoint of the same computation, so it is exact for the
 * forward it differentiates and also runs as 64 products:
 *     dM = A dY A^T,  dU_xi = V_xi^T dM_xi  -> dW = G^T dU G,
 *                     dV_xi = dM_xi U_xi^T  -> dX: B dV B^T added into the input windows.
 * The op is channels last (x[N,H,W,C], y[N,Ho,Wo,O]), so each transform works on whole
 * channel vectors and a sample's rows move in and out with plain copies. Every thread
 * takes a contiguous range of samples and goes through it in chunks of about 45 tiles,
 * whose transformed inputs and products stay in its L2 cache; dU is summed per thread
 * and the partial sums added in thread order. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "core/blas.h"
#include "core/error.h"
#include "nn/conv2d_act.h"
#include "nn/conv2d_path.h"

/* ---- the transforms, each on eight (or six) vectors of n channels ------------------ */

#define TILE 6  /* output tile side */
#define WIN 8   /* input window side: TILE + 2 */
#define NPOS 64 /* positions xi of a window: WIN * WIN */

/* The transforms are most of the work besides the products, and twice as fast with
 * 16-lane vectors: an AVX-512 clone where the CPU has it. The arithmetic is the same in
 * both clones (no contraction to FMA in ISO C mode), so the results are too. The
 * matrices are those of the interpolation points 0, +-1, +-2, +-1/2 and infinity. */
#define TRANSFORM __attribute__((target_clones("avx512f", "default")))

/* out_a = sum_r B^T[a][r] in_r: the input transform along one direction, with
 *   B^T = [1  0    -21/4  0     21/4  0    -1  0]
 *         [0  1     1    -17/4 -17/4  1     1  0]
 *         [0 -1     1     17/4 -17/4 -1     1  0]
 *         [0  1/2   1/4  -5/2  -5/4   2     1  0]
 *         [0 -1/2   1/4   5/2  -5/4  -2     1  0]
 *         [0  2     4    -5/2  -5     1/2   1  0]
 *         [0 -2     4     5/2  -5    -1/2   1  0]
 *         [0 -1     0     21/4  0    -21/4  0  1] */
TRANSFORM static void bt8(const float *restrict in, size_t is, float *restrict out, size_t os, int n) {
#pragma omp simd /* the eight streams never overlap: no alias checks (too many for gcc) */
    for (int l = 0; l < n; l++) {
        float d0 = in[l], d1 = in[is + l], d2 = in[2 * is + l], d3 = in[3 * is + l], d4 = in[4 * is + l],
              d5 = in[5 * is + l], d6 = in[6 * is + l], d7 = in[7 * is + l];
        float t1 = fmaf(-4.25f, d4, d2 + d6), t2 = fmaf(-4.25f, d3, d1 + d5);
        float t3 = fmaf(-1.25f, d4, fmaf(0.25f, d2, d6)), t4 = fmaf(2.0f, d5, fmaf(-2.5f, d3, 0.5f * d1));
        float t5 = fmaf(-5.0f, d4, fmaf(4.0f, d2, d6)), t6 = fmaf(0.5f, d5, fmaf(-2.5f, d3, 2.0f * d1));
        out[l] = fmaf(5.25f, d4 - d2, d0 - d6);
        out[os + l] = t1 + t2;
        out[2 * os + l] = t1 - t2;
        out[3 * os + l] = t3 + t4;
        out[4 * os + l] = t3 - t4;
        out[5 * os + l] = t5 + t6;
        out[6 * os + l] = t5 - t6;
        out[7 * os + l] = fmaf(5.25f, d3 - d5, d7 - d1);
    }
}

/* out_r = or += sum_a B^T[a][r] in_a: the adjoint of bt8. add: 2 adds to the first two
 * outputs (the columns a window shares with the one before) and sets the rest; 0 sets
 * all. */
TRANSFORM static void b8(const float *restrict in, size_t is, float *restrict out, size_t os, int n, int add) {
#pragma omp simd /* the eight streams never overlap: no alias checks (too many for gcc) */
    for (int l = 0; l < n; l++) {
        float e0 = in[l], e1 = in[is + l], e2 = in[2 * is + l], e3 = in[3 * is + l], e4 = in[4 * is + l],
              e5 = in[5 * is + l], e6 = in[6 * is + l], e7 = in[7 * is + l];
        float s12 = e1 + e2, d12 = e1 - e2, s34 = e3 + e4, d34 = e3 - e4, s56 = e5 + e6, d56 = e5 - e6;
        float r1 = fmaf(2.0f, d56, fmaf(0.5f, d34, d12)) - e7;
        float r2 = fmaf(4.0f, s56, fmaf(0.25f, s34, fmaf(-5.25f, e0, s12)));
        float r3 = fmaf(5.25f, e7, fmaf(-2.5f, d34 + d56, -4.25f * d12));
        float r4 = fmaf(-5.0f, s56, fmaf(-1.25f, s34, fmaf(5.25f, e0, -4.25f * s12)));
        float r5 = fmaf(-5.25f, e7, fmaf(0.5f, d56, fmaf(2.0f, d34, d12)));
        float r6 = s12 + s34 + s56 - e0;
        if (add) {
            out[l] += e0, out[os + l] += r1;
        } else {
            out[l] = e0, out[os + l] = r1;
        }
        out[2 * os + l] = r2, out[3 * os + l] = r3, out[4 * os + l] = r4;
        out[5 * os + l] = r5, out[6 * os + l] = r6, out[7 * os + l] = e7;
    }
}

/* out_r = sum_a A^T[r][a] in_a: eight products to six outputs, with
 *   A^T = [1  1  1   1    1    1     1     0]
 *         [0  1 -1   2   -2    1/2  -1/2   0]
 *         [0  1  1   4    4    1/4   1/4   0]
 *         [0  1 -1   8   -8    1/8  -1/8   0]
 *         [0  1  1  16   16    1/16  1/16  0]
 *         [0  1 -1  32  -32    1/32 -1/32  1] */
TRANSFORM static void at8(const float *restrict in, size_t is, float *restrict out, size_t os, int n) {
#pragma omp simd /* the eight streams never overlap: no alias checks (too many for gcc) */
    for (int l = 0; l < n; l++) {
        float m0 = in[l], m1 = in[is + l], m2 = in[2 * is + l], m3 = in[3 * is + l], m4 = in[4 * is + l],
              m5 = in[5 * is + l], m6 = in[6 * is + l], m7 = in[7 * is + l];
        float s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4, s56 = m5 + m6, d56 = m5 - m6;
        out[l] = m0 + s12 + s34 + s56;
        out[os + l] = fmaf(0.5f, d56, fmaf(2.0f, d34, d12));
        out[2 * os + l] = fmaf(0.25f, s56, fmaf(4.0f, s34, s12));
        out[3 * os + l] = fmaf(0.125f, d56, fmaf(8.0f, d34, d12));
        out[4 * os + l] = fmaf(0.0625f, s56, fmaf(16.0f, s34, s12));
        out[5 * os + l] = fmaf(0.03125f, d56, fmaf(32.0f, d34, d12)) + m7;
    }
}

/* out_a = sum_r A^T[r][a] in_r: the adjoint of at8, six gradients to eight. */
TRANSFORM static void a8(const float *restrict in, size_t is, float *restrict out, size_t os, int n) {
#pragma omp simd /* the eight streams never overlap: no alias checks (too many for gcc) */
    for (int l = 0; l < n; l++) {
        float g0 = in[l], g1 = in[is + l], g2 = in[2 * is + l], g3 = in[3 * is + l], g4 = in[4 * is + l],
              g5 = in[5 * is + l];
        float e1 = g0 + g2 + g4, o1 = g1 + g3 + g5;
        float e2 = fmaf(16.0f, g4, fmaf(4.0f, g2, g0)), o2 = fmaf(32.0f, g5, fmaf(8.0f, g3, 2.0f * g1));
        float e3 = fmaf(0.0625f, g4, fmaf(0.25f, g2, g0)), o3 = fmaf(0.03125f, g5, fmaf(0.125f, g3, 0.5f * g1));
        out[l] = g0;
        out[os + l] = e1 + o1;
        out[2 * os + l] = e1 - o1;
        out[3 * os + l] = e2 + o2;
        out[4 * os + l] = e2 - o2;
        out[5 * os + l] = e3 + o3;
        out[6 * os + l] = e3 - o3;
        out[7 * os + l] = g5;
    }
}

static const double G[WIN][3] = {{1, 0, 0},
                                 {-2.0 / 9, -2.0 / 9, -2.0 / 9},
                                 {-2.0 / 9, 2.0 / 9, -2.0 / 9},
                                 {1.0 / 90, 1.0 / 45, 2.0 / 45},
                                 {1.0 / 90, -1.0 / 45, 2.0 / 45},
                                 {32.0 / 45, 16.0 / 45, 8.0 / 45},
                                 {32.0 / 45, -16.0 / 45, 8.0 / 45},
                                 {0, 0, 1}};

/* ---- shapes and per-thread buffers --------------------------------------------------- */

typedef struct {
    int N, C, H, W, O, p, Ho, Wo;
    int th, tw, tiles; /* tiles per sample: th rows of tw */
    int Hp, Wp;        /* the zero-padded channels-last input covering every window */
    int S, T;          /* samples per chunk, tiles per chunk (the products' row stride) */
} Wino;

/* Tiles per chunk: 45 keep a chunk's V and M (with C = 64, O = 32: 1.1 MB) in L2. */
#define CHUNK_TILES 45

static Wino wino_of(const Tensor *x, const Tensor *w, int pad) {
    Wino g;
    g.N = x->shape[0], g.H = x->shape[1], g.W = x->shape[2], g.C = x->shape[3];
    g.O = w->shape[0], g.p = pad;
    g.Ho = g.H + 2 * pad - 2, g.Wo = g.W + 2 * pad - 2;
    QAT_ASSERT(g.Ho > 0 && g.Wo > 0);
    g.th = (g.Ho + TILE - 1) / TILE, g.tw = (g.Wo + TILE - 1) / TILE, g.tiles = g.th * g.tw;
    g.Hp = TILE * g.th + 2, g.Wp = TILE * g.tw + 2;
    g.S = CHUNK_TILES / g.tiles > 1 ? CHUNK_TILES / g.tiles : 1;
    g.T = g.S * g.tiles;
    return g;
}

typedef struct {
    int T;        /* tiles of the current chunk: the row count of its V_xi and M_xi */
    float *v;     /* [64][T][C]: V, then dV */
    float *xp;    /* [Hp][Wp][C], zero outside the sample */
    float *dxp;   /* [Hp][Wp][C]: the gradient of xp */
    float *yq;    /* [6 th][6 tw][O]: the output tiles (backward: dY, zero outside the map) */
    float *db;    /* [O]: one sample's bias gradient (backward) */
    float *m;     /* [64][T][O]: M or dM */
    float *tmp;   /* [8][Wp][max(C, O)]: one row of tiles after its first 1-D pass */
    float *du;    /* [64][C][O] */
} Work;

/* The buffers of one thread, allocated here and zeroed by work_clear in the thread. */
static Work work_of(Graph *gr, const Wino *g, int backward) {
    int cmax = g->C > g->O ? g->C : g->O;
    size_t xp_f = (size_t)g->Hp * g->Wp * g->C, yq_f = (size_t)TILE * TILE * g->tiles * g->O;
    Work k;
    k.xp = graph_alloc(gr, xp_f * sizeof(float));
    k.dxp = backward ? graph_alloc(gr, xp_f * sizeof(float)) : NULL;
    k.yq = graph_alloc(gr, yq_f * sizeof(float));
    k.db = backward ? graph_alloc(gr, (size_t)g->O * sizeof(float)) : NULL;
    k.T = 0;
    k.v = graph_alloc(gr, (size_t)NPOS * g->T * g->C * sizeof(float));
    k.m = graph_alloc(gr, (size_t)NPOS * g->T * g->O * sizeof(float));
    k.tmp = graph_alloc(gr, (size_t)WIN * g->Wp * cmax * sizeof(float));
    k.du = backward ? graph_alloc(gr, (size_t)NPOS * g->C * g->O * sizeof(float)) : NULL;
    return k;
}

/* The zeros the steps rely on: xp's border, yq past the map (backward), dU's sums. */
static void work_clear(const Wino *g, Work *k, int backward) {
    memset(k->xp, 0, (size_t)g->Hp * g->Wp * g->C * sizeof(float));
    if (!backward) return;
    memset(k->yq, 0, (size_t)TILE * TILE * g->tiles * g->O * sizeof(float));
    memset(k->du, 0, (size_t)NPOS * g->C * g->O * sizeof(float));
}

/* ---- steps of a chunk ---------------------------------------------------------------- */

/* Sample n into the interior of xp; the border stays zero. */
static void load_sample(const Wino *g, const float *x, int n, Work *k) {
    size_t rowf = (size_t)g->W * g->C;
    for (int i = 0; i < g->H; i++)
        memcpy(k->xp + ((size_t)(i + g->p) * g->Wp + g->p) * g->C, x + ((size_t)n * g->H + i) * rowf,
               rowf * sizeof(float));
}

/* Each 2-D transform is two 1-D passes. The pass along the image rows runs once per row
 * of tiles, over the whole width (one long vector loop, and the columns that neighbouring
 * windows share are transformed once); the pass along the columns runs per tile. */

/* V of the tiles of sample n (chunk slot s): rows s*tiles... of every V_xi. */
static void input_transform(const Wino *g, const float *x, int n, int s, Work *k) {
    load_sample(g, x, n, k);
    int C = g->C;
    size_t row = (size_t)g->Wp * C, xs = (size_t)k->T * C;
    for (int i = 0; i < g->th; i++) {
        /* t[a][w] = sum_r B^T[a][r] xp[6i + r][w], every column w */
        bt8(k->xp + (size_t)TILE * i * row, row, k->tmp, row, (int)row);
        for (int j = 0; j < g->tw; j++) {
            float *v = k->v + ((size_t)s * g->tiles + i * g->tw + j) * C;
            for (int a = 0; a < WIN; a++) bt8(k->tmp + a * row + (size_t)TILE * j * C, C, v + (size_t)a * WIN * xs, xs, C);
        }
    }
}

/* The 64 products of the chunk: M_xi = V_xi U_xi. */
static void products(const Wino *g, const float *u, Work *k) {
    int C = g->C, O = g->O, T = k->T;
    for (int xi = 0; xi < NPOS; xi++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, O, C, 1.0f, k->v + (size_t)xi * T * C, C,
                    u + (size_t)xi * C * O, O, 0.0f, k->m + (size_t)xi * T * O, O);
}

/* Y of sample n (chunk slot s) from M, then bias and activation, into y. */
static void output_transform(const Wino *g, const Tensor *b, ConvAct act, int n, int s, Work *k, float *y) {
    int O = g->O, wq = TILE * g->tw;
    size_t xs = (size_t)k->T * O, row = (size_t)wq * O;
    for (int i = 0; i < g->th; i++) {
        /* z[a][6j + c] = sum_b M[a][b] A[b][c], tile by tile, then the rows of Y */
        for (int j = 0; j < g->tw; j++) {
            const float *m = k->m + ((size_t)s * g->tiles + i * g->tw + j) * O;
            for (int a = 0; a < WIN; a++) at8(m + (size_t)a * WIN * xs, xs, k->tmp + a * row + (size_t)TILE * j * O, O, O);
        }
        at8(k->tmp, row, k->yq + (size_t)TILE * i * row, row, (int)row);
    }
    for (int i = 0; i < g->Ho; i++)
        conv_act_run(act, k->yq + (size_t)i * row, b ? b->data : NULL, O, y + ((size_t)n * g->Ho + i) * g->Wo * O,
                     (size_t)g->Wo * O);
}

/* dM of sample n (chunk slot s) from dY (through the fused activation), and db. */
static void output_adjoint(const Wino *g, const Tensor *y, ConvAct act, int n, int s, Work *k, float *db) {
    int O = g->O, wq = TILE * g->tw;
    size_t xs = (size_t)k->T * O, rowy = (size_t)g->Wo * O, row = (size_t)wq * O;
    /* dY before the activation into the tiles' rows (past the map: zeros, never written);
     * db summed pixel by pixel, every channel in the order of a plane */
    memset(k->db, 0, (size_t)O * sizeof(float));
    for (int i = 0; i < g->Ho; i++) {
        size_t at = ((size_t)n * g->Ho + i) * rowy;
        float *out = k->yq + (size_t)i * row;
        conv_act_grad(act, y->data + at, y->grad + at, out, rowy);
        for (int j = 0; j < g->Wo; j++)
            for (int o = 0; o < O; o++) k->db[o] += out[(size_t)j * O + o];
    }
    if (db)
        for (int o = 0; o < O; o++) db[o] += k->db[o];
    for (int i = 0; i < g->th; i++) {
        /* z[a][w] = sum_r A[a][r] dY[6i + r][w], then per tile dM[a][b] = sum_c z[a][6j + c] A^T[c][b] */
        a8(k->yq + (size_t)TILE * i * row, row, k->tmp, row, (int)row);
        for (int j = 0; j < g->tw; j++) {
            float *m = k->m + ((size_t)s * g->tiles + i * g->tw + j) * O;
            for (int a = 0; a < WIN; a++) a8(k->tmp + a * row + (size_t)TILE * j * O, O, m + (size_t)a * WIN * xs, xs, O);
        }
    }
}

/* dX of sample n (chunk slot s) from dV: each window's B dV B^T added into dxp (the
 * gradient of the padded input), then its interior added into x->grad. Windows overlap
 * their upper and left neighbours by two rows and columns and together cover dxp, so
 * the first write of each value sets it and the overlap is added. */
static void input_adjoint(const Wino *g, int n, int s, Work *k, float *dx) {
    int C = g->C;
    size_t row = (size_t)g->Wp * C, xs = (size_t)k->T * C, rowx = (size_t)g->W * C;
    for (int i = 0; i < g->th; i++) {
        /* z[a][6j + c] (+)= sum_b dV[a][b] B^T[b][c] per tile, then the rows of dxp */
        for (int j = 0; j < g->tw; j++) {
            const float *v = k->v + ((size_t)s * g->tiles + i * g->tw + j) * C;
            for (int a = 0; a < WIN; a++)
                b8(v + (size_t)a * WIN * xs, xs, k->tmp + a * row + (size_t)TILE * j * C, C, C, j > 0);
        }
        b8(k->tmp, row, k->dxp + (size_t)TILE * i * row, row, (int)row, i > 0);
    }
    for (int i = 0; i < g->H; i++) {
        const float *in = k->dxp + ((size_t)(i + g->p) * g->Wp + g->p) * C;
        float *out = dx + ((size_t)n * g->H + i) * rowx;
        for (size_t e = 0; e < rowx; e++) out[e] += in[e];
    }
}

/* ---- the op ------------------------------------------------------------------------- */

void conv2d_winograd_forward(ConvCtx *cx) {
    Graph *gr = cx->g;
    const Tensor *x = cx->x, *w = cx->w, *b = cx->b, *y = cx->y;
    ConvAct act = cx->act;
    Wino g = wino_of(x, w, cx->pad);
    int C = g.C, O = g.O;
    QAT_ASSERT(w->shape[2] == 3 && w->shape[3] == 3);
    /* U_xi[c][o] = (G w[o][c] G^T)[xi], in double */
    float *u = graph_alloc(gr, (size_t)NPOS * C * O * sizeof(float));
#pragma omp parallel for schedule(static)
    for (int o = 0; o < O; o++)
        for (int c = 0; c < C; c++) {
            const float *k3 = w->data + ((size_t)o * C + c) * 9;
            double gg[WIN][3];
            for (int a = 0; a < WIN; a++)
                for (int v = 0; v < 3; v++) gg[a][v] = G[a][0] * k3[v] + G[a][1] * k3[3 + v] + G[a][2] * k3[6 + v];
            for (int a = 0; a < WIN; a++)
                for (int bb = 0; bb < WIN; bb++)
                    u[((size_t)(a * WIN + bb) * C + c) * O + o] =
                        (float)(gg[a][0] * G[bb][0] + gg[a][1] * G[bb][1] + gg[a][2] * G[bb][2]);
        }
    int nth = omp_get_max_threads();
    Work *work = graph_alloc(gr, (size_t)nth * sizeof(Work));
    for (int t = 0; t < nth; t++) work[t] = work_of(gr, &g, 0);
#pragma omp parallel num_threads(nth)
    {
        int t = omp_get_thread_num(), n0 = g.N * t / nth, n1 = g.N * (t + 1) / nth;
        Work *k = &work[t];
        work_clear(&g, k, 0);
        for (int c0 = n0; c0 < n1; c0 += g.S) {
            int ns = n1 - c0 < g.S ? n1 - c0 : g.S;
            k->T = ns * g.tiles;
            for (int s = 0; s < ns; s++) input_transform(&g, x->data, c0 + s, s, k);
            products(&g, u, k);
            for (int s = 0; s < ns; s++) output_transform(&g, b, act, c0 + s, s, k, y->data);
        }
    }
    cx->state = u;
}

void conv2d_winograd_backward(ConvCtx *cx) {
    Graph *gr = cx->g;
    const Tensor *x = cx->x, *w = cx->w, *b = cx->b, *y = cx->y;
    const float *u = cx->state;
    ConvAct act = cx->act;
    Wino g = wino_of(x, w, cx->pad);
    int C = g.C, O = g.O;
    float *dw = w->grad, *dx = x->grad;
    int nth = omp_get_max_threads();
    Work *work = graph_alloc(gr, (size_t)nth * sizeof(Work));
    float *db_part = b && b->grad ? arena_calloc(&gr->arena, (size_t)nth * O * sizeof(float)) : NULL;
    for (int t = 0; t < nth; t++) work[t] = work_of(gr, &g, 1);
    /* U_xi^T [O, C], so that dV = dM U^T is a plain product (OpenBLAS takes its
     * small-matrix kernel for it; with the transposed operand it packs both) */
    float *ut = NULL;
    if (dx) {
        ut = graph_alloc(gr, (size_t)NPOS * C * O * sizeof(float));
#pragma omp parallel for schedule(static)
        for (int xi = 0; xi < NPOS; xi++)
            for (int c = 0; c < C; c++)
                for (int o = 0; o < O; o++)
                    ut[((size_t)xi * O + o) * C + c] = u[((size_t)xi * C + c) * O + o];
    }
#pragma omp parallel num_threads(nth)
    {
        int t = omp_get_thread_num(), n0 = g.N * t / nth, n1 = g.N * (t + 1) / nth;
        Work *k = &work[t];
        work_clear(&g, k, 1);
        for (int c0 = n0; c0 < n1; c0 += g.S) {
            int ns = n1 - c0 < g.S ? n1 - c0 : g.S, nt = ns * g.tiles;
            k->T = nt;
            for (int s = 0; s < ns; s++) output_adjoint(&g, y, act, c0 + s, s, k, db_part ? db_part + (size_t)t * O : NULL);
            if (dw) {
                /* V again (as fast as reading a kept copy from memory) */
                for (int s = 0; s < ns; s++) input_transform(&g, x->data, c0 + s, s, k);
                for (int xi = 0; xi < NPOS; xi++) /* dU_xi [C, O] += V_xi^T dM_xi */
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, O, nt, 1.0f, k->v + (size_t)xi * nt * C, C,
                                k->m + (size_t)xi * nt * O, O, 1.0f, k->du + (size_t)xi * C * O, O);
            }
            if (dx) {
                for (int xi = 0; xi < NPOS; xi++) /* dV_xi [T, C] = dM_xi U_xi^T */
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nt, C, O, 1.0f, k->m + (size_t)xi * nt * O,
                                O, ut + (size_t)xi * O * C, C, 0.0f, k->v + (size_t)xi * nt * C, C);
                for (int s = 0; s < ns; s++) input_adjoint(&g, c0 + s, s, k, dx);
            }
        }
    }
    if (db_part)
        for (int t = 0; t < nth; t++)
            for (int o = 0; o < O; o++) b->grad[o] += db_part[(size_t)t * O + o];
    if (!dw) return;
    /* dW[o][c] += G^T dU G, dU summed over the threads in order, in double */
#pragma omp parallel for schedule(static)
    for (int o = 0; o < O; o++)
        for (int c = 0; c < C; c++) {
            double du[NPOS];
            for (int xi = 0; xi < NPOS; xi++) {
                double s = 0.0;
                for (int t = 0; t < nth; t++) s += work[t].du[((size_t)xi * C + c) * O + o];
                du[xi] = s;
            }
            double gu[3][WIN]; /* G^T dU */
            for (int r = 0; r < 3; r++)
                for (int bb = 0; bb < WIN; bb++) {
                    double s = 0.0;
                    for (int a = 0; a < WIN; a++) s += G[a][r] * du[a * WIN + bb];
                    gu[r][bb] = s;
                }
            float *k3 = dw + ((size_t)o * C + c) * 9;
            for (int r = 0; r < 3; r++)
                for (int v = 0; v < 3; v++) {
                    double s = 0.0;
                    for (int bb = 0; bb < WIN; bb++) s += gu[r][bb] * G[bb][v];
                    k3[r * 3 + v] += (float)s;
                }
        }
}
