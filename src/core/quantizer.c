#include "core/quantizer.h"

#include <stdlib.h>

#include "core/error.h"

Quantizer *quantizer_alloc(const QuantizerOps *ops, int bits, int is_signed, int is_weight, int per_channel) {
    Quantizer *q = qat_calloc(1, sizeof *q);
    q->ops = ops;
    q->bits = bits;
    q->is_signed = is_weight ? 1 : is_signed;
    q->is_weight = is_weight;
    q->per_channel = is_weight && per_channel;
    return q;
}

Param *quantizer_add_param(Quantizer *q, const char *name, int size, int frozen, float init) {
    QAT_ASSERT(q->nparams < QUANT_MAX_PARAMS && size >= 1);
    Param *p = param_new(name, 1, &size, PARAM_GROUP_QUANT);
    p->frozen = frozen;
    for (int i = 0; i < size; i++) p->t.data[i] = init;
    q->params[q->nparams++] = p;
    return p;
}

void quantizer_free(Quantizer *q) {
    if (!q) return;
    if (q->ops->destroy) q->ops->destroy(q);
    free(q);
}
