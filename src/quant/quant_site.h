/* Quant sites: every tensor a layer may quantize (its weight, its input activation).
 * A layer declares its sites when it is built; the model lists them, so the run can
 * print what is quantized and a quantization method only fills in `q`. */
#ifndef QAT_QUANT_QUANT_SITE_H
#define QAT_QUANT_QUANT_SITE_H

#include "core/graph.h"
#include "quant/quantizer.h"

typedef enum { SITE_WEIGHT, SITE_INPUT } SiteKind;
typedef enum { SITE_MIDDLE, SITE_FIRST, SITE_LAST } SitePosition;

typedef struct {
    char layer[64];
    SiteKind kind;
    int is_signed;         /* activation grid: unsigned iff provably >= 0 (P5) */
    SitePosition position; /* first/last layer policy (P4) */
    int rows;              /* per-channel rows for weights (dim 0) */
    Quantizer *q;          /* NULL: FP32, the tensor passes unchanged */
} QuantSite;

typedef struct {
    QuantSite **items;
    int n, cap;
} QuantSiteList;

void quant_site_declare(QuantSiteList *l, QuantSite *s, const char *layer, SiteKind kind,
                        int is_signed, SitePosition position, int rows);
void quant_site_list_free(QuantSiteList *l);

/* Fake-quantize x through the site (identity when the site has no quantizer).
 * batch: examples in x (1 for weights). Initialises the quantizer on first use. */
Tensor *quant_site_apply(Graph *g, QuantSite *s, Tensor *x, int batch);

#endif
