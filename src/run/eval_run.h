/* `qat eval`: a finished run's evaluation split through one engine, or the outputs another
 * engine made from the inputs qat dumped (docs/EXPORT.md). */
#ifndef QAT_RUN_EVAL_RUN_H
#define QAT_RUN_EVAL_RUN_H

#include "run/saved_run.h"

typedef enum { ENGINE_FP32, ENGINE_FAKEQUANT, ENGINE_INT } EvalEngine;

typedef struct {
    EvalEngine engine;
    const char *dump_dir;    /* also write every batch's inputs and the engine's outputs here */
    const char *outputs_dir; /* score these outputs (BBBBB_OUTPUT.npy) instead of running an engine */
} EvalOptions;

extern const char *const EVAL_ENGINE_NAMES[]; /* "fp32", "fakequant", "int", NULL */

/* Evaluates and writes RUN_DIR/eval_ENGINE.json (eval_outputs.json for given outputs):
 * the metrics, the number of samples, the wall time. */
void eval_run(SavedRun *r, const EvalOptions *o, Metrics *out);

#endif
