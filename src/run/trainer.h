/* A run in progress. Everything the training loop carries from one batch to the next is
 * here, so a resume state (run/resume.h) is this struct written out, and a resumed run
 * continues with exactly the numbers an uninterrupted one would have. */
#ifndef QAT_RUN_TRAINER_H
#define QAT_RUN_TRAINER_H

#include "core/graph.h"
#include "io/config.h"
#include "io/run_store.h"
#include "models/model.h"
#include "nn/optim.h"
#include "run/experiment.h"
#include "run/methods.h"

typedef struct {
    const TrainOptions *o;
    const QuantMethod *qm;
    const ModelDef *md;
    const Config *cfg;
    char experiment[256], run_name[256];
    char dir[1024], state_path[1100];
    Model *m;
    Graph g;
    AdamW opt;
    RunStore *rs;

    /* progress: what a resume state holds (besides the parameters) */
    int calibrating;     /* PTQ: calibration not finished; calib: where it is */
    CalibProgress calib; /* fp_weights[m->sites.n], owned (entries NULL where unused) */
    int epoch;           /* epochs finished: trained, and evaluated when due */
    int batch;           /* batches of epoch + 1 trained; == train_batches: evaluation due */
    Rng shuffle;         /* the data-order stream, now */
    Rng shuffle_epoch;   /* the stream before epoch + 1's begin_epoch (batch > 0) */
    double loss_sum, correct, count; /* over the batches of epoch + 1 so far */
    float **best;        /* best validation epoch's parameters (models with a val split) */
    double best_val;
    int best_epoch;
    Metrics last;        /* the last evaluation */
    double seconds_before; /* wall time of the processes that ran this run before */

    double t_start, t_saved; /* this process: start, last resume-state save */
} Trainer;

#endif
