/* The run store: the run folder's files, and the MLflow file store written beside it
 * (meta.yaml fields, params, metric lines, tags, artifacts, experiment ids).
 *
 * Writes under $QAT_MLFLOW_DIR when set (its mlruns/, "ml runs 2"/, runs/ and *.expected.json
 * are replaced), else under a fresh /tmp folder. The expectations for the Python oracle
 * tests/python/check_mlflow_store.py go to <dir>/mlruns.expected.json and
 * "<dir>/ml runs 2.expected.json":
 *   python3 tests/python/check_mlflow_store.py "$QAT_MLFLOW_DIR/mlruns" \
 *       "$QAT_MLFLOW_DIR/mlruns.expected.json" */
#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "io/atomic_file.h"
#include "io/config.h"
#include "io/json.h"
#include "io/mlflow_store.h"
#include "io/run_store.h"

static char base[600];

/* snprintf without truncation warnings; a truncation aborts the test. */
static void sfmt(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sfmt(char *out, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap) {
        fprintf(stderr, "test_run_store: text too long: %s\n", out);
        abort();
    }
}

/* ---- helpers ---- */

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = '\0';
    fclose(f);
    return b;
}

static int text_is(const char *path, const char *want) {
    char *t = read_text(path);
    int ok = t && strcmp(t, want) == 0;
    if (!ok) fprintf(stderr, "%s:\n  got  [%s]\n  want [%s]\n", path, t ? t : "(missing)", want);
    free(t);
    return ok;
}

static int has_line(const char *text, const char *line) {
    size_t n = strlen(line);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0')) return 1;
        p = strchr(p, '\n');
        if (p) p++;
    }
    return 0;
}

static int file_has_line(const char *path, const char *line) {
    char *t = read_text(path);
    int ok = t && has_line(t, line);
    if (!ok) fprintf(stderr, "%s: no line [%s] in:\n%s\n", path, line, t ? t : "(missing)");
    free(t);
    return ok;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void rm_rf(const char *path) {
    if (file_exists(path)) nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Any "*.tmp.*" left below path? */
static int tmp_count;
static int count_tmp(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    if (strstr(p, ".tmp.")) tmp_count++;
    return 0;
}
static int no_tmp_files(const char *path) {
    tmp_count = 0;
    nftw(path, count_tmp, 16, FTW_PHYS);
    return tmp_count == 0;
}

static void pjoin(char *out, size_t cap, const char *a, const char *b) {
    sfmt(out, cap, "%s/%s", a, b);
}

/* The run folders (32-hex names) of an experiment folder whose tags/mlflow.runName is
 * `name`, in out[]; returns how many. */
static int find_runs(const char *exp_dir, const char *name, char out[][700], int cap) {
    DIR *d = opendir(exp_dir);
    int n = 0;
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strlen(e->d_name) != 32) continue;
        char dir[700], tag[800];
        pjoin(dir, sizeof dir, exp_dir, e->d_name);
        pjoin(tag, sizeof tag, dir, "tags/mlflow.runName");
        char *t = read_text(tag);
        if (t && strcmp(t, name) == 0 && n < cap) sfmt(out[n++], 700, "%s", dir);
        free(t);
    }
    closedir(d);
    return n;
}

/* Runs fn(arg) in a child; 1 when it exited with status 1 saying `want`. */
static int dies_with(void (*fn)(const void *), const void *arg, const char *want) {
    char msg[2048];
    int ok = check_dies(fn, arg, CHECK_DIES_ANYWHERE, (const char *const[]){want, NULL}, msg, sizeof msg);
    fprintf(stderr, "%s child said: %s", ok ? "ok:" : "FAIL:", msg);
    return ok;
}

/* ---- a hand-made config ---- */

static const CfgField FIELDS[] = {
    {"model", "name", CFG_STRING, "simple_cnn", NULL, "model"},
    {"training", "lr", CFG_FLOAT, "0.001", NULL, "learning rate"},
    {"training", "epochs", CFG_INT, "2", NULL, "epochs"},
    {"quantizer", "bit_width", CFG_INT, "4", NULL, "bits"},
    {"quantizer", "per_channel", CFG_BOOL, "true", NULL, "per channel"},
    {"quantizer", "init", CFG_STRING, NULL, NULL, "unset: no value"},
};
#define NFIELDS 6

