/* One training step: the step `qat train` runs for every batch and bench/bench_step.c
 * times, so the benchmark measures exactly what users run. */
#ifndef QAT_RUN_TRAIN_STEP_H
#define QAT_RUN_TRAIN_STEP_H

#include "core/graph.h"
#include "io/config.h"
#include "models/model.h"
#include "nn/optim.h"

/* The optimizer and clipping a config sets: AdamW with training.lr, weight_decay and the
 * optional adam_beta1, adam_beta2, adam_eps; *grad_clip from training.grad_clip (0 = off). */
void train_step_setup(AdamW *opt, float *grad_clip, const Config *cfg);

/* Forward of training batch b (the model's train_loss, *correct / *count as there), then,
 * when the loss is finite: backward, global-norm gradient clipping (grad_clip > 0),
 * AdamW, the quantizers' clamp, zeroed gradients. Returns the loss; when it is not
 * finite nothing was updated and the graph still holds the forward. */
float train_step(Model *m, Graph *g, AdamW *opt, int b, float grad_clip, double *correct, double *count);

#endif
