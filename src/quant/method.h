/* The quantizer makers of the methods, their config schema, and how a method is attached
 * to a model's quant sites under the project policy (docs/METHODS.md 0.3). The table of
 * methods by name is run/methods.h. */
#ifndef QAT_QUANT_METHOD_H
#define QAT_QUANT_METHOD_H

#include <stdint.h>
#include <stdio.h>

#include "core/param.h"
#include "core/quantizer.h"
#include "io/config.h"
#include "quant/quant_site.h"

/* What a method needs to build the quantizer of one site. */
typedef struct {
    int bits;          /* 2..16 */
    int is_signed;     /* activation grid sign (weights: always signed) */
    int is_weight;
    int per_channel;   /* weights only, for methods that support it */
    int rows;          /* output rows of the weight (per-channel granularity) */
    const Config *cfg; /* method options (quantizer.* keys) */
} QuantSpec;

/* A method's new quantizer on spec's grid (quantizer_alloc with the spec's fields). */
Quantizer *quant_spec_alloc(const QuantizerOps *ops, const QuantSpec *spec);

/* A method's quantizer of one site. */
typedef Quantizer *(*QuantMaker)(const QuantSpec *spec);

/* Every method's config keys (quantizer:, quantizer_optimizer:). */
extern const CfgField quant_schema[];

typedef struct {
    int weight_bits, act_bits; /* 32 for no quantization */
} QuantBits;

/* Bit widths of a config (weight_bits/act_bits default to bit_width; 32 without a
 * maker: no_quant).
 * Dies on an invalid bit width or first_last value. */
QuantBits quant_bits(QuantMaker make, const Config *cfg);

/* Creates the method's quantizers on every site (first/last policy P4 applied) and appends
 * their parameters to params, named "<layer>.<weight|input>_quant.<name>". */
void quant_attach(QuantMaker make, const Config *cfg, QuantSiteList *sites, ParamList *params);

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

#endif
