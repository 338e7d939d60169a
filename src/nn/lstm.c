#include "nn/lstm.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/blas.h"
#include "core/error.h"
#include "nn/int8_gemm.h"
#include "nn/packed_gemm.h"

/* ------------------------------------------------------------------------------------ */
/* Packing                                                                               */

void lstm_pack(Graph *g, LstmPack *p, const int *len, int B) {
    QAT_ASSERT(B >= 1);
    for (int b = 0; b < B; b++) {
        if (len[b] < 1) qat_die("lstm: sequence %d of the batch is empty", b);
        if (b > 0 && len[b] > len[b - 1]) qat_die("lstm: the batch is not sorted by length, longest first");
    }
    p->B = B;
    p->T = len[0];
    p->len = len;
    p->bs = graph_alloc(g, (size_t)p->T * sizeof(int));
    p->off = graph_alloc(g, (size_t)(p->T + 1) * sizeof(int));
    int active = B;
    p->off[0] = 0;
    for (int t = 0; t < p->T; t++) {
        while (len[active - 1] <= t) active--;
        p->bs[t] = active;
        p->off[t + 1] = p->off[t] + active;
    }
    p->N = p->off[p->T];
    p->rev = graph_alloc(g, (size_t)p->N * sizeof(int));
    for (int k = 0; k < p->T; k++)
        for (int b = 0; b < p->bs[k]; b++) p->rev[p->off[k] + b] = p->off[len[b] - 1 - k] + b;
}

/* ------------------------------------------------------------------------------------ */
/* Gate nonlinearities from a polynomial exp (Cephes expf; measured: relative error below
 * 1e-7 over the clamped range, sigmoid and tanh within 2e-7 absolute), inlined so that
 * the gate loops vectorise; libm's expf/tanhf are scalar calls. No denormals. */

static inline float lstm_exp(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float n = __builtin_rintf(x * 1.44269504088896341f);
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    union {
        int32_t i;
        float f;
    } scale = {((int32_t)(n == n ? n : 0.0f) + 127) << 23}; /* NaN: no conversion; p is NaN */
    return p * scale.f;
}

static inline float lstm_sigmoid(float x) { return 1.0f / (1.0f + lstm_exp(-x)); }
static inline float lstm_tanh(float x) { return 2.0f / (1.0f + lstm_exp(-2.0f * x)) - 1.0f; }

/* ------------------------------------------------------------------------------------ */
/* One direction: buffers in its own scan order (row (k, b) = off[k] + b)                */

typedef struct {
    Tensor *b_ih, *b_hh;
    Tensor *wih, *whh;  /* the (quantized) weights the products read */
    /* xh [N, in + H]: row (k, b) = [x_t ; what W_hh reads at step k] (h part 0 at k = 0),
     * side by side so one GEMM gives dW_ih and dW_hh. The reverse direction's x part
     * is its input time-reversed. */
    float *xh;          /* (NULL in the integer engine) */
    int ld;             /* in + H */
    float *bias;        /* b_ih + b_hh [4H] */
    float *gates;       /* [N, 4H]: G = x W_ih^T, then the activations i f g o, then dz */
    float *c, *tc;      /* [N, H]: c_t and tanh(c_t) */
    float *hfp;         /* [N, H]: h_{k-1} before quantization (only with a quantizer) */
    float *hq_out;      /* [B, H]: one step's quantized h */
    float *z;           /* [B, 4H] scratch: W_hh h_{t-1} */
    PackedMat whh_t;    /* W_hh^T packed for the per-step products of the forward */
    Quantizer *hq;      /* the h_{t-1} quantizer, or NULL */
    const LstmInt *in8; /* the integer engine's codes, or NULL */
    void *hcode;        /* [B, H]: one step's h_{t-1} codes (integer engine) */
} DirState;

typedef struct {
    int in, hidden, ndir;
    LstmPack p;
    Tensor *xq;         /* the (quantized) input the products read */
    Tensor *y, *final;  /* outputs ([N, ndir*H] or NULL; [B, ndir*H]) */
    DirState d[2];
    int training;
} LstmCtx;

/* The tape's closures receive only their context; the backward needs scratch from the
 * arena, so the node records its graph. */
typedef struct {
    LstmCtx c;
    Graph *g;
} LstmNode;

static QuantInput hq_input(const float *x, size_t n, int batch, int training) {
    QuantInput in = {x, n, 1, batch, training};
    return in;
}

