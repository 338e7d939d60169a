/* ESPCN x3 super-resolution (docs/METHODS.md 7.3; the recipe of docs/BASELINES.md that reached
 * Set5 32.4 dB in PyTorch):
 *   x [B,1,h,w]  LR luminance in [0,1]
 *   conv1 5x5 1->64, pad 2, tanh
 *   conv2 3x3 64->32, pad 1, tanh
 *   conv3 3x3 32->9, pad 1
 *   pixel shuffle 3 -> [B,1,3h,3w]; MSE against the HR luminance in [0,1]
 * Init N(0, sqrt(2/(out k k))) for conv1/conv2, N(0, 1e-3) for conv3, zero biases; Adam
 * (AdamW with weight decay 0), conv3 at a tenth of the learning rate.
 * Data (data/sr.h): 17x17 LR patches every 7 LR pixels of T91 (optionally + BSD200), one
 * random dihedral transform per batch; the last partial batch is dropped (136 steps of
 * 64 per epoch on T91, as the PyTorch recipe).
 * Evaluation on whole images of Set5, Set14, BSD100: PSNR on Y (metrics/psnr.h) of the
 * model and of bicubic upscaling.
 * Quant sites: conv1 (first; input unsigned, the image), conv2 (input signed: tanh),
 * conv3 (last; input signed: tanh).
 * Speed: training runs channels last with conv2 and conv3 as Winograd F(6x6, 3x3) and
 * tanh fused into the convs (model.winograd, the default; nn/conv2d.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/fetch.h"
#include "data/sr.h"
#include "data/sr_source.h"
#include "io/atomic_file.h"
#include "layers/layers.h"
#include "metrics/psnr.h"
#include "models/model.h"
#include "nn/ops.h"

extern const ModelDef espcn_model;

static const CfgField SCHEMA[] = {
    {"model", "scale", CFG_INT, "3", "1..8", "upscaling factor r (conv3 has r^2 outputs)"},
    {"model", "features1", CFG_INT, "64", NULL, "conv1 output channels"},
    {"model", "features2", CFG_INT, "32", NULL, "conv2 output channels"},
    {"model", "init", CFG_STRING, "normal", "normal|pytorch",
     "normal: N(0, sqrt(2/(out k k))) conv1/conv2, N(0, 1e-3) conv3, zero biases; pytorch: PyTorch default"},
    {"model", "last_lr_scale", CFG_FLOAT, "0.1", ">= 0", "conv3's learning rate relative to training.lr"},
    {"model", "winograd", CFG_BOOL, "true", NULL,
     "train channels last, conv2 and conv3 as Winograd F(6x6, 3x3) (false: NCHW direct convs; evaluation is direct)"},
    {"dataset", "root_dir", CFG_STRING, "data/sr", NULL, "folder with yang91.tar.gz, bsd200.tar.gz, bsd100.tar.gz, Set5/, Set14/"},
    {"dataset", "download", CFG_BOOL, "true", NULL, "fetch (mirror or official URL) and verify when missing"},
    {"dataset", "train_dir", CFG_STRING, "", NULL, "train on the .png/.bmp images of this folder instead of T91"},
    {"dataset", "bsd200", CFG_BOOL, "false", NULL, "add BSD200 to the training images (T91 + BSD200 = 291)"},
    {"dataset", "patch_size", CFG_INT, "17", ">= 1", "LR patch side (the HR patch is scale times larger)"},
    {"dataset", "stride", CFG_INT, "7", ">= 1", "LR pixels between patches"},
    {"dataset", "augment", CFG_BOOL, "true", NULL, "a random flip/rotation (dihedral) per batch"},
    {"dataset", "train_limit", CFG_INT, "0", ">= 0", "use only the first N patches (0: all)"},
    {"dataset", "gray_as_y", CFG_BOOL, "false", NULL,
     "grayscale images are Y itself (SRCNN code) instead of R = G = B (docs/METHODS.md 8.4)"},
    {"dataset", "cache", CFG_BOOL, "true", NULL, "keep prepared sets in DATA_ROOT/sr/cache (verified data only)"},
    {"evaluation", "sets", CFG_STRING, "set5,set14,bsd100", NULL, "comma-separated test sets: set5, set14, bsd100"},
    {"evaluation", "border", CFG_INT, "-1", NULL, "pixels cut from every side for PSNR (-1: the scale)"},
    {"evaluation", "round_uint8", CFG_BOOL, "true", NULL, "round the output to 8 bits before PSNR (MATLAB style)"},
    {"evaluation", "save_images", CFG_STRING, "", NULL, "write the super-resolved Y planes as PNG into this folder"},
    {"training", "batch_size", CFG_INT, "64", ">= 1", "patches per step"},
    {"training", "epochs", CFG_INT, "150", ">= 0", "passes over the training patches"},
    {"training", "lr", CFG_FLOAT, "0.001", NULL, "Adam learning rate (conv3: times model.last_lr_scale)"},
    {"training", "weight_decay", CFG_FLOAT, "0.0", NULL, "AdamW decoupled weight decay (0: Adam)"},
    {"training", "lr_decay_at", CFG_FLOAT, "0.8", NULL, "fraction of the epochs after which lr is multiplied by lr_decay_factor"},
    {"training", "lr_decay_factor", CFG_FLOAT, "0.1", NULL, "step decay factor"},
    {"training", "eval_every", CFG_INT, "10", ">= 1", "evaluate every N epochs (and after the last)"},
    {NULL, NULL, 0, NULL, NULL, NULL},
};

#define MAX_TEST 3

typedef struct {
    Conv2d conv1, conv2, conv3;
    int scale, psize, augment;
    int winograd;           /* train channels last, conv2 and conv3 as Winograd */
    SrSet train;
    SrPatches patches;
    int ntest;
    char test_name[MAX_TEST][16];
    SrSet test[MAX_TEST];
    double bicubic[MAX_TEST]; /* mean bicubic PSNR of each test set */
    int border, round8;
    char save_dir[512];
    int *order;             /* patch order of this epoch */
    unsigned char *tform;   /* dihedral transform of each batch */
    float *bx, *by;         /* gathered batch: LR [B,1,p,p], HR [B,1,rp,rp] */
} Espcn;

