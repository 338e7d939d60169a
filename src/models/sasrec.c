/* SASRec (Kang & McAuley, ICDM 2018) on a leave-one-out interaction log, docs/METHODS.md 7.2.
 *
 *   ids [T] (the batch's sequences packed row after row, no padding; nn/attention.h)
 *   x = Dropout(sqrt(d) * M[ids] + P[pos])    M: item table [N+1 (+1 MASK), d], tied
 *   x = block(x) x num_blocks                 nn/attention.h: the official SASRec block
 *                                             or PyTorch's pre-LN encoder layer
 *   h = LayerNorm(x), eps 1e-8
 *   loss "bce" (paper): every position t predicts the next item; one negative per
 *        position from the items outside the user's training sequence;
 *        L = mean_t softplus(-h_t.M[next_t]) + softplus(h_t.M[neg_t])
 *   loss "sampled_softmax" (prototype): one example per chunk of the training sequence,
 *        h at the read-out row (the last item, or an appended MASK token) against the
 *        target and num_negatives uniform negatives.
 * Positions: "from_end" numbers the window of a left-padded sequence (the latest item is
 * always at max_seq_len - 1, as the official code); "from_start" counts 0.. from the
 * oldest item (the prototype's right padding).
 *
 * Evaluation (split "val": history = training items, target = validation item; "test":
 * history = training + validation items, target = test item): the read-out of the last
 * max_seq_len history items scores every item; metrics (metrics/ranking.h) over the full
 * ranking with the history excluded (ndcg@5/10/20, hr@5/10/20, mrr, loss = -ln softmax of
 * the target over the same candidates) and over the target + eval_negatives sampled
 * negatives (ndcg@10_sampledN, hr@10_sampledN). The trainer picks the best validation
 * epoch by the headline metric, full-ranking ndcg@10.
 *
 * Quant sites: item table (one site: the same quantized table is looked up and scores;
 * first and last), position table (first), per block the attention in-projection weight
 * and its query input (+ the key/value input in the SASRec block), the out-projection
 * weight and input when present, fc1 and fc2 weights and inputs, and the scorer input h
 * (last). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas.h"
#include "core/error.h"
#include "core/runtime.h"
#include "data/fetch.h"
#include "data/interactions.h"
#include "layers/attention.h"
#include "metrics/ranking.h"
#include "models/model.h"
#include "nn/fused_dropout.h"
#include "nn/int_ops.h"
#include "nn/item_scorer.h"

extern const ModelDef sasrec_model;

#define MAX_BLOCKS 8

static const CfgField SCHEMA[] = {
    {"dataset", "path", CFG_STRING, "", NULL, "interaction log (empty: MovieLens-1M, recsys/ml-1m/ml-1m_sasrec.txt.gz)"},
    {"dataset", "format", CFG_STRING, "auto", NULL, "auto, user_item, ml_ratings or tifu_csv"},
    {"dataset", "user_limit", CFG_INT, "0", ">= 0", "use only the first N users (0: all)"},
    {"dataset", "eval_negatives", CFG_INT, "100", "1..1024", "negatives per user for the sampled metrics"},
    {"dataset", "negatives_seed", CFG_INT, "2018", NULL, "seed of the sampled-metric negatives (fixed across runs)"},
    {"model", "hidden_size", CFG_INT, "50", ">= 1", "width d"},
    {"model", "num_heads", CFG_INT, "1", ">= 1", "attention heads"},
    {"model", "num_blocks", CFG_INT, "2", "1..8", "transformer blocks"},
    {"model", "max_seq_len", CFG_INT, "200", ">= 2", "longest input window"},
    {"model", "dropout", CFG_FLOAT, "0.2", "0..<1", "dropout rate (embeddings, attention, FFN)"},
    {"model", "ffn_size", CFG_INT, "0", ">= 0", "FFN hidden width (0: hidden_size)"},
    {"model", "activation", CFG_STRING, "relu", "relu|gelu", "FFN activation: relu or gelu"},
    {"model", "block", CFG_STRING, "sasrec", "sasrec|pre_ln", "sasrec (official block) or pre_ln (TransformerEncoderLayer norm_first)"},
    {"model", "out_proj", CFG_BOOL, "false", NULL, "attention output projection in the sasrec block (pre_ln always has one)"},
    {"model", "emb_scale", CFG_BOOL, "true", NULL, "multiply item embeddings by sqrt(d)"},
    {"model", "layernorm_eps", CFG_FLOAT, "1e-8", NULL, "LayerNorm eps inside the blocks (the final one uses 1e-8)"},
    {"model", "init", CFG_STRING, "xavier", "xavier|torch", "xavier (every 2-D weight Xavier-uniform) or torch (PyTorch module defaults)"},
    {"model", "positions", CFG_STRING, "from_end", "from_end|from_start", "from_end (left-padded window) or from_start"},
    {"model", "readout", CFG_STRING, "last", "last|mask", "last (the last item's output) or mask (an appended MASK token)"},
    {"model", "loss", CFG_STRING, "bce", "bce|sampled_softmax", "bce (every position, one negative) or sampled_softmax (read-out only)"},
    {"model", "num_negatives", CFG_INT, "50", ">= 1", "sampled_softmax negatives"},
    {"training", "batch_size", CFG_INT, "128", ">= 1", "sequences per batch"},
    {"training", "eval_batch_size", CFG_INT, "256", ">= 1", "users per evaluation batch"},
    {"training", "epochs", CFG_INT, "60", ">= 0", "passes over the training users"},
    {"training", "lr", CFG_FLOAT, "0.001", NULL, "Adam learning rate"},
    {"training", "weight_decay", CFG_FLOAT, "0.0", NULL, "AdamW decoupled weight decay"},
    {"training", "adam_beta1", CFG_FLOAT, "0.9", NULL, "Adam beta1"},
    {"training", "adam_beta2", CFG_FLOAT, "0.98", NULL, "Adam beta2"},
    {"training", "adam_eps", CFG_FLOAT, "1e-8", NULL, "Adam eps"},
    {"training", "grad_clip", CFG_FLOAT, "0.0", NULL, "global gradient-norm clip (0: off)"},
    {"training", "eval_every", CFG_INT, "20", ">= 1", "evaluate the validation split every N epochs"},
    {NULL, NULL, 0, NULL, NULL, NULL},
};

typedef struct {
    int user, start, len; /* training items start .. start+len-1 of the user */
} Example;

