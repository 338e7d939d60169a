/* Resume state meta text: one "key value" line each, written and read in this order
 * (doubles as C99 hex floats, so they read back bit for bit; RNG states as four 64-bit
 * hex words):
 *   qat-resume 1
 *   run NAME | model NAME | quantizer NAME | threads N | seconds D
 *   calibrating 0|1 | calib_inputs_done 0|1 | calib_next_site N | calib_rng R | calib_seen N
 *   epoch N | batch N | train_batches N | shuffle R | shuffle_epoch R | graph_rng R | model_rng R|-
 *   adam_t N | loss_sum D | correct D | count D | best_val D | best_epoch N
 *   sites FLAGS (one 0/1 per quant site: its quantizer is initialised; "-" for none)
 *   mlflow_run ID|- | mlflow_start_ms N
 *   last D KEY            (repeated: the last evaluation's metrics)
 *   metric STEP MS D KEY  (repeated: every metric logged so far, in order)
 * Arrays: every parameter by its name; "adam.m:NAME" and "adam.v:NAME" for the trained
 * ones; "best:NAME" when the best epoch is kept; "fp:NAME" for AdaRound's FP copies. */
#include "run/resume.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/runtime.h"

#define RESUME_VERSION 1

const TensorFileKind TENSOR_FILE_RESUME = {"resume state", "QATSTAT1", "a qat resume state", "array"};

/* ---- writing ---- */

static void put_rng(FILE *f, const char *key, const Rng *r) {
    fprintf(f, "%s %016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %016" PRIx64 "\n", key, r->s[0], r->s[1], r->s[2],
            r->s[3]);
}

static char *meta_text(const Trainer *t) {
    const Model *m = t->m;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) qat_die("out of memory writing the resume state");
    fprintf(f, "qat-resume %d\n", RESUME_VERSION);
    fprintf(f, "run %s\nmodel %s\nquantizer %s\nthreads %d\n", t->run_name, t->md->name, t->qm->name,
            runtime_threads());
    fprintf(f, "seconds %a\n", t->seconds_before + (runtime_now() - t->t_start));
    fprintf(f, "calibrating %d\ncalib_inputs_done %d\ncalib_next_site %d\n", t->calibrating, t->calib.inputs_done,
            t->calib.next_site);
    put_rng(f, "calib_rng", &t->calib.rng);
    fprintf(f, "calib_seen %ld\n", t->calib.seen);
    fprintf(f, "epoch %d\nbatch %d\ntrain_batches %d\n", t->epoch, t->batch, m->train_batches);
    put_rng(f, "shuffle", &t->shuffle);
    put_rng(f, "shuffle_epoch", &t->shuffle_epoch);
    put_rng(f, "graph_rng", &t->g.rng);
    if (m->rng) put_rng(f, "model_rng", m->rng);
    else fputs("model_rng -\n", f);
    fprintf(f, "adam_t %ld\n", t->opt.t);
    fprintf(f, "loss_sum %a\ncorrect %a\ncount %a\nbest_val %a\nbest_epoch %d\n", t->loss_sum, t->correct, t->count,
            t->best_val, t->best_epoch);
    fputs("sites ", f);
    for (int i = 0; i < m->sites.n; i++) fputc(m->sites.items[i]->q && m->sites.items[i]->q->initialized ? '1' : '0', f);
    fputs(m->sites.n ? "\n" : "-\n", f);
    const char *ml = run_store_mlflow_run_id(t->rs);
    fprintf(f, "mlflow_run %s\nmlflow_start_ms %lld\n", *ml ? ml : "-", run_store_mlflow_start_ms(t->rs));
    for (int i = 0; i < t->last.n; i++) fprintf(f, "last %a %s\n", t->last.value[i], t->last.key[i]);
    const MetricHistory *h = run_store_history(t->rs);
    for (int i = 0; i < h->n; i++)
        fprintf(f, "metric %ld %lld %a %s\n", h->items[i].step, h->items[i].ts_ms, h->items[i].value, h->items[i].key);
    if (fclose(f) != 0) qat_die("out of memory writing the resume state");
    return text;
}

typedef struct {
    TensorRef *items;
    char (*names)[TENSOR_NAME_MAX];
    int n, cap;
} RefList;

static void add_ref(RefList *l, const char *prefix, const Param *p, const float *data) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->items = qat_realloc(l->items, (size_t)l->cap * sizeof *l->items);
        l->names = qat_realloc(l->names, (size_t)l->cap * sizeof *l->names);
    }
    snprintf(l->names[l->n], TENSOR_NAME_MAX, "%s%s", prefix, p->name);
    l->items[l->n] = (TensorRef){NULL, (int)p->group, p->t.ndim, p->t.shape, data};
    l->n++;
}

