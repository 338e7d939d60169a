/* AdamW with decoupled weight decay and per-group settings, and global-norm clipping. */
#ifndef QAT_NN_OPTIM_H
#define QAT_NN_OPTIM_H

#include "core/param.h"

typedef struct {
    float lr;
    float weight_decay;
} OptimGroup;

typedef struct {
    float beta1, beta2, eps;
    OptimGroup group[PARAM_GROUP_COUNT];
    long t; /* steps taken */
} AdamW;

/* Defaults b1 0.9, b2 0.999, eps 1e-8; lr and wd for the weight group; the no-decay and
 * quantizer groups get the same lr with wd 0 (docs/METHODS.md P9). */
void adamw_init(AdamW *opt, float lr, float weight_decay);
/* Sets the learning rate of every group (schedules). */
void adamw_set_lr(AdamW *opt, float lr);
/* One step over every non-frozen parameter (lr x the param's lr_scale); gradients are
 * left as they are. */
void adamw_step(AdamW *opt, ParamList *params);

/* Scales all gradients so their global L2 norm is at most max_norm; returns the norm. */
float clip_grad_norm(ParamList *params, float max_norm);

#endif