typedef struct {
    /* config */
    int d, heads, nblocks, L, ffn, nneg, eval_neg;
    int bce, mask, from_end;
    int eval_test;  /* the split the array hooks evaluate: 1 test, 0 val */
    int eval_batch; /* users per evaluation batch */
    float dropout, emb_scale;
    /* parameters */
    Embedding item_emb, pos_emb;
    AttnBlock blocks[MAX_BLOCKS];
    Param *lnf_w, *lnf_b;
    QuantSite out_xq; /* scorer input */
    /* data */
    Interactions ix;
    LooSplit split;
    int n_items, rows, mask_id; /* table rows: 0 pad, 1..n_items, [mask_id] */
    Example *ex;
    int n_ex, *order;
    int *neg_val, *neg_test; /* [n_users, eval_neg] */
    Rng rng;                 /* training negatives */
    /* batch buffers */
    int *ids, *pos, *tgt, *neg, *off, *last;
    unsigned char *mark; /* [rows] */
} SasRec;

/* ---- ops of this model ---------------------------------------------------------------- */

typedef struct {
    Tensor *M, *P, *x;
    int *ids, *pos;
    float scale;
} EmbedCtx;

static void embed_backward(void *p) {
    EmbedCtx *c = p;
    int T = c->x->shape[0], d = c->x->shape[1];
    for (int t = 0; t < T; t++) {
        const float *dx = c->x->grad + (size_t)t * d;
        if (c->M->grad) {
            float *dm = c->M->grad + (size_t)c->ids[t] * d;
            for (int i = 0; i < d; i++) dm[i] += c->scale * dx[i];
        }
        if (c->P->grad) {
            float *dp = c->P->grad + (size_t)c->pos[t] * d;
            for (int i = 0; i < d; i++) dp[i] += dx[i];
        }
    }
}

/* x[t] = scale * M[ids[t]] + P[pos[t]] */
static Tensor *embed_forward(Graph *g, Tensor *M, Tensor *P, const int *ids, const int *pos, int T, float scale) {
    int d = M->shape[1];
    int grad = graph_needs_grad(g, M, P);
    Tensor *x = graph_tensor2(g, grad, T, d);
    for (int t = 0; t < T; t++) {
        const float *m = M->data + (size_t)ids[t] * d, *p = P->data + (size_t)pos[t] * d;
        float *y = x->data + (size_t)t * d;
        for (int i = 0; i < d; i++) y[i] = scale * m[i] + p[i];
    }
    if (grad) {
        EmbedCtx *c = graph_alloc(g, sizeof *c);
        c->ids = graph_alloc(g, (size_t)T * sizeof(int));
        c->pos = graph_alloc(g, (size_t)T * sizeof(int));
        memcpy(c->ids, ids, (size_t)T * sizeof(int));
        memcpy(c->pos, pos, (size_t)T * sizeof(int));
        c->M = M;
        c->P = P;
        c->x = x;
        c->scale = scale;
        graph_push(g, embed_backward, c);
    }
    return x;
}

typedef struct {
    Tensor *x, *y;
    int *rows;
} GatherCtx;

