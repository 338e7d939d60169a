/* Every op's forward and backward against PyTorch reference tensors
 * (the files in tests/fixtures/, written by scripts/gen_fixtures.py in float64).
 *
 * Each op runs through a Graph in training mode; the fixture's upstream gradient dy is
 * copied into the output's gradient and the tape is run in reverse, which gives the
 * gradients of loss = sum(y * dy), the same loss torch differentiated. Outputs and every
 * gradient must match within a relative error of 1e-4 (entries smaller than 1e-3 of the
 * array's largest are measured against that, see check_ref). Each op is also checked to
 * ACCUMULATE into gradients (running its backward twice doubles them) and to give the
 * same output in evaluation mode without recording a tape. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/error.h"
#include "core/graph.h"
#include "core/param.h"
#include "fixture.h"
#include "nn/ops.h"
#include "nn/optim.h"

#define TOL 1e-4

static int verbose;

/* max_i |got_i - want_i| / max(|want_i|, floor) <= TOL, floor as check_ref_close says. */
#define check_ref(got, want, n, what) check_ref_close((got), (want), (n), TOL, verbose, (what), __FILE__, __LINE__)

/* A training-mode tensor with the fixture array's shape and data. */
static Tensor *leaf(Graph *g, const Fixture *f, const char *name, int with_grad) {
    const FixtureArray *a = fixture_get(f, name);
    QAT_ASSERT(a->ndim >= 1 && a->ndim <= QAT_MAX_DIMS);
    Tensor *t = graph_tensor(g, with_grad, a->ndim, a->shape);
    memcpy(t->data, a->data, a->size * sizeof(float));
    return t;
}

/* Seeds y's gradient with dy and runs the tape in reverse. */
static void run_tape(Graph *g, Tensor *y, const float *dy) {
    QAT_ASSERT(y->grad);
    memcpy(y->grad, dy, y->size * sizeof(float));
    for (int i = g->n - 1; i >= 0; i--) g->nodes[i].fn(g->nodes[i].ctx);
}

/* Runs the tape once more (y->grad unchanged): every gradient must now be doubled. */
static void check_accumulates(Graph *g, Tensor **ts, const float **want, int n, const char *op) {
    for (int i = g->n - 1; i >= 0; i--) g->nodes[i].fn(g->nodes[i].ctx);
    for (int k = 0; k < n; k++) {
        size_t sz = ts[k]->size;
        float *twice = malloc(sz * sizeof(float));
        for (size_t i = 0; i < sz; i++) twice[i] = 2.0f * want[k][i];
        char what[96];
        snprintf(what, sizeof what, "%s: grad %d accumulates (+=)", op, k);
        check_ref(ts[k]->grad, twice, sz, what);
        free(twice);
    }
}

static Graph new_graph(int training) {
    Graph g;
    graph_init(&g, 1234);
    g.training = training;
    return g;
}

static void label(char *buf, size_t cap, const char *op, const char *what) {
    snprintf(buf, cap, "%s: %s", op, what);
}

/* ---- matmul_bias ---------------------------------------------------------------- */

static void test_matmul_bias(void) {
    Fixture f;
    fixture_load(&f, "fixtures/matmul_bias.bin");
    Graph g = new_graph(1);
    Tensor *x = leaf(&g, &f, "x", 1), *w = leaf(&g, &f, "w", 1), *b = leaf(&g, &f, "b", 1);
    Tensor *y = op_matmul_bias(&g, x, w, b);
    const float *yr = fixture_data(&f, "y", y->size);
    check_ref(y->data, yr, y->size, "matmul_bias: y");
    run_tape(&g, y, fixture_data(&f, "dy", y->size));
    const float *dx = fixture_data(&f, "dx", x->size), *dw = fixture_data(&f, "dw", w->size),
                *db = fixture_data(&f, "db", b->size);
    check_ref(x->grad, dx, x->size, "matmul_bias: dx");
    check_ref(w->grad, dw, w->size, "matmul_bias: dw");
    check_ref(b->grad, db, b->size, "matmul_bias: db");
    check_accumulates(&g, (Tensor *[]){x, w, b}, (const float *[]){dx, dw, db}, 3, "matmul_bias");
    graph_free(&g);

    /* Evaluation: same output, no tape, no gradients; without a bias: y - b. */
    g = new_graph(0);
    x = leaf(&g, &f, "x", 1);
    w = leaf(&g, &f, "w", 1);
    b = leaf(&g, &f, "b", 1);
    y = op_matmul_bias(&g, x, w, b);
    check_ref(y->data, yr, y->size, "matmul_bias: eval y");
    CHECK(g.n == 0 && y->grad == NULL);
    Tensor *y0 = op_matmul_bias(&g, x, w, NULL);
    float *want = malloc(y->size * sizeof(float));
    int M = y->shape[0], N = y->shape[1];
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) want[i * N + j] = yr[i * N + j] - b->data[j];
    check_ref(y0->data, want, y0->size, "matmul (no bias): y");
    free(want);
    graph_free(&g);

    /* Only the weight needs a gradient (x is an input batch). */
    g = new_graph(1);
    x = leaf(&g, &f, "x", 0);
    w = leaf(&g, &f, "w", 1);
    y = op_matmul_bias(&g, x, w, NULL);
    run_tape(&g, y, fixture_data(&f, "dy", y->size));
    check_ref(w->grad, dw, w->size, "matmul (x without grad): dw");
    graph_free(&g);
    fixture_free(&f);
}