static void check_finite(const Param *p, const char *what) {
    for (size_t i = 0; i < p->t.size; i++)
        if (!isfinite(p->t.data[i]))
            qat_die("training diverged: %s '%s' holds %g at index %zu; the resume state is not updated "
                    "(lower training.lr?)",
                    what, p->name, (double)p->t.data[i], i);
}

void resume_save(const Trainer *t) {
    const ParamList *pl = &t->m->params;
    RefList l = {0};
    for (int k = 0; k < pl->n; k++) {
        const Param *p = pl->items[k];
        check_finite(p, "parameter");
        add_ref(&l, "", p, p->t.data);
    }
    for (int k = 0; k < pl->n; k++) {
        const Param *p = pl->items[k];
        if (p->frozen) continue;
        add_ref(&l, "adam.m:", p, p->m);
        add_ref(&l, "adam.v:", p, p->v);
    }
    for (int k = 0; t->best && k < pl->n; k++) add_ref(&l, "best:", pl->items[k], t->best[k]);
    for (int i = 0; t->calib.fp_weights && i < t->m->sites.n; i++)
        if (t->calib.fp_weights[i]) add_ref(&l, "fp:", t->m->sites.items[i]->weight, t->calib.fp_weights[i]);
    for (int i = 0; i < l.n; i++) l.items[i].name = l.names[i];
    char *meta = meta_text(t);
    tensor_file_save(&TENSOR_FILE_RESUME, t->state_path, t->md->name, meta, l.items, l.n);
    free(meta);
    free(l.items);
    free(l.names);
}

/* ---- reading ---- */

typedef struct {
    const char *path;
    char *p;  /* the next line */
    int line; /* 1-based number of the line being read */
} Lines;

QAT_NORETURN static void bad(const Lines *L, const char *what) {
    qat_die("resume state %s is corrupt (meta line %d: %s); remove it or pass --no-resume", L->path, L->line, what);
}

/* The value of the next line, which must be `key`. */
static char *next_value(Lines *L, const char *key) {
    L->line++;
    if (!*L->p) bad(L, "ends early");
    char *line = L->p, *nl = strchr(line, '\n');
    if (!nl) bad(L, "no line end");
    *nl = '\0';
    L->p = nl + 1;
    size_t k = strlen(key);
    if (strncmp(line, key, k) != 0 || line[k] != ' ') {
        char msg[160];
        snprintf(msg, sizeof msg, "expected '%s'", key);
        bad(L, msg);
    }
    return line + k + 1;
}

/* The next line's key when it is `key` (repeated entries), else NULL. */
static char *maybe_value(Lines *L, const char *key) {
    size_t k = strlen(key);
    if (strncmp(L->p, key, k) != 0 || L->p[k] != ' ') return NULL;
    return next_value(L, key);
}

static long long get_int(Lines *L, const char *key, long long lo, long long hi) {
    char *v = next_value(L, key), *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) bad(L, "integer out of range");
    return x;
}

static double parse_double(Lines *L, const char *v, char **end) {
    errno = 0;
    double x = strtod(v, end);
    if (*end == v || errno == ERANGE) bad(L, "not a number");
    return x;
}

static double get_double(Lines *L, const char *key) {
    char *v = next_value(L, key), *end;
    double x = parse_double(L, v, &end);
    if (*end) bad(L, "trailing text after a number");
    return x;
}

static void copy_name(Lines *L, char *out, size_t cap, const char *v) {
    if (!*v || strlen(v) >= cap) bad(L, "bad name");
    snprintf(out, cap, "%s", v);
}

/* 1 when the line is "-" (no stream). */
static int get_rng(Lines *L, const char *key, Rng *r) {
    char *v = next_value(L, key);
    if (strcmp(v, "-") == 0) return 1;
    for (int i = 0; i < 4; i++) {
        char *end;
        errno = 0;
        unsigned long long x = strtoull(v, &end, 16);
        if (errno || end - v != 16) bad(L, "bad RNG state");
        r->s[i] = (uint64_t)x;
        v = end;
        if (i < 3 && *v++ != ' ') bad(L, "bad RNG state");
    }
    if (*v) bad(L, "bad RNG state");
    return 0;
}

/* The values a Trainer takes, parsed once by resume_read and kept for resume_apply. */
typedef struct ResumeProgress {
    double seconds;
    int inputs_done;
    Rng calib_rng;
    long calib_seen;
    Rng shuffle, shuffle_epoch, graph_rng, model_rng;
    int has_model_rng;
    long adam_t;
    double loss_sum, correct, count, best_val;
    int best_epoch;
    char *sites; /* flags, "" for none */
    Metrics last;
    char *text; /* the parsed copy of the meta text (sites points into it) */
} Progress;

