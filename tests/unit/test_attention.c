/* Causal multi-head attention and the transformer blocks (nn/attention.h), the fused
 * dropout ops (nn/fused_dropout.h):
 *  - against PyTorch (tests/fixtures/sasrec_*.bin from scripts/gen_fixtures_sasrec.py):
 *    nn.MultiheadAttention, nn.TransformerEncoderLayer(norm_first=True) with GELU and
 *    ReLU, and the official SASRec block, on padded batches (left and right padding) with
 *    causal + key-padding masks; outputs and every gradient at the real positions,
 *    relative error 1e-4 (entries below 1e-3 of an array's largest measured against it);
 *  - against central finite differences (Richardson-extrapolated, dyadic data and steps
 *    so the perturbed inputs are exact), with dropout on (the masks are the same in every
 *    evaluation: same graph seed): the attention core with 2 heads, sequences longer
 *    than one score tile (64 rows), and a whole SASRec block and pre-LN block;
 *  - dropout masks: kept fraction, the same for 1 and 2 threads, identity in eval. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "core/graph.h"
#include "core/param.h"
#include "fixture.h"
#include "layers/attention.h"
#include "nn/fused_dropout.h"

#define TOL 1e-4

static int verbose;

#define check_ref(got, want, n, what) check_ref_close((got), (want), (n), TOL, verbose, (what), __FILE__, __LINE__)

static void run_tape(Graph *g) {
    for (int i = g->n - 1; i >= 0; i--) g->nodes[i].fn(g->nodes[i].ctx);
}

/* ---- PyTorch fixtures ----------------------------------------------------------------- */

/* The real rows of a padded batch [B, L, d]: packed offsets and the padded index of each. */
typedef struct {
    int B, L, d, T, heads;
    int off[16];
    int *src; /* [T]: b * L + l */
} Packing;

static void pack_init(Packing *p, const Fixture *f) {
    const FixtureArray *x = fixture_get(f, "x");
    p->B = x->shape[0];
    p->L = x->shape[1];
    p->d = x->shape[2];
    p->heads = fixture_int(f, "heads");
    int left = fixture_int(f, "left");
    const float *len = fixture_data(f, "lengths", (size_t)p->B);
    QAT_ASSERT(p->B < 16);
    p->src = malloc((size_t)p->B * p->L * sizeof(int));
    p->T = 0;
    for (int b = 0; b < p->B; b++) {
        int n = (int)len[b], first = left ? p->L - n : 0;
        p->off[b] = p->T;
        for (int l = first; l < first + n; l++) p->src[p->T++] = b * p->L + l;
    }
    p->off[p->B] = p->T;
}

static float *pack(const Packing *p, const float *padded) {
    float *out = malloc((size_t)p->T * p->d * sizeof(float));
    for (int t = 0; t < p->T; t++) memcpy(out + (size_t)t * p->d, padded + (size_t)p->src[t] * p->d, (size_t)p->d * sizeof(float));
    return out;
}

static void check_packed(const Packing *p, const float *got, const Fixture *f, const char *name, const char *what) {
    float *want = pack(p, fixture_data(f, name, (size_t)p->B * p->L * p->d));
    check_ref(got, want, (size_t)p->T * p->d, what);
    free(want);
}

static void set_param(Param *prm, const Fixture *f, const char *name) {
    memcpy(prm->t.data, fixture_data(f, name, prm->t.size), prm->t.size * sizeof(float));
}

static void check_param_grad(Param *prm, const Fixture *f, const char *name, const char *file) {
    char d[64], what[96];
    snprintf(d, sizeof d, "d_%s", name);
    snprintf(what, sizeof what, "%s: %s", file, d);
    check_ref(prm->t.grad, fixture_data(f, d, prm->t.size), prm->t.size, what);
}

typedef struct {
    ParamList params;
    QuantSiteList sites;
    Rng rng;
    LayerBuilder lb;
} Builder;