/* ---- conv2d ----------------------------------------------------------------------- */

static void test_conv2d(const char *name) {
    char path[128], what[128];
    snprintf(path, sizeof path, "fixtures/%s.bin", name);
    Fixture f;
    fixture_load(&f, path);
    int stride = fixture_int(&f, "stride"), pad = fixture_int(&f, "pad");
    int has_b = fixture_find(&f, "b") != NULL;
    Graph g = new_graph(1);
    Tensor *x = leaf(&g, &f, "x", 1), *w = leaf(&g, &f, "w", 1);
    Tensor *b = has_b ? leaf(&g, &f, "b", 1) : NULL;
    Tensor *y = op_conv2d(&g, x, w, b, (ConvSpec){.stride = stride, .pad = pad});
    const FixtureArray *ya = fixture_get(&f, "y");
    CHECK(y->ndim == 4 && ya->ndim == 4);
    for (int d = 0; d < 4; d++) CHECK(y->shape[d] == ya->shape[d]);
    label(what, sizeof what, name, "y");
    check_ref(y->data, fixture_data(&f, "y", y->size), y->size, what);
    const float *dy = fixture_data(&f, "dy", y->size);
    run_tape(&g, y, dy);
    const float *dx = fixture_data(&f, "dx", x->size), *dw = fixture_data(&f, "dw", w->size);
    const float *db = has_b ? fixture_data(&f, "db", b->size) : NULL;
    label(what, sizeof what, name, "dx");
    check_ref(x->grad, dx, x->size, what);
    label(what, sizeof what, name, "dw");
    check_ref(w->grad, dw, w->size, what);
    if (has_b) {
        label(what, sizeof what, name, "db");
        check_ref(b->grad, db, b->size, what);
    }
    check_accumulates(&g, (Tensor *[]){x, w, b}, (const float *[]){dx, dw, db}, has_b ? 3 : 2,
                      name);
    graph_free(&g);

    /* Evaluation mode (per-thread column buffers): the same output. */
    g = new_graph(0);
    y = op_conv2d(&g, leaf(&g, &f, "x", 1), leaf(&g, &f, "w", 1),
                  has_b ? leaf(&g, &f, "b", 1) : NULL, (ConvSpec){.stride = stride, .pad = pad});
    label(what, sizeof what, name, "eval y");
    check_ref(y->data, fixture_data(&f, "y", y->size), y->size, what);
    CHECK(g.n == 0);
    graph_free(&g);

    /* First layer: the input has no gradient, the weight (and bias) do. */
    g = new_graph(1);
    x = leaf(&g, &f, "x", 0);
    w = leaf(&g, &f, "w", 1);
    b = has_b ? leaf(&g, &f, "b", 1) : NULL;
    y = op_conv2d(&g, x, w, b, (ConvSpec){.stride = stride, .pad = pad});
    run_tape(&g, y, dy);
    label(what, sizeof what, name, "dw (x without grad)");
    check_ref(w->grad, dw, w->size, what);
    if (has_b) {
        label(what, sizeof what, name, "db (x without grad)");
        check_ref(b->grad, db, b->size, what);
    }
    graph_free(&g);

    /* Frozen weight: only the input gradient. */
    g = new_graph(1);
    x = leaf(&g, &f, "x", 1);
    w = leaf(&g, &f, "w", 0);
    y = op_conv2d(&g, x, w, has_b ? leaf(&g, &f, "b", 0) : NULL, (ConvSpec){.stride = stride, .pad = pad});
    run_tape(&g, y, dy);
    label(what, sizeof what, name, "dx (w without grad)");
    check_ref(x->grad, dx, x->size, what);
    graph_free(&g);
    fixture_free(&f);
}

