#include "run/experiment.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/runtime.h"
#include "io/atomic_file.h"
#include "io/checkpoint.h"
#include "io/config.h"
#include "io/json.h"
#include "io/progress.h"
#include "io/run_lock.h"
#include "io/run_store.h"
#include "models/model.h"
#include "nn/optim.h"
#include "run/methods.h"
#include "run/resume.h"
#include "run/train_step.h"
#include "run/trainer.h"

void config_file_path(const char *rel, char *out, size_t cap) {
    const char *env = getenv("QAT_CONFIG_DIR");
    if (env && *env) {
        snprintf(out, cap, "%s/%s", env, rel);
        return;
    }
    snprintf(out, cap, "configs/%s", rel);
    if (access(out, R_OK) == 0) return;
    /* Beside the binary: build/qat -> ../configs */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            char cand[PATH_MAX + 64];
            snprintf(cand, sizeof cand, "%s/../configs/%s", exe, rel);
            if (access(cand, R_OK) == 0) {
                snprintf(out, cap, "%s", cand);
                return;
            }
        }
    }
    snprintf(out, cap, "configs/%s", rel);
}

static void resolve_quantizer_config(const TrainOptions *o, char *out, size_t cap) {
    const char *qc = o->quantizer_config ? o->quantizer_config : "default";
    if (strcmp(qc, "default") == 0 || strcmp(qc, "bit_width_gridsearch") == 0) {
        char rel[256];
        snprintf(rel, sizeof rel, "quantizer/%s_%s.yml", o->quantizer, qc);
        config_file_path(rel, out, cap);
    } else {
        snprintf(out, cap, "%s", qc);
    }
}

static void print_epoch_header(const char *split, const char *metric) {
    char loss[32], met[48];
    snprintf(loss, sizeof loss, "%s_loss", split);
    snprintf(met, sizeof met, "%s_%s", split, metric);
    printf("%5s  %10s  %10s  %10s  %10s  %8s\n", "epoch", "train_loss", "train_acc", loss, met, "seconds");
}

/* Copies of every parameter, to keep the best epoch's weights. */
static float **snapshot_alloc(const ParamList *pl) {
    float **s = qat_calloc((size_t)pl->n, sizeof *s);
    for (int k = 0; k < pl->n; k++) s[k] = qat_malloc(pl->items[k]->t.size * sizeof(float));
    return s;
}

static void snapshot_copy(float **snap, ParamList *pl, int save) {
    for (int k = 0; k < pl->n; k++) {
        Param *p = pl->items[k];
        if (save) memcpy(snap[k], p->t.data, p->t.size * sizeof(float));
        else memcpy(p->t.data, snap[k], p->t.size * sizeof(float));
    }
}

static void snapshot_free(float **snap, const ParamList *pl) {
    for (int k = 0; k < pl->n; k++) free(snap[k]);
    free(snap);
}

/* ---- stopping and saving ---------------------------------------------------------- */

static void trainer_save(Trainer *t) {
    resume_save(t);
    t->t_saved = runtime_now();
}

/* A stop was requested: the resume state on disk is the one to continue from. Marks the
 * run interrupted and exits 128 + signal. */
QAT_NORETURN static void trainer_stop(Trainer *t) {
    int sig = runtime_stop_requested();
    const char *name = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
    char why[512];
    if (file_exists(t->state_path)) {
        ResumeState rs;
        resume_read(&rs, t->state_path);
        char where[160];
        resume_position(where, sizeof where, rs.calibrating, rs.calib_next_site, rs.epoch, rs.batch, rs.train_batches);
        resume_free(&rs);
        snprintf(why, sizeof why, "interrupted by %s; the resume state holds %s: the same command resumes it", name,
                 where);
    } else {
        snprintf(why, sizeof why, "interrupted by %s before the first resume state: the same command starts over",
                 name);
    }
    run_store_interrupted(t->rs, why);
    fflush(stdout);
    fprintf(stderr, "qat: %s: %s\n", t->dir, why);
    exit(128 + sig);
}

