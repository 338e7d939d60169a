#include "run/experiment.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/runtime.h"
#include "io/checkpoint.h"
#include "io/config.h"
#include "io/json.h"
#include "io/progress.h"
#include "io/run_store.h"
#include "models/model.h"
#include "nn/optim.h"
#include "quant/method.h"

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

/* An optional training key: its value, or fallback when the model's schema lacks it. */
static double opt_float(const Config *cfg, const char *key, double fallback) {
    return cfg_has(cfg, key) ? cfg_float(cfg, key) : fallback;
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

/* Runs one training epoch; returns the mean training loss. */
static double train_epoch(Model *m, Graph *g, AdamW *opt, float grad_clip, Rng *rng, int epoch,
                          int epochs, double *train_acc) {
    char label[48];
    snprintf(label, sizeof label, "epoch %d/%d", epoch, epochs);
    Progress pr;
    progress_start(&pr, label, m->train_batches, "batch");
    m->begin_epoch(m, rng, epoch);
    double loss_sum = 0.0, correct = 0.0, count = 0.0;
    g->training = 1;
    for (int b = 0; b < m->train_batches; b++) {
        graph_reset(g);
        Tensor *loss = m->train_loss(m, g, b, &correct, &count);
        if (!isfinite(loss->data[0]))
            qat_die("training diverged: the loss is %g at epoch %d, batch %d (lower training.lr?)",
                    (double)loss->data[0], epoch, b + 1);
        graph_backward(g, loss);
        if (grad_clip > 0.0f) clip_grad_norm(&m->params, grad_clip);
        adamw_step(opt, &m->params);
        quant_sites_clamp(&m->sites);
        param_list_zero_grad(&m->params);
        loss_sum += loss->data[0];
        char extra[48];
        snprintf(extra, sizeof extra, "loss %.4f", loss_sum / (b + 1));
        progress_update(&pr, b + 1, extra);
    }
    progress_finish(&pr);
    g->training = 0;
    graph_reset(g);
    *train_acc = count > 0 ? correct / count : NAN;
    return loss_sum / m->train_batches;
}

/* PTQ calibration reads training batches through the model's own forward. */
static void calib_forward(void *ctx, Graph *g, int b) {
    Model *m = ctx;
    g->training = 0;
    m->train_loss(m, g, b, NULL, NULL);
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

static int run_one(const TrainOptions *o, const QuantMethod *qm, const ModelDef *md, const Config *cfg,
                   const char *grid_desc) {
    double t0 = runtime_now();
    QuantBits qb = quant_bits(qm, cfg);
    Model *m = md->create(cfg, o->seed);
    quant_attach(qm, cfg, &m->sites, &m->params);
    printf("quant sites (%s, W%dA%d, first/last %s):\n", qm->name, qb.weight_bits, qb.act_bits,
           quant_method_is_none(qm) ? "-" : cfg_str(cfg, "quantizer.first_last"));
    quant_print_sites(&m->sites, stdout);
    if (o->from_pretrained) {
        int n = checkpoint_load(o->from_pretrained, md->name, &m->params, CKPT_ALLOW_MISSING_QUANT);
        quant_sites_mark_loaded(&m->sites);
        printf("loaded %d tensors from %s\n", n, o->from_pretrained);
    } else if (qm->is_ptq) {
        fprintf(stderr, "qat: warning: %s is post-training quantization; without --from-pretrained it "
                        "quantizes an untrained model\n", qm->name);
    }

    char experiment[256], run_name[256];
    experiment_names(o, cfg, experiment, sizeof experiment, run_name, sizeof run_name);
    RunStoreOptions rso = {o->output_dir, experiment, run_name, strcmp(o->logging_backend, "mlflow") == 0};
    RunStore *rs = run_store_open(&rso, cfg);
    char buf[64];
    run_store_log_param(rs, "model", md->name);
    run_store_log_param(rs, "quantizer", qm->name);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)o->seed);
    run_store_log_param(rs, "seed", buf);
    snprintf(buf, sizeof buf, "%d", runtime_threads());
    run_store_log_param(rs, "threads", buf);
    if (grid_desc[0]) run_store_set_tag(rs, "grid", grid_desc);
    printf("run: %s\n", run_store_dir(rs));

    Graph g;
    graph_init(&g, o->seed ^ 0x5eedULL);
    Rng shuffle_rng;
    rng_seed(&shuffle_rng, o->seed + 1);
    AdamW opt;
    adamw_init(&opt, (float)cfg_float(cfg, "training.lr"), (float)cfg_float(cfg, "training.weight_decay"));
    opt.beta1 = (float)opt_float(cfg, "training.adam_beta1", opt.beta1);
    opt.beta2 = (float)opt_float(cfg, "training.adam_beta2", opt.beta2);
    opt.eps = (float)opt_float(cfg, "training.adam_eps", opt.eps);
    int epochs = (int)cfg_int(cfg, "training.epochs");
    if (epochs < 0) qat_die("training.epochs must be >= 0 (got %d)", epochs);
    if (qm->is_ptq) {
        /* Post-training: calibrate on training data instead of training. */
        double tc = runtime_now();
        m->begin_epoch(m, &shuffle_rng, 1);
        CalibSource src = {calib_forward, m, m->train_batches, m->batch_size};
        qm->calibrate(&m->sites, &m->params, cfg, &src, o->seed);
        graph_reset(&g);
        epochs = 0;
        char t[32];
        snprintf(t, sizeof t, "%.1f", runtime_now() - tc);
        run_store_log_param(rs, "calibration_seconds", t);
    }

    if (!qm->is_ptq && !quant_method_is_none(qm)) {
        /* Quantizers not loaded from the checkpoint initialise from the first training
         * batch (LSQ step, PACT/APoT clip, QIL interval), before it is quantized. */
        m->begin_epoch(m, &shuffle_rng, 1);
        g.training = 0;
        calib_forward(m, &g, 0);
        graph_reset(&g);
    }

    Metrics final = {0};
    const char *eval_split = m->has_val ? "val" : "test";
    int eval_every = cfg_has(cfg, "training.eval_every") ? (int)cfg_int(cfg, "training.eval_every") : 1;
    if (eval_every < 1) qat_die("training.eval_every must be >= 1 (got %d)", eval_every);
    float grad_clip = (float)opt_float(cfg, "training.grad_clip", 0.0);
    double decay_at = opt_float(cfg, "training.lr_decay_at", 0.0);
    double decay_factor = opt_float(cfg, "training.lr_decay_factor", 0.1);
    float lr0 = (float)cfg_float(cfg, "training.lr");
    /* The best validation epoch's weights are kept and restored before testing. */
    float **best = m->has_val && epochs > 0 ? snapshot_alloc(&m->params) : NULL;
    double best_val = -INFINITY;
    int best_epoch = 0;
    print_epoch_header(eval_split, md->metric);
    for (int e = 1; e <= epochs; e++) {
        double te = runtime_now(), train_acc;
        adamw_set_lr(&opt, decay_at > 0.0 && e > decay_at * epochs ? (float)(lr0 * decay_factor) : lr0);
        double train_loss = train_epoch(m, &g, &opt, grad_clip, &shuffle_rng, e, epochs, &train_acc);
        run_store_log_metric(rs, "train_loss", train_loss, e);
        if (!isnan(train_acc)) run_store_log_metric(rs, "train_accuracy", train_acc, e);
        char acc[16] = "-"; /* models without an accuracy show a dash, not nan */
        if (!isnan(train_acc)) snprintf(acc, sizeof acc, "%.4f", train_acc);
        if (e % eval_every != 0 && e != epochs) {
            printf("%5d  %10.4f  %10s  %10s  %10s  %8.1f\n", e, train_loss, acc, "-", "-", runtime_now() - te);
            fflush(stdout);
            continue;
        }
        Metrics ev = {0};
        m->evaluate(m, &g, eval_split, &ev);
        double score = metrics_get(&ev, md->metric);
        printf("%5d  %10.4f  %10s  %10.4f  %10.4f  %8.1f\n", e, train_loss, acc,
               metrics_get(&ev, "loss"), score, runtime_now() - te);
        fflush(stdout);
        for (int i = 0; i < ev.n; i++) {
            char key[64];
            snprintf(key, sizeof key, "%s_%s", eval_split, ev.key[i]);
            run_store_log_metric(rs, key, ev.value[i], e);
        }
        if (best && score > best_val) {
            best_val = score;
            best_epoch = e;
            snapshot_copy(best, &m->params, 1);
        }
        final = ev;
    }
    if (best) {
        snapshot_copy(best, &m->params, 0);
        snapshot_free(best, &m->params);
        printf("best validation %s %.4f at epoch %d\n", md->metric, best_val, best_epoch);
        char t[32];
        snprintf(t, sizeof t, "%d", best_epoch);
        run_store_log_param(rs, "best_epoch", t);
    }
    if (m->has_val || epochs == 0) {
        memset(&final, 0, sizeof final);
        m->evaluate(m, &g, "test", &final);
    }

    char ckpt[1024];
    run_store_path(rs, "model.ckpt", ckpt, sizeof ckpt);
    char *meta = NULL;
    size_t meta_len = 0;
    FILE *mf = open_memstream(&meta, &meta_len);
    config_write_yaml(cfg, mf);
    fclose(mf);
    checkpoint_save(ckpt, md->name, &m->params, meta);
    free(meta);
    double wall = runtime_now() - t0;

    JsonWriter w;
    json_init(&w);
    json_begin_object(&w, NULL);
    json_string(&w, "model", md->name);
    json_string(&w, "quantizer", qm->name);
    json_int(&w, "weight_bits", qb.weight_bits);
    json_int(&w, "act_bits", qb.act_bits);
    json_int(&w, "seed", (long long)o->seed);
    json_int(&w, "threads", runtime_threads());
    json_string(&w, "experiment", experiment);
    json_string(&w, "run", run_name);
    snprintf(buf, sizeof buf, "%016llx", (unsigned long long)config_hash(cfg));
    json_string(&w, "config_hash", buf);
    json_string(&w, "checkpoint", ckpt);
    if (o->from_pretrained) json_string(&w, "from_pretrained", o->from_pretrained);
    json_int(&w, "epochs", epochs);
    double size_fp = 0.0, size_q = 0.0;
    quant_model_size(&m->sites, &m->params, &size_fp, &size_q);
    json_number(&w, "model_size_bytes_fp32", size_fp);
    json_number(&w, "model_size_bytes_quantized", size_q);
    json_number(&w, "wall_seconds", wall);
    json_string(&w, "metric", md->metric);
    json_begin_object(&w, "metrics");
    for (int i = 0; i < final.n; i++) json_number(&w, final.key[i], final.value[i]);
    json_end_object(&w);
    json_end_object(&w);
    for (int i = 0; i < final.n; i++) run_store_log_metric(rs, final.key[i], final.value[i], epochs);
    printf("final: %s = %.4f (%s), %.1f s\n", md->metric, metrics_get(&final, md->metric), run_name, wall);
    run_store_finish(rs, w.buf, 1);
    json_free(&w);
    graph_free(&g);
    m->destroy(m);
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
