/* One `qat train` invocation: resolve the configs (a grid gives several runs), then for
 * each run: build the model, attach the quantizer, optionally load a checkpoint, train,
 * evaluate, and write the run store. */
#ifndef QAT_RUN_EXPERIMENT_H
#define QAT_RUN_EXPERIMENT_H

#include <stddef.h>
#include <stdint.h>

#include "io/config.h"

#define TRAIN_MAX_SETS 64

typedef struct {
    const char *model;
    const char *quantizer;
    const char *model_config;     /* path, or NULL for configs/model/<model>_default.yml */
    const char *quantizer_config; /* path | "default" | "bit_width_gridsearch" */
    const char *device;           /* "cpu" | "cuda" */
    const char *logging_backend;  /* "none" | "mlflow" */
    const char *from_pretrained;  /* checkpoint path or NULL */
    const char *experiment_postfix;
    const char *output_dir;
    uint64_t seed;
    int threads;
    const char *sets[TRAIN_MAX_SETS];
    int nsets;
    int no_resume;      /* start over: ignore (and remove) a resume state and a finished result */
    double save_every;  /* seconds between resume-state saves within an epoch (default 300) */
} TrainOptions;

/* Runs every combination; returns the number of runs that finished. Dies on user error. */
int experiment_train(const TrainOptions *opt);

/* The configuration of a `qat train` invocation (model + quantizer files + --set); it may
 * hold grid axes. Dies on user error. */
void experiment_load_grid(const TrainOptions *opt, ConfigGrid *grid);
/* Experiment and run folder names of one resolved config: the run lives in
 * OUTPUT_DIR/experiment/run_name, and its result.json marks it finished. */
void experiment_names(const TrainOptions *opt, const Config *cfg, char *experiment, size_t ecap,
                      char *run_name, size_t rcap);

/* Path of a config: QAT_CONFIG_DIR, ./configs, or configs/ beside the binary's parent. */
void config_file_path(const char *rel, char *out, size_t cap);

#endif