/* A non-finite loss: names the first op of batch b whose output is not finite, by running
 * the batch again (same dropout draws) with every tensor watched. The last resume state
 * (written with finite parameters) stays. */
QAT_NORETURN static void diverged(Trainer *t, int e, int b, Rng graph_rng_before, float loss) {
    char head[160];
    snprintf(head, sizeof head, "training diverged: the loss is %g at epoch %d, batch %d", (double)loss, e, b + 1);
    const char *kept = file_exists(t->state_path) ? "; the last resume state is kept" : "";
    ParamList *pl = &t->m->params;
    for (int k = 0; k < pl->n; k++)
        for (size_t i = 0; i < pl->items[k]->t.size; i++)
            if (!isfinite(pl->items[k]->t.data[i]))
                qat_die("%s: parameter '%s' is already %g (the update of the batch before made it so)%s (lower "
                        "training.lr?)",
                        head, pl->items[k]->name, (double)pl->items[k]->t.data[i], kept);
    Graph *g = &t->g;
    g->rng = graph_rng_before;
    graph_reset(g);
    g->watch = 1;
    t->m->train_loss(t->m, g, b, NULL, NULL);
    const WatchedTensor *w = graph_first_nonfinite(g);
    if (!w) qat_die("%s, but not when the batch runs again (a race?)%s", head, kept);
    qat_die("%s: the first non-finite value is in the output of %s%s%s%s%s (lower training.lr?)", head, w->op,
            w->scope ? " (layer '" : "", w->scope ? w->scope : "", w->scope ? "')" : "", kept);
}

/* ---- the phases of a run ---------------------------------------------------------- */

/* Trains the batches of epoch e from t->batch on, polling for a stop after each and
 * saving every o->save_every seconds. */
static void train_batches(Trainer *t, int e, int epochs, float grad_clip) {
    Model *m = t->m;
    Graph *g = &t->g;
    char label[48];
    snprintf(label, sizeof label, "epoch %d/%d", e, epochs);
    Progress pr;
    progress_start(&pr, label, m->train_batches, "batch");
    g->training = 1;
    for (int b = t->batch; b < m->train_batches; b++) {
        Rng before = g->rng;
        float loss = train_step(m, g, &t->opt, b, grad_clip, &t->correct, &t->count);
        if (!isfinite(loss)) diverged(t, e, b, before, loss);
        t->loss_sum += loss;
        t->batch = b + 1;
        char extra[48];
        snprintf(extra, sizeof extra, "loss %.4f", t->loss_sum / (b + 1));
        progress_update(&pr, b + 1, extra);
        if (t->batch == m->train_batches) break; /* the epoch's end: the caller saves */
        if (runtime_stop_requested() || runtime_now() - t->t_saved >= t->o->save_every) {
            graph_reset(g);
            trainer_save(t);
            if (runtime_stop_requested()) {
                progress_finish(&pr);
                trainer_stop(t);
            }
        }
    }
    progress_finish(&pr);
    g->training = 0;
    graph_reset(g);
}

/* PTQ calibration reads training batches through the model's own forward. */
static void calib_forward(void *ctx, Graph *g, int b) {
    Model *m = ctx;
    g->training = 0;
    m->train_loss(m, g, b, NULL, NULL);
}

typedef struct {
    Trainer *t;
} CalibCtx;

static void calib_batch(void *ctx, Graph *g, int b) { calib_forward(((CalibCtx *)ctx)->t->m, g, b); }

static void calib_save(void *ctx, const CalibProgress *p) {
    Trainer *t = ((CalibCtx *)ctx)->t;
    float **own = t->calib.fp_weights;
    t->calib = *p; /* the calibration's own FP copies, for this save */
    trainer_save(t);
    t->calib.fp_weights = own;
}

static void calib_poll(void *ctx) {
    Trainer *t = ((CalibCtx *)ctx)->t;
    if (runtime_stop_requested()) trainer_stop(t);
}

/* Post-training: calibrate on training data instead of training (resuming at the last
 * finished step when the state says so). */