/* x [B,1,h,w] (the same array as [B,h,w,1]) -> [B,1,rh,rw]. Training with
 * model.winograd runs channels last, where conv2 and conv3 take Winograd (nn/conv2d.c);
 * evaluation runs NCHW, whose whole-image convs split rows over the threads; the
 * integer engine channels last, whose patches copy channel runs. */
static Tensor *forward(Espcn *s, Graph *g, float *x, int B, int h, int w) {
    int nhwc = (s->winograd && g->training) || g->integer;
    ConvLayout layout = nhwc ? CONV_NHWC : CONV_NCHW;
    int shape[4] = {B, nhwc ? h : 1, nhwc ? w : h, nhwc ? 1 : w};
    Tensor *t = graph_input(g, x, 4, shape);
    t = conv2d_forward(g, &s->conv1, t, CONV_ACT_TANH, layout);
    t = conv2d_forward(g, &s->conv2, t, CONV_ACT_TANH, layout);
    t = conv2d_forward(g, &s->conv3, t, CONV_ACT_NONE, layout);
    return (nhwc ? op_pixel_shuffle_nhwc : op_pixel_shuffle)(g, t, s->scale);
}

static void begin_epoch(Model *m, Rng *rng, int epoch) {
    (void)epoch; /* every epoch shuffles the same way */
    Espcn *s = m->self;
    for (int i = 0; i < s->patches.n; i++) s->order[i] = i;
    rng_shuffle(rng, s->order, (size_t)s->patches.n);
    for (int b = 0; b < m->train_batches; b++) s->tform[b] = s->augment ? (unsigned char)rng_below(rng, 8) : 0;
}

static Tensor *train_loss(Model *m, Graph *g, int b, double *correct, double *count) {
    (void)correct;
    (void)count; /* no training accuracy for regression */
    Espcn *s = m->self;
    int start = b * m->batch_size;
    int B = s->patches.n - start < m->batch_size ? s->patches.n - start : m->batch_size;
    int p = s->psize, hp = p * s->scale;
#pragma omp parallel for schedule(static) /* the threads would otherwise wait for one */
    for (int i = 0; i < B; i++)
        sr_patch_get(&s->train, &s->patches.p[s->order[start + i]], p, s->tform[b],
                     s->bx + (size_t)i * p * p, s->by + (size_t)i * hp * hp);
    Tensor *y = forward(s, g, s->bx, B, p, p);
    return op_mse(g, y, s->by);
}

static void save_png(const char *dir, const char *set, const SrImage *im, const float *y) {
    const char *base = strrchr(im->name, '/');
    base = base ? base + 1 : im->name;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, set);
    make_dirs(path);
    snprintf(path, sizeof path, "%s/%s/%.*s.png", dir, set, (int)(strcspn(base, ".")), base);
    unsigned char *px = qat_malloc((size_t)im->h * im->w);
    for (size_t i = 0; i < (size_t)im->h * im->w; i++) {
        float v = y[i] < 0.0f ? 0.0f : y[i] > 1.0f ? 1.0f : y[i];
        px[i] = (unsigned char)floorf(v * 255.0f + 0.5f);
    }
    image_write_png_gray(path, px, im->w, im->h);
    free(px);
}