static void make_config(Config *c, const char *lr) {
    memset(c, 0, sizeof *c);
    const char *vals[NFIELDS] = {"simple_cnn", lr, "2", "4", "true", NULL};
    for (int i = 0; i < NFIELDS; i++) {
        c->entries[i].field = &FIELDS[i];
        c->entries[i].nvalues = vals[i] ? 1 : 0;
        c->entries[i].values[0] = (char *)vals[i];
        sfmt(c->entries[i].source, sizeof c->entries[i].source, "default");
    }
    c->n = NFIELDS;
}

static char *yaml_of(const Config *c) {
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    config_write_yaml(c, f);
    fclose(f);
    return buf;
}

/* ---- expectations for the Python oracle ---- */

typedef struct {
    JsonWriter w;
} Expect;

static void expect_begin(Expect *x) {
    json_init(&x->w);
    json_begin_object(&x->w, NULL);
    json_begin_array(&x->w, "runs");
}

static void expect_end(Expect *x, const char *path, const char *const *exp_names,
                       const char *const *exp_ids, int nexp) {
    json_end_array(&x->w);
    json_begin_object(&x->w, "experiments");
    for (int i = 0; i < nexp; i++) json_string(&x->w, exp_names[i], exp_ids[i]);
    json_end_object(&x->w);
    json_end_object(&x->w);
    FILE *f = fopen(path, "w");
    fputs(x->w.buf, f);
    fputc('\n', f);
    fclose(f);
    json_free(&x->w);
}

/* ---- the runs ---- */

typedef struct {
    const char *experiment, *run_name;
    int mlflow, ok;
    const char *lr;
} RunSpec;

static const char *const METRIC_KEYS[] = {"train/loss", "train/loss", "train/loss", "val.acc",
                                          "bad key!#", "a,b", "diverged"};
static const long METRIC_STEPS[] = {1, 2, 3, 3, 0, 7, 9};
static const double METRIC_VALS[] = {0.5, 0.25, 0.1, 0.9875, -1e-20, 3.0, NAN};
#define NMETRICS 7

static const char *sanitized(const char *k) {
    if (strcmp(k, "bad key!#") == 0) return "bad key__";
    if (strcmp(k, "a,b") == 0) return "a_b";
    return k;
}

/* Runs one whole run through the store and checks the run folder; returns the store's
 * run folder path in dir. */
