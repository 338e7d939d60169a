#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "models/model.h"

/* Each model file defines one ModelDef. They are weak references, so a build without a
 * model file still links and answers "not available yet" for it. */
extern const ModelDef simple_cnn_model __attribute__((weak));
extern const ModelDef lstm_model __attribute__((weak));
extern const ModelDef sasrec_model __attribute__((weak));
extern const ModelDef espcn_model __attribute__((weak));

static const char *const NAMES[] = {"sasrec", "espcn", "lstm", "simple_cnn", NULL};

const ModelDef *model_find(const char *name) {
    const ModelDef *all[] = {&simple_cnn_model, &lstm_model, &sasrec_model, &espcn_model};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i] && strcmp(all[i]->name, name) == 0) return all[i];
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