/* Forward scan of one direction. quant: apply the h_{t-1} quantizer. */
static void scan_forward(LstmCtx *c, int d, int quant) {
    const LstmPack *p = &c->p;
    DirState *s = &c->d[d];
    int H = c->hidden, G = 4 * H, nd = c->ndir, B = p->B, D = c->in, ld = s->ld;
    for (int b = 0; b < B && s->xh; b++) memset(s->xh + (size_t)b * ld + D, 0, (size_t)H * sizeof(float)); /* h_{-1} = 0 */
    if (s->hfp) memset(s->hfp, 0, (size_t)B * H * sizeof(float));
    for (int k = 0; k < p->T; k++) {
        int Bt = p->bs[k], r0 = p->off[k];
        if (k > 0 && s->in8) {
            const LstmInt *in8 = s->in8;
            int8_gemm(Bt, s->hcode, (size_t)H, in8->hg.is_signed, in8->whh.packed, s->z, (size_t)G,
                      int_rescale(in8->hg.scale, in8->whh, NULL));
        } else if (k > 0) {
            packed_mat_gemm(&s->whh_t, Bt, s->xh + (size_t)r0 * ld + D, ld, s->z, G);
        } else
            memset(s->z, 0, (size_t)Bt * G * sizeof(float));
        int next_bs = k + 1 < p->T ? p->bs[k + 1] : 0;
        for (int b = 0; b < Bt; b++) {
            size_t row = (size_t)r0 + b, next = (size_t)(k + 1 < p->T ? p->off[k + 1] : 0) + b;
            float *gr = s->gates + row * G;
            const float *zr = s->z + (size_t)b * G, *bias = s->bias;
            const float *cp = k > 0 ? s->c + ((size_t)p->off[k - 1] + b) * H : NULL;
            float *cr = s->c + row * H, *tcr = s->tc + row * H;
            /* h_t goes where it is read next: the next step's W_hh input (through the
             * quantizer), or the final state when the sequence ends here. */
            float *h = b >= next_bs ? c->final->data + (size_t)b * nd * H + (size_t)d * H
                       : quant      ? s->hfp + next * H
                                    : s->xh + next * ld + D;
#pragma omp simd
            for (int j = 0; j < H; j++) {
                float i = lstm_sigmoid(gr[j] + zr[j] + bias[j]);
                float f = lstm_sigmoid(gr[H + j] + zr[H + j] + bias[H + j]);
                float gg = lstm_tanh(gr[2 * H + j] + zr[2 * H + j] + bias[2 * H + j]);
                float o = lstm_sigmoid(gr[3 * H + j] + zr[3 * H + j] + bias[3 * H + j]);
                float cv = i * gg + (cp ? f * cp[j] : 0.0f);
                float t = lstm_tanh(cv);
                gr[j] = i, gr[H + j] = f, gr[2 * H + j] = gg, gr[3 * H + j] = o;
                cr[j] = cv;
                tcr[j] = t;
                h[j] = o * t;
            }
            if (c->y) {
                size_t pos = d ? (size_t)p->rev[row] : row;
                memcpy(c->y->data + pos * nd * H + (size_t)d * H, h, (size_t)H * sizeof(float));
            }
        }
        if (quant && next_bs > 0 && s->in8) {
            size_t r1 = (size_t)p->off[k + 1];
            quant_int_codes(s->hq, &s->in8->h, &s->in8->hg, s->hfp + r1 * H, (size_t)next_bs * H, s->hcode,
                            s->hq_out);
        } else if (quant && next_bs > 0) {
            size_t r1 = (size_t)p->off[k + 1];
            s->hq->ops->forward(s->hq, hq_input(s->hfp + r1 * H, (size_t)next_bs * H, B, c->training), s->hq_out);
            for (int b = 0; b < next_bs; b++)
                memcpy(s->xh + (r1 + b) * ld + D, s->hq_out + (size_t)b * H, (size_t)H * sizeof(float));
        }
    }
}

/* Runs every direction's scan, side by side when there are threads for it. */
static void scan_all(LstmCtx *c, int quant) {
    int nd = c->ndir, nth = omp_get_max_threads() < nd ? omp_get_max_threads() : nd;
#pragma omp parallel for num_threads(nth) schedule(static, 1) if (nth > 1)
    for (int d = 0; d < nd; d++) scan_forward(c, d, quant && c->d[d].hq != NULL);
}

/* BPTT of one direction (7.1), steps in reverse scan order. dy: the gradient of the
 * packed outputs (NULL when they feed nothing). Leaves dz in s->gates and, with a
 * quantizer, dL/d(hprev) in dhprev (rows of k = 0: 0). */
