/* Quant sites: every tensor a layer may quantize (its weight, its input activation).
 * A layer declares its sites when it is built; the model lists them, so the run can
 * print what is quantized and a quantization method only fills in `q`. */
#ifndef QAT_QUANT_QUANT_SITE_H
#define QAT_QUANT_QUANT_SITE_H

#include "core/graph.h"
#include "core/quantizer.h"
#include "nn/int_ops.h"

typedef enum { SITE_WEIGHT, SITE_INPUT } SiteKind;
typedef enum { SITE_MIDDLE, SITE_FIRST, SITE_LAST } SitePosition;
/* The op a site feeds, so PTQ (AdaRound) can rebuild the layer's output. LAYER_LSTM:
 * the sites of an LSTM layer (layers/lstm.h); each weight site is one gate product
 * x W^T + b of a direction, with that product's bias. */
typedef enum { LAYER_LINEAR, LAYER_CONV2D, LAYER_EMBEDDING, LAYER_LSTM } LayerKind;
/* The shape of the op: in/out features (channels for a conv) and a conv's kernel side,
 * stride and padding (0 for the others). */
typedef struct {
    int in, out, k, stride, pad;
} SiteGeometry;
/* The nonlinearity right after the layer (AdaRound's f_a). */
typedef enum { FOLLOW_NONE, FOLLOW_RELU, FOLLOW_TANH, FOLLOW_GELU } FollowAct;

/* A weight site's fake-quantized values as int8 codes x per-row scales (built once, when
 * the grid is exactly that: quant_site_int_weights), and the row ranges packed so far. */
typedef struct {
    int8_t *codes;
    float *scales;
    float offset; /* values = code * scale + offset (APoT's denormalised weights) */
    int rows, ok;
    struct {
        int r0, n;
        Int8Packed *p;
    } packed[4];
    int npacked;
} SiteIntWeights;

typedef struct QuantSite QuantSite;
struct QuantSite {
    char layer[64];
    SiteKind kind;
    int is_signed;         /* activation grid: unsigned iff provably >= 0 (P5) */
    SitePosition position; /* first/last layer policy (P4) */
    int rows;              /* per-channel rows for weights (dim 0) */
    LayerKind layer_kind;
    SiteGeometry geom;
    Param *weight;         /* the layer's weight parameter */
    Param *bias;           /* the op's bias, or NULL */
    FollowAct follow;
    QuantSite *partner;    /* the other site of the same layer (weight <-> input) */
    Quantizer *q;          /* NULL: FP32, the tensor passes unchanged (a calibration
                              captures a site's input by swapping q for its own) */
    SiteIntWeights *iw;    /* the integer engine's codes of a weight site, once built */
};

typedef struct {
    QuantSite **items;
    int n, cap;
} QuantSiteList;

void quant_site_declare(QuantSiteList *l, QuantSite *s, const char *layer, SiteKind kind,
                        int is_signed, SitePosition position, int rows);
/* Links a layer's weight and input sites (either may be NULL) and records what the
 * layer is. */
void quant_site_bind(QuantSite *w, QuantSite *x, LayerKind kind, SiteGeometry geom, Param *weight, Param *bias,
                     FollowAct follow);
/* After each optimizer step: keep every quantizer's parameters in range. */
void quant_sites_clamp(QuantSiteList *l);
/* Marks quantizers whose parameters all came from a checkpoint as initialised. */
void quant_sites_mark_loaded(QuantSiteList *l);
void quant_site_list_free(QuantSiteList *l);

/* The site's quantizer, initialised on x if this is its first use, for an op that
 * applies it itself (fused); NULL when the site is off. */
Quantizer *quant_site_ready(QuantSite *s, const Tensor *x, int batch, int training);

/* Rewrites a per-tensor export with the odd-symmetric level table levels[k] = 2k/L - 1
 * (PACT's SAWB and DoReFa weights: y = (2k - L) * scale / L) as codes 2k - L with the
 * scale scale / L, when y (the fake-quantized values) equals that exactly. Returns 1 when
 * ex now holds codes x scale with no levels, 0 (ex unchanged) otherwise. */
int quant_export_odd_grid(QuantExport *ex, size_t n, const float *y);

/* The integer engine's view of a site (evaluation only; weights must not change after):
 * the weight w's rows [r0, r0 + n) (n <= 0: all rows) as int8 codes packed for int8_gemm,
 * with their scales, checked value by value against the fake quantizer; a conv's codes
 * with K in (kh, kw, c) order, as op_conv2d_int's patches. Cached in the site. 0 when the
 * site is off or its values are not codes x scales in int8 (APoT's levels, PACT's SAWB
 * grid). */
int quant_site_int_weights(QuantSite *s, const Param *w, int r0, int n, IntWeightCodes *out);
/* Rows ids[0 .. n) of w's values from those codes, codes x scale (the fake quantizer's
 * values exactly, without quantizing the whole table): the integer engine's embedding
 * lookup. 0 (nothing written) when quant_site_int_weights has no codes. */
int quant_site_int_rows(QuantSite *s, const Param *w, const int *ids, int n, float *out);
/* x's codes under an activation site whose grid is integers times one scale, in 8 bits
 * (quant_int_grid: LSQ's and PACT's grids, QIL's, APoT's level sets): out->codes (in the
 * graph's arena) as int8 (out->is_signed) or uint8, with codes * out->scale the
 * fake-quantized values. 0 when the site is off or its grid is not such. */
int quant_site_int_codes(Graph *g, const QuantSite *s, const Tensor *x, IntCodes *out);

/* Fake-quantize x through the site (identity when the site has no quantizer).
 * batch: examples in x (1 for weights). Initialises the quantizer on first use. */
Tensor *quant_site_apply(Graph *g, QuantSite *s, Tensor *x, int batch);

#endif