static void calibrate(Trainer *t, int resuming) {
    Model *m = t->m;
    double tc = runtime_now();
    if (!resuming) {
        t->shuffle_epoch = t->shuffle;
        m->begin_epoch(m, &t->shuffle, 1);
    } else {
        Rng r = t->shuffle_epoch; /* replay the calibration batches' order */
        m->begin_epoch(m, &r, 1);
    }
    CalibCtx cc = {t};
    CalibSource src = {calib_batch, &cc, m->train_batches, m->batch_size, calib_save, calib_poll,
                       resuming ? &t->calib : NULL};
    t->qm->calibrate(&m->sites, &m->params, t->cfg, &src, t->o->seed);
    graph_reset(&t->g);
    for (int i = 0; i < m->sites.n; i++) {
        free(t->calib.fp_weights[i]);
        t->calib.fp_weights[i] = NULL;
    }
    t->calibrating = 0;
    char s[32];
    snprintf(s, sizeof s, "%.1f", runtime_now() - tc);
    run_store_log_param(t->rs, "calibration_seconds", s);
    trainer_save(t);
}

/* Removes what writers killed in this folder left behind (we hold its lock: no writer
 * of this folder is alive). */
static void remove_stale_temporaries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strstr(e->d_name, ".tmp.")) continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
}

/* The identity of a run: its resolved config and the checkpoint it starts from. Two runs
 * with the same identity and seed are the same run (the results table reuses them). */
static uint64_t run_identity(const Config *cfg, const char *from_pretrained) {
    uint64_t h = config_hash(cfg);
    for (const char *p = from_pretrained ? from_pretrained : ""; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 0x100000001b3ULL;
    }
    return h;
}

void experiment_names(const TrainOptions *o, const Config *cfg, char *experiment, size_t ecap,
                      char *run_name, size_t rcap) {
    snprintf(experiment, ecap, "%s_%s%s", o->model, o->quantizer,
             o->experiment_postfix ? o->experiment_postfix : "");
    snprintf(run_name, rcap, "seed%llu-%016llx", (unsigned long long)o->seed,
             (unsigned long long)run_identity(cfg, o->from_pretrained));
}

/* A finished run of the same identity is reused when it ran with the same threads (the
 * numbers depend on them). Returns 1 when reused. */
static int reuse_finished(const Trainer *t, int waited) {
    RunResult r;
    if (t->o->no_resume || !run_store_read_result(t->dir, NULL, &r)) return 0;
    if (r.threads != runtime_threads()) {
        printf("run %s finished with %d threads; training it again with %d\n", t->dir, r.threads,
               runtime_threads());
        return 0;
    }
    printf("run %s %s (%s = %.4f); reusing it (--no-resume trains it again)\n", t->dir,
           waited ? "was finished by another qat process" : "has already finished", r.metric, r.value);
    unlink(t->state_path); /* a kill between result.json and its removal leaves one */
    return 1;
}

