#include "io/mlflow_store.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "core/error.h"
#include "io/atomic_file.h"

#define ML_PATH 1200
#define ML_MAX_KEY 250        /* MAX_ENTITY_KEY_LENGTH */
#define ML_MAX_PARAM_VAL 6000 /* MAX_PARAM_VAL_LENGTH */
#define ML_MAX_TAG_VAL 8000   /* MAX_TAG_VAL_LENGTH */

struct MlflowRun {
    char root[ML_PATH];        /* absolute tracking directory */
    char exp_id[256];
    char run_id[33];
    char run_name[256];
    char user[128];
    char dir[ML_PATH];         /* <root>/<exp_id>/<run_id> */
    char artifact_uri[2 * ML_PATH];
    char artifact_dir[ML_PATH]; /* local artifacts folder, "" when not a file: URI */
    long long start_ms;
};

/* ---- small helpers ---- */

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void join(char *out, size_t cap, const char *a, const char *b) {
    int n = snprintf(out, cap, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= cap) qat_die("path too long: %s/%s", a, b);
}

/* snprintf that dies instead of truncating. */
static void sfmt(char *out, size_t cap, const char *fmt, ...) QAT_PRINTF(3, 4);
static void sfmt(char *out, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap) qat_die("MLflow store: text too long: %.80s...", out);
}

static void write_file(const char *path, const char *text, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) qat_die("cannot write %s: %s", path, strerror(errno));
    if (fwrite(text, 1, n, f) != n || fflush(f) != 0) {
        int e = errno;
        fclose(f);
        qat_die("cannot write %s: %s", path, strerror(e));
    }
    if (fclose(f) != 0) qat_die("cannot write %s: %s", path, strerror(errno));
}

static void mkdir_one(const char *path) {
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        qat_die("cannot create directory %s: %s", path, strerror(errno));
}

/* ---- URIs ---- */