static void parse(ResumeState *rs, Progress *pg) {
    pg->text = qat_strdup(rs->file.meta);
    Lines L = {rs->file.path, pg->text, 0};
    if (get_int(&L, "qat-resume", 0, 1000) != RESUME_VERSION) bad(&L, "another format version");
    copy_name(&L, rs->run_name, sizeof rs->run_name, next_value(&L, "run"));
    copy_name(&L, rs->model, sizeof rs->model, next_value(&L, "model"));
    copy_name(&L, rs->quantizer, sizeof rs->quantizer, next_value(&L, "quantizer"));
    rs->threads = (int)get_int(&L, "threads", 1, 1 << 20);
    pg->seconds = get_double(&L, "seconds");
    rs->calibrating = (int)get_int(&L, "calibrating", 0, 1);
    pg->inputs_done = (int)get_int(&L, "calib_inputs_done", 0, 1);
    rs->calib_next_site = (int)get_int(&L, "calib_next_site", 0, 1 << 20);
    if (get_rng(&L, "calib_rng", &pg->calib_rng)) bad(&L, "missing RNG state");
    pg->calib_seen = (long)get_int(&L, "calib_seen", 0, INT64_MAX);
    rs->epoch = (int)get_int(&L, "epoch", 0, 1 << 30);
    rs->batch = (int)get_int(&L, "batch", 0, 1 << 30);
    rs->train_batches = (int)get_int(&L, "train_batches", 0, 1 << 30);
    if (rs->batch > rs->train_batches) bad(&L, "batch past the epoch's end");
    if (get_rng(&L, "shuffle", &pg->shuffle) || get_rng(&L, "shuffle_epoch", &pg->shuffle_epoch) ||
        get_rng(&L, "graph_rng", &pg->graph_rng))
        bad(&L, "missing RNG state");
    pg->has_model_rng = !get_rng(&L, "model_rng", &pg->model_rng);
    pg->adam_t = (long)get_int(&L, "adam_t", 0, INT64_MAX);
    pg->loss_sum = get_double(&L, "loss_sum");
    pg->correct = get_double(&L, "correct");
    pg->count = get_double(&L, "count");
    pg->best_val = get_double(&L, "best_val");
    pg->best_epoch = (int)get_int(&L, "best_epoch", 0, rs->epoch);
    pg->sites = next_value(&L, "sites");
    if (strcmp(pg->sites, "-") == 0) pg->sites = "";
    if (strspn(pg->sites, "01") != strlen(pg->sites)) bad(&L, "site flags must be 0 or 1");
    char *ml = next_value(&L, "mlflow_run");
    if (strcmp(ml, "-") != 0) copy_name(&L, rs->mlflow_run, sizeof rs->mlflow_run, ml);
    rs->mlflow_start_ms = get_int(&L, "mlflow_start_ms", 0, INT64_MAX);
    char *v;
    while ((v = maybe_value(&L, "last"))) {
        char *end;
        double x = parse_double(&L, v, &end);
        if (*end != ' ' || !end[1] || strlen(end + 1) >= sizeof pg->last.key[0]) bad(&L, "bad metric");
        if (pg->last.n == METRICS_MAX) bad(&L, "too many metrics");
        metrics_set(&pg->last, end + 1, x);
    }
    while ((v = maybe_value(&L, "metric"))) {
        char *end;
        errno = 0;
        long step = strtol(v, &end, 10);
        if (errno || end == v || *end != ' ') bad(&L, "bad metric step");
        v = end + 1;
        long long ms = strtoll(v, &end, 10);
        if (errno || end == v || *end != ' ') bad(&L, "bad metric time");
        double x = parse_double(&L, end + 1, &end);
        if (*end != ' ' || !end[1]) bad(&L, "bad metric");
        metric_history_add(&rs->history, end + 1, x, step, ms);
    }
    L.line++;
    if (*L.p) bad(&L, "unexpected line");
}

void resume_read(ResumeState *rs, const char *path) {
    memset(rs, 0, sizeof *rs);
    tensor_file_read(&rs->file, &TENSOR_FILE_RESUME, path);
    rs->progress = qat_calloc(1, sizeof *rs->progress);
    parse(rs, rs->progress);
    if (strcmp(rs->model, rs->file.model) != 0) qat_die("resume state %s is corrupt (two model names)", path);
}

void resume_free(ResumeState *rs) {
    tensor_file_free(&rs->file);
    metric_history_free(&rs->history);
    if (rs->progress) free(rs->progress->text);
    free(rs->progress);
    rs->progress = NULL;
}

