#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/model.h"

/* Each model file defines one ModelDef. They are weak references, so a build without a
 * model file still links; the model is then neither listed nor found. Adding a model is
 * one entry in MODELS plus its file models/NAME.c. */
extern const ModelDef simple_cnn_model __attribute__((weak));
extern const ModelDef lstm_model __attribute__((weak));
extern const ModelDef sasrec_model __attribute__((weak));
extern const ModelDef espcn_model __attribute__((weak));

/* The model table, in the order the CLI lists them (the prototype's). */
static const ModelDef *const MODELS[] = {&sasrec_model, &espcn_model, &lstm_model, &simple_cnn_model};
#define NMODELS (sizeof MODELS / sizeof MODELS[0])

const ModelDef *model_find(const char *name) {
    for (size_t i = 0; i < NMODELS; i++)
        if (MODELS[i] && strcmp(MODELS[i]->name, name) == 0) return MODELS[i];
    return NULL;
}

const char *const *model_names(void) {
    static const char *names[NMODELS + 1];
    size_t n = 0;
    for (size_t i = 0; i < NMODELS; i++)
        if (MODELS[i]) names[n++] = MODELS[i]->name;
    return names;
}

void model_free(Model *m) {
    if (!m) return;
    quant_site_list_free(&m->sites); /* the sites live in m->self: before free_data */
    param_list_free(&m->params, 1);
    if (m->free_data) m->free_data(m);
    free(m);
}

void metrics_set(Metrics *m, const char *key, double value) {
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->key[i], key) == 0) {
            m->value[i] = value;
            return;
        }
    QAT_ASSERT(m->n < METRICS_MAX);
    snprintf(m->key[m->n], sizeof m->key[0], "%s", key);
    m->value[m->n++] = value;
}

double metrics_get(const Metrics *m, const char *key) {
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->key[i], key) == 0) return m->value[i];
    return NAN;
}