static void builder_init(Builder *b) {
    memset(b, 0, sizeof *b);
    rng_seed(&b->rng, 7);
    b->lb = (LayerBuilder){&b->params, &b->sites, &b->rng};
}

static void builder_free(Builder *b) {
    param_list_free(&b->params, 1);
    quant_site_list_free(&b->sites);
}

/* Runs fwd on the packed input in training mode, backpropagates dy and checks y and dx;
 * then evaluation mode must give the same y without a tape. */
typedef Tensor *(*BlockFwd)(Graph *g, void *layer, Tensor *x, const SeqBatch *sb);

static void run_fixture(const char *file, const Fixture *f, const Packing *p, void *layer, BlockFwd fwd,
                        Builder *bd) {
    char what[96];
    float *x = pack(p, fixture_data(f, "x", 0));
    float *dy = pack(p, fixture_data(f, "dy", 0));
    SeqBatch sb = {p->B, p->off, p->L};
    Graph g;
    graph_init(&g, 1);
    g.training = 1;
    param_list_zero_grad(&bd->params);
    Tensor *xt = graph_tensor2(&g, 1, p->T, p->d);
    memcpy(xt->data, x, (size_t)p->T * p->d * sizeof(float));
    Tensor *y = fwd(&g, layer, xt, &sb);
    snprintf(what, sizeof what, "%s: y", file);
    check_packed(p, y->data, f, "y", what);
    memcpy(y->grad, dy, (size_t)p->T * p->d * sizeof(float));
    run_tape(&g);
    snprintf(what, sizeof what, "%s: dx", file);
    check_packed(p, xt->grad, f, "dx", what);
    graph_reset(&g);
    g.training = 0;
    xt = graph_input(&g, x, 2, (int[]){p->T, p->d});
    y = fwd(&g, layer, xt, &sb);
    snprintf(what, sizeof what, "%s: eval y", file);
    check_packed(p, y->data, f, "y", what);
    CHECK(g.n == 0);
    graph_free(&g);
    free(x);
    free(dy);
}

static Tensor *mha_fwd(Graph *g, void *layer, Tensor *x, const SeqBatch *sb) {
    return attention_forward(g, layer, x, NULL, sb);
}

static Tensor *block_fwd(Graph *g, void *layer, Tensor *x, const SeqBatch *sb) {
    return attn_block_forward(g, layer, x, sb);
}

static void test_mha(void) {
    const char *file = "fixtures/sasrec_mha.bin";
    Fixture f;
    fixture_load(&f, file);
    Packing p;
    pack_init(&p, &f);
    Builder bd;
    builder_init(&bd);
    Attention a;
    attention_init(&a, &bd.lb, "attn", p.d, p.heads, 0.0f, 0, 1);
    set_param(a.in_proj.w, &f, "in_w");
    set_param(a.in_proj.b, &f, "in_b");
    set_param(a.out_proj.w, &f, "out_w");
    set_param(a.out_proj.b, &f, "out_b");
    run_fixture(file, &f, &p, &a, mha_fwd, &bd);
    /* run_fixture's training pass left the parameter gradients */
    check_param_grad(a.in_proj.w, &f, "in_w", file);
    check_param_grad(a.in_proj.b, &f, "in_b", file);
    check_param_grad(a.out_proj.w, &f, "out_w", file);
    check_param_grad(a.out_proj.b, &f, "out_b", file);
    builder_free(&bd);
    free(p.src);
    fixture_free(&f);
}

