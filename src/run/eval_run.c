#include "run/eval_run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/runtime.h"
#include "io/atomic_file.h"
#include "io/json.h"

const char *const EVAL_ENGINE_NAMES[] = {"fp32", "fakequant", "int", NULL};

/* DIR/BBBBB_NAME.npy: batch b's array of that name */
static void batch_path(char *buf, size_t cap, const char *dir, int b, const char *name) {
    if (snprintf(buf, cap, "%s/%05d_%s.npy", dir, b, name) >= (int)cap) qat_die("path too long: %s", dir);
}

static void write_eval_json(const SavedRun *r, const char *engine, const Metrics *mt, long samples, double wall,
                            double forward_s, const Graph *g) {
    JsonWriter w;
    json_init(&w);
    json_begin_object(&w, NULL);
    json_string(&w, "model", r->md->name);
    json_string(&w, "quantizer", r->qm->name);
    json_string(&w, "engine", engine);
    json_string(&w, "metric", r->md->metric);
    json_number(&w, "value", metrics_get(mt, r->md->metric));
    json_int(&w, "samples", samples);
    json_int(&w, "threads", runtime_threads());
    json_number(&w, "wall_seconds", wall);
    json_number(&w, "forward_seconds", forward_s);
    if (g->integer) { /* layer calls on integer codes, and those that stayed float */
        json_int(&w, "integer_layer_calls", g->integer_calls);
        json_int(&w, "float_layer_calls", g->float_calls);
    }
    json_begin_object(&w, "metrics");
    for (int i = 0; i < mt->n; i++) json_number(&w, mt->key[i], mt->value[i]);
    json_end_object(&w);
    json_end_object(&w);
    char path[1200];
    snprintf(path, sizeof path, "%s/eval_%s.json", r->dir, engine);
    AtomicFile af;
    FILE *f = atomic_file_open(&af, path);
    fprintf(f, "%s\n", w.buf);
    atomic_file_commit(&af);
    json_free(&w);
}

void eval_run(SavedRun *r, const EvalOptions *o, Metrics *out) {
    Model *m = r->m;
    if (!m->eval_batches) qat_die("qat eval: the %s model has no evaluation through arrays yet", r->md->name);
    int nb = m->eval_batches(m), nin = model_eval_input_count(r->md);
    const char *engine = o->outputs_dir ? "outputs" : EVAL_ENGINE_NAMES[o->engine];
    if (o->dump_dir) make_dirs(o->dump_dir);
    /* fp32: every site off for the pass, then back */
    Quantizer **saved = qat_calloc((size_t)(m->sites.n ? m->sites.n : 1), sizeof *saved);
    if (o->engine == ENGINE_FP32)
        for (int i = 0; i < m->sites.n; i++) saved[i] = m->sites.items[i]->q, m->sites.items[i]->q = NULL;
    Graph g;
    graph_init(&g, 0);
    g.integer = o->engine == ENGINE_INT && !o->outputs_dir;
    NpyArray *outs = qat_calloc((size_t)(nb ? nb : 1), sizeof *outs);
    long samples = 0;
    double forward_s = 0.0; /* the engine alone: no input preparation, no scoring */
    double t0 = runtime_now();
    char path[1200];
    for (int b = 0; b < nb; b++) {
        NpyArray in[4];
        m->eval_inputs(m, b, in);
        samples += in[0].ndim ? (long)in[0].shape[0] : 1;
        if (o->outputs_dir) {
            batch_path(path, sizeof path, o->outputs_dir, b, r->md->eval_output);
            if (!file_exists(path)) qat_die("%s: missing (batch %d of %d)", path, b, nb);
            outs[b] = npy_read(path);
        } else {
            graph_reset(&g);
            double f0 = runtime_now();
            outs[b] = m->eval_forward(m, &g, in);
            forward_s += runtime_now() - f0;
        }
        if (o->dump_dir) {
            for (int i = 0; i < nin; i++) {
                batch_path(path, sizeof path, o->dump_dir, b, r->md->eval_inputs[i]);
                npy_write(path, &in[i]);
            }
            batch_path(path, sizeof path, o->dump_dir, b, r->md->eval_output);
            npy_write(path, &outs[b]);
        }
        for (int i = 0; i < nin; i++) npy_free(&in[i]);
        if (nb >= 20 && (b + 1) % (nb / 10) == 0) fprintf(stderr, "eval: %d/%d batches\n", b + 1, nb);
    }
    if (o->outputs_dir) {
        batch_path(path, sizeof path, o->outputs_dir, nb, r->md->eval_output);
        if (file_exists(path)) qat_die("%s: more output batches than the %d of the evaluation split", path, nb);
    }
    memset(out, 0, sizeof *out);
    m->eval_metrics(m, outs, out);
    double wall = runtime_now() - t0;
    for (int b = 0; b < nb; b++) npy_free(&outs[b]);
    free(outs);
    if (o->engine == ENGINE_FP32)
        for (int i = 0; i < m->sites.n; i++) m->sites.items[i]->q = saved[i];
    free(saved);
    write_eval_json(r, engine, out, samples, wall, o->outputs_dir ? NAN : forward_s, &g);
    if (g.integer)
        printf("integer engine: %ld layer calls on integer codes, %ld in float\n", g.integer_calls, g.float_calls);
    graph_free(&g);
}