static void gather_backward(void *p) {
    GatherCtx *c = p;
    int n = c->y->shape[0], d = c->y->shape[1];
    for (int r = 0; r < n; r++)
        for (int i = 0; i < d; i++) c->x->grad[(size_t)c->rows[r] * d + i] += c->y->grad[(size_t)r * d + i];
}

/* y[r] = x[rows[r]]: the read-out rows. */
static Tensor *gather_rows(Graph *g, Tensor *x, const int *rows, int n) {
    int d = x->shape[1];
    int grad = graph_needs_grad(g, x, NULL);
    Tensor *y = graph_tensor2(g, grad, n, d);
    for (int r = 0; r < n; r++) memcpy(y->data + (size_t)r * d, x->data + (size_t)rows[r] * d, (size_t)d * sizeof(float));
    if (grad) {
        GatherCtx *c = graph_alloc(g, sizeof *c);
        c->rows = graph_alloc(g, (size_t)n * sizeof(int));
        memcpy(c->rows, rows, (size_t)n * sizeof(int));
        c->x = x;
        c->y = y;
        graph_push(g, gather_backward, c);
    }
    return y;
}

/* ---- the network ------------------------------------------------------------------------ */

/* The quantized item table (for lookup and scoring; NULL in the integer engine, which
 * looks rows up from codes) and h = LN_final(blocks(embed)). */
static Tensor *encode(SasRec *s, Graph *g, const SeqBatch *sb, Tensor **M_out) {
    int T = sb->off[sb->n];
    Tensor *M = NULL, *x;
    if (g->integer) { /* the rows from codes: no table fake-quantized whole per batch */
        Tensor *mi = embedding_forward(g, &s->item_emb, s->ids, T), *pi = embedding_forward(g, &s->pos_emb, s->pos, T);
        x = graph_tensor2(g, 0, T, s->d);
        for (size_t i = 0; i < x->size; i++) x->data[i] = s->emb_scale * mi->data[i] + pi->data[i];
    } else {
        M = quant_site_apply(g, &s->item_emb.wq, &s->item_emb.table->t, 1);
        Tensor *P = quant_site_apply(g, &s->pos_emb.wq, &s->pos_emb.table->t, 1);
        x = embed_forward(g, M, P, s->ids, s->pos, T, s->emb_scale);
    }
    x = op_dropout_fast(g, x, s->dropout);
    for (int b = 0; b < s->nblocks; b++) x = attn_block_forward(g, &s->blocks[b], x, sb);
    *M_out = M;
    return op_layernorm(g, x, &s->lnf_w->t, &s->lnf_b->t, 1e-8f);
}

/* Appends one sequence (items seq[0..n), then MASK in mask mode) to the packed batch.
 * Returns its row count. */
static int put_sequence(SasRec *s, int si, const int *seq, int n) {
    int row = s->off[si], len = n + s->mask;
    for (int k = 0; k < n; k++) s->ids[row + k] = seq[k];
    if (s->mask) s->ids[row + n] = s->mask_id;
    for (int k = 0; k < len; k++) s->pos[row + k] = s->from_end ? s->L - len + k : k;
    s->off[si + 1] = row + len;
    s->last[si] = row + len - 1;
    return len;
}

static const int *train_seq(const SasRec *s, int u) { return s->split.items + s->split.off[u]; }

static void mark_items(unsigned char *mark, const int *items, int n, unsigned char v) {
    for (int k = 0; k < n; k++) mark[items[k]] = v;
}

static void begin_epoch(Model *m, Rng *rng, int epoch) {
    (void)epoch; /* every epoch shuffles the same way */
    SasRec *s = m->self;
    for (int i = 0; i < s->n_ex; i++) s->order[i] = i;
    rng_shuffle(rng, s->order, (size_t)s->n_ex);
}

static Tensor *train_loss(Model *m, Graph *g, int b, double *correct, double *count) {
    SasRec *s = m->self;
    (void)correct;
    (void)count;
    int start = b * m->batch_size;
    int B = s->n_ex - start < m->batch_size ? s->n_ex - start : m->batch_size;
    s->off[0] = 0;
    int max_len = 0;
    for (int i = 0; i < B; i++) {
        const Example *e = &s->ex[s->order[start + i]];
        const int *seq = train_seq(s, e->user) + e->start;
        /* Input: every item but the last; the targets: the items that follow. */
        int len = put_sequence(s, i, seq, e->len - 1);
        max_len = len > max_len ? len : max_len;
        if (s->bce) {
            int row = s->off[i];
            const int *hist = train_seq(s, e->user);
            mark_items(s->mark, hist, s->split.n_train[e->user], 1);
            for (int k = 0; k < len; k++) {
                s->tgt[row + k] = seq[k + 1];
                int j;
                do j = 1 + (int)rng_below(&s->rng, (uint64_t)s->n_items);
                while (s->mark[j]);
                s->neg[row + k] = j;
            }
            mark_items(s->mark, hist, s->split.n_train[e->user], 0);
        } else {
            int *cand = s->neg + (size_t)i * (s->nneg + 1);
            cand[0] = seq[e->len - 1];
            for (int k = 1; k <= s->nneg; k++) {
                int j;
                do j = 1 + (int)rng_below(&s->rng, (uint64_t)s->n_items);
                while (j == cand[0]);
                cand[k] = j;
            }
        }
    }
    SeqBatch sb = {B, s->off, max_len};
    Tensor *M;
    Tensor *h = encode(s, g, &sb, &M);
    if (s->bce) {
        Tensor *hq = quant_site_apply(g, &s->out_xq, h, B);
        return op_scorer_bce(g, hq, M, s->tgt, s->neg);
    }
    Tensor *hq = quant_site_apply(g, &s->out_xq, gather_rows(g, h, s->last, B), B);
    return op_scorer_sampled_softmax(g, hq, M, s->neg, s->nneg + 1);
}