/* ---- elementwise activations ------------------------------------------------------- */

static void test_activation(const char *name, Tensor *(*op)(Graph *, Tensor *)) {
    char path[128], what[128];
    snprintf(path, sizeof path, "fixtures/%s.bin", name);
    Fixture f;
    fixture_load(&f, path);
    Graph g = new_graph(1);
    Tensor *x = leaf(&g, &f, "x", 1);
    Tensor *y = op(&g, x);
    label(what, sizeof what, name, "y");
    check_ref(y->data, fixture_data(&f, "y", y->size), y->size, what);
    run_tape(&g, y, fixture_data(&f, "dy", y->size));
    const float *dx = fixture_data(&f, "dx", x->size);
    label(what, sizeof what, name, "dx");
    check_ref(x->grad, dx, x->size, what);
    check_accumulates(&g, (Tensor *[]){x}, (const float *[]){dx}, 1, name);
    graph_free(&g);
    g = new_graph(0);
    y = op(&g, leaf(&g, &f, "x", 1));
    label(what, sizeof what, name, "eval y");
    check_ref(y->data, fixture_data(&f, "y", y->size), y->size, what);
    CHECK(g.n == 0);
    graph_free(&g);
    fixture_free(&f);
}

/* ---- maxpool2d ---------------------------------------------------------------------- */

static void test_maxpool(const char *name) {
    char path[128], what[128];
    snprintf(path, sizeof path, "fixtures/%s.bin", name);
    Fixture f;
    fixture_load(&f, path);
    Graph g = new_graph(1);
    Tensor *x = leaf(&g, &f, "x", 1);
    Tensor *y = op_maxpool2d(&g, x, 2, 2);
    const FixtureArray *ya = fixture_get(&f, "y");
    for (int d = 0; d < 4; d++) CHECK(y->shape[d] == ya->shape[d]); /* floor: 7x9 -> 3x4 */
    label(what, sizeof what, name, "y");
    check_ref(y->data, ya->data, y->size, what);
    run_tape(&g, y, fixture_data(&f, "dy", y->size));
    const float *dx = fixture_data(&f, "dx", x->size);
    label(what, sizeof what, name, "dx");
    check_ref(x->grad, dx, x->size, what);
    check_accumulates(&g, (Tensor *[]){x}, (const float *[]){dx}, 1, name);
    graph_free(&g);
    fixture_free(&f);
}

/* ---- embedding ---------------------------------------------------------------------- */

static void test_embedding(void) {
    Fixture f;
    fixture_load(&f, "fixtures/embedding.bin");
    size_t n;
    int *ids = fixture_ints(&f, "ids", &n);
    int pad = fixture_int(&f, "padding_idx");
    Graph g = new_graph(1);
    Tensor *table = leaf(&g, &f, "table", 1);
    Tensor *y = op_embedding(&g, table, ids, (int)n, pad);
    check_ref(y->data, fixture_data(&f, "y", y->size), y->size, "embedding: y");
    /* The op keeps its own copy of the ids: clobbering the caller's must not matter. */
    for (size_t i = 0; i < n; i++) ids[i] = 0;
    run_tape(&g, y, fixture_data(&f, "dy", y->size));
    const float *dt = fixture_data(&f, "dtable", table->size);
    check_ref(table->grad, dt, table->size, "embedding: dtable");
    int D = table->shape[1];
    double padsum = 0.0;
    for (int d = 0; d < D; d++) padsum += fabs(table->grad[pad * D + d]);
    CHECK(padsum == 0.0); /* no gradient to the padding row */
    check_accumulates(&g, (Tensor *[]){table}, (const float *[]){dt}, 1, "embedding");
    graph_free(&g);
    free(ids);
    fixture_free(&f);
}

/* ---- layernorm ---------------------------------------------------------------------- */

