#include "run/table_presets.h"

#include <string.h>

/* full: the default configs; QAT fine-tunes for a fraction of the FP schedule, as the
 * papers fine-tune from a converged FP model (docs/METHODS.md P7). */
static const TablePreset FULL[] = {
    {"lstm", "roc_auc", "LSTM (ROC-AUC, IMDB)", {NULL}, {"training.epochs=1"}, {NULL}},
    {"sasrec", "ndcg@10", "SASRec (NDCG@10, ML-1M)", {NULL}, {"training.epochs=20"}, {NULL}},
    {"espcn", "psnr_set5", "ESPCN (PSNR dB, Set5 x3)", {NULL}, {"training.epochs=30"}, {NULL}},
    {"simple_cnn", "accuracy", "simple_cnn (accuracy, MNIST)", {NULL}, {"training.epochs=1"}, {NULL}},
};

/* quick: all 18 cells of lstm, sasrec and espcn in under 30 minutes on 2 cores, with
 * baselines trained far enough that a QAT epoch is fine-tuning, not more training.
 * LSTM: a smaller BiLSTM (embedding and hidden 128, first 256 tokens), FP 2 epochs on all
 * of IMDB train, QAT 1 epoch on a fixed 5,000-review subset, every cell evaluated on a
 * fixed 5,000-review test subset, AdaRound 200 iterations per layer, plain shuffled
 * batches (length bucketing, the default config's, costs this model: FP ROC-AUC 0.8246
 * with it, 0.9092 without). SASRec: the default
 * FP run (60 epochs, shared with the full preset), 3 QAT epochs. ESPCN: 60 FP epochs,
 * 5 QAT epochs. AdaRound elsewhere: 1,000 iterations per layer. */
#define LSTM_QUICK "model.embedding_dim=128", "model.hidden_size=128", "model.max_seq_len=256", \
                   "dataset.test_limit=5000", "training.bucket_window=0"
static const TablePreset QUICK[] = {
    {"lstm", "roc_auc", "LSTM (ROC-AUC, IMDB)",
     {LSTM_QUICK, "training.epochs=2", "training.eval_every=2"},
     {LSTM_QUICK, "training.epochs=1", "dataset.train_limit=5000"},
     {LSTM_QUICK, "quantizer_optimizer.num_iterations=200"}},
    {"sasrec", "ndcg@10", "SASRec (NDCG@10, ML-1M)",
     {NULL}, {"training.epochs=3"}, {"quantizer_optimizer.num_iterations=1000"}},
    {"espcn", "psnr_set5", "ESPCN (PSNR dB, Set5 x3)",
     {"training.epochs=60"}, {"training.epochs=5"}, {"quantizer_optimizer.num_iterations=1000"}},
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