static void test_block(const char *file, BlockKind kind, int gelu, int ffn, float eps) {
    Fixture f;
    fixture_load(&f, file);
    Packing p;
    pack_init(&p, &f);
    Builder bd;
    builder_init(&bd);
    AttnBlock b;
    attn_block_init(&b, &bd.lb, "blk", kind, p.d, p.heads, ffn, gelu, 0.0f, eps, 0);
    struct {
        Param *p;
        const char *name;
    } map[] = {{b.ln1_w, "ln1_w"}, {b.ln1_b, "ln1_b"}, {b.attn.in_proj.w, "in_w"}, {b.attn.in_proj.b, "in_b"},
               {b.ln2_w, "ln2_w"}, {b.ln2_b, "ln2_b"}, {b.fc1.w, "fc1_w"}, {b.fc1.b, "fc1_b"},
               {b.fc2.w, "fc2_w"}, {b.fc2.b, "fc2_b"}, {b.attn.out_proj.w, "out_w"}, {b.attn.out_proj.b, "out_b"}};
    int nmap = b.attn.has_out_proj ? 12 : 10;
    for (int i = 0; i < nmap; i++) set_param(map[i].p, &f, map[i].name);
    run_fixture(file, &f, &p, &b, block_fwd, &bd);
    for (int i = 0; i < nmap; i++) check_param_grad(map[i].p, &f, map[i].name, file);
    builder_free(&bd);
    free(p.src);
    fixture_free(&f);
}

/* ---- finite differences --------------------------------------------------------------- */

/* A check by central differences: vars are float buffers the forward reads; loss() builds
 * a fresh graph (same seed: same dropout masks) and returns sum(y * dy) in double. */
typedef struct FdCase FdCase;
struct FdCase {
    const char *name;
    int nv;
    float *var[16];
    size_t size[16];
    float *grad[16]; /* analytic, filled by loss(c, 1) */
    double (*loss)(FdCase *c, int analytic);
    void *ctx;
};

static Rng drng;

/* Multiples of 1/1024 in [-scale, scale]: exact under steps of 2^-4, 2^-5. */
static void dyadic_fill(float *v, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) v[i] = roundf(rng_uniform_range(&drng, -scale, scale) * 1024.0f) / 1024.0f;
}

static double central(FdCase *c, int k, size_t i, double h) {
    float keep = c->var[k][i];
    c->var[k][i] = (float)(keep + h);
    double fp = c->loss(c, 0);
    c->var[k][i] = (float)(keep - h);
    double fm = c->loss(c, 0);
    c->var[k][i] = keep;
    return (fp - fm) / (2.0 * h);
}

/* Checks every entry (or `stride`-spaced ones) of every variable. */
static void fd_check(FdCase *c, size_t stride, double tol) {
    c->loss(c, 1);
    for (int k = 0; k < c->nv; k++) {
        size_t n = c->size[k], cnt = 0;
        double *fd = malloc(n * sizeof(double));
        double mx = 0.0;
        for (size_t i = 0; i < n; i += stride) {
            double d1 = central(c, k, i, 1.0 / 16), d2 = central(c, k, i, 1.0 / 32);
            fd[i] = (4.0 * d2 - d1) / 3.0; /* Richardson: O(h^4) */
            mx = fmax(mx, fabs(fd[i]));
        }
        double worst = 0.0;
        size_t wi = 0;
        for (size_t i = 0; i < n; i += stride, cnt++) {
            double e = fabs(c->grad[k][i] - fd[i]) / fmax(fabs(fd[i]), 1e-2 * mx + 1e-6);
            if (e > worst) worst = e, wi = i;
        }
        char what[128];
        snprintf(what, sizeof what, "%s: var %d (%zu entries) vs finite differences, worst %.2g at %zu (%g vs %g)",
                 c->name, k, cnt, worst, wi, (double)c->grad[k][wi], fd[wi]);
        if (verbose) printf("  %s\n", what);
        check_true(worst <= tol, what, __FILE__, __LINE__);
        free(fd);
    }
}

static double weighted_sum(const Tensor *y, const float *dy) {
    double s = 0.0;
    for (size_t i = 0; i < y->size; i++) s += (double)y->data[i] * dy[i];
    return s;
}

/* Attention core: q, k, v are three column blocks of one [T, 3d] tensor. */
typedef struct {
    int d, heads, nseq, off[8], max_len;
    float p;
    float *dy;
} CoreCtx;

