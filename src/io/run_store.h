/* The run store: each run writes OUTPUT_DIR/<experiment>/<run>/ with
 *   config.yml      the resolved config
 *   metrics.csv     one row per logged (step, key, value)
 *   model.ckpt      the checkpoint
 *   result.json     written last: its presence means the run finished
 *   interrupted     present while a run stopped by a signal waits to be resumed
 * and, with the MLflow backend, the same run in MLflow's file-store layout under
 * the tracking directory (MLFLOW_TRACKING_URI as file:PATH or PATH, default ./mlruns). */
#ifndef QAT_IO_RUN_STORE_H
#define QAT_IO_RUN_STORE_H

#include "io/config.h"

typedef struct RunStore RunStore;

/* Every metric a run logged, in order: a resume state carries it, so a resumed run's
 * metrics.csv (and MLflow metrics) are exactly those of an uninterrupted one. */
typedef struct {
    char *key;
    double value;
    long step;
    long long ts_ms; /* wall clock, ms since the epoch */
} MetricRecord;

typedef struct {
    MetricRecord *items;
    int n, cap;
} MetricHistory;

void metric_history_add(MetricHistory *h, const char *key, double value, long step, long long ts_ms);
void metric_history_free(MetricHistory *h);

typedef struct {
    const char *output_dir;  /* default "runs" */
    const char *experiment;  /* e.g. "simple_cnn_no_quant" (+ postfix) */
    const char *run_name;    /* e.g. "seed0_3f2a..." ; unique within the experiment */
    int mlflow;              /* also write the MLflow file store */
    /* A resumed run: the metrics logged so far (rewritten into metrics.csv and MLflow)
     * and the MLflow run to continue (NULL: none yet). */
    const MetricHistory *resume;
    const char *mlflow_run_id;
    long long mlflow_start_ms;
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
const MetricHistory *run_store_history(const RunStore *rs);
/* The MLflow run's id ("" without MLflow) and start time, for a resume state. */
const char *run_store_mlflow_run_id(const RunStore *rs);
long long run_store_mlflow_start_ms(const RunStore *rs);
/* Writes result.json (atomically) from the given JSON text, marks the MLflow run
 * FINISHED (or FAILED when ok == 0), copies artifacts, frees rs. */
void run_store_finish(RunStore *rs, const char *result_json, int ok);
/* A run stopped by a signal: writes `interrupted` (why, atomically), marks the MLflow run
 * KILLED, frees rs. Opening the run again removes the file. */
void run_store_interrupted(RunStore *rs, const char *why);

/* What result.json says of a finished run. */
typedef struct {
    int threads;
    char metric[64]; /* the metric read: the one asked for, or the run's headline metric */
    double value;    /* its value (NaN when absent) */
    double wall_seconds;
    char model[32], quantizer[32]; /* "" when absent */
    char config_hash[32];
    int weight_bits, act_bits;
} RunResult;

/* 0 when dir has no result.json; 1 when it has one and it was read. key: the metric to
 * read (NULL: the run's headline metric, its "metric"). Dies when it is not valid JSON of
 * a run (names the file and the problem). */
int run_store_read_result(const char *dir, const char *key, RunResult *out);

#endif
