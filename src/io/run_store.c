/* The run folder, plus (optionally) the same run in an MLflow file store.
 *
 * Files in OUTPUT_DIR/<experiment>/<run_name>/:
 *   config.yml   written atomically at open (config_write_yaml)
 *   metrics.csv  "step,key,value" header, one row per logged metric, flushed at each row
 *   result.json  written atomically by run_store_finish(), last: its presence means done
 * Opening a run folder that holds an older run removes its result.json first, so a rerun
 * that dies does not look finished.
 *
 * With MLflow on, every config entry with a value is logged as a param "section.key"
 * (keys pass through mlflow_sanitize_key), metrics go to both places, and at finish
 * config.yml, metrics.csv and result.json are copied into the run's artifacts. The
 * checkpoint is not copied (it can be large): its absolute path is set as the tag
 * "qat.checkpoint" when model.ckpt exists, and the run folder's as "qat.run_dir".
 * Params and tags other than the config's are recorded in MLflow only. result.json is
 * written for failed runs too (ok == 0 only changes the MLflow status). */
#include "io/run_store.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/mlflow_store.h"

struct RunStore {
    char dir[1024];
    char metrics_path[1100];
    FILE *metrics;
    MlflowRun *ml;
};

static void check_name(const char *what, const char *s) {
    if (!s || !*s) qat_die("run store: the %s name is empty", what);
    if (strchr(s, '/') || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        qat_die("run store: the %s name '%s' must not contain '/' or be '.' or '..'", what, s);
}

void run_store_path(const RunStore *rs, const char *file, char *out, size_t cap) {
    int n = snprintf(out, cap, "%s/%s", rs->dir, file);
    if (n < 0 || (size_t)n >= cap) qat_die("path too long: %s/%s", rs->dir, file);
}

const char *run_store_dir(const RunStore *rs) { return rs->dir; }

RunStore *run_store_open(const RunStoreOptions *opt, const Config *cfg) {
    const char *out = opt->output_dir && *opt->output_dir ? opt->output_dir : "runs";
    check_name("experiment", opt->experiment);
    check_name("run", opt->run_name);
    RunStore *rs = qat_calloc(1, sizeof *rs);
    int n = snprintf(rs->dir, sizeof rs->dir, "%s/%s/%s", out, opt->experiment, opt->run_name);
    if (n < 0 || (size_t)n >= sizeof rs->dir)
        qat_die("path too long: %s/%s/%s", out, opt->experiment, opt->run_name);
    make_dirs(rs->dir);

    char path[1100];
    run_store_path(rs, "result.json", path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT)
        qat_die("cannot remove %s: %s", path, strerror(errno));

    run_store_path(rs, "config.yml", path, sizeof path);
    AtomicFile af;
    FILE *f = atomic_file_open(&af, path);
    config_write_yaml(cfg, f);
    atomic_file_commit(&af);

    run_store_path(rs, "metrics.csv", rs->metrics_path, sizeof rs->metrics_path);
    rs->metrics = fopen(rs->metrics_path, "w");
    if (!rs->metrics) qat_die("cannot create %s: %s", rs->metrics_path, strerror(errno));
    if (fputs("step,key,value\n", rs->metrics) < 0 || fflush(rs->metrics) != 0)
        qat_die("cannot write %s: %s", rs->metrics_path, strerror(errno));

    if (opt->mlflow) {
        char root[1024];
        mlflow_tracking_root(root, sizeof root);
        rs->ml = mlflow_run_start(root, opt->experiment, opt->run_name);
        for (int i = 0; i < cfg->n; i++) {
            const CfgEntry *e = &cfg->entries[i];
            if (e->nvalues < 1 || !e->values[0]) continue; /* a key without a value */
            char key[256];
            snprintf(key, sizeof key, "%s.%s", e->field->section, e->field->key);
            mlflow_log_param(rs->ml, key, e->values[0]);
        }
        char abs[PATH_MAX];
        if (realpath(rs->dir, abs)) mlflow_set_tag(rs->ml, "qat.run_dir", abs);
    }
    return rs;
}

void run_store_log_param(RunStore *rs, const char *key, const char *value) {
    if (rs->ml) mlflow_log_param(rs->ml, key, value);
}

void run_store_set_tag(RunStore *rs, const char *key, const char *value) {
    if (rs->ml) mlflow_set_tag(rs->ml, key, value);
}

/* A CSV field: quoted when it holds a comma, quote or line break. */
static void csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void run_store_log_metric(RunStore *rs, const char *key, double value, long step) {
    char num[40];
    if (isnan(value))
        snprintf(num, sizeof num, "nan");
    else
        snprintf(num, sizeof num, "%.17g", value);
    fprintf(rs->metrics, "%ld,", step);
    csv_field(rs->metrics, key);
    fprintf(rs->metrics, ",%s\n", num);
    if (ferror(rs->metrics) || fflush(rs->metrics) != 0)
        qat_die("cannot write %s: %s", rs->metrics_path, strerror(errno));
    if (rs->ml) mlflow_log_metric(rs->ml, key, value, step);
}

void run_store_finish(RunStore *rs, const char *result_json, int ok) {
    if (fclose(rs->metrics) != 0)
        qat_die("cannot write %s: %s", rs->metrics_path, strerror(errno));
    rs->metrics = NULL;
    if (!result_json) result_json = "{}";
    size_t n = strlen(result_json);
    int nl = n == 0 || result_json[n - 1] != '\n';

    if (rs->ml) {
        char path[1100], abs[PATH_MAX];
        run_store_path(rs, "model.ckpt", path, sizeof path);
        if (file_exists(path) && realpath(path, abs)) mlflow_set_tag(rs->ml, "qat.checkpoint", abs);
        run_store_path(rs, "config.yml", path, sizeof path);
        mlflow_log_artifact_file(rs->ml, path, "config.yml");
        mlflow_log_artifact_file(rs->ml, rs->metrics_path, "metrics.csv");
        char *text = qat_malloc(n + 2);
        memcpy(text, result_json, n);
        if (nl) text[n++] = '\n';
        text[n] = '\0';
        mlflow_log_artifact_text(rs->ml, "result.json", text);
        free(text);
        mlflow_run_end(rs->ml, ok);
        rs->ml = NULL;
    }

    char path[1100];
    run_store_path(rs, "result.json", path, sizeof path);
    AtomicFile af;
    FILE *f = atomic_file_open(&af, path);
    fputs(result_json, f);
    if (nl) fputc('\n', f);
    atomic_file_commit(&af);
    free(rs);
}
