#include "run/methods.h"

#include <string.h>

#include "ptq/adaround.h"

static const QuantMethod METHODS[] = {
    {"no_quant", "No quant", 0, NULL, NULL},
    {"lsq", "LSQ", 0, lsq_make, NULL},
    {"pact", "PACT", 0, pact_make, NULL},
    {"adaround", "AdaRound", 1, adaround_make, adaround_calibrate},
    {"apot", "APoT", 0, apot_make, NULL},
    {"qil", "QIL", 0, qil_make, NULL},
};
#define NMETHODS (sizeof METHODS / sizeof METHODS[0])

const QuantMethod *quant_method_find(const char *name) {
    for (size_t i = 0; i < NMETHODS; i++)
        if (strcmp(METHODS[i].name, name) == 0) return &METHODS[i];
    return NULL;
}

const char *const *quant_method_names(void) {
    static const char *names[NMETHODS + 1];
    for (size_t i = 0; i < NMETHODS; i++) names[i] = METHODS[i].name;
    return names;
}

int quant_method_is_none(const QuantMethod *qm) { return qm->make == NULL; }