void mlflow_path_to_uri(const char *abs_path, char *out, size_t cap) {
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 0;
    const char *pre = "file://";
    for (const char *p = pre; *p; p++)
        if (k + 1 < cap) out[k++] = *p;
    for (const unsigned char *p = (const unsigned char *)abs_path; *p; p++) {
        unsigned c = *p;
        int safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == '.' || c == '-' || c == '~' || c == '/';
        if (safe) {
            if (k + 1 >= cap) qat_die("path too long: %s", abs_path);
            out[k++] = (char)c;
        } else {
            if (k + 3 >= cap) qat_die("path too long: %s", abs_path);
            out[k++] = '%';
            out[k++] = hex[c >> 4];
            out[k++] = hex[c & 15];
        }
    }
    out[k] = '\0';
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* "file:///a%20b" -> "/a b", "file://localhost/x" -> "/x", "file:rel" -> "rel".
 * Returns 0 when uri is not a file: URI. */
static int file_uri_to_path(const char *uri, char *out, size_t cap) {
    if (strncmp(uri, "file:", 5) != 0) return 0;
    const char *p = uri + 5;
    if (strncmp(p, "//", 2) == 0) {
        p += 2;
        const char *slash = strchr(p, '/');
        size_t hostlen = slash ? (size_t)(slash - p) : strlen(p);
        if (hostlen && !(hostlen == 9 && strncmp(p, "localhost", 9) == 0)) return 0;
        p += hostlen;
    }
    size_t k = 0;
    for (; *p; p++) {
        char c = *p;
        if (c == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            c = (char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
        }
        if (k + 1 >= cap) qat_die("path too long: %s", uri);
        out[k++] = c;
    }
    out[k] = '\0';
    return 1;
}

void mlflow_tracking_root(char *out, size_t cap) {
    const char *uri = getenv("MLFLOW_TRACKING_URI");
    if (!uri || !*uri) {
        snprintf(out, cap, "./mlruns");
        return;
    }
    if (strncmp(uri, "file:", 5) == 0) {
        if (!file_uri_to_path(uri, out, cap) || !*out)
            qat_die("MLFLOW_TRACKING_URI '%s' is not a local file URI", uri);
        return;
    }
    /* A scheme ("http:", "sqlite:", "databricks:") is not a path. */
    const char *colon = strchr(uri, ':');
    const char *slash = strchr(uri, '/');
    if (colon && (!slash || colon < slash) && colon > uri)
        qat_die("MLFLOW_TRACKING_URI '%s' is not supported: qat writes only the file store "
                "(file:PATH or a plain path)",
                uri);
    if (strlen(uri) >= cap) qat_die("MLFLOW_TRACKING_URI too long: %s", uri);
    snprintf(out, cap, "%s", uri);
}

/* ---- keys ---- */

void mlflow_sanitize_key(const char *key, char *out, size_t cap) {
    QAT_ASSERT(cap >= 2);
    size_t lim = cap - 1 < ML_MAX_KEY ? cap - 1 : ML_MAX_KEY;
    size_t k = 0;
    const char *p = key;
    while (*p && k < lim) {
        while (*p == '/') p++; /* empty parts */
        if (!*p) break;
        const char *e = p;
        while (*e && *e != '/') e++;
        size_t n = (size_t)(e - p);
        if (k > 0 && k < lim) out[k++] = '/';
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
            for (size_t i = 0; i < n && k < lim; i++) out[k++] = '_';
        } else {
            for (size_t i = 0; i < n && k < lim; i++) {
                unsigned char c = (unsigned char)p[i];
                int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-' ||
                         c == ' ' || c == ':';
                out[k++] = ok ? (char)c : '_';
            }
        }
        p = e;
    }
    while (k > 0 && out[k - 1] == '/') k--; /* truncation may leave one */
    out[k] = '\0';
    if (k == 0) snprintf(out, cap, "_");
    if (out[0] == '.' && out[1] == '.') out[0] = '_'; /* must not start with ".." */
}

/* ---- YAML, written the way PyYAML's safe dumper reads back as the same string ---- */

static int yaml_plain_ok(const char *s) {
    static const char *words[] = {"y", "n", "yes", "no", "true", "false", "on", "off", "null",
                                  NULL};
    if (!*s) return 0;
    unsigned char c0 = (unsigned char)s[0];
    if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z') || (c0 >= '0' && c0 <= '9') ||
          c0 == '/' || c0 == '_'))
        return 0;
    int numeric_like = 1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 strchr("_./:%~+-", (int)c) != NULL;
        if (!ok) return 0;
        if (!strchr("0123456789+-._:eExXoObB", (int)c)) numeric_like = 0;
    }
    if (numeric_like) return 0;
    if (s[strlen(s) - 1] == ':') return 0;
    for (int i = 0; words[i]; i++)
        if (strcasecmp(s, words[i]) == 0) return 0;
    return 1;
}

static void yaml_str(FILE *f, const char *key, const char *s) {
    fprintf(f, "%s: ", key);
    if (yaml_plain_ok(s)) {
        fprintf(f, "%s\n", s);
        return;
    }
    int control = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f) control = 1;
    if (!control) {
        fputc('\'', f);
        for (const char *p = s; *p; p++) {
            if (*p == '\'') fputc('\'', f);
            fputc(*p, f);
        }
        fputs("'\n", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
    fputs("\"\n", f);
}

/* Reads the top-level scalar `key` of a YAML mapping file. Returns 1 when found. */
typedef struct {
    const char *key;
    char *out;
    size_t cap;
    int found;
} YamlWant;

static int yaml_read_keys(const char *path, YamlWant *want, int nwant) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    yaml_parser_t parser;
    yaml_document_t doc;
    int ok = 0;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        return 0;
    }
    yaml_parser_set_input_file(&parser, f);
    if (yaml_parser_load(&parser, &doc)) {
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (root && root->type == YAML_MAPPING_NODE) {
            ok = 1;
            for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
                 pr < root->data.mapping.pairs.top; pr++) {
                yaml_node_t *k = yaml_document_get_node(&doc, pr->key);
                yaml_node_t *v = yaml_document_get_node(&doc, pr->value);
                if (!k || !v || k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE)
                    continue;
                for (int i = 0; i < nwant; i++) {
                    if (strcmp((const char *)k->data.scalar.value, want[i].key) != 0) continue;
                    snprintf(want[i].out, want[i].cap, "%.*s", (int)v->data.scalar.length,
                             (const char *)v->data.scalar.value);
                    want[i].found = 1;
                }
            }
        }
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    fclose(f);
    return ok;
}

