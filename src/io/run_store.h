/* The run store: each run writes OUTPUT_DIR/<experiment>/<run>/ with
 *   config.yml      the resolved config
 *   metrics.csv     one row per logged (step, key, value)
 *   model.ckpt      the checkpoint
 *   result.json     written last: its presence means the run finished
 * and, with the MLflow backend, the same run in MLflow's file-store layout under
 * the tracking directory (MLFLOW_TRACKING_URI as file:PATH or PATH, default ./mlruns). */
#ifndef QAT_IO_RUN_STORE_H
#define QAT_IO_RUN_STORE_H

#include "io/config.h"

typedef struct RunStore RunStore;

typedef struct {
    const char *output_dir;  /* default "runs" */
    const char *experiment;  /* e.g. "simple_cnn_no_quant" (+ postfix) */
    const char *run_name;    /* e.g. "seed0_3f2a..." ; unique within the experiment */
    int mlflow;              /* also write the MLflow file store */
} RunStoreOptions;

/* Creates the run folder (and the MLflow experiment/run), writes config.yml, logs every
 * config entry as a param. */
RunStore *run_store_open(const RunStoreOptions *opt, const Config *cfg);
void run_store_log_param(RunStore *rs, const char *key, const char *value);
void run_store_log_metric(RunStore *rs, const char *key, double value, long step);
void run_store_set_tag(RunStore *rs, const char *key, const char *value);
/* Absolute-or-relative path of a file inside the run folder. */
const char *run_store_dir(const RunStore *rs);
void run_store_path(const RunStore *rs, const char *file, char *out, size_t cap);
/* Writes result.json (atomically) from the given JSON text, marks the MLflow run
 * FINISHED (or FAILED when ok == 0), copies artifacts, frees rs. */
void run_store_finish(RunStore *rs, const char *result_json, int ok);

#endif
