#include "quant/method.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"

const CfgField quant_schema[] = {
    {"quantizer", "bit_width", CFG_INT, "4", NULL, "bits for weights and activations (2..16; 32 = off)"},
    {"quantizer", "weight_bits", CFG_INT, "0", NULL, "weight bits (0: bit_width)"},
    {"quantizer", "act_bits", CFG_INT, "0", NULL, "activation bits (0: bit_width)"},
    {"quantizer", "per_channel", CFG_BOOL, "false", NULL, "one weight scale per output row (LSQ, AdaRound)"},
    {"quantizer", "first_last", CFG_STRING, "8", "8|b|fp32", "first/last layer bits: 8, b or fp32"},
    {"quantizer", "alpha_init", CFG_STRING, "max", NULL, "PACT/APoT activation clip init: max (first batch) or a number"},
    {"quantizer", "lambda_alpha", CFG_FLOAT, "0.0001", ">= 0", "PACT L2 penalty on alpha"},
    {"quantizer", "weight_quantizer", CFG_STRING, "sawb", "sawb|dorefa", "PACT weights: sawb or dorefa"},
    {"quantizer", "denorm", CFG_BOOL, "true", NULL, "APoT: restore weight scale (sigma*q + mu)"},
    {"quantizer", "high_bits", CFG_STRING, "apot", "apot|uniform", "APoT at b >= 8: apot (generalised levels) or uniform"},
    {"quantizer", "rescale", CFG_BOOL, "true", NULL, "QIL: output S*D(T(x)) with S = c + d"},
    {"quantizer", "grid", CFG_STRING, "symmetric", "symmetric|asymmetric", "AdaRound weight grid: symmetric or asymmetric"},
    {"quantizer", "beta_schedule", CFG_STRING, "cosine", "cosine|linear", "AdaRound beta annealing: cosine or linear"},
    {"quantizer", "skip_at_bits", CFG_INT, "16", NULL, "AdaRound: round to nearest from this bit width up"},
    {"quantizer_optimizer", "num_iterations", CFG_INT, "0", ">= 0", "AdaRound iterations per layer (0: 10000 at b >= 8, else 15000)"},
    {"quantizer_optimizer", "batch_size", CFG_INT, "32", ">= 1", "AdaRound mini-batch"},
    {"quantizer_optimizer", "lr", CFG_FLOAT, "0.001", "> 0", "AdaRound Adam learning rate"},
    {"quantizer_optimizer", "lambda_reg", CFG_FLOAT, "0.01", ">= 0", "AdaRound rounding regulariser weight"},
    {"quantizer_optimizer", "max_samples", CFG_INT, "1024", ">= 1", "AdaRound calibration samples"},
    {NULL, NULL, 0, NULL, NULL, NULL},
};

Quantizer *quant_spec_alloc(const QuantizerOps *ops, const QuantSpec *spec) {
    return quantizer_alloc(ops, spec->bits, spec->is_signed, spec->is_weight, spec->per_channel);
}

static int valid_bits(long b) { return (b >= 2 && b <= 16) || b == 32; }

QuantBits quant_bits(QuantMaker make, const Config *cfg) {
    QuantBits qb = {32, 32};
    if (!make) return qb;
    long b = (long)cfg_int(cfg, "quantizer.bit_width");
    long wb = (long)cfg_int(cfg, "quantizer.weight_bits");
    long ab = (long)cfg_int(cfg, "quantizer.act_bits");
    if (!valid_bits(b)) qat_die("quantizer.bit_width must be 2..16 or 32 (got %ld)", b);
    if (wb && !valid_bits(wb)) qat_die("quantizer.weight_bits must be 2..16 or 32 (got %ld)", wb);
    if (ab && !valid_bits(ab)) qat_die("quantizer.act_bits must be 2..16 or 32 (got %ld)", ab);
    const char *fl = cfg_str(cfg, "quantizer.first_last");
    if (strcmp(fl, "8") && strcmp(fl, "b") && strcmp(fl, "fp32"))
        qat_die("quantizer.first_last must be 8, b or fp32 (got '%s')", fl);
    qb.weight_bits = (int)(wb ? wb : b);
    qb.act_bits = (int)(ab ? ab : b);
    return qb;
}

/* Bits of one site under the first/last policy; 32 = leave FP. */
static int site_bits(const QuantSite *s, int bits, const char *first_last) {
    if (bits == 32) return 32;
    if (s->position == SITE_MIDDLE || strcmp(first_last, "b") == 0) return bits;
    if (strcmp(first_last, "fp32") == 0) return 32;
    return bits < 8 ? 8 : bits;
}

void quant_attach(QuantMaker make, const Config *cfg, QuantSiteList *sites, ParamList *params) {
    if (!make) return;
    QuantBits qb = quant_bits(make, cfg);
    const char *fl = cfg_str(cfg, "quantizer.first_last");
    for (int i = 0; i < sites->n; i++) {
        QuantSite *s = sites->items[i];
        int weight = s->kind == SITE_WEIGHT;
        int bits = site_bits(s, weight ? qb.weight_bits : qb.act_bits, fl);
        if (bits == 32) continue;
        QuantSpec spec = {bits, s->is_signed, weight, weight && cfg_bool(cfg, "quantizer.per_channel"),
                          s->rows, cfg};
        s->q = make(&spec);
        for (int k = 0; k < s->q->nparams; k++) {
            Param *p = s->q->params[k];
            char name[256];
            int len = snprintf(name, sizeof name, "%s.%s_quant.%s", s->layer, weight ? "weight" : "input", p->name);
            QAT_ASSERT(len > 0 && (size_t)len < sizeof p->name);
            memcpy(p->name, name, (size_t)len + 1);
            param_list_add(params, p);
        }
    }
}

void quant_print_sites(const QuantSiteList *sites, FILE *f) {
    fprintf(f, "  %-20s %-7s %-5s %-9s %s\n", "layer", "tensor", "bits", "grid", "granularity");
    for (int i = 0; i < sites->n; i++) {
        const QuantSite *s = sites->items[i];
        char bits[8];
        if (s->q) snprintf(bits, sizeof bits, "%d", s->q->bits);
        else snprintf(bits, sizeof bits, "fp32");
        fprintf(f, "  %-20s %-7s %-5s %-9s %s\n", s->layer, s->kind == SITE_WEIGHT ? "weight" : "input",
                bits, !s->q ? "-" : (s->q->is_signed ? "signed" : "unsigned"),
                !s->q ? "-" : (s->q->per_channel ? "per-channel" : "per-tensor"));
    }
}

void quant_model_size(const QuantSiteList *sites, const ParamList *params, double *fp32_bytes,
                      double *quantized_bytes) {
    double fp = 0.0, qz = 0.0;
    for (int k = 0; k < params->n; k++) {
        const Param *p = params->items[k];
        if (p->group == PARAM_GROUP_QUANT) continue;
        fp += 4.0 * (double)p->t.size;
        const QuantSite *site = NULL;
        for (int i = 0; i < sites->n && !site; i++) {
            const QuantSite *s = sites->items[i];
            if (s->kind == SITE_WEIGHT && s->q && s->weight == p) site = s;
        }
        if (site) qz += (double)p->t.size * site->q->bits / 8.0 + 4.0 * (site->q->per_channel ? site->rows : 1);
        else qz += 4.0 * (double)p->t.size;
    }
    *fp32_bytes = fp;
    *quantized_bytes = qz;
}