/* ---- evaluation as arrays: every test image in turn, lr [1,1,h,w] -> hr [1,1,3h,3w] ---- */

static int eval_batches(Model *m) {
    Espcn *s = m->self;
    int n = 0;
    for (int k = 0; k < s->ntest; k++) n += s->test[k].n;
    return n;
}

/* Image b of the sets in order. */
static const SrImage *eval_image(Espcn *s, int b) {
    for (int k = 0; k < s->ntest; k++) {
        if (b < s->test[k].n) return &s->test[k].img[b];
        b -= s->test[k].n;
    }
    QAT_ASSERT(0);
    return NULL;
}

static void eval_inputs(Model *m, int b, NpyArray *in) {
    Espcn *s = m->self;
    const SrImage *im = eval_image(s, b);
    int h = im->h / s->scale, w = im->w / s->scale;
    in[0] = npy_new(NPY_F32, 4, (const int64_t[]){1, 1, h, w});
    memcpy(in[0].data, im->lr, (size_t)h * w * sizeof(float));
}

static NpyArray eval_forward(Model *m, Graph *g, const NpyArray *in) {
    Espcn *s = m->self;
    int h = (int)in[0].shape[2], w = (int)in[0].shape[3];
    Tensor *y = forward(s, g, in[0].data, 1, h, w);
    NpyArray out = npy_new(NPY_F32, 4, (const int64_t[]){1, 1, h * s->scale, w * s->scale});
    memcpy(out.data, y->data, y->size * sizeof(float));
    return out;
}

/* PSNR of each image, averaged per set. "loss" is the mean MSE (on [0,1], unclipped)
 * over the first set's images, the training objective. */
static void eval_metrics(Model *m, const NpyArray *out, Metrics *metrics) {
    Espcn *s = m->self;
    double loss = 0.0;
    int b = 0;
    for (int k = 0; k < s->ntest; k++) {
        const SrSet *set = &s->test[k];
        double sum = 0.0;
        for (int i = 0; i < set->n; i++, b++) {
            const SrImage *im = &set->img[i];
            if (out[b].type != NPY_F32 || out[b].ndim != 4 || out[b].shape[0] != 1 || out[b].shape[1] != 1 ||
                out[b].shape[2] != im->h || out[b].shape[3] != im->w)
                qat_die("espcn: the output of image %d (%s) must be float32 [1, 1, %d, %d]", b, im->name, im->h, im->w);
            const float *y = out[b].data;
            size_t n = (size_t)im->h * im->w;
            sum += psnr_y(y, im->hr, im->h, im->w, s->border, s->round8);
            if (k == 0) {
                double e = 0.0;
                for (size_t j = 0; j < n; j++) {
                    double d = y[j] - im->hr[j] / 255.0;
                    e += d * d;
                }
                loss += e / (double)n / set->n;
            }
            if (s->save_dir[0]) save_png(s->save_dir, s->test_name[k], im, y);
        }
        char key[40];
        snprintf(key, sizeof key, "psnr_%s", s->test_name[k]);
        metrics_set(metrics, key, sum / set->n);
        snprintf(key, sizeof key, "psnr_%s_bicubic", s->test_name[k]);
        metrics_set(metrics, key, s->bicubic[k]);
    }
    if (s->ntest > 0) metrics_set(metrics, "loss", loss);
}

static void evaluate(Model *m, Graph *g, const char *split, Metrics *out) {
    (void)split; /* the SR benchmarks are test sets; there is no validation split */
    model_evaluate_arrays(m, g, out);
    graph_reset(g);
}

static void export_onnx(Model *m, OnnxExport *e) {
    Espcn *s = m->self;
    onnx_input(e->g, "lr", ONNX_FLOAT, "N,1,H,W");
    const char *t = export_conv2d(e, &s->conv1, "lr", CONV_ACT_TANH);
    t = export_conv2d(e, &s->conv2, t, CONV_ACT_TANH);
    t = export_conv2d(e, &s->conv3, t, CONV_ACT_NONE);
    /* PixelShuffle's channel order is DepthToSpace's CRD mode */
    OnnxAttr at[2] = {ONNX_ATTR_I("blocksize", s->scale), ONNX_ATTR_S("mode", "CRD")};
    t = onnx_opa(e->g, "DepthToSpace", 1, &t, 2, at);
    onnx_output_from(e->g, t, "hr", ONNX_FLOAT, "N,1,HR,WR");
}