static void test_layernorm(void) {
    Fixture f;
    fixture_load(&f, "fixtures/layernorm.bin");
    Graph g = new_graph(1);
    Tensor *x = leaf(&g, &f, "x", 1), *ga = leaf(&g, &f, "gamma", 1), *be = leaf(&g, &f, "beta", 1);
    Tensor *y = op_layernorm(&g, x, ga, be, 1e-5f);
    check_ref(y->data, fixture_data(&f, "y", y->size), y->size, "layernorm: y");
    run_tape(&g, y, fixture_data(&f, "dy", y->size));
    const float *dx = fixture_data(&f, "dx", x->size), *dg = fixture_data(&f, "dgamma", ga->size),
                *db = fixture_data(&f, "dbeta", be->size);
    check_ref(x->grad, dx, x->size, "layernorm: dx");
    check_ref(ga->grad, dg, ga->size, "layernorm: dgamma");
    check_ref(be->grad, db, be->size, "layernorm: dbeta");
    check_accumulates(&g, (Tensor *[]){x, ga, be}, (const float *[]){dx, dg, db}, 3, "layernorm");
    graph_free(&g);
    g = new_graph(0);
    y = op_layernorm(&g, leaf(&g, &f, "x", 1), leaf(&g, &f, "gamma", 1), leaf(&g, &f, "beta", 1), 1e-5f);
    check_ref(y->data, fixture_data(&f, "y", y->size), y->size, "layernorm: eval y");
    CHECK(g.n == 0);
    graph_free(&g);
    fixture_free(&f);
}

/* ---- pixel shuffle ------------------------------------------------------------------ */

static void test_pixel_shuffle(void) {
    Fixture f;
    fixture_load(&f, "fixtures/pixel_shuffle.bin");
    Graph g = new_graph(1);
    Tensor *x = leaf(&g, &f, "x", 1);
    Tensor *y = op_pixel_shuffle(&g, x, 3);
    const FixtureArray *ya = fixture_get(&f, "y");
    for (int d = 0; d < 4; d++) CHECK(y->shape[d] == ya->shape[d]);
    check_ref(y->data, ya->data, y->size, "pixel_shuffle: y");
    run_tape(&g, y, fixture_data(&f, "dy", y->size));
    const float *dx = fixture_data(&f, "dx", x->size);
    check_ref(x->grad, dx, x->size, "pixel_shuffle: dx");
    check_accumulates(&g, (Tensor *[]){x}, (const float *[]){dx}, 1, "pixel_shuffle");
    graph_free(&g);
    fixture_free(&f);
}

/* The same fixture channels last: x and dy go in transposed, y and dx come back. */
static void test_pixel_shuffle_nhwc(void) {
    Fixture f;
    fixture_load(&f, "fixtures/pixel_shuffle.bin");
    const FixtureArray *xa = fixture_get(&f, "x"), *ya = fixture_get(&f, "y");
    Graph g = new_graph(1);
    int xs[4] = {xa->shape[0], xa->shape[2], xa->shape[3], xa->shape[1]};
    Tensor *x = graph_tensor(&g, 1, 4, xs);
    check_to_channels_last(xa->data, x->data, xa->shape[0], xa->shape[1], xa->shape[2] * xa->shape[3], 0);
    Tensor *y = op_pixel_shuffle_nhwc(&g, x, 3);
    CHECK(y->shape[0] == ya->shape[0] && y->shape[1] == ya->shape[2] && y->shape[2] == ya->shape[3] &&
          y->shape[3] == ya->shape[1]);
    float *back = malloc(x->size * sizeof(float)), *dy = malloc(y->size * sizeof(float));
    check_to_channels_last(y->data, back, ya->shape[0], ya->shape[1], ya->shape[2] * ya->shape[3], 1);
    check_ref(back, ya->data, y->size, "pixel_shuffle_nhwc: y");
    check_to_channels_last(fixture_data(&f, "dy", y->size), dy, ya->shape[0], ya->shape[1], ya->shape[2] * ya->shape[3], 0);
    run_tape(&g, y, dy);
    check_to_channels_last(x->grad, back, xa->shape[0], xa->shape[1], xa->shape[2] * xa->shape[3], 1);
    check_ref(back, fixture_data(&f, "dx", x->size), x->size, "pixel_shuffle_nhwc: dx");
    free(back), free(dy);
    graph_free(&g);
    fixture_free(&f);
}

/* ---- losses ------------------------------------------------------------------------- */

