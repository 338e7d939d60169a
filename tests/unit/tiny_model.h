/* A small fixed Model to load checkpoints and resume states into, without data: a weight
 * "fc.weight" [2, 3], a bias "fc.bias" [3] and a frozen quantizer parameter
 * "fc.weight.step" [1]; a weight quant site with a quantizer (never run) and an input
 * site without; 7 training batches per epoch. Used by test_resume_state and the
 * tests/fuzz/fuzz_state harness. */
#ifndef QAT_TESTS_TINY_MODEL_H
#define QAT_TESTS_TINY_MODEL_H

#include "models/model.h"

extern const ModelDef TINY_MODEL_DEF; /* "tiny" */

/* The model, built on the first call. */
Model *tiny_model(void);
/* The weight site's quantizer (a resume state sets its `initialized`). */
Quantizer *tiny_model_weight_quantizer(void);

#endif
