/* The attention layer and the two transformer blocks built on op_causal_attention
 * (nn/attention.h; docs/METHODS.md 7.2, docs/BASELINES.md SASRec).
 *
 * Quant sites (P1): the packed in-projection weight W_in [3d, d] (q, k, v rows) and its
 * input, a second input site when keys/values come from another tensor than queries (the
 * SASRec block), and the out-projection weight and input. Scores, probabilities and the
 * two batched products stay FP32 (P2). */
#ifndef QAT_LAYERS_ATTENTION_H
#define QAT_LAYERS_ATTENTION_H

#include "layers/layers.h"
#include "nn/attention.h"

typedef struct {
    Linear in_proj;  /* w [3d, d] (q, k, v rows), b [3d]; sites: weight, query input */
    QuantSite kv_xq; /* key/value input when separate_kv */
    Linear out_proj; /* when has_out_proj */
    int d, heads, separate_kv, has_out_proj;
    float dropout; /* on the attention probabilities */
} Attention;

/* PyTorch nn.MultiheadAttention init: W_in Xavier-uniform, b_in = 0, out-projection
 * weight default Linear init, its bias 0. Inputs are signed (LayerNorm outputs, sums). */
void attention_init(Attention *a, LayerBuilder *lb, const char *name, int d, int heads,
                    float dropout, int separate_kv, int out_proj);
/* xq: query input [T, d]; xkv: key/value input (NULL: xq; must be given iff separate_kv). */
Tensor *attention_forward(Graph *g, Attention *a, Tensor *xq, Tensor *xkv, const SeqBatch *sb);

typedef enum {
    /* The official SASRec block (kang205/SASRec, docs/BASELINES.md):
     *   q = LN1(x); x = q + Attn(Q = q, K = V = x); h = LN2(x); x = h + Drop(FFN(h)) */
    BLOCK_SASREC,
    /* PyTorch TransformerEncoderLayer(norm_first=True):
     *   x = x + Drop(Attn(LN1(x))); x = x + Drop(FFN(LN2(x))) */
    BLOCK_PRE_LN,
} BlockKind;

typedef struct {
    BlockKind kind;
    Param *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    Attention attn;
    Linear fc1, fc2; /* FFN d -> ffn -> d: fc2(Drop(act(fc1(h)))) */
    int gelu;        /* 0: ReLU */
    float dropout, ln_eps;
} AttnBlock;

/* name: "blocks.0"; parameters "blocks.0.ln1.weight", "blocks.0.attn.in_proj.weight"...
 * FFN linears get PyTorch's default Linear init. */
void attn_block_init(AttnBlock *b, LayerBuilder *lb, const char *name, BlockKind kind, int d,
                     int heads, int ffn, int gelu, float dropout, float ln_eps, int out_proj);
Tensor *attn_block_forward(Graph *g, AttnBlock *b, Tensor *x, const SeqBatch *sb);

#endif