static void write_result(Trainer *t, const Metrics *final, int epochs, const QuantBits *qb) {
    const Model *m = t->m;
    const TrainOptions *o = t->o;
    char ckpt[1100];
    run_store_path(t->rs, "model.ckpt", ckpt, sizeof ckpt);
    char *meta = NULL;
    size_t meta_len = 0;
    FILE *mf = open_memstream(&meta, &meta_len);
    config_write_yaml(t->cfg, mf);
    fclose(mf);
    checkpoint_save(ckpt, t->md->name, &m->params, meta);
    free(meta);
    double wall = t->seconds_before + (runtime_now() - t->t_start);

    JsonWriter w;
    json_init(&w);
    json_begin_object(&w, NULL);
    json_string(&w, "model", t->md->name);
    json_string(&w, "quantizer", t->qm->name);
    json_int(&w, "weight_bits", qb->weight_bits);
    json_int(&w, "act_bits", qb->act_bits);
    json_int(&w, "seed", (long long)o->seed);
    json_int(&w, "threads", runtime_threads());
    json_string(&w, "experiment", t->experiment);
    json_string(&w, "run", t->run_name);
    char buf[64];
    snprintf(buf, sizeof buf, "%016llx", (unsigned long long)config_hash(t->cfg));
    json_string(&w, "config_hash", buf);
    json_string(&w, "checkpoint", ckpt);
    if (o->from_pretrained) json_string(&w, "from_pretrained", o->from_pretrained);
    json_int(&w, "epochs", epochs);
    double size_fp = 0.0, size_q = 0.0;
    quant_model_size(&m->sites, &m->params, &size_fp, &size_q);
    json_number(&w, "model_size_bytes_fp32", size_fp);
    json_number(&w, "model_size_bytes_quantized", size_q);
    json_number(&w, "wall_seconds", wall);
    json_string(&w, "metric", t->md->metric);
    json_begin_object(&w, "metrics");
    for (int i = 0; i < final->n; i++) json_number(&w, final->key[i], final->value[i]);
    json_end_object(&w);
    json_end_object(&w);
    for (int i = 0; i < final->n; i++) run_store_log_metric(t->rs, final->key[i], final->value[i], epochs);
    printf("final: %s = %.4f (%s), %.1f s\n", t->md->metric, metrics_get(final, t->md->metric), t->run_name, wall);
    fflush(stdout); /* before result.json: a log without this line never has a result beside it */
    run_store_finish(t->rs, w.buf, 1);
    t->rs = NULL;
    json_free(&w);
    /* result.json is written: the state is not needed any more */
    if (unlink(t->state_path) != 0 && errno != ENOENT)
        qat_die("cannot remove %s: %s", t->state_path, strerror(errno));
}

/* What the epoch loop reads of the config. */
typedef struct {
    int epochs, eval_every;
    float grad_clip, lr0;
    double decay_at, decay_factor;
} Schedule;

/* The run's folder, locked; 1 when the run has finished before and is reused (the lock
 * released). Else *resuming tells whether rs holds the state to continue from. */
static int open_run(Trainer *t, RunLock *lock, ResumeState *rs, int *resuming) {
    const TrainOptions *o = t->o;
    experiment_names(o, t->cfg, t->experiment, sizeof t->experiment, t->run_name, sizeof t->run_name);
    const char *out = o->output_dir && *o->output_dir ? o->output_dir : "runs";
    if (snprintf(t->dir, sizeof t->dir, "%s/%s/%s", out, t->experiment, t->run_name) >= (int)sizeof t->dir)
        qat_die("path too long: %s/%s/%s", out, t->experiment, t->run_name);
    snprintf(t->state_path, sizeof t->state_path, "%s/resume.state", t->dir);

    /* One process per run folder; what a killed one left is ours to continue. */
    run_lock_acquire(lock, t->dir);
    remove_stale_temporaries(t->dir);
    if (reuse_finished(t, lock->waited)) {
        run_lock_release(lock);
        return 1;
    }
    if (o->no_resume && unlink(t->state_path) != 0 && errno != ENOENT)
        qat_die("cannot remove %s: %s", t->state_path, strerror(errno));
    *resuming = file_exists(t->state_path);
    memset(rs, 0, sizeof *rs);
    if (*resuming) {
        resume_read(rs, t->state_path);
        if (strcmp(rs->run_name, t->run_name) != 0)
            qat_die("resume state %s belongs to run %s, not %s; pass --no-resume", t->state_path, rs->run_name,
                    t->run_name);
        char where[160];
        resume_position(where, sizeof where, rs->calibrating, rs->calib_next_site, rs->epoch, rs->batch,
                        rs->train_batches);
        printf("resuming %s from its resume state (%s)\n", t->dir, where);
        if (rs->threads != runtime_threads())
            fprintf(stderr, "qat: warning: the state was saved by a run with %d threads, this one has %d: the "
                            "numbers may differ in the last bits from an uninterrupted run\n",
                    rs->threads, runtime_threads());
        fflush(stdout);
    }
    return 0;
}

