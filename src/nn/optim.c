#include "nn/optim.h"

#include <math.h>

void adamw_init(AdamW *opt, float lr, float weight_decay) {
    opt->beta1 = 0.9f;
    opt->beta2 = 0.999f;
    opt->eps = 1e-8f;
    opt->t = 0;
    for (int i = 0; i < PARAM_GROUP_COUNT; i++) opt->group[i] = (OptimGroup){lr, 0.0f};
    opt->group[PARAM_GROUP_WEIGHT].weight_decay = weight_decay;
}

void adamw_set_lr(AdamW *opt, float lr) {
    for (int i = 0; i < PARAM_GROUP_COUNT; i++) opt->group[i].lr = lr;
}

void adamw_step(AdamW *opt, ParamList *params) {
    opt->t++;
    float b1 = opt->beta1, b2 = opt->beta2;
    float c1 = 1.0f - powf(b1, (float)opt->t), c2 = 1.0f - powf(b2, (float)opt->t);
    for (int k = 0; k < params->n; k++) {
        Param *p = params->items[k];
        if (p->frozen) continue;
        OptimGroup gr = opt->group[p->group];
        float lr = gr.lr * p->lr_scale;
        float *w = p->t.data, *gd = p->t.grad, *m = p->m, *v = p->v;
        long n = (long)p->t.size;
#pragma omp parallel for schedule(static) if (n > 16384) /* a sqrt and a division per element */
        for (long i = 0; i < n; i++) {
            m[i] = b1 * m[i] + (1.0f - b1) * gd[i];
            v[i] = b2 * v[i] + (1.0f - b2) * gd[i] * gd[i];
            float mh = m[i] / c1, vh = v[i] / c2;
            /* torch.optim.AdamW: decay first (w *= 1 - lr*wd), then the Adam update. */
            w[i] = w[i] * (1.0f - lr * gr.weight_decay) - lr * mh / (sqrtf(vh) + opt->eps);
        }
    }
}

float clip_grad_norm(ParamList *params, float max_norm) {
    double sq = 0.0;
    for (int k = 0; k < params->n; k++) {
        const Param *p = params->items[k];
        for (size_t i = 0; i < p->t.size; i++) sq += (double)p->t.grad[i] * p->t.grad[i];
    }
    float norm = (float)sqrt(sq);
    if (norm > max_norm) {
        float s = max_norm / (norm + 1e-6f);
        for (int k = 0; k < params->n; k++) {
            Param *p = params->items[k];
            for (size_t i = 0; i < p->t.size; i++) p->t.grad[i] *= s;
        }
    }
    return norm;
}
