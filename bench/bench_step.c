/* Times training steps (run/train_step.h: forward, backward, clipping, AdamW, quantizer
 * clamping; the step `qat train` runs) of a model at its default shapes.
 *   bench_step MODEL [QUANTIZER] [--steps N] [--threads N] [--set k=v ...]
 * Prints one line: "MODEL QUANTIZER ms_per_step=X.XXX". Uses real data (the model's own
 * loader), batch 0 of the first epoch repeatedly, after warm-up steps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/runtime.h"
#include "io/config.h"
#include "models/model.h"
#include "nn/optim.h"
#include "run/experiment.h"
#include "run/methods.h"
#include "run/train_step.h"

int main(int argc, char **argv) {
    runtime_select_blas_kernel(argv);
    if (argc < 2) {
        fprintf(stderr, "usage: bench_step MODEL [QUANTIZER] [--steps N] [--threads N] [--set k=v]...\n");
        return 2;
    }
    const char *model = argv[1];
    const char *quantizer = (argc > 2 && argv[2][0] != '-') ? argv[2] : "no_quant";
    int steps = 50, threads = 2;
    ConfigGrid grid;
    const ModelDef *md = model_find(model);
    if (!md) qat_die("unknown model '%s'", model);
    const QuantMethod *qm = quant_method_find(quantizer);
    if (!qm) qat_die("unknown quantizer '%s'", quantizer);
    const CfgField *schemas[] = {md->schema, quant_schema, NULL};
    config_grid_init(&grid, schemas);
    char path[1024], rel[256];
    snprintf(rel, sizeof rel, "model/%s_default.yml", model);
    config_file_path(rel, path, sizeof path);
    config_grid_load_file(&grid, path);
    snprintf(rel, sizeof rel, "quantizer/%s_default.yml", quantizer);
    config_file_path(rel, path, sizeof path);
    config_grid_load_file(&grid, path);
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) steps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--set") == 0 && i + 1 < argc) config_grid_set(&grid, argv[++i]);
        else if (i == 2 && argv[i][0] != '-') continue;
        else qat_die("bench_step: unknown argument '%s'", argv[i]);
    }
    runtime_init(threads);
    Config cfg;
    config_grid_get(&grid, 0, &cfg);
    Model *m = md->create(&cfg, 0);
    quant_attach(qm->make, &cfg, &m->sites, &m->params);
    Graph g;
    graph_init(&g, 1);
    AdamW opt;
    float grad_clip;
    train_step_setup(&opt, &grad_clip, &cfg);
    Rng rng;
    rng_seed(&rng, 2);
    m->begin_epoch(m, &rng, 1);
    g.training = 1;
    double t0 = 0.0;
    int warmup = steps / 5 + 2;
    for (int s = 0; s < warmup + steps; s++) {
        if (s == warmup) t0 = runtime_now();
        train_step(m, &g, &opt, 0, grad_clip, NULL, NULL);
    }
    double ms = (runtime_now() - t0) * 1000.0 / steps;
    printf("%s %s threads=%d batch=%d ms_per_step=%.3f\n", model, quantizer, threads, m->batch_size, ms);
    graph_free(&g);
    model_free(m);
    config_grid_free(&cfg);
    config_grid_free(&grid);
    return 0;
}
