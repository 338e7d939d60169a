/* The run folder, plus (optionally) the same run in an MLflow file store.
 *
 * Files in OUTPUT_DIR/<experiment>/<run_name>/:
 *   config.yml   written atomically at open (config_write_yaml)
 *   metrics.csv  "step,key,value" header, one row per logged metric, flushed at each row
 *   result.json  written atomically by run_store_finish(), last: its presence means done
 * Opening a run folder that holds an older run removes its result.json first, so a rerun
 * that dies does not look finished. A resumed run rewrites metrics.csv from its history.
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
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/mlflow_store.h"

#include <jansson.h>

struct RunStore {
    char dir[1024];
    char metrics_path[1100];
    FILE *metrics;
    MlflowRun *ml;
    MetricHistory history;
};

static long long wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void metric_history_add(MetricHistory *h, const char *key, double value, long step, long long ts_ms) {
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 64;
        h->items = qat_realloc(h->items, (size_t)h->cap * sizeof *h->items);
    }
    h->items[h->n++] = (MetricRecord){qat_strdup(key), value, step, ts_ms};
}

void metric_history_free(MetricHistory *h) {
    for (int i = 0; i < h->n; i++) free(h->items[i].key);
    free(h->items);
    memset(h, 0, sizeof *h);
}

static void write_metric_row(RunStore *rs, const MetricRecord *r);

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
    const char *stale[] = {"result.json", "interrupted"};
    for (int i = 0; i < 2; i++) {
        run_store_path(rs, stale[i], path, sizeof path);
        if (unlink(path) != 0 && errno != ENOENT)
            qat_die("cannot remove %s: %s", path, strerror(errno));
    }

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
        rs->ml = mlflow_run_continue(root, opt->experiment, opt->run_name, opt->mlflow_run_id,
                                     opt->mlflow_start_ms);
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
    for (int i = 0; opt->resume && i < opt->resume->n; i++) {
        const MetricRecord *r = &opt->resume->items[i];
        metric_history_add(&rs->history, r->key, r->value, r->step, r->ts_ms);
        write_metric_row(rs, r);
    }
    return rs;
}

const MetricHistory *run_store_history(const RunStore *rs) { return &rs->history; }
const char *run_store_mlflow_run_id(const RunStore *rs) { return rs->ml ? mlflow_run_id(rs->ml) : ""; }
long long run_store_mlflow_start_ms(const RunStore *rs) { return rs->ml ? mlflow_run_start_ms(rs->ml) : 0; }

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

/* One row of metrics.csv, and the same metric in MLflow. */
static void write_metric_row(RunStore *rs, const MetricRecord *r) {
    char num[40];
    if (isnan(r->value))
        snprintf(num, sizeof num, "nan");
    else
        snprintf(num, sizeof num, "%.17g", r->value);
    fprintf(rs->metrics, "%ld,", r->step);
    csv_field(rs->metrics, r->key);
    fprintf(rs->metrics, ",%s\n", num);
    if (ferror(rs->metrics) || fflush(rs->metrics) != 0)
        qat_die("cannot write %s: %s", rs->metrics_path, strerror(errno));
    if (rs->ml) mlflow_log_metric_at(rs->ml, r->key, r->value, r->step, r->ts_ms);
}

void run_store_log_metric(RunStore *rs, const char *key, double value, long step) {
    metric_history_add(&rs->history, key, value, step, wall_ms());
    write_metric_row(rs, &rs->history.items[rs->history.n - 1]);
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
        mlflow_run_end(rs->ml, ok ? MLFLOW_FINISHED : MLFLOW_FAILED);
        rs->ml = NULL;
    }

    char path[1100];
    run_store_path(rs, "result.json", path, sizeof path);
    AtomicFile af;
    FILE *f = atomic_file_open(&af, path);
    fputs(result_json, f);
    if (nl) fputc('\n', f);
    atomic_file_commit(&af);
    metric_history_free(&rs->history);
    free(rs);
}

void run_store_interrupted(RunStore *rs, const char *why) {
    if (fclose(rs->metrics) != 0) qat_die("cannot write %s: %s", rs->metrics_path, strerror(errno));
    if (rs->ml) mlflow_run_end(rs->ml, MLFLOW_KILLED);
    char path[1100];
    run_store_path(rs, "interrupted", path, sizeof path);
    AtomicFile af;
    FILE *f = atomic_file_open(&af, path);
    fprintf(f, "%s\n", why);
    atomic_file_commit(&af);
    metric_history_free(&rs->history);
    free(rs);
}

int run_store_read_result(const char *dir, const char *key, RunResult *out) {
    char path[1100];
    if (snprintf(path, sizeof path, "%s/result.json", dir) >= (int)sizeof path) qat_die("path too long: %s", dir);
    if (!file_exists(path)) return 0;
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (!root) qat_die("%s:%d: not valid JSON (%s)", path, err.line, err.text);
    json_t *threads = json_object_get(root, "threads"), *metric = json_object_get(root, "metric");
    json_t *metrics = json_object_get(root, "metrics"), *wall = json_object_get(root, "wall_seconds");
    if (!json_is_integer(threads) || !json_is_string(metric) || !json_is_object(metrics))
        qat_die("%s is not a qat result (it needs \"threads\", \"metric\" and \"metrics\")", path);
    memset(out, 0, sizeof *out);
    out->threads = (int)json_integer_value(threads);
    snprintf(out->metric, sizeof out->metric, "%s", key ? key : json_string_value(metric));
    json_t *v = json_object_get(metrics, out->metric);
    out->value = json_is_number(v) ? json_number_value(v) : NAN;
    out->wall_seconds = json_is_number(wall) ? json_number_value(wall) : NAN;
    const struct {
        const char *key;
        char *dst;
    } names[] = {{"model", out->model}, {"quantizer", out->quantizer}, {"config_hash", out->config_hash}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        json_t *s = json_object_get(root, names[i].key);
        if (json_is_string(s)) snprintf(names[i].dst, 32, "%s", json_string_value(s));
    }
    json_t *wb = json_object_get(root, "weight_bits"), *ab = json_object_get(root, "act_bits");
    out->weight_bits = json_is_integer(wb) ? (int)json_integer_value(wb) : 0;
    out->act_bits = json_is_integer(ab) ? (int)json_integer_value(ab) : 0;
    json_decref(root);
    return 1;
}
