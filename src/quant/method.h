/* Quantization methods by name, their config schema, and how a method is attached to a
 * model's quant sites under the project policy (METHODS.md 0.3). */
#ifndef QAT_QUANT_METHOD_H
#define QAT_QUANT_METHOD_H

#include <stdint.h>
#include <stdio.h>

#include "core/graph.h"
#include "core/param.h"
#include "io/config.h"
#include "quant/quant_site.h"

/* How far a calibration got, after a finished step: what a resumed run continues from.
 * The quantizer parameters and the weights rounded so far are in the model's params. */
typedef struct {
    int inputs_done;    /* the input scales are set */
    int next_site;      /* the weight sites before this index are done */
    Rng rng;            /* the stream the next layer's seed comes from */
    long seen;          /* examples counted so far (for the final message) */
    float **fp_weights; /* [sites->n]: the FP weights of the sites rounded so far, else NULL */
} CalibProgress;

/* Training data for post-training calibration, as the run layer provides it: forward(b)
 * builds the model's forward graph of training batch b (g->training == 0), so the sites
 * that are capturing record their inputs. */
typedef struct {
    void (*forward)(void *ctx, Graph *g, int b);
    void *ctx;
    int nbatches;   /* batches available */
    int batch_size; /* examples per batch */
    /* Optional: save(ctx, p) after each finished step; poll(ctx) often, which does not
     * return when the run must stop (it keeps the last save). */
    void (*save)(void *ctx, const CalibProgress *p);
    void (*poll)(void *ctx);
    const CalibProgress *resume; /* NULL: from the start */
} CalibSource;

typedef struct {
    const char *name;
    int is_ptq; /* post-training: calibrate() instead of training */
    /* The quantizer of one site (weights or input activation). */
    Quantizer *(*make)(const QuantSpec *spec);
    /* PTQ only: fit the quantizers (and final weights) from calibration data. */
    void (*calibrate)(QuantSiteList *sites, ParamList *params, const Config *cfg,
                      CalibSource *src, uint64_t seed);
} QuantMethod;

/* Every method's config keys (quantizer:, quantizer_optimizer:). */
extern const CfgField quant_schema[];

const QuantMethod *quant_method_find(const char *name); /* NULL when unknown */
const char *const *quant_method_names(void);
int quant_method_is_none(const QuantMethod *qm);

typedef struct {
    int weight_bits, act_bits; /* 32 for no quantization */
} QuantBits;

/* Bit widths of a config (weight_bits/act_bits default to bit_width; 32 for no_quant).
 * Dies on an invalid bit width or first_last value. */
QuantBits quant_bits(const QuantMethod *qm, const Config *cfg);

/* Creates the method's quantizers on every site (first/last policy P4 applied) and appends
 * their parameters to params, named "<layer>.<weight|input>_quant.<name>". */
void quant_attach(const QuantMethod *qm, const Config *cfg, QuantSiteList *sites, ParamList *params);

/* The site table: layer, tensor, bits, signed, granularity. */
void quant_print_sites(const QuantSiteList *sites, FILE *f);

/* Model size in bytes: every parameter of the model as float32 (fp32), and with each
 * quantized weight packed at its bit width plus its scales (quantized). Quantizer
 * parameters are not model weights and count in neither. */
void quant_model_size(const QuantSiteList *sites, const ParamList *params, double *fp32_bytes,
                      double *quantized_bytes);

/* The methods (one file each). */
Quantizer *lsq_make(const QuantSpec *spec);
Quantizer *pact_make(const QuantSpec *spec);
Quantizer *apot_make(const QuantSpec *spec);
Quantizer *qil_make(const QuantSpec *spec);
Quantizer *adaround_make(const QuantSpec *spec);
void adaround_calibrate(QuantSiteList *sites, ParamList *params, const Config *cfg,
                        CalibSource *src, uint64_t seed);

#endif
