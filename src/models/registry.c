#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "models/model.h"

extern const ModelDef simple_cnn_model;

static const ModelDef *const MODELS[] = {&simple_cnn_model, NULL};
static const char *const NAMES[] = {"sasrec", "espcn", "lstm", "simple_cnn", NULL};

const ModelDef *model_find(const char *name) {
    for (int i = 0; MODELS[i]; i++)
        if (strcmp(MODELS[i]->name, name) == 0) return MODELS[i];
    return NULL;
}

const char *const *model_names(void) { return NAMES; }

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
