/* Causal multi-head self-attention over a batch of variable-length sequences, and the two
 * transformer blocks built on it (METHODS.md 7.2, BASELINES.md SASRec).
 *
 * Layout: the sequences of a batch are packed row after row ("ragged"): a tensor [T, d]
 * holds sequence s in rows off[s] .. off[s+1]-1, oldest item first, and no padding at
 * all. This equals a padded batch (left- or right-padded) under a causal plus key-padding
 * mask, restricted to the real positions: a real query only ever sees real keys, and
 * padded positions reach no loss, so forward values and every gradient are the same,
 * while no work is spent on padding.
 *
 * Quant sites (P1): the packed in-projection weight W_in [3d, d] (q, k, v rows) and its
 * input, a second input site when keys/values come from another tensor than queries (the
 * SASRec block), and the out-projection weight and input. Scores, probabilities and the
 * two batched products stay FP32 (P2). */
#ifndef QAT_NN_ATTENTION_H
#define QAT_NN_ATTENTION_H

#include "nn/layers.h"

typedef struct {
    int n;          /* sequences */
    const int *off; /* [n + 1] row offsets */
    int max_len;    /* longest sequence */
} SeqBatch;

/* Columns col .. col+d-1 of a 2-D tensor (its row stride is shape[1]). */
typedef struct {
    Tensor *t;
    int col;
} Cols;

/* O[T, d] = per sequence and head: Dropout(softmax(Q K^T / sqrt(d/heads), causal)) V.
 * Dropout (p) acts on the attention probabilities, in training only. Backward:
 * dPd = dO V^T, dV = Pd^T dO, dS = Pm .* (dPm - rowsum(dPm .* Pm)), dQ = dS K / sqrt(dh),
 * dK = dS^T Q / sqrt(dh); accumulated into q, k, v's gradients. */
Tensor *op_causal_attention(Graph *g, Cols q, Cols k, Cols v, int d, int heads, float p,
                            const SeqBatch *sb);

/* y = a + b (same shape). */
Tensor *op_add(Graph *g, Tensor *a, Tensor *b);

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
    /* The official SASRec block (kang205/SASRec, BASELINES.md):
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