/* ---- experiments ---- */

static int all_digits(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

static void write_experiment_meta(const char *exp_dir, const char *id, const char *name,
                                  const char *artifact_location, long long t) {
    char path[ML_PATH];
    join(path, sizeof path, exp_dir, "meta.yaml");
    AtomicFile af;
    FILE *f = atomic_file_open(&af, path);
    yaml_str(f, "artifact_location", artifact_location);
    fprintf(f, "creation_time: %lld\n", t);
    fputs("effective_trace_archival_retention: null\n", f);
    fprintf(f, "experiment_id: '%s'\n", id);
    fprintf(f, "last_update_time: %lld\n", t);
    fputs("lifecycle_stage: active\n", f);
    yaml_str(f, "name", name);
    fputs("trace_location: null\n", f);
    fputs("workspace: default\n", f);
    atomic_file_commit(&af);
}

/* Creates experiment `id` (its folder must not exist). Returns 0 when another process took
 * the id first. */
static int create_experiment(const char *root, const char *id, const char *name) {
    char dir[ML_PATH], uri[2 * ML_PATH], loc[2 * ML_PATH + 40];
    join(dir, sizeof dir, root, id);
    if (mkdir(dir, 0777) != 0) {
        if (errno == EEXIST) return 0;
        qat_die("cannot create directory %s: %s", dir, strerror(errno));
    }
    mlflow_path_to_uri(root, uri, sizeof uri);
    sfmt(loc, sizeof loc, "%s/%s", uri, id);
    write_experiment_meta(dir, id, name, loc, now_ms());
    return 1;
}

/* Scans `parent` for experiment folders: the id of the one named `name` into found_id, and
 * the largest numeric id into *max_id. */
static void scan_experiments(const char *parent, const char *name, char *found_id, size_t cap,
                             char *found_stage, size_t stage_cap, unsigned long long *max_id,
                             int *any) {
    DIR *d = opendir(parent);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "models") == 0) continue;
        char dir[ML_PATH], meta[ML_PATH];
        join(dir, sizeof dir, parent, e->d_name);
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        if (all_digits(e->d_name)) {
            errno = 0;
            unsigned long long v = strtoull(e->d_name, NULL, 10);
            if (errno == 0 && v >= *max_id) {
                *max_id = v;
                *any = 1;
            }
        }
        join(meta, sizeof meta, dir, "meta.yaml");
        char nm[1024] = "", stage[64] = "active";
        YamlWant w[2] = {{"name", nm, sizeof nm, 0}, {"lifecycle_stage", stage, sizeof stage, 0}};
        if (!yaml_read_keys(meta, w, 2) || !w[0].found) continue;
        if (strcmp(nm, name) == 0 && !found_id[0]) {
            sfmt(found_id, cap, "%s", e->d_name);
            sfmt(found_stage, stage_cap, "%s", stage);
        }
    }
    closedir(d);
}

/* ---- runs ---- */

static uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static void new_run_id(char out[33]) {
    static unsigned long counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t a = mix64((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
    uint64_t b = mix64(a ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(++counter));
    uint64_t c = mix64(b ^ (uint64_t)(uintptr_t)&counter ^ (uint64_t)clock());
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)b, (unsigned long long)c);
}