static void do_run(const RunSpec *s, Expect *x, const char *tracking_dir, const char *exp_id) {
    char outdir[700], dir[900], path[1000];
    pjoin(outdir, sizeof outdir, base, "runs");
    Config cfg;
    make_config(&cfg, s->lr);
    RunStoreOptions opt = {outdir, s->experiment, s->run_name, s->mlflow, NULL, NULL, 0};
    RunStore *rs = run_store_open(&opt, &cfg);
    sfmt(dir, sizeof dir, "%s/%s/%s", outdir, s->experiment, s->run_name);
    CHECK(strcmp(run_store_dir(rs), dir) == 0);
    run_store_path(rs, "model.ckpt", path, sizeof path);
    sfmt(dir + strlen(dir), sizeof dir - strlen(dir), "/model.ckpt");
    CHECK(strcmp(path, dir) == 0);
    *strrchr(dir, '/') = '\0';

    /* config.yml now; result.json not yet (removed if an older run left one). */
    char *yaml = yaml_of(&cfg);
    run_store_path(rs, "config.yml", path, sizeof path);
    CHECK(text_is(path, yaml));
    CHECK(strstr(yaml, "lr: ") != NULL);
    run_store_path(rs, "result.json", path, sizeof path);
    CHECK(!file_exists(path));

    run_store_log_param(rs, "extra/param", "x y");
    run_store_set_tag(rs, "qat.note", "hello: world");
    char csv[2048] = "step,key,value\n";
    for (int i = 0; i < NMETRICS; i++) {
        run_store_log_metric(rs, METRIC_KEYS[i], METRIC_VALS[i], METRIC_STEPS[i]);
        char row[256], num[64];
        if (isnan(METRIC_VALS[i]))
            sfmt(num, sizeof num, "nan");
        else
            sfmt(num, sizeof num, "%.17g", METRIC_VALS[i]);
        const char *k = METRIC_KEYS[i];
        sfmt(row, sizeof row, strchr(k, ',') ? "%ld,\"%s\",%s\n" : "%ld,%s,%s\n",
                 METRIC_STEPS[i], k, num);
        strcat(csv, row);
    }
    /* metrics.csv is flushed row by row. */
    run_store_path(rs, "metrics.csv", path, sizeof path);
    CHECK(text_is(path, csv));

    /* The MLflow run while open. */
    char runs[4][700];
    char exp_dir[800];
    int nruns = 0;
    if (s->mlflow) {
        pjoin(exp_dir, sizeof exp_dir, tracking_dir, exp_id);
        nruns = find_runs(exp_dir, s->run_name, runs, 4);
        CHECK(nruns >= 1);
        /* the newest one is ours: its meta says RUNNING */
        int running = 0;
        for (int i = 0; i < nruns; i++) {
            pjoin(path, sizeof path, runs[i], "meta.yaml");
            char *t = read_text(path);
            if (t && has_line(t, "status: 1")) {
                running++;
                CHECK(has_line(t, "end_time: null"));
                CHECK(has_line(t, "deleted_time: null"));
                memmove(runs[0], runs[i], sizeof runs[0]);
            }
            free(t);
        }
        CHECK(running == 1);
    }

    char ckpt[1000];
    run_store_path(rs, "model.ckpt", ckpt, sizeof ckpt);
    const char *junk = "not really a checkpoint";
    check_write_file(ckpt, junk, strlen(junk));

    JsonWriter r;
    json_init(&r);
    json_begin_object(&r, NULL);
    json_string(&r, "run", s->run_name);
    json_number(&r, "accuracy", 0.9875);
    json_bool(&r, "ok", s->ok);
    json_end_object(&r);
    run_store_finish(rs, r.buf, s->ok);

    char result[2048];
    sfmt(result, sizeof result, "%s\n", r.buf);
    sfmt(path, sizeof path, "%s/result.json", dir);
    CHECK(text_is(path, result));
    sfmt(path, sizeof path, "%s/metrics.csv", dir);
    CHECK(text_is(path, csv));
    CHECK(no_tmp_files(dir));

    if (!s->mlflow) {
        json_free(&r);
        free(yaml);
        return;
    }

    /* ---- the MLflow run, file by file ---- */
    const char *rd = runs[0];
    const char *run_id = strrchr(rd, '/') + 1;
    char line[1200], uri[1200];
    pjoin(path, sizeof path, rd, "meta.yaml");
    char *meta = read_text(path);
    CHECK(meta != NULL);
    if (!meta) meta = calloc(1, 1);
    CHECK(has_line(meta, s->ok ? "status: 3" : "status: 4"));
    CHECK(!strstr(meta, "end_time: null") && strstr(meta, "\nend_time: 1") != NULL);
    CHECK(!strstr(meta, "deleted_time"));
    sfmt(line, sizeof line, "experiment_id: '%s'", exp_id);
    CHECK(has_line(meta, line));
    sfmt(line, sizeof line, "run_id: %s", run_id);
    CHECK(has_line(meta, line));
    sfmt(line, sizeof line, "run_uuid: %s", run_id);
    CHECK(has_line(meta, line));
    sfmt(line, sizeof line, "run_name: %s", s->run_name);
    CHECK(has_line(meta, line));
    char absroot[PATH_MAX];
    CHECK(realpath(tracking_dir, absroot) != NULL);
    char artdir[1100];
    sfmt(artdir, sizeof artdir, "%s/%s/%s/artifacts", absroot, exp_id, run_id);
    mlflow_path_to_uri(artdir, uri, sizeof uri);
    sfmt(line, sizeof line, "artifact_uri: %s", uri);
    CHECK(has_line(meta, line));
    const char *fixed[] = {"entry_point_name: ''", "lifecycle_stage: active", "source_name: ''",
                           "source_type: 4", "source_version: ''", "tags: []"};
    for (int i = 0; i < 6; i++) CHECK(has_line(meta, fixed[i]));
    CHECK(strncmp(meta, "artifact_uri: ", 14) == 0); /* keys sorted, as PyYAML writes them */
    CHECK(strstr(meta, "\nuser_id: ") != NULL);
    free(meta);

    pjoin(path, sizeof path, rd, "params/training.lr");
    CHECK(text_is(path, s->lr));
    pjoin(path, sizeof path, rd, "params/quantizer.per_channel");
    CHECK(text_is(path, "true"));
    pjoin(path, sizeof path, rd, "params/quantizer.init");
    CHECK(!file_exists(path));
    pjoin(path, sizeof path, rd, "params/extra/param");
    CHECK(text_is(path, "x y"));
    pjoin(path, sizeof path, rd, "tags/mlflow.runName");
    CHECK(text_is(path, s->run_name));
    pjoin(path, sizeof path, rd, "tags/mlflow.source.type");
    CHECK(text_is(path, "LOCAL"));
    pjoin(path, sizeof path, rd, "tags/qat.note");
    CHECK(text_is(path, "hello: world"));
    char absckpt[PATH_MAX];
    CHECK(realpath(ckpt, absckpt) != NULL);
    pjoin(path, sizeof path, rd, "tags/qat.checkpoint");
    CHECK(text_is(path, absckpt));

    /* metrics/<key>: "timestamp value step" lines in logging order */
    for (int i = 0; i < NMETRICS; i++) {
        char mp[1000];
        sfmt(mp, sizeof mp, "%s/metrics/%s", rd, sanitized(METRIC_KEYS[i]));
        char *t = read_text(mp);
        CHECK(t != NULL);
        int k = 0; /* occurrence of this key before i */
        for (int j = 0; j < i; j++) k += strcmp(METRIC_KEYS[j], METRIC_KEYS[i]) == 0;
        const char *p = t;
        for (int j = 0; p && j < k; j++) {
            p = strchr(p, '\n');
            if (p) p++;
        }
        long long ts = 0;
        char num[64] = "";
        long step = -1;
        CHECK(p && sscanf(p, "%lld %63s %ld", &ts, num, &step) == 3);
        CHECK(ts > 1600000000000LL);
        CHECK(step == METRIC_STEPS[i]);
        double v = strtod(num, NULL);
        CHECK(isnan(METRIC_VALS[i]) ? isnan(v) : v == METRIC_VALS[i]);
        free(t);
    }
    pjoin(path, sizeof path, rd, "metrics/train/loss");
    char *tl = read_text(path);
    CHECK(tl && strstr(tl, " 0.5 1\n") && strstr(tl, " 0.25 2\n") && strstr(tl, " 0.1 3\n"));
    free(tl);

    /* artifacts: copies of the run folder's files */
    char src[1000];
    const char *arts[] = {"config.yml", "metrics.csv", "result.json"};
    for (int i = 0; i < 3; i++) {
        sfmt(src, sizeof src, "%s/%s", dir, arts[i]);
        char *want = read_text(src);
        sfmt(path, sizeof path, "%s/artifacts/%s", rd, arts[i]);
        CHECK(want && text_is(path, want));
        free(want);
    }
    sfmt(path, sizeof path, "%s/artifacts/model.ckpt", rd);
    CHECK(!file_exists(path));
    CHECK(no_tmp_files(rd));

    /* ---- what the oracle should see ---- */
    JsonWriter *w = &x->w;
    json_begin_object(w, NULL);
    json_string(w, "experiment", s->experiment);
    json_string(w, "run_name", s->run_name);
    json_string(w, "run_id", run_id);
    json_string(w, "status", s->ok ? "FINISHED" : "FAILED");
    json_begin_object(w, "params");
    for (int i = 0; i < cfg.n; i++) {
        if (!cfg.entries[i].nvalues) continue;
        char key[128];
        sfmt(key, sizeof key, "%s.%s", FIELDS[i].section, FIELDS[i].key);
        json_string(w, key, cfg.entries[i].values[0]);
    }
    json_string(w, "extra/param", "x y");
    json_end_object(w);
    json_begin_object(w, "metrics");
    for (int i = 0; i < NMETRICS; i++) {
        int first = 1;
        for (int j = 0; j < i; j++) first &= strcmp(METRIC_KEYS[j], METRIC_KEYS[i]) != 0;
        if (!first) continue;
        json_begin_array(w, sanitized(METRIC_KEYS[i]));
        for (int j = i; j < NMETRICS; j++) {
            if (strcmp(METRIC_KEYS[j], METRIC_KEYS[i]) != 0) continue;
            json_begin_array(w, NULL);
            json_int(w, NULL, METRIC_STEPS[j]);
            json_number(w, NULL, METRIC_VALS[j]); /* NaN -> null */
            json_end_array(w);
        }
        json_end_array(w);
    }
    json_end_object(w);
    json_begin_object(w, "tags");
    json_string(w, "mlflow.runName", s->run_name);
    json_string(w, "mlflow.source.type", "LOCAL");
    json_string(w, "qat.note", "hello: world");
    json_string(w, "qat.checkpoint", absckpt);
    json_end_object(w);
    json_begin_object(w, "artifacts");
    for (int i = 0; i < 3; i++) {
        sfmt(src, sizeof src, "%s/%s", dir, arts[i]);
        char *t = read_text(src);
        json_string(w, arts[i], t);
        free(t);
    }
    json_end_object(w);
    json_end_object(w);

    json_free(&r);
    free(yaml);
}

