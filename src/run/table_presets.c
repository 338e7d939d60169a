#include "run/table_presets.h"

#include <string.h>

/* full: the default configs; QAT fine-tunes for a fraction of the FP schedule, as the
 * papers fine-tune from a converged FP model (METHODS.md P7). */
static const TablePreset FULL[] = {
    {"lstm", "roc_auc", "LSTM (ROC-AUC, IMDB)", {NULL}, {"training.epochs=1"}, {NULL}},
    {"sasrec", "ndcg@10", "SASRec (NDCG@10, ML-1M)", {NULL}, {"training.epochs=20"}, {NULL}},
    {"espcn", "psnr_set5", "ESPCN (PSNR dB, Set5 x3)", {NULL}, {"training.epochs=30"}, {NULL}},
    {"simple_cnn", "accuracy", "simple_cnn (accuracy, MNIST)", {NULL}, {"training.epochs=1"}, {NULL}},
};

/* quick: all 18 cells of lstm, sasrec and espcn in under 30 minutes on 2 cores. LSTM:
 * FP on a fixed 5,000-review subset, QAT on 2,000, everything evaluated on a fixed
 * 5,000-review test subset; AdaRound with 200 iterations per layer. SASRec: 20 FP
 * epochs, 3 of QAT. ESPCN: 20 FP epochs, 5 of QAT. AdaRound elsewhere: 1,000 iterations. */
static const TablePreset QUICK[] = {
    {"lstm", "roc_auc", "LSTM (ROC-AUC, IMDB)",
     {"training.epochs=1", "dataset.train_limit=5000", "dataset.test_limit=5000"},
     {"training.epochs=1", "dataset.train_limit=2000", "dataset.test_limit=5000"},
     {"dataset.train_limit=5000", "dataset.test_limit=5000", "quantizer_optimizer.num_iterations=200"}},
    {"sasrec", "ndcg@10", "SASRec (NDCG@10, ML-1M)",
     {"training.epochs=20"}, {"training.epochs=3"}, {"quantizer_optimizer.num_iterations=1000"}},
    {"espcn", "psnr_set5", "ESPCN (PSNR dB, Set5 x3)",
     {"training.epochs=20"}, {"training.epochs=5"}, {"quantizer_optimizer.num_iterations=1000"}},
    {"simple_cnn", "accuracy", "simple_cnn (accuracy, MNIST)",
     {"training.epochs=2"}, {"training.epochs=1"}, {"quantizer_optimizer.num_iterations=500"}},
};

static const char *const DEFAULT_MODELS[] = {"lstm", "sasrec", "espcn", NULL};

const TablePreset *table_preset(const char *preset, const char *model) {
    const TablePreset *list = strcmp(preset, "quick") == 0 ? QUICK : FULL;
    size_t n = strcmp(preset, "quick") == 0 ? sizeof QUICK / sizeof QUICK[0] : sizeof FULL / sizeof FULL[0];
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].model, model) == 0) return &list[i];
    return NULL;
}

const char *const *table_default_models(void) { return DEFAULT_MODELS; }