static double core_loss(FdCase *c, int analytic) {
    CoreCtx *x = c->ctx;
    int T = x->off[x->nseq];
    Graph g;
    graph_init(&g, 99);
    g.training = 1;
    Tensor *qkv = graph_tensor2(&g, 1, T, 3 * x->d);
    memcpy(qkv->data, c->var[0], c->size[0] * sizeof(float));
    SeqBatch sb = {x->nseq, x->off, x->max_len};
    Tensor *y = op_causal_attention(&g, (Cols){qkv, 0}, (Cols){qkv, x->d}, (Cols){qkv, 2 * x->d}, x->d, x->heads, x->p, &sb);
    double l = weighted_sum(y, x->dy);
    if (analytic) {
        memcpy(y->grad, x->dy, y->size * sizeof(float));
        run_tape(&g);
        memcpy(c->grad[0], qkv->grad, c->size[0] * sizeof(float));
    }
    graph_free(&g);
    return l;
}

static void test_core_fd(int d, int heads, float p, const int *lens, int nseq, size_t stride, const char *name) {
    CoreCtx x = {d, heads, nseq, {0}, 0, p, NULL};
    for (int s = 0; s < nseq; s++) {
        x.off[s + 1] = x.off[s] + lens[s];
        if (lens[s] > x.max_len) x.max_len = lens[s];
    }
    int T = x.off[nseq];
    FdCase c = {name, 1, {NULL}, {(size_t)T * 3 * d}, {NULL}, core_loss, &x};
    c.var[0] = malloc(c.size[0] * sizeof(float));
    c.grad[0] = malloc(c.size[0] * sizeof(float));
    x.dy = malloc((size_t)T * d * sizeof(float));
    dyadic_fill(c.var[0], c.size[0], 1.5f);
    dyadic_fill(x.dy, (size_t)T * d, 1.0f);
    fd_check(&c, stride, 2e-3);
    free(c.var[0]);
    free(c.grad[0]);
    free(x.dy);
}

/* A block: the input and every parameter are variables. */
typedef struct {
    Builder bd;
    AttnBlock b;
    int d, nseq, off[8], max_len;
    float *x, *dy;
} BlockCtx;

static double block_loss(FdCase *c, int analytic) {
    BlockCtx *x = c->ctx;
    int T = x->off[x->nseq];
    Graph g;
    graph_init(&g, 5);
    g.training = 1;
    param_list_zero_grad(&x->bd.params);
    Tensor *xt = graph_tensor2(&g, 1, T, x->d);
    memcpy(xt->data, x->x, (size_t)T * x->d * sizeof(float));
    SeqBatch sb = {x->nseq, x->off, x->max_len};
    Tensor *y = attn_block_forward(&g, &x->b, xt, &sb);
    double l = weighted_sum(y, x->dy);
    if (analytic) {
        memcpy(y->grad, x->dy, y->size * sizeof(float));
        run_tape(&g);
        memcpy(c->grad[0], xt->grad, c->size[0] * sizeof(float));
        for (int k = 1; k < c->nv; k++) memcpy(c->grad[k], x->bd.params.items[k - 1]->t.grad, c->size[k] * sizeof(float));
    }
    graph_free(&g);
    return l;
}