/* ---- pieces ---- */

static void open_bad_uri(const void *arg) {
    setenv("MLFLOW_TRACKING_URI", (const char *)arg, 1);
    char root[512];
    mlflow_tracking_root(root, sizeof root);
}

static void open_run(const void *arg) {
    const RunSpec *s = arg;
    char outdir[700];
    pjoin(outdir, sizeof outdir, base, "runs");
    Config cfg;
    make_config(&cfg, s->lr);
    RunStoreOptions opt = {outdir, s->experiment, s->run_name, s->mlflow, NULL, NULL, 0};
    run_store_open(&opt, &cfg);
}

static void sanitize_is(const char *in, const char *want) {
    char out[300];
    mlflow_sanitize_key(in, out, sizeof out);
    int ok = strcmp(out, want) == 0;
    if (!ok) fprintf(stderr, "sanitize [%s] -> [%s], want [%s]\n", in, out, want);
    CHECK(ok);
}

static void root_is(const char *uri, const char *want) {
    if (uri)
        setenv("MLFLOW_TRACKING_URI", uri, 1);
    else
        unsetenv("MLFLOW_TRACKING_URI");
    char root[512];
    mlflow_tracking_root(root, sizeof root);
    int ok = strcmp(root, want) == 0;
    if (!ok)
        fprintf(stderr, "root of [%s] -> [%s], want [%s]\n", uri ? uri : "(unset)", root, want);
    CHECK(ok);
}

