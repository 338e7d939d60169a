/* The LSTM layer as ONNX Scans: the standard LSTM op has no place for the quantizer of
 * h_{t-1} inside the recurrence, so each direction's cell is written out in a Scan body:
 *     z = g_t + q(h_{t-1}) W_hh^T + b_hh    (g_t = q(x_t) W_ih^T + b_ih, all steps at once)
 *     i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of z's four blocks
 *     c_t = f c_{t-1} + i g,  h_t = o tanh(c_t);  both kept where the step is padding. */
#include <stdio.h>

#include "export/onnx_export.h"

/* W^T of a weight through its site. */
static const char *transposed_weight(OnnxExport *e, const QuantSite *s, const Param *w) {
    int64_t perm[2] = {1, 0};
    OnnxAttr a = ONNX_ATTR_INTS("perm", perm, 2);
    const char *wq = export_weight_site(e, s, w);
    return onnx_opa(e->g, "Transpose", 1, &wq, 1, &a);
}

/* One direction: returns the final state; *y the outputs [N, T, H]. */
static const char *direction(OnnxExport *e, const LstmLayer *l, const LstmDirection *dir, const char *name,
                             int reverse, const char *xq, const char *mask, const char *zeros, const char **y) {
    OnnxGraph *g = e->g;
    const char *g_all = onnx_op(g, "Add", onnx_op(g, "MatMul", xq, transposed_weight(e, &dir->wih_q, dir->w_ih), NULL),
                                export_param(e, dir->b_ih), NULL);
    const char *whh_t = transposed_weight(e, &dir->whh_q, dir->w_hh), *b_hh = export_param(e, dir->b_hh);

    char pre[48], h_in[64], c_in[64], g_in[64], m_in[64];
    snprintf(pre, sizeof pre, "%s_", name);
    snprintf(h_in, sizeof h_in, "%sh_in", pre);
    snprintf(c_in, sizeof c_in, "%sc_in", pre);
    snprintf(g_in, sizeof g_in, "%sg_t", pre);
    snprintf(m_in, sizeof m_in, "%smask_t", pre);
    OnnxGraph *body = onnx_graph_new(name, pre);
    onnx_input(body, h_in, ONNX_FLOAT, "N,H");
    onnx_input(body, c_in, ONNX_FLOAT, "N,H");
    onnx_input(body, g_in, ONNX_FLOAT, "N,G");
    onnx_input(body, m_in, ONNX_BOOL, "N");
    OnnxExport be = {body, 0, 0, 0};
    const char *hq = export_act_site(&be, &dir->h_q, h_in);
    e->weight_values += be.weight_values, e->weight_bytes += be.weight_bytes;
    const char *z = onnx_op(body, "Add", onnx_op(body, "Add", g_in, onnx_op(body, "MatMul", hq, whh_t, NULL), NULL),
                            b_hh, NULL);
    const char *gate[4];
    OnnxAttr parts = ONNX_ATTR_I("num_outputs", 4), axis = ONNX_ATTR_I("axis", 1);
    OnnxAttr split_at[2] = {axis, parts};
    onnx_node(body, "Split", 1, &z, 4, gate, 2, split_at);
    const char *i = onnx_op(body, "Sigmoid", gate[0], NULL, NULL), *f = onnx_op(body, "Sigmoid", gate[1], NULL, NULL);
    const char *gg = onnx_op(body, "Tanh", gate[2], NULL, NULL), *o = onnx_op(body, "Sigmoid", gate[3], NULL, NULL);
    const char *c = onnx_op(body, "Add", onnx_op(body, "Mul", f, c_in, NULL), onnx_op(body, "Mul", i, gg, NULL), NULL);
    const char *h = onnx_op(body, "Mul", o, onnx_op(body, "Tanh", c, NULL, NULL), NULL);
    int64_t one = 1;
    const char *axes = onnx_init_int64(body, "axes", 1, &one, &one);
    const char *m2 = onnx_op(body, "Unsqueeze", m_in, axes, NULL);
    const char *h_new = onnx_op(body, "Where", m2, h, h_in), *c_new = onnx_op(body, "Where", m2, c, c_in);
    char out[64];
    snprintf(out, sizeof out, "%sh_out", pre);
    onnx_output_from(body, h_new, out, ONNX_FLOAT, "N,H");
    snprintf(out, sizeof out, "%sc_out", pre);
    onnx_output_from(body, c_new, out, ONNX_FLOAT, "N,H");
    snprintf(out, sizeof out, "%sy_t", pre);
    onnx_output_from(body, h_new, out, ONNX_FLOAT, "N,H");

    int64_t ax[2] = {1, 1}, dirs[2] = {reverse, reverse};
    OnnxAttr at[6] = {ONNX_ATTR_G("body", body),         ONNX_ATTR_I("num_scan_inputs", 2),
                      ONNX_ATTR_INTS("scan_input_axes", ax, 2), ONNX_ATTR_INTS("scan_input_directions", dirs, 2),
                      ONNX_ATTR_INTS("scan_output_axes", ax, 1), ONNX_ATTR_INTS("scan_output_directions", dirs, 1)};
    const char *in[4] = {zeros, zeros, g_all, mask}, *outs[3];
    onnx_node(g, "Scan", 4, in, 3, outs, 6, at);
    (void)l;
    *y = outs[2];
    return outs[0];
}

const char *export_lstm_layer(OnnxExport *e, const LstmLayer *l, int index, const char *x, const char *mask,
                              const char *zeros, const char **y) {
    const char *xq = export_act_site(e, &l->x_q, x);
    const char *fin[2], *ys[2];
    for (int d = 0; d < l->ndir; d++) {
        char name[32];
        snprintf(name, sizeof name, "lstm_l%d%s", index, d ? "_reverse" : "");
        fin[d] = direction(e, l, &l->dir[d], name, d, xq, mask, zeros, &ys[d]);
    }
    OnnxAttr last = ONNX_ATTR_I("axis", -1), one = ONNX_ATTR_I("axis", 1);
    if (y) *y = l->ndir == 1 ? ys[0] : onnx_opa(e->g, "Concat", 2, ys, 1, &last);
    return l->ndir == 1 ? fin[0] : onnx_opa(e->g, "Concat", 2, fin, 1, &one);
}