/* ---- evaluation ----------------------------------------------------------------------- */

/* ---- evaluation as arrays --------------------------------------------------------------
 * The users with a target in the split (val or test: eval_test), eval_batch at a time.
 * Inputs: items [B, S] (each history left-aligned, then 0), positions [B, S] (the
 * position ids of those rows), lengths [B]; output: scores [B, rows] of every item. */

static int eval_users(const SasRec *s, int *users) {
    const LooSplit *sp = &s->split;
    int nu = 0;
    for (int u = 0; u < sp->n_users; u++)
        if ((s->eval_test ? sp->test : sp->val)[u]) {
            if (users) users[nu] = u;
            nu++;
        }
    return nu;
}

static int eval_batches(Model *m) {
    SasRec *s = m->self;
    return (eval_users(s, NULL) + s->eval_batch - 1) / s->eval_batch;
}

static void eval_inputs(Model *m, int b, NpyArray *in) {
    SasRec *s = m->self;
    const LooSplit *sp = &s->split;
    int *users = qat_malloc((size_t)sp->n_users * sizeof(int)), *hist = qat_malloc((size_t)(s->L + 1) * sizeof(int));
    int nu = eval_users(s, users), u0 = b * s->eval_batch, B = nu - u0 < s->eval_batch ? nu - u0 : s->eval_batch;
    s->off[0] = 0;
    int S = 0;
    for (int i = 0; i < B; i++) {
        int u = users[u0 + i], nt_u = sp->n_train[u];
        /* History: training items (+ the validation item for test), last L (L-1 with the
         * MASK token) of them. */
        int nh = nt_u + s->eval_test, keep = s->L - s->mask;
        const int *tr = train_seq(s, u);
        int from = nh > keep ? nh - keep : 0, n = 0;
        for (int k = from; k < nh; k++) hist[n++] = k < nt_u ? tr[k] : sp->val[u];
        int len = put_sequence(s, i, hist, n);
        S = len > S ? len : S;
    }
    in[0] = npy_new(NPY_I64, 2, (const int64_t[]){B, S});
    in[1] = npy_new(NPY_I64, 2, (const int64_t[]){B, S});
    in[2] = npy_new(NPY_I64, 1, (const int64_t[]){B});
    int64_t *items = in[0].data, *pos = in[1].data, *len = in[2].data;
    for (int i = 0; i < B; i++) {
        len[i] = s->off[i + 1] - s->off[i];
        for (int k = 0; k < len[i]; k++) {
            items[(size_t)i * S + k] = s->ids[s->off[i] + k];
            pos[(size_t)i * S + k] = s->pos[s->off[i] + k];
        }
    }
    free(users);
    free(hist);
}

static NpyArray eval_forward(Model *m, Graph *g, const NpyArray *in) {
    SasRec *s = m->self;
    int B = (int)in[0].shape[0], S = (int)in[0].shape[1], R = s->rows, d = s->d, max_len = 0;
    const int64_t *items = in[0].data, *pos = in[1].data, *len = in[2].data;
    s->off[0] = 0;
    for (int i = 0; i < B; i++) {
        int n = (int)len[i];
        for (int k = 0; k < n; k++) {
            s->ids[s->off[i] + k] = (int)items[(size_t)i * S + k];
            s->pos[s->off[i] + k] = (int)pos[(size_t)i * S + k];
        }
        s->off[i + 1] = s->off[i] + n;
        s->last[i] = s->off[i + 1] - 1;
        max_len = n > max_len ? n : max_len;
    }
    SeqBatch sb = {B, s->off, max_len};
    Tensor *M;
    Tensor *h = encode(s, g, &sb, &M);
    Tensor *hl = gather_rows(g, h, s->last, B);
    NpyArray out = npy_new(NPY_F32, 2, (const int64_t[]){B, R});
    if (g->integer) { /* the scorer on codes: h's under its site, the item table's */
        IntWeightCodes wc;
        IntCodes hc;
        int on_codes = quant_site_int_weights(&s->item_emb.wq, s->item_emb.table, 0, R, &wc) &&
                       quant_site_int_codes(g, &s->out_xq, hl, &hc);
        graph_count_layer_call(g, on_codes);
        if (on_codes) {
            Tensor *y = op_linear_int(g, hc, B, d, wc, R, NULL);
            memcpy(out.data, y->data, (size_t)B * R * sizeof(float));
            return out;
        }
    }
    Tensor *hq = quant_site_apply(g, &s->out_xq, hl, B);
    if (!M) M = quant_site_apply(g, &s->item_emb.wq, &s->item_emb.table->t, 1);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, R, d, 1.0f, hq->data, d, M->data, d, 0.0f, out.data, R);
    return out;
}