static void scan_backward(LstmCtx *c, int d, float *dh, float *dc, float *dhprev, const PackedMat *whh) {
    const LstmPack *p = &c->p;
    DirState *s = &c->d[d];
    int H = c->hidden, G = 4 * H, nd = c->ndir, B = p->B;
    const float *dy = c->y ? c->y->grad : NULL;
    const float *dfin = c->final->grad;
    memset(dh, 0, (size_t)B * H * sizeof(float));
    memset(dc, 0, (size_t)B * H * sizeof(float));
    if (dhprev) memset(dhprev, 0, (size_t)B * H * sizeof(float));
    for (int k = p->T - 1; k >= 0; k--) {
        int Bt = p->bs[k], r0 = p->off[k];
        int next_bs = k + 1 < p->T ? p->bs[k + 1] : 0;
        for (int b = 0; b < Bt; b++) {
            size_t row = (size_t)r0 + b;
            float *dhr = dh + (size_t)b * H, *dcr = dc + (size_t)b * H;
            /* gradient injected at h_t: from above (every step), from the final state */
            if (dy) {
                const float *src = dy + ((d ? (size_t)p->rev[row] : row) * nd + d) * H;
                for (int j = 0; j < H; j++) dhr[j] += src[j];
            }
            if (b >= next_bs) {
                const float *src = dfin + ((size_t)b * nd + d) * H;
                for (int j = 0; j < H; j++) dhr[j] += src[j];
            }
            float *gr = s->gates + row * G;
            const float *tcr = s->tc + row * H;
            const float *cp = k > 0 ? s->c + ((size_t)p->off[k - 1] + b) * H : NULL;
#pragma omp simd
            for (int j = 0; j < H; j++) {
                float i = gr[j], f = gr[H + j], gg = gr[2 * H + j], o = gr[3 * H + j], t = tcr[j];
                float dhv = dhr[j];
                float dcv = dcr[j] + dhv * o * (1.0f - t * t);
                float di = dcv * gg, dg = dcv * i, df = cp ? dcv * cp[j] : 0.0f, dov = dhv * t;
                dcr[j] = dcv * f;
                gr[j] = di * i * (1.0f - i);
                gr[H + j] = df * f * (1.0f - f);
                gr[2 * H + j] = dg * (1.0f - gg * gg);
                gr[3 * H + j] = dov * o * (1.0f - o);
            }
        }
        if (k == 0) break;
        /* dh_{t-1} = W_hh^T dz, through the quantizer's STE when there is one */
        const float *dz = s->gates + (size_t)r0 * G;
        if (dhprev) {
            float *dq = dhprev + (size_t)r0 * H;
            packed_mat_gemm(whh, Bt, dz, G, dq, H);
            memset(dh, 0, (size_t)Bt * H * sizeof(float));
            s->hq->ops->backward(s->hq, hq_input(s->hfp + (size_t)r0 * H, (size_t)Bt * H, B, 1), dq, dh);
        } else {
            packed_mat_gemm(whh, Bt, dz, G, dh, H);
        }
    }
}

/* Quantizer parameter gradients are not taken per step (LSQ's gradient scale depends on
 * the size of what the quantizer saw, and its sum must run over all steps): the steps'
 * backward calls write them to a scratch buffer, then one call on the whole [N, H]
 * buffer of h_{t-1} adds them, with batch = number of sequences. */
typedef struct {
    float *saved[QUANT_MAX_PARAMS];
} GradSwap;

static void grads_to_scratch(Graph *g, Quantizer *q, GradSwap *sw) {
    for (int k = 0; k < q->nparams; k++) {
        Tensor *t = &q->params[k]->t;
        sw->saved[k] = t->grad;
        t->grad = graph_alloc(g, t->size * sizeof(float));
        memset(t->grad, 0, t->size * sizeof(float));
    }
}

static void grads_restore(Quantizer *q, GradSwap *sw) {
    for (int k = 0; k < q->nparams; k++) q->params[k]->t.grad = sw->saved[k];
}

/* db += column sums of dz [N, G], the columns split over the threads. */
static void bias_grad(const float *dz, int N, int G, float *dbi, float *dbh) {
    int chunks = G / 64 > 0 ? G / 64 : 1;
#pragma omp parallel for schedule(static) if (N > 256)
    for (int ch = 0; ch < chunks; ch++) {
        int j0 = G * ch / chunks, j1 = G * (ch + 1) / chunks;
        float acc[256];
        for (int j = j0; j < j1; j++) acc[j - j0] = 0.0f;
        for (int r = 0; r < N; r++) {
            const float *src = dz + (size_t)r * G;
#pragma omp simd
            for (int j = j0; j < j1; j++) acc[j - j0] += src[j];
        }
        for (int j = j0; j < j1; j++) {
            if (dbi) dbi[j] += acc[j - j0];
            if (dbh) dbh[j] += acc[j - j0];
        }
    }
}