static void get_user(char *out, size_t cap) {
    const char *vars[] = {"LOGNAME", "USER", "LNAME", "USERNAME"};
    for (int i = 0; i < 4; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) {
            snprintf(out, cap, "%s", v);
            return;
        }
    }
    struct passwd *pw = getpwuid(getuid());
    snprintf(out, cap, "%s", pw && pw->pw_name ? pw->pw_name : "unknown");
}

static void write_run_meta(const MlflowRun *r, int status, long long end_ms, int running) {
    char path[ML_PATH];
    join(path, sizeof path, r->dir, "meta.yaml");
    AtomicFile af;
    FILE *f = atomic_file_open(&af, path);
    yaml_str(f, "artifact_uri", r->artifact_uri);
    if (running) fputs("deleted_time: null\n", f); /* as mlflow's create_run writes it */
    if (end_ms >= 0)
        fprintf(f, "end_time: %lld\n", end_ms);
    else
        fputs("end_time: null\n", f);
    fputs("entry_point_name: ''\n", f);
    fprintf(f, "experiment_id: '%s'\n", r->exp_id);
    fputs("lifecycle_stage: active\n", f);
    fprintf(f, "run_id: %s\n", r->run_id);
    yaml_str(f, "run_name", r->run_name);
    /* run_uuid: not written by mlflow 3, required by mlflow 1.x readers, ignored by newer. */
    fprintf(f, "run_uuid: %s\n", r->run_id);
    fputs("source_name: ''\n", f);
    fputs("source_type: 4\n", f); /* SourceType.LOCAL */
    fputs("source_version: ''\n", f);
    fprintf(f, "start_time: %lld\n", r->start_ms);
    fprintf(f, "status: %d\n", status);
    fputs("tags: []\n", f);
    yaml_str(f, "user_id", r->user);
    atomic_file_commit(&af);
}

/* <run>/<folder>/<sanitized key>, creating the folders a '/' in the key implies. */
static void item_path(const MlflowRun *r, const char *folder, const char *key, char *out,
                      size_t cap) {
    char k[ML_MAX_KEY + 1], base[ML_PATH];
    mlflow_sanitize_key(key, k, sizeof k);
    join(base, sizeof base, r->dir, folder);
    join(out, cap, base, k);
    if (strchr(k, '/')) {
        char parent[ML_PATH];
        snprintf(parent, sizeof parent, "%s", out);
        *strrchr(parent, '/') = '\0';
        make_dirs(parent);
    }
}

MlflowRun *mlflow_run_start(const char *root_in, const char *experiment, const char *run_name) {
    return mlflow_run_continue(root_in, experiment, run_name, NULL, 0);
}

/* Removes a folder tree (the metrics of a continued run, replayed from its history). */
static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    if (remove(path) != 0 && errno != ENOENT) qat_die("cannot remove %s: %s", path, strerror(errno));
    return 0;
}