static void free_data(Model *m) {
    Espcn *s = m->self;
    sr_set_free(&s->train);
    sr_patches_free(&s->patches);
    for (int k = 0; k < s->ntest; k++) sr_set_free(&s->test[k]);
    free(s->order);
    free(s->tform);
    free(s->bx);
    free(s->by);
    free(s);
}

/* ---- data --------------------------------------------------------------------------- */

static void load_set(SrSet *s, const Config *cfg, const char *name) {
    const char *root = cfg_str(cfg, "dataset.root_dir");
    int verified = data_location_is_verified(root, "data/sr", cfg_bool(cfg, "dataset.download"));
    sr_source_load(s, name, verified ? NULL : root, verified && cfg_bool(cfg, "dataset.cache"));
}

static double bicubic_psnr(const SrSet *set, int border, int round8) {
    double *each = qat_malloc((size_t)set->n * sizeof(double));
#pragma omp parallel for schedule(dynamic)
    for (int i = 0; i < set->n; i++) {
        const SrImage *im = &set->img[i];
        float *up = qat_malloc((size_t)im->h * im->w * sizeof(float));
        sr_bicubic_up(set, im, up);
        each[i] = psnr_y(up, im->hr, im->h, im->w, border, round8);
        free(up);
    }
    double sum = 0.0; /* in image order: the same value for any thread count */
    for (int i = 0; i < set->n; i++) sum += each[i];
    free(each);
    return sum / set->n;
}

static void load_data(Espcn *s, const Config *cfg) {
    int gray = cfg_bool(cfg, "dataset.gray_as_y");
    sr_set_init(&s->train, s->scale, gray);
    const char *train_dir = cfg_str(cfg, "dataset.train_dir");
    if (train_dir[0]) {
        sr_set_add_dir(&s->train, train_dir);
    } else {
        load_set(&s->train, cfg, "t91");
        if (cfg_bool(cfg, "dataset.bsd200")) {
            SrSet extra;
            sr_set_init(&extra, s->scale, gray);
            load_set(&extra, cfg, "bsd200");
            for (int i = 0; i < extra.n; i++) { /* move the images over */
                SrImage *im = &extra.img[i];
                if (s->train.n == s->train.cap) {
                    s->train.cap = 2 * s->train.cap + extra.n;
                    s->train.img = qat_realloc(s->train.img, (size_t)s->train.cap * sizeof *s->train.img);
                }
                s->train.img[s->train.n++] = *im;
            }
            free(extra.img);
        }
    }
    int stride = (int)cfg_int(cfg, "dataset.stride");
    sr_patches_index(&s->patches, &s->train, s->psize, stride);
    int hp = s->psize * s->scale;
    if (s->patches.skipped)
        printf("espcn: skipped %d of %d training images smaller than one %dx%d HR patch\n",
               s->patches.skipped, s->train.n, hp, hp);
    if (s->patches.n == 0)
        qat_die("no training patch: all %d training images are smaller than one %dx%d HR patch "
                "(dataset.patch_size %d x model.scale %d)", s->train.n, hp, hp, s->psize, s->scale);
    int limit = (int)cfg_int(cfg, "dataset.train_limit");
    if (limit > 0 && limit < s->patches.n) s->patches.n = limit;

    /* Test sets named in evaluation.sets. */
    const char *list = cfg_str(cfg, "evaluation.sets");
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ", ");
        if (len > 0) {
            char name[16];
            if (len >= sizeof name) len = sizeof name - 1;
            memcpy(name, p, len);
            name[len] = '\0';
            if (!sr_source_is_test_set(name))
                qat_die("evaluation.sets: unknown test set '%s' (known: set5, set14, bsd100)", name);
            for (int k = 0; k < s->ntest; k++)
                if (strcmp(s->test_name[k], name) == 0) qat_die("evaluation.sets lists '%s' twice", name);
            QAT_ASSERT(s->ntest < MAX_TEST);
            snprintf(s->test_name[s->ntest], sizeof s->test_name[0], "%s", name);
            sr_set_init(&s->test[s->ntest], s->scale, gray);
            load_set(&s->test[s->ntest], cfg, name);
            for (int i = 0; i < s->test[s->ntest].n; i++) {
                const SrImage *im = &s->test[s->ntest].img[i];
                if (im->h <= 2 * s->border || im->w <= 2 * s->border)
                    qat_die("%s: a %dx%d test image leaves nothing after cutting a %d-pixel border",
                            im->name, im->w, im->h, s->border);
            }
            s->bicubic[s->ntest] = bicubic_psnr(&s->test[s->ntest], s->border, s->round8);
            s->ntest++;
        }
        p += len;
        while (*p == ',' || *p == ' ') p++;
    }
    printf("espcn: %d training patches (LR %dx%d, stride %d) from %d images; bicubic x%d PSNR:",
           s->patches.n, s->psize, s->psize, stride, s->train.n - s->patches.skipped, s->scale);
    for (int k = 0; k < s->ntest; k++) printf(" %s %.2f dB", s->test_name[k], s->bicubic[k]);
    printf("\n");
}