static void test_block_fd(BlockKind kind, int gelu, const char *name) {
    BlockCtx x;
    memset(&x, 0, sizeof x);
    builder_init(&x.bd);
    x.d = 8;
    x.nseq = 3;
    int lens[3] = {5, 1, 4};
    for (int s = 0; s < 3; s++) {
        x.off[s + 1] = x.off[s] + lens[s];
        if (lens[s] > x.max_len) x.max_len = lens[s];
    }
    attn_block_init(&x.b, &x.bd.lb, "blk", kind, x.d, 2, 12, gelu, 0.2f, 1e-5f, 1);
    int T = x.off[3];
    FdCase c = {name, 1 + x.bd.params.n, {NULL}, {0}, {NULL}, block_loss, &x};
    x.x = malloc((size_t)T * x.d * sizeof(float));
    x.dy = malloc((size_t)T * x.d * sizeof(float));
    dyadic_fill(x.x, (size_t)T * x.d, 2.0f);
    dyadic_fill(x.dy, (size_t)T * x.d, 1.0f);
    c.var[0] = x.x;
    c.size[0] = (size_t)T * x.d;
    for (int k = 0; k < x.bd.params.n; k++) {
        Param *p = x.bd.params.items[k];
        dyadic_fill(p->t.data, p->t.size, 0.6f);
        if (strstr(p->name, "ln") && strstr(p->name, "weight"))
            for (size_t i = 0; i < p->t.size; i++) p->t.data[i] += 1.0f;
        c.var[k + 1] = p->t.data;
        c.size[k + 1] = p->t.size;
    }
    for (int k = 0; k < c.nv; k++) c.grad[k] = malloc(c.size[k] * sizeof(float));
    fd_check(&c, 1, 2e-3);
    for (int k = 0; k < c.nv; k++) free(c.grad[k]);
    free(x.x);
    free(x.dy);
    builder_free(&x.bd);
}

/* ---- dropout masks ------------------------------------------------------------------------ */

static void test_dropout_masks(void) {
    int n = 1 << 17;
    float *ones = malloc((size_t)n * sizeof(float));
    for (int i = 0; i < n; i++) ones[i] = 1.0f;
    float *y1 = malloc((size_t)n * sizeof(float));
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        Graph g;
        graph_init(&g, 3);
        g.training = 1;
        Tensor *x = graph_input(&g, ones, 1, &n);
        Tensor *y = op_dropout_fast(&g, x, 0.2f);
        if (threads == 1) {
            long kept = 0;
            for (int i = 0; i < n; i++) {
                kept += y->data[i] != 0.0f;
                if (y->data[i] != 0.0f && y->data[i] != 1.25f) {
                    CHECK(!"kept values are scaled by 1/(1-p)");
                    break;
                }
            }
            double frac = (double)kept / n;
            CHECK_CLOSE(frac, 0.8, 0.01); /* 5 sigma is 0.0055 */
            memcpy(y1, y->data, (size_t)n * sizeof(float));
        } else {
            CHECK(memcmp(y1, y->data, (size_t)n * sizeof(float)) == 0);
        }
        graph_reset(&g);
        g.training = 0;
        CHECK(op_dropout_fast(&g, x, 0.2f) == x);
        graph_free(&g);
    }
    omp_set_num_threads(2);
    free(ones);
    free(y1);
}

int main(void) {
    verbose = getenv("QAT_TEST_VERBOSE") != NULL;
    rng_seed(&drng, 11);
    test_mha();
    test_block("fixtures/sasrec_encoder_gelu.bin", BLOCK_PRE_LN, 1, 16, 1e-5f);
    test_block("fixtures/sasrec_encoder_relu.bin", BLOCK_PRE_LN, 0, 16, 1e-5f);
    test_block("fixtures/sasrec_block.bin", BLOCK_SASREC, 0, 8, 1e-8f);
    test_core_fd(8, 2, 0.0f, (int[]){5, 1, 7, 3}, 4, 1, "attention core, 2 heads");
    test_core_fd(8, 2, 0.3f, (int[]){5, 1, 7, 3}, 4, 1, "attention core, 2 heads, dropout 0.3");
    test_core_fd(4, 1, 0.25f, (int[]){70, 131}, 2, 7, "attention core, several score tiles, dropout");
    test_block_fd(BLOCK_SASREC, 1, "SASRec block (GELU), dropout 0.2");
    test_block_fd(BLOCK_PRE_LN, 1, "pre-LN block (GELU), dropout 0.2");
    test_dropout_masks();
    return check_done("test_attention");
}
