#include <stdlib.h>

#include "core/error.h"
#include "core/runtime.h"
#include "models/model.h"

int model_eval_input_count(const ModelDef *d) {
    int n = 0;
    while (d->eval_inputs && d->eval_inputs[n]) n++;
    return n;
}

void model_evaluate_arrays(Model *m, Graph *g, Metrics *out) {
    int nb = m->eval_batches(m), nin = model_eval_input_count(m->def);
    QAT_ASSERT(nin >= 1 && nin <= 4);
    NpyArray *outs = qat_calloc((size_t)(nb ? nb : 1), sizeof *outs);
    for (int b = 0; b < nb; b++) {
        if (runtime_stop_requested()) { /* cut short: the caller discards the metrics */
            for (int k = 0; k < b; k++) npy_free(&outs[k]);
            free(outs);
            return;
        }
        NpyArray in[4];
        graph_reset(g);
        m->eval_inputs(m, b, in);
        outs[b] = m->eval_forward(m, g, in);
        for (int i = 0; i < nin; i++) npy_free(&in[i]);
    }
    m->eval_metrics(m, outs, out);
    for (int b = 0; b < nb; b++) npy_free(&outs[b]);
    free(outs);
}