/* The model, its quantizers on every site, and the FP checkpoint it starts from. */
static void prepare_model(Trainer *t, int resuming, const QuantBits *qb) {
    const TrainOptions *o = t->o;
    const QuantMethod *qm = t->qm;
    const Config *cfg = t->cfg;
    Model *m = t->m = t->md->create(cfg, o->seed);
    quant_attach(qm->make, cfg, &m->sites, &m->params);
    printf("quant sites (%s, W%dA%d, first/last %s):\n", qm->name, qb->weight_bits, qb->act_bits,
           quant_method_is_none(qm) ? "-" : cfg_str(cfg, "quantizer.first_last"));
    quant_print_sites(&m->sites, stdout);
    if (o->from_pretrained && !resuming) {
        int n = checkpoint_load(o->from_pretrained, t->md->name, &m->params, CKPT_ALLOW_MISSING_QUANT);
        quant_sites_mark_loaded(&m->sites);
        printf("loaded %d tensors from %s\n", n, o->from_pretrained);
    } else if (qm->is_ptq && !o->from_pretrained) {
        fprintf(stderr, "qat: warning: %s is post-training quantization; without --from-pretrained it "
                        "quantizes an untrained model\n", qm->name);
    }
}

/* The graph, the streams, the optimizer and the schedule; the trainer's progress at its
 * start (a resume state replaces it in open_store). */
static void prepare_training(Trainer *t, Schedule *sc) {
    const Config *cfg = t->cfg;
    Model *m = t->m;
    graph_init(&t->g, t->o->seed ^ 0x5eedULL);
    rng_seed(&t->shuffle, t->o->seed + 1);
    train_step_setup(&t->opt, &sc->grad_clip, cfg);
    sc->epochs = (int)cfg_int(cfg, "training.epochs");
    if (t->qm->is_ptq) sc->epochs = 0; /* calibration instead of training */
    sc->eval_every = cfg_has(cfg, "training.eval_every") ? (int)cfg_int(cfg, "training.eval_every") : 1;
    sc->decay_at = cfg_float_or(cfg, "training.lr_decay_at", 0.0);
    sc->decay_factor = cfg_float_or(cfg, "training.lr_decay_factor", 0.1);
    sc->lr0 = (float)cfg_float(cfg, "training.lr");
    /* The best validation epoch's weights are kept and restored before testing. */
    t->best = m->has_val && sc->epochs > 0 ? snapshot_alloc(&m->params) : NULL;
    t->best_val = -INFINITY;
    t->calibrating = t->qm->is_ptq;
    t->calib.fp_weights = qat_calloc((size_t)(m->sites.n > 0 ? m->sites.n : 1), sizeof *t->calib.fp_weights);
}

/* The run store (and MLflow run, continued when resuming) and the resumed progress. */
static void open_store(Trainer *t, ResumeState *rs, int resuming, const char *grid_desc) {
    const TrainOptions *o = t->o;
    RunStoreOptions rso = {o->output_dir, t->experiment, t->run_name, strcmp(o->logging_backend, "mlflow") == 0,
                           resuming ? &rs->history : NULL, resuming && rs->mlflow_run[0] ? rs->mlflow_run : NULL,
                           rs->mlflow_start_ms};
    t->rs = run_store_open(&rso, t->cfg);
    char buf[64];
    run_store_log_param(t->rs, "model", t->md->name);
    run_store_log_param(t->rs, "quantizer", t->qm->name);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)o->seed);
    run_store_log_param(t->rs, "seed", buf);
    snprintf(buf, sizeof buf, "%d", runtime_threads());
    run_store_log_param(t->rs, "threads", buf);
    if (grid_desc[0]) run_store_set_tag(t->rs, "grid", grid_desc);
    printf("run: %s\n", t->dir);
    if (resuming) {
        resume_apply(rs, t);
        resume_free(rs);
    }
}

