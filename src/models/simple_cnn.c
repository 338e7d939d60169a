/* simple_cnn on MNIST (docs/METHODS.md 7.4), the prototype's small CNN:
 *   x [B,1,28,28] in [0,1]
 *   conv1 3x3 1->8, stride 1, no bias -> [B,8,26,26], ReLU
 *   conv2 3x3 8->8, stride 5, no bias -> [B,8,5,5],   ReLU
 *   maxpool 2x2 stride 2 (floor)      -> [B,8,2,2] -> flatten 32
 *   fc 32 -> 10 with bias             -> logits; softmax cross-entropy; accuracy
 * Quant sites: conv1 (first, input unsigned), conv2 (input unsigned), fc (last, input
 * unsigned: ReLU then max-pool). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/fetch.h"
#include "data/mnist.h"
#include "layers/layers.h"
#include "metrics/metrics.h"
#include "models/model.h"

extern const ModelDef simple_cnn_model;

static const CfgField SCHEMA[] = {
    {"dataset", "root_dir", CFG_STRING, "data/mnist", NULL, "folder with the four MNIST IDX .gz files"},
    {"dataset", "download", CFG_BOOL, "true", NULL, "fetch (mirror or official URL) when missing"},
    {"dataset", "train_limit", CFG_INT, "0", ">= 0", "use only the first N training images (0: all)"},
    {"dataset", "test_limit", CFG_INT, "0", ">= 0", "evaluate on the first N test images (0: all)"},
    {"training", "batch_size", CFG_INT, "500", ">= 1", "mini-batch size"},
    {"training", "epochs", CFG_INT, "5", ">= 0", "passes over the training set"},
    {"training", "lr", CFG_FLOAT, "0.005", NULL, "AdamW learning rate"},
    {"training", "weight_decay", CFG_FLOAT, "0.0", NULL, "AdamW decoupled weight decay"},
    {NULL, NULL, 0, NULL, NULL, NULL},
};

typedef struct {
    Conv2d conv1, conv2;
    Linear fc;
    ImageSet train, test;
    int *order;     /* training sample order of this epoch */
    float *batch_x; /* [B, 784] gathered batch */
    int *batch_y;
} SimpleCnn;

static Tensor *forward(SimpleCnn *s, Graph *g, float *x, int B) {
    int shape[4] = {B, 1, 28, 28};
    Tensor *h = graph_input(g, x, 4, shape);
    h = conv2d_forward(g, &s->conv1, h, CONV_ACT_RELU, CONV_NCHW);
    h = conv2d_forward(g, &s->conv2, h, CONV_ACT_RELU, CONV_NCHW);
    h = op_maxpool2d(g, h, 2, 2);
    int flat[2] = {B, 32};
    h = graph_reshape(g, h, 2, flat);
    return linear_forward(g, &s->fc, h, B);
}

static void gather(SimpleCnn *s, const ImageSet *set, const int *idx, int B) {
    size_t pix = (size_t)set->rows * set->cols;
    for (int i = 0; i < B; i++) {
        memcpy(s->batch_x + i * pix, set->images + (size_t)idx[i] * pix, pix * sizeof(float));
        s->batch_y[i] = set->labels[idx[i]];
    }
}

static void begin_epoch(Model *m, Rng *rng, int epoch) {
    (void)epoch; /* every epoch shuffles the same way */
    SimpleCnn *s = m->self;
    for (int i = 0; i < s->train.n; i++) s->order[i] = i;
    rng_shuffle(rng, s->order, (size_t)s->train.n);
}

static Tensor *train_loss(Model *m, Graph *g, int b, double *correct, double *count) {
    SimpleCnn *s = m->self;
    int start = b * m->batch_size;
    int B = s->train.n - start < m->batch_size ? s->train.n - start : m->batch_size;
    gather(s, &s->train, s->order + start, B);
    Tensor *logits = forward(s, g, s->batch_x, B);
    if (correct) *correct += accuracy_count(logits->data, s->batch_y, B, 10);
    if (count) *count += B;
    return op_softmax_cross_entropy(g, logits, s->batch_y);
}

/* ---- evaluation as arrays: image [B,1,28,28] -> logits [B,10] ------------------------ */

static int eval_batches(Model *m) {
    SimpleCnn *s = m->self;
    return (s->test.n + m->batch_size - 1) / m->batch_size;
}

static int eval_batch_size(Model *m, int b) {
    SimpleCnn *s = m->self;
    int start = b * m->batch_size;
    return s->test.n - start < m->batch_size ? s->test.n - start : m->batch_size;
}

static void eval_inputs(Model *m, int b, NpyArray *in) {
    SimpleCnn *s = m->self;
    int B = eval_batch_size(m, b);
    in[0] = npy_new(NPY_F32, 4, (const int64_t[]){B, 1, 28, 28});
    memcpy(in[0].data, s->test.images + (size_t)b * m->batch_size * 784, (size_t)B * 784 * sizeof(float));
}

static NpyArray eval_forward(Model *m, Graph *g, const NpyArray *in) {
    int B = (int)in[0].shape[0];
    Tensor *logits = forward(m->self, g, in[0].data, B);
    NpyArray out = npy_new(NPY_F32, 2, (const int64_t[]){B, 10});
    memcpy(out.data, logits->data, (size_t)B * 10 * sizeof(float));
    return out;
}