static void test_cross_entropy(void) {
    Fixture f;
    fixture_load(&f, "fixtures/cross_entropy.bin");
    size_t n;
    int *labels = fixture_ints(&f, "labels", &n);
    Graph g = new_graph(1);
    Tensor *z = leaf(&g, &f, "logits", 1);
    CHECK((size_t)z->shape[0] == n);
    Tensor *loss = op_softmax_cross_entropy(&g, z, labels);
    CHECK(loss->size == 1);
    check_ref(loss->data, fixture_data(&f, "loss", 1), 1, "cross_entropy: loss");
    /* The op keeps its own copy of the labels: a refilled label buffer must not matter. */
    int *keep = malloc(n * sizeof(int));
    memcpy(keep, labels, n * sizeof(int));
    for (size_t i = 0; i < n; i++) labels[i] = 0;
    run_tape(&g, loss, fixture_data(&f, "dy", 1));
    const float *dz = fixture_data(&f, "dlogits", z->size);
    check_ref(z->grad, dz, z->size, "cross_entropy: dlogits");
    check_accumulates(&g, (Tensor *[]){z}, (const float *[]){dz}, 1, "cross_entropy");
    graph_free(&g);
    memcpy(labels, keep, n * sizeof(int));
    free(keep);
    g = new_graph(0);
    loss = op_softmax_cross_entropy(&g, leaf(&g, &f, "logits", 1), labels);
    check_ref(loss->data, fixture_data(&f, "loss", 1), 1, "cross_entropy: eval loss");
    graph_free(&g);
    free(labels);
    fixture_free(&f);
}

static void test_mse(void) {
    Fixture f;
    fixture_load(&f, "fixtures/mse.bin");
    Graph g = new_graph(1);
    Tensor *p = leaf(&g, &f, "pred", 1);
    float *target = malloc(p->size * sizeof(float));
    memcpy(target, fixture_data(&f, "target", p->size), p->size * sizeof(float));
    Tensor *loss = op_mse(&g, p, target);
    check_ref(loss->data, fixture_data(&f, "loss", 1), 1, "mse: loss");
    for (size_t i = 0; i < p->size; i++) target[i] = 0.0f; /* the op keeps its own copy */
    run_tape(&g, loss, fixture_data(&f, "dy", 1));
    const float *dp = fixture_data(&f, "dpred", p->size);
    check_ref(p->grad, dp, p->size, "mse: dpred");
    check_accumulates(&g, (Tensor *[]){p}, (const float *[]){dp}, 1, "mse");
    graph_free(&g);
    free(target);
    fixture_free(&f);
}

/* ---- AdamW and gradient clipping ------------------------------------------------------ */

static Param *fixture_param(const Fixture *f, const char *name, const char *pname, ParamGroup group) {
    const FixtureArray *a = fixture_get(f, name);
    Param *p = param_new(pname, a->ndim, a->shape, group);
    memcpy(p->t.data, a->data, a->size * sizeof(float));
    return p;
}