static void lstm_backward(void *ctx) {
    LstmNode *node = ctx;
    LstmCtx *c = &node->c;
    Graph *g = node->g;
    const LstmPack *p = &c->p;
    int H = c->hidden, G = 4 * H, D = c->in, nd = c->ndir, B = p->B, N = p->N;
    float *dh[2], *dc[2], *dhprev[2] = {NULL, NULL};
    GradSwap sw[2];
    PackedMat whh[2];
    for (int d = 0; d < nd; d++) {
        packed_mat_init(&whh[d], c->d[d].whh->data, H, 0, G, H, graph_alloc(g, packed_mat_floats(G, H) * sizeof(float)));
        dh[d] = graph_alloc(g, (size_t)B * H * sizeof(float));
        dc[d] = graph_alloc(g, (size_t)B * H * sizeof(float));
        if (c->d[d].hq) {
            dhprev[d] = graph_alloc(g, (size_t)N * H * sizeof(float));
            grads_to_scratch(g, c->d[d].hq, &sw[d]);
        }
    }
    int nth = omp_get_max_threads() < nd ? omp_get_max_threads() : nd;
#pragma omp parallel for num_threads(nth) schedule(static, 1) if (nth > 1)
    for (int d = 0; d < nd; d++) scan_backward(c, d, dh[d], dc[d], dhprev[d], &whh[d]);

    float *dw = graph_alloc(g, (size_t)G * (D + H) * sizeof(float));
    float *dxr = NULL;
    for (int d = 0; d < nd; d++) {
        DirState *s = &c->d[d];
        const float *dz = s->gates;
        if (s->hq) {
            grads_restore(s->hq, &sw[d]);
            s->hq->ops->backward(s->hq, hq_input(s->hfp, (size_t)N * H, B, 1), dhprev[d], NULL);
        }
        /* [dW_ih dW_hh] = dz^T [x h_{t-1}] over all steps (h_{-1} = 0 adds nothing) */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, G, s->ld, N, 1.0f, dz, G, s->xh, s->ld, 0.0f, dw,
                    s->ld);
        float *gih = s->wih->grad, *ghh = s->whh->grad;
#pragma omp parallel for schedule(static)
        for (int o = 0; o < G; o++) {
            const float *src = dw + (size_t)o * s->ld;
            if (gih)
                for (int j = 0; j < D; j++) gih[(size_t)o * D + j] += src[j];
            if (ghh)
                for (int j = 0; j < H; j++) ghh[(size_t)o * H + j] += src[D + j];
        }
        bias_grad(dz, N, G, s->b_ih->grad, s->b_hh->grad);
        if (!c->xq->grad) continue;
        if (d == 0) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, D, G, 1.0f, dz, G, s->wih->data, D, 1.0f,
                        c->xq->grad, D);
        } else {
            /* the reverse scan's rows go back to their packed positions */
            if (!dxr) dxr = graph_alloc(g, (size_t)N * D * sizeof(float));
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, D, G, 1.0f, dz, G, s->wih->data, D, 0.0f,
                        dxr, D);
            float *dx = c->xq->grad;
            const int *rev = p->rev;
#pragma omp parallel for schedule(static) if (N > 64)
            for (int r = 0; r < N; r++) {
                float *dst = dx + (size_t)rev[r] * D;
                const float *src = dxr + (size_t)r * D;
#pragma omp simd
                for (int j = 0; j < D; j++) dst[j] += src[j];
            }
        }
    }
}

/* The context of one LSTM forward: the buffers of each direction, its input projection
 * done. with_y: the packed outputs are kept. */
/* gates = x W_ih^T on codes, for every step at once, in the direction's scan order. */
static void integer_input_projection(Graph *g, const LstmInt *in8, const LstmPack *p, int d, int D, int G,
                                     float *gates) {
    int N = p->N;
    const uint8_t *xc = in8->x.codes; /* int8 or uint8 alike: bytes */
    uint8_t *rows = (uint8_t *)xc;
    if (d) { /* the reverse scan's rows */
        rows = graph_alloc(g, (size_t)N * D);
        for (int r = 0; r < N; r++) memcpy(rows + (size_t)r * D, xc + (size_t)p->rev[r] * D, (size_t)D);
    }
    int8_gemm(N, rows, (size_t)D, in8->x.is_signed, in8->wih.packed, gates, (size_t)G, int_rescale(in8->x.scale, in8->wih, NULL));
}

