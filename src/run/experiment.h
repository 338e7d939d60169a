/* One `qat train` invocation: resolve the configs (a grid gives several runs), then for
 * each run: build the model, attach the quantizer, optionally load a checkpoint, train,
 * evaluate, and write the run store. */
#ifndef QAT_RUN_EXPERIMENT_H
#define QAT_RUN_EXPERIMENT_H

#include <stddef.h>
#include <stdint.h>

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
} TrainOptions;

/* Runs every combination; returns the number of runs that finished. Dies on user error. */
int experiment_train(const TrainOptions *opt);

/* Path of a config: QAT_CONFIG_DIR, ./configs, or configs/ beside the binary's parent. */
void config_file_path(const char *rel, char *out, size_t cap);

#endif