static void test_adamw(void) {
    Fixture f;
    fixture_load(&f, "fixtures/adamw.bin");
    ParamList pl = {0};
    Param *w = fixture_param(&f, "w0", "w", PARAM_GROUP_WEIGHT);
    Param *b = fixture_param(&f, "b0", "b", PARAM_GROUP_NO_DECAY);
    Param *s = fixture_param(&f, "s0", "s", PARAM_GROUP_QUANT);
    Param *fr = fixture_param(&f, "w0", "frozen", PARAM_GROUP_WEIGHT);
    fr->frozen = 1;
    param_list_add(&pl, w);
    param_list_add(&pl, b);
    param_list_add(&pl, fr);
    param_list_add(&pl, s);
    AdamW opt;
    adamw_init(&opt, 5e-3f, 0.01f);
    char key[32], what[64];
    for (int step = 1; step <= 3; step++) {
        const char *names[3] = {"w", "b", "s"};
        Param *ps[3] = {w, b, s};
        for (int k = 0; k < 3; k++) {
            snprintf(key, sizeof key, "g%s%d", names[k], step);
            memcpy(ps[k]->t.grad, fixture_data(&f, key, ps[k]->t.size), ps[k]->t.size * sizeof(float));
        }
        memcpy(fr->t.grad, w->t.grad, w->t.size * sizeof(float));
        float before[3][16];
        for (int k = 0; k < 3; k++) {
            QAT_ASSERT(ps[k]->t.size <= 16);
            memcpy(before[k], ps[k]->t.data, ps[k]->t.size * sizeof(float));
        }
        adamw_step(&opt, &pl);
        for (int k = 0; k < 3; k++) {
            size_t sz = ps[k]->t.size;
            snprintf(key, sizeof key, "%s%d", names[k], step);
            const float *after = fixture_data(&f, key, sz);
            snprintf(what, sizeof what, "adamw: %s after step %d", names[k], step);
            check_ref(ps[k]->t.data, after, sz, what);
            /* The update itself to 1e-4, not just the parameter (~1): relative to
             * max(|update|, lr), since a float32 parameter near 1 rounds its update to
             * ~1e-7 absolute (2e-5 of lr) whatever the optimizer does. */
            snprintf(key, sizeof key, step == 1 ? "%s0" : "%s%d", names[k], step - 1);
            const float *prev = fixture_data(&f, key, sz);
            float got[16], want[16];
            for (size_t i = 0; i < sz; i++) {
                got[i] = ps[k]->t.data[i] - before[k][i];
                want[i] = after[i] - prev[i];
            }
            snprintf(what, sizeof what, "adamw: %s update at step %d", names[k], step);
            check_array_close(got, want, sz, TOL, 5e-3, what, __FILE__, __LINE__);
        }
    }
    CHECK(opt.t == 3);
    check_ref(w->m, fixture_data(&f, "m_w", w->t.size), w->t.size, "adamw: exp_avg w");
    check_ref(w->v, fixture_data(&f, "v_w", w->t.size), w->t.size, "adamw: exp_avg_sq w");
    check_ref(b->m, fixture_data(&f, "m_b", b->t.size), b->t.size, "adamw: exp_avg b");
    check_ref(b->v, fixture_data(&f, "v_b", b->t.size), b->t.size, "adamw: exp_avg_sq b");
    check_ref(s->m, fixture_data(&f, "m_s", s->t.size), s->t.size, "adamw: exp_avg s");
    check_ref(s->v, fixture_data(&f, "v_s", s->t.size), s->t.size, "adamw: exp_avg_sq s");
    /* The frozen parameter is untouched. */
    CHECK(memcmp(fr->t.data, fixture_data(&f, "w0", fr->t.size), fr->t.size * sizeof(float)) == 0);
    param_list_free(&pl, 1);
    fixture_free(&f);
}

static void test_clip_grad_norm(void) {
    Fixture f;
    fixture_load(&f, "fixtures/clip_grad_norm.bin");
    const char *cases[2] = {"a", "b"};
    char key[32], what[64];
    for (int c = 0; c < 2; c++) {
        ParamList pl = {0};
        for (int i = 0; i < 3; i++) {
            snprintf(key, sizeof key, "%s_g%d", cases[c], i);
            const FixtureArray *a = fixture_get(&f, key);
            Param *p = param_new(key, a->ndim, a->shape, PARAM_GROUP_WEIGHT);
            memcpy(p->t.grad, a->data, a->size * sizeof(float));
            param_list_add(&pl, p);
        }
        snprintf(key, sizeof key, "%s_max_norm", cases[c]);
        float max_norm = fixture_scalar(&f, key);
        float norm = clip_grad_norm(&pl, max_norm);
        snprintf(key, sizeof key, "%s_norm", cases[c]);
        snprintf(what, sizeof what, "clip_grad_norm %s: norm", cases[c]);
        check_ref(&norm, fixture_data(&f, key, 1), 1, what);
        for (int i = 0; i < 3; i++) {
            Param *p = pl.items[i];
            snprintf(key, sizeof key, "%s_clipped%d", cases[c], i);
            snprintf(what, sizeof what, "clip_grad_norm %s: grad %d", cases[c], i);
            check_ref(p->t.grad, fixture_data(&f, key, p->t.size), p->t.size, what);
        }
        param_list_free(&pl, 1);
    }
    fixture_free(&f);
}

int main(void) {
    verbose = getenv("QAT_TEST_VERBOSE") != NULL;
    test_matmul_bias();
    test_conv2d("conv2d_s1p0");
    test_conv2d("conv2d_s5p0");
    test_conv2d("conv2d_s1p1");
    test_conv2d("conv2d_s2p2");
    test_activation("relu", op_relu);
    test_activation("tanh", op_tanh);
    test_activation("sigmoid", op_sigmoid);
    test_activation("gelu", op_gelu);
    test_maxpool("maxpool2d");
    test_maxpool("maxpool2d_ties");
    test_embedding();
    test_layernorm();
    test_pixel_shuffle();
    test_pixel_shuffle_nhwc();
    test_cross_entropy();
    test_mse();
    test_adamw();
    test_clip_grad_norm();
    return check_done("test_ops_torch");
}
