/* Resume states: RUN_DIR/resume.state, a tensor file of kind "QATSTAT1" holding a
 * Trainer's progress (run/trainer.h): every parameter, the AdamW moments and step count,
 * the best epoch's parameters, AdaRound's FP copies of the weights it rounded, and as meta
 * text the RNG states, the position in the data order, the running sums of the epoch in
 * progress, each quant site's initialised flag and every metric logged so far. Written
 * atomically at the end of every epoch, every --save-every seconds within one, after each
 * AdaRound layer and on SIGINT/SIGTERM; removed when the run has finished. */
#ifndef QAT_RUN_RESUME_H
#define QAT_RUN_RESUME_H

#include "io/tensor_file.h"
#include "run/trainer.h"

extern const TensorFileKind TENSOR_FILE_RESUME;

/* The parsed meta text of a state, read before the model is built. */
typedef struct {
    TensorFile file;
    char run_name[256], model[64], quantizer[64];
    int threads;
    int epoch, batch, train_batches, calibrating, calib_next_site;
    MetricHistory history;
    char mlflow_run[64];
    long long mlflow_start_ms;
    struct ResumeProgress *progress; /* the rest, for resume_apply */
} ResumeState;

/* Reads and checks path (dies with a message naming it when it is corrupt). */
void resume_read(ResumeState *rs, const char *path);
/* Restores a Trainer whose model, quantizers and optimizer are built. Dies when the state
 * does not fit the model (another config). */
void resume_apply(const ResumeState *rs, Trainer *t);
void resume_free(ResumeState *rs);

/* Writes t's progress to t->state_path. Dies when a parameter is NaN or infinite (the
 * last good state stays). */
void resume_save(const Trainer *t);

/* Where a run is: "epoch 3 done, 120 of 469 batches of epoch 4" and the like. */
void resume_position(char *out, size_t cap, int calibrating, int calib_next_site, int epoch, int batch,
                     int train_batches);

#endif
