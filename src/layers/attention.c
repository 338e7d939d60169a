#include "layers/attention.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "nn/fused_dropout.h"
#include "nn/int_ops.h"

/* ---- attention layer ----------------------------------------------------------------- */

static void xavier_uniform(Param *p, Rng *rng) {
    float bound = sqrtf(6.0f / (float)(p->t.shape[0] + p->t.shape[1]));
    for (size_t i = 0; i < p->t.size; i++) p->t.data[i] = rng_uniform_range(rng, -bound, bound);
}

void attention_init(Attention *a, LayerBuilder *lb, const char *name, int d, int heads,
                    float dropout, int separate_kv, int out_proj) {
    if (heads < 1 || d % heads != 0)
        qat_die("%s: the width %d must be a multiple of the number of heads %d", name, d, heads);
    memset(a, 0, sizeof *a);
    a->d = d;
    a->heads = heads;
    a->dropout = dropout;
    a->separate_kv = separate_kv;
    a->has_out_proj = out_proj;
    char n[96];
    snprintf(n, sizeof n, "%s.in_proj", name);
    linear_init(&a->in_proj, lb, n, d, 3 * d, 1, (SiteSpec){1, SITE_MIDDLE, FOLLOW_NONE});
    xavier_uniform(a->in_proj.w, lb->rng);
    memset(a->in_proj.b->t.data, 0, (size_t)3 * d * sizeof(float));
    if (separate_kv) {
        snprintf(n, sizeof n, "%s.in_proj_kv", name);
        quant_site_declare(lb->sites, &a->kv_xq, n, SITE_INPUT, 1, SITE_MIDDLE, 1);
        quant_site_bind(NULL, &a->kv_xq, LAYER_LINEAR, a->in_proj.xq.geom, a->in_proj.w, a->in_proj.b, FOLLOW_NONE);
    }
    if (out_proj) {
        snprintf(n, sizeof n, "%s.out_proj", name);
        linear_init(&a->out_proj, lb, n, d, d, 1, (SiteSpec){1, SITE_MIDDLE, FOLLOW_NONE});
        memset(a->out_proj.b->t.data, 0, (size_t)d * sizeof(float));
    }
}

/* Rows r0 .. r0+rows-1 of a 2-D tensor (or of a 1-D bias), sharing data and gradient. */
static Tensor *row_slice(Graph *g, Tensor *t, int r0, int rows) {
    Tensor *v = graph_alloc(g, sizeof *v);
    *v = *t;
    size_t width = t->ndim == 2 ? (size_t)t->shape[1] : 1;
    v->shape[0] = rows;
    v->size = (size_t)rows * width;
    v->data = t->data + r0 * width;
    v->grad = t->grad ? t->grad + r0 * width : NULL;
    return v;
}

/* The integer engine's in-projection rows [r0, r0 + rows) of x through `site`: NULL when
 * the sites are not integer grids. */
static Tensor *in_proj_int(Graph *g, Attention *a, QuantSite *site, Tensor *x, int r0, int rows) {
    Linear *in = &a->in_proj;
    IntWeightCodes wc;
    IntCodes xc;
    if (!quant_site_int_weights(&in->wq, in->w, r0, rows, &wc) || !quant_site_int_codes(g, site, x, &xc)) return NULL;
    return op_linear_int(g, xc, x->shape[0], a->d, wc, rows, row_slice(g, &in->b->t, r0, rows));
}

/* The in-projection on integer codes (g->integer), as one product or the q and kv parts. */
static int attention_int(Graph *g, Attention *a, Tensor *xq, Tensor *xkv, Tensor **q, Tensor **kv) {
    int d = a->d;
    if (!a->separate_kv) {
        *q = in_proj_int(g, a, &a->in_proj.xq, xq, 0, 3 * d);
        *kv = *q;
    } else {
        *q = in_proj_int(g, a, &a->in_proj.xq, xq, 0, d);
        *kv = *q ? in_proj_int(g, a, &a->kv_xq, xkv, d, 2 * d) : NULL;
    }
    int ok = *q && *kv;
    graph_count_layer_call(g, ok);
    return ok;
}

