#include "quant/method.h"

#include <string.h>

#include "core/error.h"

const CfgField quant_schema[] = {
    {"quantizer", "bit_width", CFG_INT, "4", "bits for weights and activations (2..16; 32 = off)"},
    {"quantizer", "weight_bits", CFG_INT, "0", "weight bits (0: bit_width)"},
    {"quantizer", "act_bits", CFG_INT, "0", "activation bits (0: bit_width)"},
    {"quantizer", "per_channel", CFG_BOOL, "false", "one weight scale per output row (LSQ, AdaRound)"},
    {"quantizer", "first_last", CFG_STRING, "8", "first/last layer bits: 8, b or fp32"},
    {"quantizer_optimizer", "num_iterations", CFG_INT, "1000", "AdaRound iterations per layer"},
    {"quantizer_optimizer", "batch_size", CFG_INT, "32", "AdaRound calibration batch"},
    {"quantizer_optimizer", "lr", CFG_FLOAT, "0.001", "AdaRound learning rate"},
    {"quantizer_optimizer", "lambda_reg", CFG_FLOAT, "0.01", "AdaRound rounding regulariser weight"},
    {"quantizer_optimizer", "max_samples", CFG_INT, "1024", "AdaRound calibration samples"},
    {NULL, NULL, 0, NULL, NULL},
};

static const QuantMethod METHODS[] = {
    {"no_quant", 1, 0}, {"lsq", 0, 0}, {"pact", 0, 0},
    {"adaround", 0, 1}, {"apot", 0, 0}, {"qil", 0, 0},
};
static const char *const NAMES[] = {"no_quant", "lsq", "pact", "adaround", "apot", "qil", NULL};

const QuantMethod *quant_method_find(const char *name) {
    for (size_t i = 0; i < sizeof METHODS / sizeof METHODS[0]; i++)
        if (strcmp(METHODS[i].name, name) == 0) return &METHODS[i];
    return NULL;
}

const char *const *quant_method_names(void) { return NAMES; }

static int valid_bits(long b) { return (b >= 2 && b <= 16) || b == 32; }

QuantBits quant_bits(const QuantMethod *qm, const Config *cfg) {
    QuantBits qb = {32, 32};
    if (strcmp(qm->name, "no_quant") == 0) return qb;
    long b = (long)cfg_int(cfg, "quantizer.bit_width");
    long wb = (long)cfg_int(cfg, "quantizer.weight_bits");
    long ab = (long)cfg_int(cfg, "quantizer.act_bits");
    if (!valid_bits(b)) qat_die("quantizer.bit_width must be 2..16 or 32 (got %ld)", b);
    if (wb && !valid_bits(wb)) qat_die("quantizer.weight_bits must be 2..16 or 32 (got %ld)", wb);
    if (ab && !valid_bits(ab)) qat_die("quantizer.act_bits must be 2..16 or 32 (got %ld)", ab);
    qb.weight_bits = (int)(wb ? wb : b);
    qb.act_bits = (int)(ab ? ab : b);
    return qb;
}

void quant_attach(const QuantMethod *qm, const Config *cfg, QuantSiteList *sites, ParamList *params) {
    (void)sites;
    (void)params;
    (void)cfg;
    if (!qm->available) qat_die("quantizer '%s' is not available yet in this version (available: no_quant)", qm->name);
}

void quant_print_sites(const QuantSiteList *sites, FILE *f) {
    fprintf(f, "%-16s %-7s %-5s %-8s %s\n", "layer", "tensor", "bits", "signed", "granularity");
    for (int i = 0; i < sites->n; i++) {
        const QuantSite *s = sites->items[i];
        char bits[8];
        if (s->q) snprintf(bits, sizeof bits, "%d", s->q->bits);
        else snprintf(bits, sizeof bits, "fp32");
        fprintf(f, "%-16s %-7s %-5s %-8s %s\n", s->layer, s->kind == SITE_WEIGHT ? "weight" : "input", bits,
                s->is_signed ? "signed" : "unsigned",
                !s->q ? "-" : (s->q->per_channel ? "per-channel" : "per-tensor"));
    }
}