MlflowRun *mlflow_run_continue(const char *root_in, const char *experiment, const char *run_name,
                               const char *run_id, long long start_ms) {
    if (!experiment || !*experiment) qat_die("MLflow experiment name is empty");
    int fresh = !file_exists(root_in);
    make_dirs(root_in);
    MlflowRun *r = qat_calloc(1, sizeof *r);
    if (!realpath(root_in, r->root))
        qat_die("cannot resolve MLflow tracking directory %s: %s", root_in, strerror(errno));
    char trash[ML_PATH];
    join(trash, sizeof trash, r->root, ".trash");

    int lock = open(r->root, O_RDONLY | O_DIRECTORY);
    if (lock < 0) qat_die("cannot open %s: %s", r->root, strerror(errno));
    if (flock(lock, LOCK_EX) != 0) qat_die("cannot lock %s: %s", r->root, strerror(errno));

    if (fresh) create_experiment(r->root, "0", "Default");
    mkdir_one(trash);

    char found[256] = "", stage[64] = "", found_del[256] = "", stage_del[64] = "";
    unsigned long long max_id = 0;
    int any = 0;
    scan_experiments(r->root, experiment, found, sizeof found, stage, sizeof stage, &max_id, &any);
    scan_experiments(trash, experiment, found_del, sizeof found_del, stage_del,
                     sizeof stage_del, &max_id, &any);
    if (found[0] && strcmp(stage, "active") != 0)
        qat_die("MLflow experiment '%s' (id %s in %s) is %s; restore it or use another name",
                experiment, found, r->root, stage);
    if (!found[0] && found_del[0])
        qat_die("MLflow experiment '%s' (id %s) is deleted (in %s); restore it or remove it "
                "to reuse the name",
                experiment, found_del, trash);
    if (found[0]) {
        sfmt(r->exp_id, sizeof r->exp_id, "%s", found);
    } else {
        unsigned long long id = any ? max_id + 1 : 1;
        for (;;) {
            sfmt(r->exp_id, sizeof r->exp_id, "%llu", id);
            if (create_experiment(r->root, r->exp_id, experiment)) break;
            id++;
        }
    }
    flock(lock, LOCK_UN);
    close(lock);

    /* The run's artifact location follows the experiment's (which may be custom). */
    char exp_dir[ML_PATH], meta[ML_PATH], loc[2 * ML_PATH] = "";
    join(exp_dir, sizeof exp_dir, r->root, r->exp_id);
    join(meta, sizeof meta, exp_dir, "meta.yaml");
    YamlWant w = {"artifact_location", loc, sizeof loc, 0};
    yaml_read_keys(meta, &w, 1);
    if (!w.found || !loc[0]) {
        char uri[2 * ML_PATH];
        mlflow_path_to_uri(r->root, uri, sizeof uri);
        sfmt(loc, sizeof loc, "%s/%s", uri, r->exp_id);
    }
    while (strlen(loc) > 1 && loc[strlen(loc) - 1] == '/') loc[strlen(loc) - 1] = '\0';

    int continued = 0;
    if (run_id && *run_id) {
        /* The same run again: its folder if it is still there, else a new one by that id. */
        if (strlen(run_id) != 32 || strspn(run_id, "0123456789abcdef") != 32)
            qat_die("MLflow run id '%s' is not 32 hex digits", run_id);
        sfmt(r->run_id, sizeof r->run_id, "%s", run_id);
        join(r->dir, sizeof r->dir, exp_dir, r->run_id);
        mkdir_one(r->dir);
        char metrics[ML_PATH];
        join(metrics, sizeof metrics, r->dir, "metrics");
        if (file_exists(metrics) && nftw(metrics, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
            qat_die("cannot clear %s: %s", metrics, strerror(errno));
        continued = 1;
    }
    for (int tries = 0; !continued; tries++) {
        new_run_id(r->run_id);
        join(r->dir, sizeof r->dir, exp_dir, r->run_id);
        if (mkdir(r->dir, 0777) == 0) break;
        if (errno != EEXIST || tries > 100)
            qat_die("cannot create directory %s: %s", r->dir, strerror(errno));
    }
    sfmt(r->artifact_uri, sizeof r->artifact_uri, "%s/%s/artifacts", loc, r->run_id);
    char local[ML_PATH];
    if (file_uri_to_path(r->artifact_uri, local, sizeof local))
        sfmt(r->artifact_dir, sizeof r->artifact_dir, "%s", local);
    sfmt(r->run_name, sizeof r->run_name, "%s", run_name && *run_name ? run_name : r->run_id);
    get_user(r->user, sizeof r->user);
    r->start_ms = continued && start_ms > 0 ? start_ms : now_ms();

    const char *subs[] = {"metrics", "params", "tags", "artifacts"};
    for (int i = 0; i < 4; i++) {
        char p[ML_PATH];
        join(p, sizeof p, r->dir, subs[i]);
        mkdir_one(p);
    }
    if (r->artifact_dir[0]) make_dirs(r->artifact_dir);
    write_run_meta(r, MLFLOW_RUNNING, -1, 1);

    char exe[PATH_MAX] = "";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    mlflow_set_tag(r, "mlflow.runName", r->run_name);
    mlflow_set_tag(r, "mlflow.user", r->user);
    mlflow_set_tag(r, "mlflow.source.name", exe[0] ? exe : "qat");
    mlflow_set_tag(r, "mlflow.source.type", "LOCAL");
    return r;
}

static void write_value(const MlflowRun *r, const char *folder, const char *key,
                        const char *value, size_t max) {
    char path[ML_PATH];
    item_path(r, folder, key, path, sizeof path);
    size_t n = strlen(value);
    write_file(path, value, n < max ? n : max);
}

void mlflow_log_param(MlflowRun *r, const char *key, const char *value) {
    write_value(r, "params", key, value ? value : "", ML_MAX_PARAM_VAL);
}

void mlflow_set_tag(MlflowRun *r, const char *key, const char *value) {
    write_value(r, "tags", key, value ? value : "", ML_MAX_TAG_VAL);
}

/* Shortest text that reads back as the same double (Python's float() reads it). */
static void fmt_double(double v, char *out, size_t cap) {
    if (isnan(v)) {
        snprintf(out, cap, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(out, cap, v > 0 ? "inf" : "-inf");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v) return;
    }
}

void mlflow_log_metric(MlflowRun *r, const char *key, double value, long step) {
    mlflow_log_metric_at(r, key, value, step, now_ms());
}

void mlflow_log_metric_at(MlflowRun *r, const char *key, double value, long step, long long ts_ms) {
    char path[ML_PATH], num[40];
    item_path(r, "metrics", key, path, sizeof path);
    fmt_double(value, num, sizeof num);
    FILE *f = fopen(path, "ab");
    if (!f) qat_die("cannot write %s: %s", path, strerror(errno));
    int bad = fprintf(f, "%lld %s %ld\n", ts_ms, num, step) < 0;
    if (fclose(f) != 0 || bad) qat_die("cannot write %s: %s", path, strerror(errno));
}

void mlflow_log_artifact_text(MlflowRun *r, const char *name, const char *text) {
    if (!r->artifact_dir[0]) return;
    char path[ML_PATH];
    join(path, sizeof path, r->artifact_dir, name);
    AtomicFile af;
    FILE *f = atomic_file_open(&af, path);
    fputs(text, f);
    atomic_file_commit(&af);
}

void mlflow_log_artifact_file(MlflowRun *r, const char *src_path, const char *name) {
    if (!r->artifact_dir[0]) return;
    FILE *in = fopen(src_path, "rb");
    if (!in) qat_die("cannot read %s: %s", src_path, strerror(errno));
    char path[ML_PATH];
    join(path, sizeof path, r->artifact_dir, name);
    AtomicFile af;
    FILE *f = atomic_file_open(&af, path);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, f) != n) qat_die("cannot write %s: %s", path, strerror(errno));
    if (ferror(in)) qat_die("cannot read %s: %s", src_path, strerror(errno));
    fclose(in);
    atomic_file_commit(&af);
}

void mlflow_run_end(MlflowRun *r, int status) {
    write_run_meta(r, status, now_ms(), 0);
    free(r);
}

long long mlflow_run_start_ms(const MlflowRun *r) { return r->start_ms; }

const char *mlflow_run_id(const MlflowRun *r) { return r->run_id; }
const char *mlflow_experiment_id(const MlflowRun *r) { return r->exp_id; }
const char *mlflow_run_dir(const MlflowRun *r) { return r->dir; }
