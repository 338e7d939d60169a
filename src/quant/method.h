/* Quantization methods by name, their config schema, and how a method is attached to a
 * model's quant sites under the project policy (METHODS.md 0.3). */
#ifndef QAT_QUANT_METHOD_H
#define QAT_QUANT_METHOD_H

#include <stdio.h>

#include "core/param.h"
#include "io/config.h"
#include "quant/quant_site.h"

typedef struct {
    const char *name;
    int available; /* 0: known name, not built yet */
    int is_ptq;    /* post-training (AdaRound): calibrates instead of training */
} QuantMethod;

/* Every method's config keys (quantizer:, quantizer_optimizer:). */
extern const CfgField quant_schema[];

const QuantMethod *quant_method_find(const char *name); /* NULL when unknown */
const char *const *quant_method_names(void);

typedef struct {
    int weight_bits, act_bits; /* 32 for no quantization */
} QuantBits;

/* Bit widths of a config (weight_bits/act_bits default to bit_width; 32 for no_quant).
 * Dies on an invalid bit width. */
QuantBits quant_bits(const QuantMethod *qm, const Config *cfg);

/* Creates the method's quantizers on every site (first/last policy applied) and appends
 * their learnable parameters to params. no_quant attaches nothing. */
void quant_attach(const QuantMethod *qm, const Config *cfg, QuantSiteList *sites, ParamList *params);

/* The site table: layer, tensor, bits, signed, granularity. */
void quant_print_sites(const QuantSiteList *sites, FILE *f);

#endif