/* Full-ranking and sampled metrics of every user's target, and the loss. */
static void eval_metrics(Model *m, const NpyArray *outs, Metrics *out) {
    SasRec *s = m->self;
    int test = s->eval_test;
    const LooSplit *sp = &s->split;
    int R = s->rows;
    int *users = qat_malloc((size_t)sp->n_users * sizeof(int));
    int nu = eval_users(s, users);
    RankStats full = {0}, sampled = {0};
    double loss = 0.0;
    int nt = omp_get_max_threads();
    unsigned char *skip_all = qat_calloc((size_t)nt * R, 1);
    for (int u0 = 0, bi = 0; u0 < nu; u0 += s->eval_batch, bi++) {
        int B = nu - u0 < s->eval_batch ? nu - u0 : s->eval_batch;
        if (outs[bi].type != NPY_F32 || outs[bi].ndim != 2 || outs[bi].shape[0] != B || outs[bi].shape[1] != R)
            qat_die("sasrec: the scores of batch %d must be float32 [%d, %d]", bi, B, R);
        const float *scores = outs[bi].data;
        RankStats f_part = {0}, s_part = {0};
        double l_part = 0.0;
#pragma omp parallel reduction(+ : l_part)
        {
            RankStats fl = {0}, sl = {0};
            unsigned char *skip = skip_all + (size_t)omp_get_thread_num() * R;
#pragma omp for schedule(static)
            for (int i = 0; i < B; i++) {
                int u = users[u0 + i], target = test ? sp->test[u] : sp->val[u];
                const float *row = scores + (size_t)i * R;
                const int *tr = train_seq(s, u);
                mark_items(skip, tr, sp->n_train[u], 1);
                if (test) skip[sp->val[u]] = 1;
                skip[0] = 1;
                if (s->mask) skip[s->mask_id] = 1;
                skip[target] = 0;
                rank_stats_add(&fl, rank_of_target(row, R, target, skip));
                /* -ln softmax of the target over the same candidates */
                float mx = row[target];
                for (int j = 0; j < R; j++)
                    if (!skip[j] && row[j] > mx) mx = row[j];
                double z = 0.0;
                for (int j = 0; j < R; j++)
                    if (!skip[j]) z += exp((double)row[j] - mx);
                l_part += log(z) - ((double)row[target] - mx);
                mark_items(skip, tr, sp->n_train[u], 0);
                skip[sp->val[u]] = 0;
                float cand[1 + 1024];
                const int *negs = (test ? s->neg_test : s->neg_val) + (size_t)u * s->eval_neg;
                cand[0] = row[target];
                for (int k = 0; k < s->eval_neg; k++) cand[1 + k] = row[negs[k]];
                rank_stats_add(&sl, rank_first(cand, 1 + s->eval_neg));
            }
#pragma omp critical
            {
                rank_stats_merge(&f_part, &fl);
                rank_stats_merge(&s_part, &sl);
            }
        }
        rank_stats_merge(&full, &f_part);
        rank_stats_merge(&sampled, &s_part);
        loss += l_part;
    }
    RankStats fm, sm;
    rank_stats_mean(&full, &fm);
    rank_stats_mean(&sampled, &sm);
    char key[40];
    for (int i = 0; i < RANK_NK; i++) {
        snprintf(key, sizeof key, "ndcg@%d", RANK_KS[i]);
        metrics_set(out, key, fm.ndcg[i]);
    }
    for (int i = 0; i < RANK_NK; i++) {
        snprintf(key, sizeof key, "hr@%d", RANK_KS[i]);
        metrics_set(out, key, fm.hr[i]);
    }
    metrics_set(out, "mrr", fm.mrr);
    snprintf(key, sizeof key, "ndcg@10_sampled%d", s->eval_neg);
    metrics_set(out, key, sm.ndcg[1]);
    snprintf(key, sizeof key, "hr@10_sampled%d", s->eval_neg);
    metrics_set(out, key, sm.hr[1]);
    metrics_set(out, "loss", nu ? loss / nu : NAN);
    free(users);
    free(skip_all);
}