static LstmNode *lstm_setup(Graph *g, const LstmPack *p, Tensor *x, const LstmWeights *w, int ndir, int hidden,
                            int with_y) {
    int H = hidden, G = 4 * H, D = x->ndim == 2 ? x->shape[1] : 0, nd = ndir, B = p->B, N = p->N;
    if (x->ndim != 2 || x->shape[0] != N) {
        char s[64];
        qat_die("lstm: input %s, expected [%d, in]", tensor_shape_str(x, s, sizeof s), N);
    }
    LstmNode *node = graph_alloc(g, sizeof *node);
    memset(node, 0, sizeof *node);
    node->g = g;
    LstmCtx *c = &node->c;
    c->in = D, c->hidden = H, c->ndir = nd;
    c->p = *p;
    c->training = g->training;
    c->xq = x;
    int grad = g->training;
    c->final = graph_tensor2(g, grad, B, nd * H);
    c->y = with_y ? graph_tensor2(g, grad, N, nd * H) : NULL;
    for (int d = 0; d < nd; d++) {
        DirState *s = &c->d[d];
        s->b_ih = w[d].b_ih, s->b_hh = w[d].b_hh;
        s->wih = w[d].w_ih;
        s->whh = w[d].w_hh;
        s->hq = w[d].hq;
        s->bias = graph_alloc(g, (size_t)G * sizeof(float));
        for (int j = 0; j < G; j++) s->bias[j] = s->b_ih->data[j] + s->b_hh->data[j];
        s->ld = D + H;
        /* (the integer products read codes instead: no float copy) */
        s->xh = w[d].integer ? NULL : graph_alloc(g, (size_t)N * s->ld * sizeof(float));
        const float *xs = c->xq->data;
        const int *rev = p->rev;
        float *xh = s->xh;
        int ld = s->ld;
        if (xh) {
#pragma omp parallel for schedule(static) if (N > 64)
            for (int r = 0; r < N; r++)
                memcpy(xh + (size_t)r * ld, xs + (size_t)(d ? rev[r] : r) * D, (size_t)D * sizeof(float));
        }
        s->gates = graph_alloc(g, (size_t)N * G * sizeof(float));
        s->c = graph_alloc(g, (size_t)N * H * sizeof(float));
        s->tc = graph_alloc(g, (size_t)N * H * sizeof(float));
        s->hfp = s->hq ? graph_alloc(g, (size_t)N * H * sizeof(float)) : NULL;
        s->hq_out = s->hq ? graph_alloc(g, (size_t)B * H * sizeof(float)) : NULL;
        s->z = graph_alloc(g, (size_t)B * G * sizeof(float));
        s->in8 = w[d].integer;
        if (s->in8) {
            QAT_ASSERT(!g->training && s->hq);
            integer_input_projection(g, s->in8, p, d, D, G, s->gates);
            s->hcode = graph_alloc(g, (size_t)B * H);
            continue;
        }
        packed_mat_init(&s->whh_t, s->whh->data, H, 1, H, G, graph_alloc(g, packed_mat_floats(H, G) * sizeof(float)));
        /* the input projection of every step at once */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, G, D, 1.0f, s->xh, ld, s->wih->data, D, 0.0f,
                    s->gates, G);
    }
    return node;
}

void op_lstm_fp_h(Graph *g, const LstmPack *p, Tensor *x, const LstmWeights *w, int ndir, int hidden, float *h[2]) {
    LstmNode *node = lstm_setup(g, p, x, w, ndir, hidden, 0);
    LstmCtx *c = &node->c;
    int N = p->N, H = hidden;
    scan_all(c, 0);
    for (int d = 0; d < ndir; d++) {
        const DirState *s = &c->d[d];
        if (!h[d]) continue;
        for (int r = 0; r < N; r++)
            memcpy(h[d] + (size_t)r * H, s->xh + (size_t)r * s->ld + c->in, (size_t)H * sizeof(float));
    }
}

Tensor *op_lstm(Graph *g, const LstmPack *p, Tensor *x, const LstmWeights *w, int ndir, int hidden, Tensor **y) {
    LstmNode *node = lstm_setup(g, p, x, w, ndir, hidden, y != NULL);
    LstmCtx *c = &node->c;
    for (int d = 0; d < ndir; d++) QAT_ASSERT(!c->d[d].hq || c->d[d].hq->initialized);
    scan_all(c, 1);
    if (g->training) graph_push(g, lstm_backward, node);
    if (y) *y = c->y;
    return c->final;
}
