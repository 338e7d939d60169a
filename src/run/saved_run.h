/* A finished run, loaded back: its config, its model with the quantizers of its method and
 * the parameters of its checkpoint, as `qat export` and `qat eval` use it. */
#ifndef QAT_RUN_SAVED_RUN_H
#define QAT_RUN_SAVED_RUN_H

#include "io/config.h"
#include "io/run_store.h"
#include "models/model.h"
#include "run/methods.h"

typedef struct {
    char dir[1024];
    RunResult result; /* its result.json */
    const ModelDef *md;
    const QuantMethod *qm;
    Config cfg;
    Model *m;
} SavedRun;

/* Dies with one message when dir holds no finished run (no result.json), names an unknown
 * model or method, or its checkpoint does not fit the model. */
void saved_run_open(SavedRun *r, const char *dir);
void saved_run_close(SavedRun *r);

#endif
