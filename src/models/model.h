/* A model, with the data it trains on and the metric it is judged by. The trainer in
 * run/ drives every model through this one interface:
 *   begin_epoch -> train_loss(batch 0..n-1) -> backward/step (trainer) -> evaluate.
 * Optional `training:` keys the trainer honours when a model's schema declares them:
 *   grad_clip (global-norm clipping, 0 = off), adam_beta1, adam_beta2, adam_eps,
 *   lr_decay_at (fraction of the epochs after which lr is multiplied by lr_decay_factor,
 *   0 = off), lr_decay_factor, eval_every (evaluate every N epochs and at the end).
 * Each model file (simple_cnn.c, ...) holds its parameters, its forward graph, its data
 * loading and its metrics, so it reads top to bottom like one training script. */
#ifndef QAT_MODELS_MODEL_H
#define QAT_MODELS_MODEL_H

#include "core/graph.h"
#include "core/param.h"
#include "export/onnx_export.h"
#include "io/config.h"
#include "io/npy.h"
#include "quant/quant_site.h"

#define METRICS_MAX 24

typedef struct {
    int n;
    char key[METRICS_MAX][40];
    double value[METRICS_MAX];
} Metrics;

void metrics_set(Metrics *m, const char *key, double value);
/* NaN when absent. */
double metrics_get(const Metrics *m, const char *key);

typedef struct Model Model;

typedef struct {
    const char *name;            /* "simple_cnn" */
    const CfgField *schema;      /* model:, dataset:, training: keys with defaults */
    const char *metric;          /* headline metric key in result.json ("accuracy") */
    Model *(*create)(const Config *cfg, uint64_t seed);
    /* The exported graph's inputs (NULL-terminated) and output, by name (docs/EXPORT.md). */
    const char *const *eval_inputs;
    const char *eval_output;
} ModelDef;

struct Model {
    const ModelDef *def;
    ParamList params;   /* every trainable tensor, quantizer parameters appended later */
    QuantSiteList sites;
    int train_batches;  /* per epoch */
    int batch_size;
    int has_val;        /* evaluate("val") picks the best epoch; then "test" is reported */
    Rng *rng;           /* the model's own stream drawn in train_loss (SASRec's negatives), or
                           NULL: a resume state saves it */
    /* Shuffle for epoch `epoch` (1-based; calibration and quantizer set-up pass 1). */
    void (*begin_epoch)(Model *m, Rng *rng, int epoch);
    /* Builds the forward graph of training batch b and returns the scalar loss.
     * *correct / *count: optional running training metric (may be NULL). */
    Tensor *(*train_loss)(Model *m, Graph *g, int b, double *correct, double *count);
    /* Evaluates on a split ("val" or "test") with g->training == 0. Long evaluations stop
     * early when runtime_stop_requested() (the trainer then discards the metrics). */
    void (*evaluate)(Model *m, Graph *g, const char *split, Metrics *out);
    /* Frees what the model file allocated (m->self and what it holds); model_free
     * calls it after the quantizers and the parameters, the model's in one place. */
    void (*free_data)(Model *m);
    /* Evaluation as arrays, for `qat export` and `qat eval` (NULL where a model has none):
     * the test split in eval_batches() batches; batch b's inputs are the exported graph's
     * (eval_inputs fills one array per def->eval_inputs name), eval_forward is qat's own
     * forward of them (g in evaluation mode), and eval_metrics scores the outputs of
     * every batch, whichever engine made them. A model's evaluate("test") goes through
     * these too, so a metric is computed in one place. */
    int (*eval_batches)(Model *m);
    void (*eval_inputs)(Model *m, int b, NpyArray *in);
    NpyArray (*eval_forward)(Model *m, Graph *g, const NpyArray *in);
    void (*eval_metrics)(Model *m, const NpyArray *out, Metrics *metrics);
    /* Writes the evaluation graph: inputs, layers through their sites, the output. */
    void (*export_onnx)(Model *m, OnnxExport *e);
    void *self;
};

/* Frees a model: its sites' quantizers, every parameter (quantizer parameters included),
 * its own data (free_data), the Model. */
void model_free(Model *m);
/* The number of the exported graph's inputs (def->eval_inputs). */
int model_eval_input_count(const ModelDef *d);
/* evaluate() through the array hooks: every batch's forward, then the metrics. */
void model_evaluate_arrays(Model *m, Graph *g, Metrics *out);

/* Registry */
const ModelDef *model_find(const char *name); /* NULL when unknown */
/* The names of the models built in, NULL-terminated, in the order the CLI lists them. */
const char *const *model_names(void);

#endif
