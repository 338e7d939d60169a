#include "run/train_step.h"

#include <math.h>

void train_step_setup(AdamW *opt, float *grad_clip, const Config *cfg) {
    adamw_init(opt, (float)cfg_float(cfg, "training.lr"), (float)cfg_float(cfg, "training.weight_decay"));
    opt->beta1 = (float)cfg_float_or(cfg, "training.adam_beta1", opt->beta1);
    opt->beta2 = (float)cfg_float_or(cfg, "training.adam_beta2", opt->beta2);
    opt->eps = (float)cfg_float_or(cfg, "training.adam_eps", opt->eps);
    *grad_clip = (float)cfg_float_or(cfg, "training.grad_clip", 0.0);
}

float train_step(Model *m, Graph *g, AdamW *opt, int b, float grad_clip, double *correct, double *count) {
    graph_reset(g);
    Tensor *loss = m->train_loss(m, g, b, correct, count);
    float value = loss->data[0];
    if (!isfinite(value)) return value;
    graph_backward(g, loss);
    if (grad_clip > 0.0f) clip_grad_norm(&m->params, grad_clip);
    adamw_step(opt, &m->params);
    quant_sites_clamp(&m->sites);
    param_list_zero_grad(&m->params);
    return value;
}
