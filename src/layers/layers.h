/* Layers: parameters + quant sites + the op. Building a layer registers its parameters
 * with the model's ParamList and declares its quant sites (docs/METHODS.md P1): the weight and
 * the input activation. The forward applies the sites, then the FP op on the quantized
 * tensors (docs/METHODS.md section 6). */
#ifndef QAT_LAYERS_LAYERS_H
#define QAT_LAYERS_LAYERS_H

#include "core/param.h"
#include "core/rng.h"
#include "nn/ops.h"
#include "quant/quant_site.h"

/* Where a layer's parameters and sites are registered. */
typedef struct {
    ParamList *params;
    QuantSiteList *sites;
    Rng *rng;
} LayerBuilder;

/* How a layer's sites are quantized: the input's sign, the layer's position in the
 * model, and the nonlinearity that follows it (for PTQ reconstruction). */
typedef struct {
    int input_signed;
    SitePosition position;
    FollowAct follow;
} SiteSpec;

typedef struct {
    Param *w, *b; /* w[out,in], b[out] or NULL */
    QuantSite wq, xq;
    int in, out;
} Linear;

typedef struct {
    Param *w, *b; /* w[out,in,k,k], b[out] or NULL */
    QuantSite wq, xq;
    int in, out, k, stride, pad;
} Conv2d;

typedef struct {
    Param *table; /* [rows, dim] */
    QuantSite wq; /* the table; lookups read indices, so no input site */
    int rows, dim, padding_idx;
} Embedding;

/* PyTorch default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias. */
void linear_init(Linear *l, LayerBuilder *lb, const char *name, int in, int out, int bias,
                 SiteSpec spec);
void conv2d_init(Conv2d *c, LayerBuilder *lb, const char *name, int in, int out, int k,
                 int stride, int pad, int bias, SiteSpec spec);
/* N(0,1) rows, padding row zeroed. */
void embedding_init(Embedding *e, LayerBuilder *lb, const char *name, int rows, int dim,
                    int padding_idx, SitePosition position);

/* x[M,in] -> [M,out]; batch: examples in x, for the input quantizer. */
Tensor *linear_forward(Graph *g, Linear *l, Tensor *x, int batch);
/* act on the output, fused; layout of x and the output (w is [out,in,k,k] in both). */
Tensor *conv2d_forward(Graph *g, Conv2d *c, Tensor *x, ConvAct act, ConvLayout layout);
Tensor *embedding_forward(Graph *g, Embedding *e, const int *ids, int n);

#endif
