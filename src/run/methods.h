/* The method table: every quantization method by name, with its quantizer maker and, for
 * a post-training method, its calibration procedure. The CLI's choices and help, the
 * runs and the results table read it; adding a method is one entry here plus its files
 * (quant/NAME.c, and ptq/NAME.c for a post-training one). */
#ifndef QAT_RUN_METHODS_H
#define QAT_RUN_METHODS_H

#include <stdint.h>

#include "ptq/calibration.h"
#include "quant/method.h"

typedef struct {
    const char *name;
    const char *title; /* in tables: "LSQ" */
    int is_ptq; /* post-training: calibrate() instead of training */
    QuantMaker make; /* the quantizer of one site; NULL: no quantization */
    /* PTQ only: fit the quantizers (and final weights) from calibration data. */
    void (*calibrate)(QuantSiteList *sites, ParamList *params, const Config *cfg,
                      CalibSource *src, uint64_t seed);
} QuantMethod;

const QuantMethod *quant_method_find(const char *name); /* NULL when unknown */
const char *const *quant_method_names(void);
int quant_method_is_none(const QuantMethod *qm);

#endif
