/* What a post-training calibration reads and where it reports: the training data as the
 * run layer provides it, and the progress a resumed run continues from. */
#ifndef QAT_PTQ_CALIBRATION_H
#define QAT_PTQ_CALIBRATION_H

#include "core/graph.h"
#include "core/rng.h"

/* How far a calibration got, after a finished step: what a resumed run continues from.
 * The quantizer parameters and the weights rounded so far are in the model's params. */
typedef struct {
    int inputs_done;    /* the input scales are set */
    int next_site;      /* the weight sites before this index are done */
    Rng rng;            /* the stream the next layer's seed comes from */
    long seen;          /* examples counted so far (for the final message) */
    float **fp_weights; /* [sites->n]: the FP weights of the sites rounded so far, else NULL */
} CalibProgress;

/* Training data for post-training calibration, as the run layer provides it: forward(b)
 * builds the model's forward graph of training batch b (g->training == 0), so the sites
 * the calibration watches record their inputs. */
typedef struct {
    void (*forward)(void *ctx, Graph *g, int b);
    void *ctx;
    int nbatches;   /* batches available */
    int batch_size; /* examples per batch */
    /* Optional: save(ctx, p) after each finished step; poll(ctx) often, which does not
     * return when the run must stop (it keeps the last save). */
    void (*save)(void *ctx, const CalibProgress *p);
    void (*poll)(void *ctx);
    const CalibProgress *resume; /* NULL: from the start */
} CalibSource;

#endif