/* split "val": history = training items, target = validation item; "test": history =
 * training + validation items, target = test item. */
static void evaluate(Model *m, Graph *g, const char *split, Metrics *out) {
    SasRec *s = m->self;
    s->eval_test = strcmp(split, "test") == 0;
    model_evaluate_arrays(m, g, out);
    s->eval_test = 1; /* qat eval's split */
    graph_reset(g);
}

static void export_onnx(Model *m, OnnxExport *e) {
    SasRec *s = m->self;
    OnnxGraph *g = e->g;
    onnx_input(g, "items", ONNX_INT64, "N,S");
    onnx_input(g, "positions", ONNX_INT64, "N,S");
    onnx_input(g, "lengths", ONNX_INT64, "N");
    /* causal[t][j] = j <= t */
    const char *S = onnx_op(g, "Gather", onnx_op(g, "Shape", "items", NULL, NULL), onnx_scalar_int64(g, "one", 1), NULL);
    const char *r = onnx_op(g, "Range", onnx_scalar_int64(g, "zero", 0), S, onnx_scalar_int64(g, "one", 1));
    int64_t zero = 0, one = 1;
    const char *causal = onnx_op(g, "LessOrEqual", onnx_op(g, "Unsqueeze", r, export_ints(e, 1, &zero), NULL),
                                 onnx_op(g, "Unsqueeze", r, export_ints(e, 1, &one), NULL), NULL);
    /* x = emb_scale * M[items] + P[positions]; M is the item table through its site, also the scorer's */
    const char *M = export_weight_site(e, &s->item_emb.wq, s->item_emb.table);
    const char *x = onnx_op(g, "Mul", onnx_op(g, "Gather", M, "items", NULL), onnx_scalar_float(g, "emb_scale", s->emb_scale),
                            NULL);
    x = onnx_op(g, "Add", x, export_embedding(e, &s->pos_emb, "positions"), NULL);
    for (int b = 0; b < s->nblocks; b++) x = export_attn_block(e, &s->blocks[b], x, causal);
    const char *h = export_layernorm(e, s->lnf_w, s->lnf_b, 1e-8f, x);
    /* the read-out row lengths - 1 of every sequence: [N, 1, d] -> [N, d] */
    int64_t sh[3] = {-1, 1, 1}, d = s->d;
    const char *lm1 = onnx_op(g, "Sub", "lengths", onnx_scalar_int64(g, "one", 1), NULL);
    const char *idx = onnx_op(g, "Reshape", lm1, export_ints(e, 3, sh), NULL);
    const char *shape_in[3] = {onnx_op(g, "Shape", "lengths", NULL, NULL), export_ints(e, 1, &one), export_ints(e, 1, &d)};
    OnnxAttr axis0 = ONNX_ATTR_I("axis", 0), axis1 = ONNX_ATTR_I("axis", 1);
    const char *full = onnx_opa(g, "Concat", 3, shape_in, 1, &axis0);
    const char *gin[2] = {h, onnx_op(g, "Expand", idx, full, NULL)};
    const char *last = onnx_opa(g, "GatherElements", 2, gin, 1, &axis1);
    last = onnx_op(g, "Squeeze", last, export_ints(e, 1, &one), NULL);
    const char *hq = export_act_site(e, &s->out_xq, last);
    int64_t perm[2] = {1, 0};
    OnnxAttr tp = ONNX_ATTR_INTS("perm", perm, 2);
    const char *mt = onnx_opa(g, "Transpose", 1, &M, 1, &tp);
    onnx_output_from(g, onnx_op(g, "MatMul", hq, mt, NULL), "scores", ONNX_FLOAT, "N,R");
}

/* ---- set-up ------------------------------------------------------------------------------ */

static void free_data(Model *m) {
    SasRec *s = m->self;
    loo_split_free(&s->split);
    interactions_free(&s->ix);
    free(s->ex);
    free(s->order);
    free(s->neg_val);
    free(s->neg_test);
    free(s->ids);
    free(s->pos);
    free(s->tgt);
    free(s->neg);
    free(s->off);
    free(s->last);
    free(s->mark);
    free(s);
}

static int pick(const Config *cfg, const char *key, const char *a, const char *b) {
    const char *v = cfg_str(cfg, key);
    if (strcmp(v, a) == 0) return 0;
    QAT_ASSERT(strcmp(v, b) == 0); /* the schema allows a or b */
    return 1;
}

static void load_data(SasRec *s, const Config *cfg) {
    const char *path = cfg_str(cfg, "dataset.path");
    char buf[1024];
    if (data_location_is_verified(path, "", 1)) {
        data_path("recsys/ml-1m/ml-1m_sasrec.txt.gz", buf, sizeof buf);
        path = buf;
    }
    interactions_load(&s->ix, path, interactions_format(cfg_str(cfg, "dataset.format")));
    int limit = (int)cfg_int(cfg, "dataset.user_limit");
    if (limit > 0 && limit < s->ix.n_users) s->ix.n_users = limit;
    loo_split(&s->ix, &s->split);
    s->n_items = s->ix.n_items;
}