/* Calibration (PTQ) or the quantizers' set-up (QAT) before the first epoch. */
static void quantize(Trainer *t, int resuming) {
    Model *m = t->m;
    if (t->qm->is_ptq) {
        if (t->calibrating) calibrate(t, resuming);
    } else if (!resuming && !quant_method_is_none(t->qm)) {
        /* Quantizers not loaded from the checkpoint initialise from the first training
         * batch (LSQ step, PACT/APoT clip, QIL interval), before it is quantized. */
        m->begin_epoch(m, &t->shuffle, 1);
        t->g.training = 0;
        calib_forward(m, &t->g, 0);
        graph_reset(&t->g);
    }
}

/* Epochs t->epoch + 1 .. sc->epochs: train, evaluate when due, keep the best, save. */
static void train_epochs(Trainer *t, const Schedule *sc) {
    Model *m = t->m;
    const ModelDef *md = t->md;
    int epochs = sc->epochs;
    const char *eval_split = m->has_val ? "val" : "test";
    print_epoch_header(eval_split, md->metric);
    for (int e = t->epoch + 1; e <= epochs; e++) {
        double te = runtime_now();
        int decayed = sc->decay_at > 0.0 && e > sc->decay_at * epochs;
        adamw_set_lr(&t->opt, decayed ? (float)(sc->lr0 * sc->decay_factor) : sc->lr0);
        if (t->batch == 0) {
            t->shuffle_epoch = t->shuffle;
            t->loss_sum = t->correct = t->count = 0.0;
            m->begin_epoch(m, &t->shuffle, e);
        } else {
            Rng r = t->shuffle_epoch; /* a resumed epoch: the same data order again */
            m->begin_epoch(m, &r, e);
            if (memcmp(&r, &t->shuffle, sizeof r) != 0)
                qat_die("resume state %s does not replay the data order of epoch %d (did the data change?); pass "
                        "--no-resume",
                        t->state_path, e);
        }
        double train_acc = t->count > 0 ? t->correct / t->count : NAN;
        if (t->batch < m->train_batches) {
            train_batches(t, e, epochs, sc->grad_clip);
            train_acc = t->count > 0 ? t->correct / t->count : NAN;
            run_store_log_metric(t->rs, "train_loss", t->loss_sum / m->train_batches, e);
            if (!isnan(train_acc)) run_store_log_metric(t->rs, "train_accuracy", train_acc, e);
            if (runtime_stop_requested()) {
                trainer_save(t);
                trainer_stop(t);
            }
        }
        double train_loss = t->loss_sum / m->train_batches;
        char acc[16] = "-"; /* models without an accuracy show a dash, not nan */
        if (!isnan(train_acc)) snprintf(acc, sizeof acc, "%.4f", train_acc);
        if (e % sc->eval_every != 0 && e != epochs) {
            printf("%5d  %10.4f  %10s  %10s  %10s  %8.1f\n", e, train_loss, acc, "-", "-", runtime_now() - te);
            fflush(stdout);
            t->epoch = e, t->batch = 0;
            trainer_save(t);
            continue;
        }
        Metrics ev = {0};
        m->evaluate(m, &t->g, eval_split, &ev);
        if (runtime_stop_requested()) { /* cut short: the state is the trained epoch's */
            trainer_save(t);
            trainer_stop(t);
        }
        double score = metrics_get(&ev, md->metric);
        printf("%5d  %10.4f  %10s  %10.4f  %10.4f  %8.1f\n", e, train_loss, acc, metrics_get(&ev, "loss"), score,
               runtime_now() - te);
        fflush(stdout);
        for (int i = 0; i < ev.n; i++) {
            char key[64];
            snprintf(key, sizeof key, "%s_%s", eval_split, ev.key[i]);
            run_store_log_metric(t->rs, key, ev.value[i], e);
        }
        if (t->best && score > t->best_val) {
            t->best_val = score;
            t->best_epoch = e;
            snapshot_copy(t->best, &m->params, 1);
        }
        t->last = ev;
        t->epoch = e, t->batch = 0;
        trainer_save(t);
    }
}