static void write_seed(const char *dir, const char *text) {
    make_dirs(dir);
    char p[1000];
    pjoin(p, sizeof p, dir, "meta.yaml");
    check_write_file(p, text, strlen(text));
}

int main(void) {
    const char *env = getenv("QAT_MLFLOW_DIR");
    if (env && *env) {
        sfmt(base, sizeof base, "%s", env);
        make_dirs(base);
    } else {
        sfmt(base, sizeof base, "/tmp/qat_run_store_XXXXXX");
        if (!mkdtemp(base)) return 1;
    }
    char ml[700], ml2[700], off[700], p[1000];
    pjoin(ml, sizeof ml, base, "mlruns");
    pjoin(ml2, sizeof ml2, base, "ml runs 2");
    pjoin(off, sizeof off, base, "mlruns_off");
    pjoin(p, sizeof p, base, "runs");
    rm_rf(ml);
    rm_rf(ml2);
    rm_rf(off);
    rm_rf(p);

    /* ---- keys, URIs, the tracking root ---- */
    sanitize_is("train/loss", "train/loss");
    sanitize_is("training.lr", "training.lr");
    sanitize_is("a b:c-d_e.f", "a b:c-d_e.f");
    sanitize_is("bad key!#", "bad key__");
    sanitize_is("/x//y/", "x/y");
    sanitize_is("a/../b", "a/__/b");
    sanitize_is("./a", "_/a");
    sanitize_is("..x", "_.x");
    sanitize_is("..", "__");
    sanitize_is("", "_");
    sanitize_is("///", "_");
    sanitize_is("\xc3\xa9t\xc3\xa9", "__t__");
    {
        char longk[400], out[300];
        memset(longk, 'k', sizeof longk - 1);
        longk[sizeof longk - 1] = '\0';
        mlflow_sanitize_key(longk, out, sizeof out);
        CHECK(strlen(out) == 250);
    }
    {
        char uri[300];
        mlflow_path_to_uri("/tmp/ml runs/0", uri, sizeof uri);
        CHECK(strcmp(uri, "file:///tmp/ml%20runs/0") == 0);
        mlflow_path_to_uri("/a/b~c_d.e-f/%#\xc3\xa9", uri, sizeof uri);
        CHECK(strcmp(uri, "file:///a/b~c_d.e-f/%25%23%C3%A9") == 0);
    }
    root_is(NULL, "./mlruns");
    root_is("", "./mlruns");
    root_is("file:///abs/ml%20runs", "/abs/ml runs");
    root_is("file://localhost/abs/x", "/abs/x");
    root_is("file:rel/dir", "rel/dir");
    root_is("plain/path", "plain/path");
    root_is("/abs/plain", "/abs/plain");
    root_is("./a:b", "./a:b");
    CHECK(dies_with(open_bad_uri, "http://localhost:5000",
                    "MLFLOW_TRACKING_URI 'http://localhost:5000' is not supported"));
    CHECK(dies_with(open_bad_uri, "sqlite:///mlflow.db", "is not supported"));
    CHECK(dies_with(open_bad_uri, "file://otherhost/x", "is not a local file URI"));

    /* ---- a fresh tracking root ---- */
    char uri[1200];
    char absbase[PATH_MAX];
    CHECK(realpath(base, absbase) != NULL);
    char absml[PATH_MAX + 16];
    sfmt(absml, sizeof absml, "%s/mlruns", absbase);
    mlflow_path_to_uri(absml, uri, sizeof uri);
    setenv("MLFLOW_TRACKING_URI", uri, 1);

    Expect x;
    expect_begin(&x);
    RunSpec a = {"simple_cnn_no_quant", "seed0_abc", 1, 1, "0.001"};
    do_run(&a, &x, ml, "1");
    /* Default experiment, .trash, the experiment's meta.yaml */
    pjoin(p, sizeof p, ml, "0/meta.yaml");
    char line[1400];
    sfmt(line, sizeof line, "artifact_location: file://%s/0", absml);
    CHECK(file_has_line(p, line));
    CHECK(file_has_line(p, "name: Default"));
    CHECK(file_has_line(p, "experiment_id: '0'"));
    CHECK(file_has_line(p, "lifecycle_stage: active"));
    pjoin(p, sizeof p, ml, ".trash");
    CHECK(is_dir(p));
    pjoin(p, sizeof p, ml, "1/meta.yaml");
    {
        char *t = read_text(p);
        CHECK(t != NULL);
        sfmt(line, sizeof line, "artifact_location: file://%s/1\ncreation_time: ", absml);
        CHECK(t && strncmp(t, line, strlen(line)) == 0);
        CHECK(t && has_line(t, "experiment_id: '1'"));
        CHECK(t && has_line(t, "name: simple_cnn_no_quant"));
        CHECK(t && has_line(t, "lifecycle_stage: active"));
        CHECK(t && strstr(t, "\nlast_update_time: ") != NULL);
        free(t);
    }

    RunSpec b = {"simple_cnn_no_quant", "seed1_def", 1, 0, "0.01"};
    do_run(&b, &x, ml, "1");
    RunSpec c = {"lstm_lsq", "seed0", 1, 1, "0.0005"};
    do_run(&c, &x, ml, "2");
    pjoin(p, sizeof p, ml, "2/meta.yaml");
    CHECK(file_has_line(p, "name: lstm_lsq"));
    /* The same run folder again: a second MLflow run with the same name. */
    do_run(&a, &x, ml, "1");
    {
        char runs[4][700];
        pjoin(p, sizeof p, ml, "1");
        CHECK(find_runs(p, "seed0_abc", runs, 4) == 2);
        CHECK(find_runs(p, "seed1_def", runs, 4) == 1);
    }
    {
        const char *names[] = {"Default", "simple_cnn_no_quant", "lstm_lsq"};
        const char *ids[] = {"0", "1", "2"};
        pjoin(p, sizeof p, base, "mlruns.expected.json");
        expect_end(&x, p, names, ids, 3);
    }
    /* Reopening a finished run folder drops its result.json first. */
    {
        char rj[1000];
        sfmt(rj, sizeof rj, "%s/runs/lstm_lsq/seed0/result.json", base);
        CHECK(file_exists(rj));
        setenv("MLFLOW_TRACKING_URI", off, 1);
        RunSpec c2 = {"lstm_lsq", "seed0", 0, 1, "0.0005"};
        char outdir[700];
        pjoin(outdir, sizeof outdir, base, "runs");
        Config cfg;
        make_config(&cfg, c2.lr);
        RunStoreOptions opt = {outdir, c2.experiment, c2.run_name, 0, NULL, NULL, 0};
        RunStore *rs = run_store_open(&opt, &cfg);
        CHECK(!file_exists(rj));
        run_store_finish(rs, "{\"again\": true}\n", 1);
        CHECK(text_is(rj, "{\"again\": true}\n"));
    }

    /* ---- MLflow off: nothing written to the tracking root ---- */
    setenv("MLFLOW_TRACKING_URI", off, 1);
    RunSpec d = {"no_mlflow", "seed0", 0, 1, "0.1"};
    do_run(&d, NULL, off, "0");
    CHECK(!file_exists(off));

    /* ---- bad names ---- */
    {
        RunSpec bad1 = {"a/b", "seed0", 0, 1, "0.1"};
        CHECK(dies_with(open_run, &bad1, "the experiment name 'a/b' must not contain '/'"));
        RunSpec bad2 = {"exp", "..", 0, 1, "0.1"};
        CHECK(dies_with(open_run, &bad2, "the run name '..' must not"));
        RunSpec bad3 = {"exp", "", 0, 1, "0.1"};
        CHECK(dies_with(open_run, &bad3, "the run name is empty"));
    }

    /* ---- an existing root (as mlflow 3 leaves it): ids, quoted names, deleted ---- */
    setenv("MLFLOW_TRACKING_URI", ml2, 1); /* a plain path, with spaces */
    pjoin(p, sizeof p, ml2, "205428828198724042");
    {
        char seed[2000], sub[1200];
        mlflow_path_to_uri(absbase, sub, sizeof sub);
        sfmt(seed, sizeof seed,
                 "artifact_location: %s/ml%%20runs%%202/205428828198724042\n"
                 "creation_time: 1795800551429\n"
                 "effective_trace_archival_retention: null\n"
                 "experiment_id: '205428828198724042'\n"
                 "last_update_time: 1795800551429\n"
                 "lifecycle_stage: active\n"
                 "name: 'seeded: exp'\n"
                 "trace_location: null\n"
                 "workspace: default\n",
                 sub);
        write_seed(p, seed);
        pjoin(p, sizeof p, ml2, ".trash/7");
        sfmt(seed, sizeof seed,
                 "artifact_location: %s/ml%%20runs%%202/7\n"
                 "creation_time: 1\nexperiment_id: '7'\nlast_update_time: 2\n"
                 "lifecycle_stage: deleted\nname: gone\n",
                 sub);
        write_seed(p, seed);
    }
    Expect x2;
    expect_begin(&x2);
    RunSpec e = {"seeded: exp", "r1", 1, 1, "0.2"};
    do_run(&e, &x2, ml2, "205428828198724042");
    RunSpec f = {"true", "r2", 1, 1, "0.3"};
    do_run(&f, &x2, ml2, "205428828198724043");
    pjoin(p, sizeof p, ml2, "205428828198724043/meta.yaml");
    CHECK(file_has_line(p, "name: 'true'"));
    {
        char absml2[PATH_MAX + 16], u2[1200];
        sfmt(absml2, sizeof absml2, "%s/ml runs 2/205428828198724043", absbase);
        mlflow_path_to_uri(absml2, u2, sizeof u2);
        sfmt(line, sizeof line, "artifact_location: %s", u2);
        CHECK(file_has_line(p, line));
        CHECK(strstr(line, "ml%20runs%202") != NULL);
    }
    pjoin(p, sizeof p, ml2, "0");
    CHECK(!file_exists(p)); /* an existing root gets no Default experiment, as in mlflow */
    RunSpec g = {"gone", "r3", 1, 1, "0.3"};
    CHECK(dies_with(open_run, &g, "MLflow experiment 'gone' (id 7) is deleted"));
    {
        const char *names[] = {"seeded: exp", "true"};
        const char *ids[] = {"205428828198724042", "205428828198724043"};
        pjoin(p, sizeof p, base, "ml runs 2.expected.json");
        expect_end(&x2, p, names, ids, 2);
    }

    CHECK(no_tmp_files(ml));
    CHECK(no_tmp_files(ml2));
    if (!(env && *env)) {
        rm_rf(base);
    } else {
        printf("MLflow stores in %s/mlruns and \"%s/ml runs 2\" (expectations: *.expected.json)\n",
               base, base);
    }
    return check_done("test_run_store");
}