/* Training examples: bce, one per user (the last max_seq_len + 1 training items);
 * sampled_softmax, consecutive chunks of max_seq_len training items (shorter last chunks
 * of at least 2 kept), as the prototype's MaskedSeqDataset. Users whose training sequence
 * has fewer than 2 items give none. */
static void build_examples(SasRec *s) {
    const LooSplit *sp = &s->split;
    long cap = 0;
    for (int u = 0; u < sp->n_users; u++) cap += sp->n_train[u] / (s->L > 1 ? s->L - 1 : 1) + 1;
    s->ex = qat_malloc((size_t)cap * sizeof *s->ex);
    s->n_ex = 0;
    if (s->n_items < 2) qat_die("the log has %d item(s): negatives need at least 2", s->n_items);
    for (int u = 0; u < sp->n_users; u++) {
        int n = sp->n_train[u];
        if (n < 2) continue;
        if (s->bce && n >= s->n_items) {
            /* BCE negatives come from outside the training items: one must exist */
            mark_items(s->mark, train_seq(s, u), n, 1);
            int free_items = 0;
            for (int j = 1; j <= s->n_items; j++) free_items += !s->mark[j];
            mark_items(s->mark, train_seq(s, u), n, 0);
            if (!free_items) qat_die("user %lld has every item in training: no negative to sample", (long long)s->ix.user_id[u]);
        }
        if (s->bce) {
            /* input = the last L items before the final one */
            int len = n - 1 > s->L ? s->L + 1 : n;
            s->ex[s->n_ex++] = (Example){u, n - len, len};
        } else {
            /* chunk = input (L - 1 items, + MASK) and the target */
            int chunk = s->L - s->mask + 1;
            for (int st = 0; st < n; st += chunk) {
                int len = n - st < chunk ? n - st : chunk;
                if (len >= 2) s->ex[s->n_ex++] = (Example){u, st, len};
            }
        }
    }
    if (s->n_ex == 0) qat_die("no training examples: every user has fewer than 2 training interactions");
}

/* Fixed negatives for the sampled metrics, from the items each user never touched. */
static void sample_eval_negatives(SasRec *s, uint64_t seed) {
    const LooSplit *sp = &s->split;
    size_t n = (size_t)sp->n_users * s->eval_neg;
    s->neg_val = qat_calloc(n, sizeof(int));
    s->neg_test = qat_calloc(n, sizeof(int));
    Rng r;
    rng_seed(&r, seed);
    for (int u = 0; u < sp->n_users; u++) {
        if (!sp->test[u]) continue;
        const int *all = sp->items + sp->off[u];
        int na = (int)(sp->off[u + 1] - sp->off[u]);
        mark_items(s->mark, all, na, 1);
        sample_negatives(&r, s->n_items, s->mark, s->eval_neg, s->neg_val + (size_t)u * s->eval_neg);
        sample_negatives(&r, s->n_items, s->mark, s->eval_neg, s->neg_test + (size_t)u * s->eval_neg);
        mark_items(s->mark, all, na, 0);
    }
}

static void xavier_uniform(Param *p, Rng *rng) {
    float bound = sqrtf(6.0f / (float)(p->t.shape[0] + p->t.shape[1]));
    for (size_t i = 0; i < p->t.size; i++) p->t.data[i] = rng_uniform_range(rng, -bound, bound);
}