/* ---- model -------------------------------------------------------------------------- */

static void init_normal(Conv2d *c, Rng *rng, double std) {
    for (size_t i = 0; i < c->w->t.size; i++) c->w->t.data[i] = (float)(std * rng_normal(rng));
    memset(c->b->t.data, 0, c->b->t.size * sizeof(float));
}

static Model *create(const Config *cfg, uint64_t seed) {
    Model *m = qat_calloc(1, sizeof *m);
    Espcn *s = qat_calloc(1, sizeof *s);
    m->def = &espcn_model;
    m->self = s;
    m->batch_size = (int)cfg_int(cfg, "training.batch_size");
    s->scale = (int)cfg_int(cfg, "model.scale");
    s->psize = (int)cfg_int(cfg, "dataset.patch_size");
    int f1 = (int)cfg_int(cfg, "model.features1"), f2 = (int)cfg_int(cfg, "model.features2");
    if (f1 < 1 || f2 < 1) qat_die("model.features1 and model.features2 must be >= 1");
    s->augment = cfg_bool(cfg, "dataset.augment");
    s->border = (int)cfg_int(cfg, "evaluation.border");
    if (s->border < 0) s->border = s->scale;
    s->round8 = cfg_bool(cfg, "evaluation.round_uint8");
    s->winograd = cfg_bool(cfg, "model.winograd");
    snprintf(s->save_dir, sizeof s->save_dir, "%s", cfg_str(cfg, "evaluation.save_images"));

    Rng rng;
    rng_seed(&rng, seed);
    LayerBuilder lb = {&m->params, &m->sites, &rng};
    int r2 = s->scale * s->scale;
    conv2d_init(&s->conv1, &lb, "conv1", 1, f1, 5, 1, 2, 1, (SiteSpec){0, SITE_FIRST, FOLLOW_TANH});
    conv2d_init(&s->conv2, &lb, "conv2", f1, f2, 3, 1, 1, 1, (SiteSpec){1, SITE_MIDDLE, FOLLOW_TANH});
    conv2d_init(&s->conv3, &lb, "conv3", f2, r2, 3, 1, 1, 1, (SiteSpec){1, SITE_LAST, FOLLOW_NONE});
    const char *init = cfg_str(cfg, "model.init");
    if (strcmp(init, "normal") == 0) {
        init_normal(&s->conv1, &rng, sqrt(2.0 / (f1 * 25)));
        init_normal(&s->conv2, &rng, sqrt(2.0 / (f2 * 9)));
        init_normal(&s->conv3, &rng, 1e-3);
    } /* else pytorch: the layers' own init (the schema allows nothing else) */
    float last = (float)cfg_float(cfg, "model.last_lr_scale");
    s->conv3.w->lr_scale = last;
    s->conv3.b->lr_scale = last;

    load_data(s, cfg);
    int n = s->patches.n;
    /* Drop the last partial batch (the PyTorch recipe's DataLoader, drop_last). */
    m->train_batches = n >= m->batch_size ? n / m->batch_size : 1;
    if (n < m->batch_size) m->batch_size = n;
    int hp = s->psize * s->scale;
    s->order = qat_malloc((size_t)n * sizeof(int));
    s->tform = qat_calloc((size_t)m->train_batches, 1);
    s->bx = qat_malloc((size_t)m->batch_size * s->psize * s->psize * sizeof(float));
    s->by = qat_malloc((size_t)m->batch_size * hp * hp * sizeof(float));
    m->begin_epoch = begin_epoch;
    m->train_loss = train_loss;
    m->evaluate = evaluate;
    m->eval_batches = eval_batches;
    m->eval_inputs = eval_inputs;
    m->eval_forward = eval_forward;
    m->eval_metrics = eval_metrics;
    m->export_onnx = export_onnx;
    m->free_data = free_data;
    return m;
}

static const char *const EVAL_INPUTS[] = {"lr", NULL};
const ModelDef espcn_model = {"espcn", SCHEMA, "psnr_set5", create, EVAL_INPUTS, "hr"};