Tensor *attention_forward(Graph *g, Attention *a, Tensor *xq, Tensor *xkv, const SeqBatch *sb) {
    QAT_ASSERT(!xkv == !a->separate_kv);
    int d = a->d;
    Linear *in = &a->in_proj;
    Tensor *qi, *kvi;
    if (g->integer && attention_int(g, a, xq, xkv, &qi, &kvi)) {
        Tensor *o = !a->separate_kv
                        ? op_causal_attention(g, (Cols){qi, 0}, (Cols){qi, d}, (Cols){qi, 2 * d}, d, a->heads, a->dropout, sb)
                        : op_causal_attention(g, (Cols){qi, 0}, (Cols){kvi, 0}, (Cols){kvi, d}, d, a->heads, a->dropout, sb);
        return a->has_out_proj ? linear_forward(g, &a->out_proj, o, sb->n) : o;
    }
    Tensor *w = quant_site_apply(g, &in->wq, &in->w->t, 1);
    Tensor *xq_hat = quant_site_apply(g, &in->xq, xq, sb->n);
    Tensor *o;
    if (!a->separate_kv) {
        /* One product for q, k and v: [T, 3d]. */
        Tensor *qkv = op_matmul_bias(g, xq_hat, w, &in->b->t);
        o = op_causal_attention(g, (Cols){qkv, 0}, (Cols){qkv, d}, (Cols){qkv, 2 * d}, d, a->heads, a->dropout, sb);
    } else {
        Tensor *xkv_hat = quant_site_apply(g, &a->kv_xq, xkv, sb->n);
        Tensor *qp = op_matmul_bias(g, xq_hat, row_slice(g, w, 0, d), row_slice(g, &in->b->t, 0, d));
        Tensor *kv = op_matmul_bias(g, xkv_hat, row_slice(g, w, d, 2 * d), row_slice(g, &in->b->t, d, 2 * d));
        o = op_causal_attention(g, (Cols){qp, 0}, (Cols){kv, 0}, (Cols){kv, d}, d, a->heads, a->dropout, sb);
    }
    return a->has_out_proj ? linear_forward(g, &a->out_proj, o, sb->n) : o;
}

/* ---- transformer blocks -------------------------------------------------------------- */

static Param *ln_param(LayerBuilder *lb, const char *block, const char *what, int d, float value) {
    char name[96];
    snprintf(name, sizeof name, "%s.%s", block, what);
    Param *p = param_new(name, 1, &d, PARAM_GROUP_NO_DECAY);
    for (int i = 0; i < d; i++) p->t.data[i] = value;
    param_list_add(lb->params, p);
    return p;
}

void attn_block_init(AttnBlock *b, LayerBuilder *lb, const char *name, BlockKind kind, int d,
                     int heads, int ffn, int gelu, float dropout, float ln_eps, int out_proj) {
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->gelu = gelu;
    b->dropout = dropout;
    b->ln_eps = ln_eps;
    char n[96];
    b->ln1_w = ln_param(lb, name, "ln1.weight", d, 1.0f);
    b->ln1_b = ln_param(lb, name, "ln1.bias", d, 0.0f);
    snprintf(n, sizeof n, "%s.attn", name);
    attention_init(&b->attn, lb, n, d, heads, dropout, kind == BLOCK_SASREC, kind == BLOCK_PRE_LN || out_proj);
    b->ln2_w = ln_param(lb, name, "ln2.weight", d, 1.0f);
    b->ln2_b = ln_param(lb, name, "ln2.bias", d, 0.0f);
    /* fc2 reads the activation after dropout: >= 0 after ReLU, signed after GELU. */
    snprintf(n, sizeof n, "%s.ffn.fc1", name);
    linear_init(&b->fc1, lb, n, d, ffn, 1, (SiteSpec){1, SITE_MIDDLE, gelu ? FOLLOW_GELU : FOLLOW_RELU});
    snprintf(n, sizeof n, "%s.ffn.fc2", name);
    linear_init(&b->fc2, lb, n, ffn, d, 1, (SiteSpec){gelu, SITE_MIDDLE, FOLLOW_NONE});
}

/* x + Dropout(fc2(Dropout(act(fc1(h))))) */
static Tensor *ffn_residual(Graph *g, AttnBlock *b, Tensor *x, Tensor *h, const SeqBatch *sb) {
    Tensor *u = op_act_dropout(g, linear_forward(g, &b->fc1, h, sb->n), b->gelu, b->dropout);
    return op_add_dropout(g, x, linear_forward(g, &b->fc2, u, sb->n), b->dropout);
}

Tensor *attn_block_forward(Graph *g, AttnBlock *b, Tensor *x, const SeqBatch *sb) {
    if (b->kind == BLOCK_SASREC) {
        Tensor *q = op_layernorm_float(g, x, &b->ln1_w->t, &b->ln1_b->t, b->ln_eps);
        x = op_add(g, q, attention_forward(g, &b->attn, q, x, sb));
        Tensor *h = op_layernorm_float(g, x, &b->ln2_w->t, &b->ln2_b->t, b->ln_eps);
        return ffn_residual(g, b, h, h, sb);
    }
    Tensor *a = op_layernorm_float(g, x, &b->ln1_w->t, &b->ln1_b->t, b->ln_eps);
    x = op_add_dropout(g, x, attention_forward(g, &b->attn, a, NULL, sb), b->dropout);
    Tensor *h = op_layernorm_float(g, x, &b->ln2_w->t, &b->ln2_b->t, b->ln_eps);
    return ffn_residual(g, b, x, h, sb);
}