static Model *create(const Config *cfg, uint64_t seed) {
    Model *m = qat_calloc(1, sizeof *m);
    SasRec *s = qat_calloc(1, sizeof *s);
    m->def = &sasrec_model;
    m->self = s;
    m->has_val = 1;
    m->batch_size = (int)cfg_int(cfg, "training.batch_size");
    s->d = (int)cfg_int(cfg, "model.hidden_size");
    s->heads = (int)cfg_int(cfg, "model.num_heads");
    s->nblocks = (int)cfg_int(cfg, "model.num_blocks");
    s->L = (int)cfg_int(cfg, "model.max_seq_len");
    s->ffn = (int)cfg_int(cfg, "model.ffn_size");
    s->dropout = (float)cfg_float(cfg, "model.dropout");
    s->nneg = (int)cfg_int(cfg, "model.num_negatives");
    s->eval_neg = (int)cfg_int(cfg, "dataset.eval_negatives");
    s->eval_batch = (int)cfg_int(cfg, "training.eval_batch_size");
    int gelu = pick(cfg, "model.activation", "relu", "gelu");
    BlockKind kind = pick(cfg, "model.block", "sasrec", "pre_ln") ? BLOCK_PRE_LN : BLOCK_SASREC;
    int torch_init = pick(cfg, "model.init", "xavier", "torch");
    s->from_end = !pick(cfg, "model.positions", "from_end", "from_start");
    s->mask = pick(cfg, "model.readout", "last", "mask");
    s->bce = !pick(cfg, "model.loss", "bce", "sampled_softmax");
    if (s->d % s->heads)
        qat_die("model.hidden_size (%d) must be a multiple of model.num_heads (%d)", s->d, s->heads);
    QAT_ASSERT(s->nblocks <= MAX_BLOCKS); /* the schema's range of model.num_blocks */
    if (s->ffn == 0) s->ffn = s->d;
    if (s->bce && s->mask) qat_die("model.loss bce trains every position: it needs model.readout last");
    s->emb_scale = cfg_bool(cfg, "model.emb_scale") ? sqrtf((float)s->d) : 1.0f;
    float ln_eps = (float)cfg_float(cfg, "model.layernorm_eps");

    load_data(s, cfg);
    s->mask_id = s->mask ? s->n_items + 1 : -1;
    s->rows = s->n_items + 1 + s->mask;

    Rng rng;
    rng_seed(&rng, seed);
    LayerBuilder lb = {&m->params, &m->sites, &rng};
    embedding_init(&s->item_emb, &lb, "item_emb", s->rows, s->d, 0, SITE_FIRST);
    embedding_init(&s->pos_emb, &lb, "pos_emb", s->L, s->d, -1, SITE_FIRST);
    for (int b = 0; b < s->nblocks; b++) {
        char name[32];
        snprintf(name, sizeof name, "blocks.%d", b);
        attn_block_init(&s->blocks[b], &lb, name, kind, s->d, s->heads, s->ffn, gelu, s->dropout, ln_eps,
                        cfg_bool(cfg, "model.out_proj"));
    }
    s->lnf_w = param_new("ln_final.weight", 1, &s->d, PARAM_GROUP_NO_DECAY);
    s->lnf_b = param_new("ln_final.bias", 1, &s->d, PARAM_GROUP_NO_DECAY);
    for (int i = 0; i < s->d; i++) s->lnf_w->t.data[i] = 1.0f;
    param_list_add(&m->params, s->lnf_w);
    param_list_add(&m->params, s->lnf_b);
    quant_site_declare(&m->sites, &s->out_xq, "scorer", SITE_INPUT, 1, SITE_LAST, 1);
    /* The scorer is the linear product h E^T with the tied item table (no layer struct):
     * PTQ calibration samples its input as rows of d. */
    quant_site_bind(NULL, &s->out_xq, LAYER_LINEAR, (SiteGeometry){.in = s->d, .out = s->item_emb.rows},
                    s->item_emb.table, NULL, FOLLOW_NONE);
    if (!torch_init) {
        for (int k = 0; k < m->params.n; k++)
            if (m->params.items[k]->t.ndim == 2) xavier_uniform(m->params.items[k], &rng);
        memset(s->item_emb.table->t.data, 0, (size_t)s->d * sizeof(float)); /* padding row */
    }

    s->mark = qat_calloc((size_t)s->rows, 1);
    build_examples(s);
    s->order = qat_malloc((size_t)s->n_ex * sizeof(int));
    sample_eval_negatives(s, (uint64_t)cfg_int(cfg, "dataset.negatives_seed"));
    rng_seed(&s->rng, seed ^ 0x5a5a5a5aULL);
    m->rng = &s->rng;
    int rows_max = (m->batch_size > s->eval_batch ? m->batch_size : s->eval_batch) * s->L;
    int cand = m->batch_size * (s->nneg + 1);
    s->ids = qat_malloc((size_t)rows_max * sizeof(int));
    s->pos = qat_malloc((size_t)rows_max * sizeof(int));
    s->tgt = qat_malloc((size_t)rows_max * sizeof(int));
    s->neg = qat_malloc((size_t)(rows_max > cand ? rows_max : cand) * sizeof(int));
    s->off = qat_malloc((size_t)(rows_max + 1) * sizeof(int));
    s->last = qat_malloc((size_t)rows_max * sizeof(int));
    m->train_batches = (s->n_ex + m->batch_size - 1) / m->batch_size;
    m->begin_epoch = begin_epoch;
    m->train_loss = train_loss;
    m->evaluate = evaluate;
    m->free_data = free_data;
    m->eval_batches = eval_batches;
    m->eval_inputs = eval_inputs;
    m->eval_forward = eval_forward;
    m->eval_metrics = eval_metrics;
    m->export_onnx = export_onnx;
    s->eval_test = 1;
    return m;
}

static const char *const EVAL_INPUTS[] = {"items", "positions", "lengths", NULL};
const ModelDef sasrec_model = {"sasrec", SCHEMA, "ndcg@10", create, EVAL_INPUTS, "scores"};
