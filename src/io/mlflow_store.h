/* A writer for MLflow's file store (the layout of mlflow/store/tracking/file_store.py, checked
 * against mlflow 3.17), so `mlflow ui --backend-store-uri <root>` and MlflowClient read our runs:
 *
 *   <root>/0/meta.yaml                      experiment "Default" (created with a new root)
 *   <root>/.trash/                          deleted experiments (mlflow creates it)
 *   <root>/<exp_id>/meta.yaml               artifact_location, creation_time, experiment_id,
 *                                           last_update_time, lifecycle_stage, name, ...
 *   <root>/<exp_id>/<run_id>/meta.yaml      artifact_uri, end_time, experiment_id, run_id,
 *                                           run_name, run_uuid, start_time, status, ...
 *   <root>/<exp_id>/<run_id>/params/<key>   the value, no newline
 *   <root>/<exp_id>/<run_id>/metrics/<key>  "timestamp_ms value step\n" per logged value
 *   <root>/<exp_id>/<run_id>/tags/<key>     the value, no newline (mlflow.runName, ...)
 *   <root>/<exp_id>/<run_id>/artifacts/     copied files
 *
 * Experiment ids: an experiment with the same name is reused; a new one gets the largest
 * numeric id in the root (or .trash) + 1. Creation is serialized with flock() on the root.
 * Keys are sanitized to what mlflow accepts (alphanumerics, _ - . : space /, a path that
 * normalizes to itself). Errors writing the store end through qat_die(). */
#ifndef QAT_IO_MLFLOW_STORE_H
#define QAT_IO_MLFLOW_STORE_H

#include <stddef.h>

typedef struct MlflowRun MlflowRun;

/* MLflow run status codes, as stored in meta.yaml. */
enum { MLFLOW_RUNNING = 1, MLFLOW_FINISHED = 3, MLFLOW_FAILED = 4, MLFLOW_KILLED = 5 };

/* The tracking directory from MLFLOW_TRACKING_URI ("file:///abs", "file:rel" or a plain
 * path); "./mlruns" when unset. Dies on a non-file URI (http:, sqlite:...). */
void mlflow_tracking_root(char *out, size_t cap);

/* Opens (creating if needed) the root and the experiment named `experiment`, and creates a
 * RUNNING run named `run_name` with the usual mlflow.* tags. */
MlflowRun *mlflow_run_start(const char *root, const char *experiment, const char *run_name);
/* The same, continuing the run run_id (a resumed run): RUNNING again, its start time kept,
 * its metrics cleared so that the caller replays them from its history. run_id NULL: a
 * new run. */
MlflowRun *mlflow_run_continue(const char *root, const char *experiment, const char *run_name,
                               const char *run_id, long long start_ms);
void mlflow_log_param(MlflowRun *r, const char *key, const char *value);
void mlflow_log_metric(MlflowRun *r, const char *key, double value, long step);
/* With a given timestamp (ms since the epoch). */
void mlflow_log_metric_at(MlflowRun *r, const char *key, double value, long step, long long ts_ms);
void mlflow_set_tag(MlflowRun *r, const char *key, const char *value);
/* Copies a file into the run's artifacts (name: path inside artifacts/). Skipped when the
 * experiment's artifact location is not a local file: URI. */
void mlflow_log_artifact_file(MlflowRun *r, const char *src_path, const char *name);
void mlflow_log_artifact_text(MlflowRun *r, const char *name, const char *text);
/* Sets the run's status (MLFLOW_FINISHED, _FAILED, _KILLED) and end_time, frees r. */
void mlflow_run_end(MlflowRun *r, int status);
long long mlflow_run_start_ms(const MlflowRun *r);

const char *mlflow_run_id(const MlflowRun *r);
const char *mlflow_experiment_id(const MlflowRun *r);
/* The run's folder in the store. */
const char *mlflow_run_dir(const MlflowRun *r);

/* A key mlflow accepts: other characters become '_', "." and ".." path parts and empty
 * parts are dropped or replaced, at most 250 characters. */
void mlflow_sanitize_key(const char *key, char *out, size_t cap);
/* "file://" + percent-encoded absolute path, as pathlib's as_uri() writes it. */
void mlflow_path_to_uri(const char *abs_path, char *out, size_t cap);

#endif