/* Copies array prefix+p->name into out, checking that it is there with p's shape. */
static void load_array(const ResumeState *rs, const char *prefix, const Param *p, float *out) {
    char name[TENSOR_NAME_MAX];
    snprintf(name, sizeof name, "%s%s", prefix, p->name);
    const StoredTensor *st = tensor_file_find(&rs->file, name);
    if (!st)
        qat_die("resume state %s has no array '%s': it was written for another configuration; pass --no-resume",
                rs->file.path, name);
    int same = st->ndim == p->t.ndim;
    for (int d = 0; same && d < st->ndim; d++) same = st->shape[d] == p->t.shape[d];
    if (!same) {
        char a[96], b[96];
        qat_die("resume state %s: array '%s' has shape %s, the model expects %s; pass --no-resume", rs->file.path,
                name, dims_str(st->ndim, st->shape, a, sizeof a), dims_str(p->t.ndim, p->t.shape, b, sizeof b));
    }
    stored_tensor_copy(st, out);
}

void resume_apply(const ResumeState *rs, Trainer *t) {
    const Progress pg = *rs->progress;
    Model *m = t->m;
    const char *path = rs->file.path;
    if (strcmp(rs->model, t->md->name) != 0 || strcmp(rs->quantizer, t->qm->name) != 0)
        qat_die("resume state %s is of %s with %s, not %s with %s; pass --no-resume", path, rs->model, rs->quantizer,
                t->md->name, t->qm->name);
    if (rs->train_batches != m->train_batches)
        qat_die("resume state %s was written with %d training batches per epoch, the data now gives %d (did the "
                "dataset change?); pass --no-resume",
                path, rs->train_batches, m->train_batches);
    if (rs->calibrating && !t->qm->is_ptq) qat_die("resume state %s is corrupt (it calibrates %s)", path, t->qm->name);
    if (rs->calib_next_site > m->sites.n)
        qat_die("resume state %s is corrupt (calibration at quant site %d of %d)", path, rs->calib_next_site + 1,
                m->sites.n);
    if ((int)strlen(pg.sites) != m->sites.n)
        qat_die("resume state %s has %d quant sites, the model %d; pass --no-resume", path, (int)strlen(pg.sites),
                m->sites.n);
    ParamList *pl = &m->params;
    for (int k = 0; k < pl->n; k++) {
        Param *p = pl->items[k];
        load_array(rs, "", p, p->t.data);
        p->loaded = 1;
        if (!p->frozen) {
            load_array(rs, "adam.m:", p, p->m);
            load_array(rs, "adam.v:", p, p->v);
        }
        if (t->best) load_array(rs, "best:", p, t->best[k]);
    }
    for (int i = 0; i < m->sites.n; i++) {
        QuantSite *s = m->sites.items[i];
        if (s->q) s->q->initialized = pg.sites[i] == '1';
        else if (pg.sites[i] == '1') qat_die("resume state %s: quant site %d has a quantizer here only", path, i);
        char name[TENSOR_NAME_MAX];
        snprintf(name, sizeof name, "fp:%s", s->weight ? s->weight->name : "");
        /* a layer's input site names the same weight: only its weight site keeps the copy */
        if (s->kind == SITE_WEIGHT && s->weight && tensor_file_find(&rs->file, name)) {
            t->calib.fp_weights[i] = qat_malloc(s->weight->t.size * sizeof(float));
            load_array(rs, "fp:", s->weight, t->calib.fp_weights[i]);
        }
    }
    if (m->rng && !pg.has_model_rng) qat_die("resume state %s has no state of the model's RNG", path);
    if (m->rng) *m->rng = pg.model_rng;
    t->seconds_before = pg.seconds;
    t->calibrating = rs->calibrating;
    t->calib.inputs_done = pg.inputs_done;
    t->calib.next_site = rs->calib_next_site;
    t->calib.rng = pg.calib_rng;
    t->calib.seen = pg.calib_seen;
    t->epoch = rs->epoch;
    t->batch = rs->batch;
    t->shuffle = pg.shuffle;
    t->shuffle_epoch = pg.shuffle_epoch;
    t->g.rng = pg.graph_rng;
    t->opt.t = pg.adam_t;
    t->loss_sum = pg.loss_sum;
    t->correct = pg.correct;
    t->count = pg.count;
    t->best_val = pg.best_val;
    t->best_epoch = pg.best_epoch;
    t->last = pg.last;
}

void resume_position(char *out, size_t cap, int calibrating, int calib_next_site, int epoch, int batch,
                     int train_batches) {
    if (calibrating)
        snprintf(out, cap, "calibration, at quant site %d", calib_next_site + 1);
    else if (batch == 0)
        snprintf(out, cap, "epoch %d done", epoch);
    else if (batch == train_batches)
        snprintf(out, cap, "epoch %d trained, its evaluation next", epoch + 1);
    else
        snprintf(out, cap, "epoch %d done, %d of %d batches of epoch %d", epoch, batch, train_batches, epoch + 1);
}