static void eval_metrics(Model *m, const NpyArray *out, Metrics *metrics) {
    SimpleCnn *s = m->self;
    const ImageSet *set = &s->test;
    double loss = 0.0, correct = 0.0;
    Graph g;
    graph_init(&g, 0);
    for (int b = 0; b < eval_batches(m); b++) {
        int B = eval_batch_size(m, b);
        if (out[b].type != NPY_F32 || out[b].ndim != 2 || out[b].shape[0] != B || out[b].shape[1] != 10)
            qat_die("simple_cnn: the outputs of batch %d must be float32 [%d, 10]", b, B);
        const int *labels = set->labels + (size_t)b * m->batch_size;
        correct += accuracy_count(out[b].data, labels, B, 10);
        graph_reset(&g);
        Tensor *logits = graph_input(&g, out[b].data, 2, (const int[]){B, 10});
        loss += op_softmax_cross_entropy(&g, logits, labels)->data[0] * B;
    }
    graph_free(&g);
    metrics_set(metrics, "accuracy", correct / set->n);
    metrics_set(metrics, "loss", loss / set->n);
}

static void evaluate(Model *m, Graph *g, const char *split, Metrics *out) {
    (void)split; /* MNIST has train and test only: every evaluation uses the test set */
    model_evaluate_arrays(m, g, out);
}

static void export_onnx(Model *m, OnnxExport *e) {
    SimpleCnn *s = m->self;
    onnx_input(e->g, "image", ONNX_FLOAT, "N,1,28,28");
    const char *h = export_conv2d(e, &s->conv1, "image", CONV_ACT_RELU);
    h = export_conv2d(e, &s->conv2, h, CONV_ACT_RELU);
    int64_t k[2] = {2, 2};
    OnnxAttr pool[2] = {ONNX_ATTR_INTS("kernel_shape", k, 2), ONNX_ATTR_INTS("strides", k, 2)};
    h = onnx_opa(e->g, "MaxPool", 1, &h, 2, pool);
    OnnxAttr axis = ONNX_ATTR_I("axis", 1);
    h = onnx_opa(e->g, "Flatten", 1, &h, 1, &axis);
    onnx_output_from(e->g, export_linear(e, &s->fc, h), "logits", ONNX_FLOAT, "N,10");
}

static void free_data(Model *m) {
    SimpleCnn *s = m->self;
    image_set_free(&s->train);
    image_set_free(&s->test);
    free(s->order);
    free(s->batch_x);
    free(s->batch_y);
    free(s);
}

static void load_split(ImageSet *set, const Config *cfg, const char *split, int limit) {
    const char *root = cfg_str(cfg, "dataset.root_dir");
    if (data_location_is_verified(root, "data/mnist", cfg_bool(cfg, "dataset.download"))) {
        mnist_load_split(set, split);
    } else {
        int train = strcmp(split, "train") == 0;
        char ip[1024], lp[1024];
        snprintf(ip, sizeof ip, "%s/%s", root, train ? "train-images-idx3-ubyte.gz" : "t10k-images-idx3-ubyte.gz");
        snprintf(lp, sizeof lp, "%s/%s", root, train ? "train-labels-idx1-ubyte.gz" : "t10k-labels-idx1-ubyte.gz");
        mnist_load(set, ip, lp);
    }
    if (set->rows != 28 || set->cols != 28)
        qat_die("simple_cnn needs 28x28 images; the %s split has %dx%d", split, set->rows, set->cols);
    if (limit > 0 && limit < set->n) set->n = limit;
}

static Model *create(const Config *cfg, uint64_t seed) {
    Model *m = qat_calloc(1, sizeof *m);
    SimpleCnn *s = qat_calloc(1, sizeof *s);
    m->def = &simple_cnn_model;
    m->self = s;
    m->batch_size = (int)cfg_int(cfg, "training.batch_size");

    Rng rng;
    rng_seed(&rng, seed);
    LayerBuilder lb = {&m->params, &m->sites, &rng};
    conv2d_init(&s->conv1, &lb, "conv1", 1, 8, 3, 1, 0, 0, (SiteSpec){0, SITE_FIRST, FOLLOW_RELU});
    conv2d_init(&s->conv2, &lb, "conv2", 8, 8, 3, 5, 0, 0, (SiteSpec){0, SITE_MIDDLE, FOLLOW_RELU});
    linear_init(&s->fc, &lb, "fc", 32, 10, 1, (SiteSpec){0, SITE_LAST, FOLLOW_NONE});

    load_split(&s->train, cfg, "train", (int)cfg_int(cfg, "dataset.train_limit"));
    load_split(&s->test, cfg, "test", (int)cfg_int(cfg, "dataset.test_limit"));
    s->order = qat_malloc((size_t)s->train.n * sizeof(int));
    s->batch_x = qat_malloc((size_t)m->batch_size * 784 * sizeof(float));
    s->batch_y = qat_malloc((size_t)m->batch_size * sizeof(int));
    m->train_batches = (s->train.n + m->batch_size - 1) / m->batch_size;
    m->begin_epoch = begin_epoch;
    m->train_loss = train_loss;
    m->evaluate = evaluate;
    m->free_data = free_data;
    m->eval_batches = eval_batches;
    m->eval_inputs = eval_inputs;
    m->eval_forward = eval_forward;
    m->eval_metrics = eval_metrics;
    m->export_onnx = export_onnx;
    return m;
}

static const char *const EVAL_INPUTS[] = {"image", NULL};
const ModelDef simple_cnn_model = {"simple_cnn", SCHEMA, "accuracy", create, EVAL_INPUTS, "logits"};
