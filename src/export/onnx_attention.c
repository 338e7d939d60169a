/* Attention and the transformer blocks of layers/attention.h as ONNX: per head
 * softmax(Q K^T / sqrt(d_h), causal) V, with the in-projection's quant sites on its query
 * input (and key/value input in the SASRec block); scores and probabilities stay float. */
#include <math.h>

#include "export/onnx_export.h"

static const char *transposed(OnnxExport *e, const char *w) {
    int64_t perm[2] = {1, 0};
    OnnxAttr a = ONNX_ATTR_INTS("perm", perm, 2);
    return onnx_opa(e->g, "Transpose", 1, &w, 1, &a);
}

const char *export_linear_nd(OnnxExport *e, const Linear *l, const char *x) {
    const char *xq = export_act_site(e, &l->xq, x);
    const char *y = onnx_op(e->g, "MatMul", xq, transposed(e, export_weight_site(e, &l->wq, l->w)), NULL);
    return l->b ? onnx_op(e->g, "Add", y, export_param(e, l->b), NULL) : y;
}

const char *export_layernorm(OnnxExport *e, const Param *w, const Param *b, float eps, const char *x) {
    const char *in[3] = {x, export_param(e, w), export_param(e, b)};
    OnnxAttr at[2] = {ONNX_ATTR_I("axis", -1), ONNX_ATTR_F("epsilon", eps)};
    return onnx_opa(e->g, "LayerNormalization", 3, in, 2, at);
}

/* Rows [r0, r1) of a 2-D (or entries of a 1-D) value. */
static const char *rows(OnnxExport *e, const char *t, int64_t r0, int64_t r1) {
    int64_t zero = 0;
    const char *in[4] = {t, export_ints(e, 1, &r0), export_ints(e, 1, &r1), export_ints(e, 1, &zero)};
    return onnx_opa(e->g, "Slice", 4, in, 0, NULL);
}

/* [N, S, d] -> [N, h, S, d/h] */
static const char *split_heads(OnnxExport *e, const char *x, int heads, int dh) {
    int64_t shape[4] = {0, 0, heads, dh}, perm[4] = {0, 2, 1, 3};
    const char *r = onnx_op(e->g, "Reshape", x, export_ints(e, 4, shape), NULL);
    OnnxAttr a = ONNX_ATTR_INTS("perm", perm, 4);
    return onnx_opa(e->g, "Transpose", 1, &r, 1, &a);
}

static const char *attention(OnnxExport *e, const Attention *a, const char *xq, const char *xkv, const char *causal) {
    OnnxGraph *g = e->g;
    int d = a->d, dh = d / a->heads;
    const Linear *in = &a->in_proj;
    const char *w = export_weight_site(e, &in->wq, in->w), *bias = export_param(e, in->b);
    const char *xq_hat = export_act_site(e, &in->xq, xq);
    const char *q, *k, *v;
    if (!a->separate_kv) {
        const char *qkv = onnx_op(g, "Add", onnx_op(g, "MatMul", xq_hat, transposed(e, w), NULL), bias, NULL);
        const char *parts[3];
        OnnxAttr at[2] = {ONNX_ATTR_I("axis", -1), ONNX_ATTR_I("num_outputs", 3)};
        onnx_node(g, "Split", 1, &qkv, 3, parts, 2, at);
        q = parts[0], k = parts[1], v = parts[2];
    } else {
        const char *xkv_hat = export_act_site(e, &a->kv_xq, xkv);
        q = onnx_op(g, "Add", onnx_op(g, "MatMul", xq_hat, transposed(e, rows(e, w, 0, d)), NULL), rows(e, bias, 0, d),
                    NULL);
        const char *kv = onnx_op(g, "Add", onnx_op(g, "MatMul", xkv_hat, transposed(e, rows(e, w, d, 3 * d)), NULL),
                                 rows(e, bias, d, 3 * d), NULL);
        const char *parts[2];
        OnnxAttr at[2] = {ONNX_ATTR_I("axis", -1), ONNX_ATTR_I("num_outputs", 2)};
        onnx_node(g, "Split", 1, &kv, 2, parts, 2, at);
        k = parts[0], v = parts[1];
    }
    const char *qh = split_heads(e, q, a->heads, dh), *kh = split_heads(e, k, a->heads, dh);
    const char *vh = split_heads(e, v, a->heads, dh);
    int64_t kperm[4] = {0, 1, 3, 2}, back[4] = {0, 2, 1, 3}, merged[3] = {0, 0, d};
    OnnxAttr kp = ONNX_ATTR_INTS("perm", kperm, 4), bp = ONNX_ATTR_INTS("perm", back, 4);
    const char *kt = onnx_opa(g, "Transpose", 1, &kh, 1, &kp);
    const char *s = onnx_op(g, "Mul", onnx_op(g, "MatMul", qh, kt, NULL),
                            onnx_scalar_float(g, "inv_sqrt_dh", 1.0f / sqrtf((float)dh)), NULL);
    s = onnx_op(g, "Where", causal, s, onnx_scalar_float(g, "neg_inf", -INFINITY));
    OnnxAttr last = ONNX_ATTR_I("axis", -1);
    const char *p = onnx_opa(g, "Softmax", 1, &s, 1, &last);
    const char *o = onnx_op(g, "MatMul", p, vh, NULL);
    o = onnx_opa(g, "Transpose", 1, &o, 1, &bp);
    o = onnx_op(g, "Reshape", o, export_ints(e, 3, merged), NULL);
    return a->has_out_proj ? export_linear_nd(e, &a->out_proj, o) : o;
}

/* x + fc2(act(fc1(h))) */
static const char *ffn_residual(OnnxExport *e, const AttnBlock *b, const char *x, const char *h) {
    const char *u = export_linear_nd(e, &b->fc1, h);
    if (b->gelu) {
        OnnxAttr exact = ONNX_ATTR_S("approximate", "none");
        u = onnx_opa(e->g, "Gelu", 1, &u, 1, &exact);
    } else {
        u = onnx_op(e->g, "Relu", u, NULL, NULL);
    }
    return onnx_op(e->g, "Add", x, export_linear_nd(e, &b->fc2, u), NULL);
}

const char *export_attn_block(OnnxExport *e, const AttnBlock *b, const char *x, const char *causal) {
    if (b->kind == BLOCK_SASREC) {
        const char *q = export_layernorm(e, b->ln1_w, b->ln1_b, b->ln_eps, x);
        x = onnx_op(e->g, "Add", q, attention(e, &b->attn, q, x, causal), NULL);
        const char *h = export_layernorm(e, b->ln2_w, b->ln2_b, b->ln_eps, x);
        return ffn_residual(e, b, h, h);
    }
    const char *a = export_layernorm(e, b->ln1_w, b->ln1_b, b->ln_eps, x);
    x = onnx_op(e->g, "Add", x, attention(e, &b->attn, a, NULL, causal), NULL);
    return ffn_residual(e, b, x, export_layernorm(e, b->ln2_w, b->ln2_b, b->ln_eps, x));
}
