/* `qat table`: the product's main job. For each model it trains (or reuses) the FP
 * baseline, runs LSQ, PACT, APoT and QIL as QAT from that checkpoint and AdaRound as PTQ
 * of it, at W{B}A{B}, and writes Table 1 (absolute) and Table 2 (% of no quantization)
 * as Markdown, CSV, JSON and an SVG bar chart. Each cell is one `qat train` run in a
 * child process: a failing cell is reported and the others go on, and a cell whose run
 * already finished (same resolved config, start checkpoint and seed) is reused. */
#ifndef QAT_RUN_TABLE_H
#define QAT_RUN_TABLE_H

#include <stdint.h>

#define TABLE_MAX_MODELS 4
#define TABLE_MAX_METHODS 6

typedef struct {
    int bits;
    const char *preset; /* "quick" | "full" */
    const char *models[TABLE_MAX_MODELS];
    int nmodels;
    const char *methods[TABLE_MAX_METHODS]; /* no_quant is always run first */
    int nmethods;
    const char *output_dir;
    uint64_t seed;
    int threads;
} TableOptions;

/* Returns the number of failed cells. */
int table_run(const TableOptions *opt);

#endif