/* The best epoch's weights back, the test evaluation, result.json; frees the run. */
static void finish_run(Trainer *t, RunLock *lock, int epochs, const QuantBits *qb) {
    Model *m = t->m;
    const ModelDef *md = t->md;
    /* From here on nothing is saved: a stop goes back to the state of the last epoch. */
    Metrics final = t->last;
    if (t->best) {
        snapshot_copy(t->best, &m->params, 0);
        snapshot_free(t->best, &m->params);
        t->best = NULL;
        printf("best validation %s %.4f at epoch %d\n", md->metric, t->best_val, t->best_epoch);
        char buf[32];
        snprintf(buf, sizeof buf, "%d", t->best_epoch);
        run_store_log_param(t->rs, "best_epoch", buf);
    }
    if (m->has_val || epochs == 0) {
        memset(&final, 0, sizeof final);
        m->evaluate(m, &t->g, "test", &final);
        if (runtime_stop_requested()) trainer_stop(t);
    }
    write_result(t, &final, epochs, qb);
    runtime_defer_stops(0); /* a stop asked for during the last steps ends the process now */
    run_lock_release(lock);
    free(t->calib.fp_weights);
    graph_free(&t->g);
    model_free(m);
}

static int run_one(const TrainOptions *o, const QuantMethod *qm, const ModelDef *md, const Config *cfg,
                   const char *grid_desc) {
    Trainer t;
    memset(&t, 0, sizeof t);
    t.o = o, t.qm = qm, t.md = md, t.cfg = cfg;
    t.t_start = runtime_now();
    RunLock lock;
    ResumeState rs;
    int resuming;
    QuantBits qb = quant_bits(qm->make, cfg); /* a bad bit width stops before a run folder exists */
    if (open_run(&t, &lock, &rs, &resuming)) return 1;
    prepare_model(&t, resuming, &qb);
    Schedule sc;
    prepare_training(&t, &sc);
    open_store(&t, &rs, resuming, grid_desc);
    /* From here a stop saves the state and exits; before, there was nothing to save. */
    runtime_defer_stops(1);
    t.t_saved = runtime_now();
    quantize(&t, resuming);
    train_epochs(&t, &sc);
    finish_run(&t, &lock, sc.epochs, &qb);
    return 1;
}

void experiment_load_grid(const TrainOptions *o, ConfigGrid *grid) {
    const ModelDef *md = model_find(o->model);
    if (!md) qat_die("model '%s' is not available yet in this version", o->model);
    const QuantMethod *qm = quant_method_find(o->quantizer);
    if (!qm) qat_die("unknown quantizer '%s'", o->quantizer);
    const CfgField *schemas[] = {md->schema, quant_schema, NULL};
    config_grid_init(grid, schemas);
    char path[1024];
    if (o->model_config) {
        snprintf(path, sizeof path, "%s", o->model_config);
    } else {
        char rel[256];
        snprintf(rel, sizeof rel, "model/%s_default.yml", md->name);
        config_file_path(rel, path, sizeof path);
    }
    config_grid_load_file(grid, path);
    resolve_quantizer_config(o, path, sizeof path);
    config_grid_load_file(grid, path);
    for (int i = 0; i < o->nsets; i++) config_grid_set(grid, o->sets[i]);
}

int experiment_train(const TrainOptions *o) {
    if (strcmp(o->device, "cuda") == 0)
        qat_die("--device cuda: this build has no CUDA support; use --device cpu");
    ConfigGrid grid;
    experiment_load_grid(o, &grid);
    const ModelDef *md = model_find(o->model);
    const QuantMethod *qm = quant_method_find(o->quantizer);
    int count = config_grid_count(&grid), done = 0;
    for (int i = 0; i < count; i++) {
        Config cfg;
        config_grid_get(&grid, i, &cfg);
        char desc[512];
        config_grid_describe(&grid, i, desc, sizeof desc);
        if (count > 1) printf("\n=== run %d/%d: %s ===\n", i + 1, count, desc);
        done += run_one(o, qm, md, &cfg, desc);
        config_grid_free(&cfg);
    }
    config_grid_free(&grid);
    return done;
}
