/* Parameters: tensors that live for the whole run, with their gradient and the
 * optimizer's moments. Each belongs to an optimizer group (weights, no-decay, quantizer
 * parameters), so quantizer scales can skip weight decay (docs/METHODS.md P9). */
#ifndef QAT_CORE_PARAM_H
#define QAT_CORE_PARAM_H

#include "core/tensor.h"

typedef enum {
    PARAM_GROUP_WEIGHT = 0, /* decayed by AdamW's weight decay */
    PARAM_GROUP_NO_DECAY,   /* biases, LayerNorm: no decay */
    PARAM_GROUP_QUANT,      /* quantizer parameters: own group, no decay */
    PARAM_GROUP_COUNT
} ParamGroup;

typedef struct {
    char name[96];
    Tensor t;  /* data + grad, both owned */
    float *m;  /* AdamW first moment */
    float *v;  /* AdamW second moment */
    ParamGroup group;
    int frozen; /* excluded from the optimizer (quantizer state buffers, AdaRound) */
    int loaded; /* set by checkpoint_load when the file held this parameter */
    float lr_scale; /* multiplies the group's learning rate (ESPCN's last layer: 0.1) */
} Param;

typedef struct {
    Param **items;
    int n, cap;
} ParamList;

Param *param_new(const char *name, int ndim, const int *shape, ParamGroup group);
void param_free(Param *p);

void param_list_add(ParamList *l, Param *p);
void param_list_free(ParamList *l, int free_params);
Param *param_list_find(const ParamList *l, const char *name);
void param_list_zero_grad(ParamList *l);
size_t param_list_count(const ParamList *l); /* number of float values */

#endif
