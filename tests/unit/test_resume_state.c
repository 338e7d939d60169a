/* Resume states (run/resume.h) read back into a Trainer: every field of a state written
 * with the format's own writer (io/tensor_file.h) arrives where the trainer takes it, and
 * every way a state can be wrong or not fit the model ends with one message naming the
 * file and the meta line or array (each in a forked child). The model is tiny_model.h's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "run/methods.h"
#include "run/resume.h"
#include "tiny_model.h"

static Model *model;
static char path[256];

#define RNG_A "0123456789abcdef fedcba9876543210 0000000000000001 ffffffffffffffff"
#define RNG_B "1111111111111111 2222222222222222 3333333333333333 4444444444444444"

/* An LSQ run stopped in epoch 3 after 3 of its 7 batches, as resume.c writes it. */
static const char *GOOD =
    "qat-resume 1\nrun tiny_lsq_s0\nmodel tiny\nquantizer lsq\nthreads 2\nseconds 0x1.8p+3\n"
    "calibrating 0\ncalib_inputs_done 0\ncalib_next_site 0\ncalib_rng " RNG_A "\ncalib_seen 0\n"
    "epoch 2\nbatch 3\ntrain_batches 7\nshuffle " RNG_A "\nshuffle_epoch " RNG_B "\ngraph_rng " RNG_B "\n"
    "model_rng -\nadam_t 17\nloss_sum 0x1.4p+1\ncorrect 0x1.2p+5\ncount 0x1p+6\nbest_val -inf\nbest_epoch 0\n"
    "sites 10\nmlflow_run 0123456789abcdef\nmlflow_start_ms 1764700000000\n"
    "last 0x1.8p-1 accuracy\nlast 0x1p-2 loss\n"
    "metric 1 1764700001000 0x1.4p+0 train_loss\nmetric 1 1764700001500 0x1.6p-1 test_accuracy\n"
    "metric 2 1764700002000 0x1p+0 train_loss\n";

/* Every parameter (value: 100 k + i), "adam.m:"/"adam.v:" of the trained ones (value + 0.5,
 * + 0.25); `skip` names an array left out, `bias_len` is fc.bias's length. */
static void write_state(const char *meta, const char *skip, int bias_len) {
    static float data[3][3][8];
    static const char *const prefix[3] = {"", "adam.m:", "adam.v:"};
    TensorRef refs[9];
    static char names[9][TENSOR_NAME_MAX];
    int n = 0;
    for (int a = 0; a < 3; a++)
        for (int k = 0; k < model->params.n; k++) {
            const Param *p = model->params.items[k];
            if (a > 0 && p->frozen) continue;
            snprintf(names[n], TENSOR_NAME_MAX, "%s%s", prefix[a], p->name);
            if (skip && !strcmp(skip, names[n])) continue;
            for (size_t i = 0; i < 8; i++) data[a][k][i] = 100.0f * (float)k + (float)i + (a == 1 ? 0.5f : a == 2 ? 0.25f : 0.0f);
            refs[n] = (TensorRef){names[n], (int)p->group, p->t.ndim, p->t.shape, data[a][k]};
            if (k == 1) refs[n].shape = &bias_len;
            n++;
        }
    tensor_file_save(&TENSOR_FILE_RESUME, path, TINY_MODEL_DEF.name, meta, refs, n);
}

/* GOOD with the line starting `key ` replaced by `line` (removed when line is ""). */
static const char *edit(const char *key, const char *line) {
    static char out[4096];
    const char *at = strstr(GOOD, key);
    while (at && !(at == GOOD || at[-1] == '\n')) at = strstr(at + 1, key);
    if (!at) {
        fprintf(stderr, "no line %s\n", key);
        exit(2);
    }
    const char *end = strchr(at, '\n') + 1;
    snprintf(out, sizeof out, "%.*s%s%s%s", (int)(at - GOOD), GOOD, line, *line ? "\n" : "", end);
    return out;
}

typedef struct {
    const char *method;
    ResumeState rs;
    Trainer t;
    float *fp[2];
} Job;

static void load(Job *j) {
    memset(&j->t, 0, sizeof j->t);
    j->fp[0] = j->fp[1] = NULL;
    j->t.md = &TINY_MODEL_DEF;
    j->t.qm = quant_method_find(j->method);
    j->t.m = model;
    j->t.calib.fp_weights = j->fp;
    resume_read(&j->rs, path);
    resume_apply(&j->rs, &j->t);
}

static void load_ctx(const void *ctx) {
    static Job j;
    j.method = ctx;
    load(&j);
}

#define DIES(method, ...) CHECK_DIES_HOW(CHECK_DIES_ONLY_LINE, load_ctx, method, path, __VA_ARGS__)

static void test_round_trip(void) {
    write_state(GOOD, NULL, 3);
    static Job j;
    j.method = "lsq";
    load(&j);
    const Trainer *t = &j.t;
    CHECK(!strcmp(j.rs.run_name, "tiny_lsq_s0") && j.rs.threads == 2 && !strcmp(j.rs.mlflow_run, "0123456789abcdef"));
    CHECK(j.rs.mlflow_start_ms == 1764700000000LL);
    CHECK(t->epoch == 2 && t->batch == 3 && !t->calibrating && t->opt.t == 17 && t->seconds_before == 12.0);
    CHECK(t->loss_sum == 2.5 && t->correct == 36.0 && t->count == 64.0 && t->best_val == -INFINITY && t->best_epoch == 0);
    CHECK(t->shuffle.s[0] == 0x0123456789abcdefULL && t->shuffle.s[3] == 0xffffffffffffffffULL);
    CHECK(t->shuffle_epoch.s[1] == 0x2222222222222222ULL && t->g.rng.s[2] == 0x3333333333333333ULL);
    CHECK(tiny_model_weight_quantizer()->initialized == 1);
    CHECK(t->last.n == 2 && metrics_get(&t->last, "accuracy") == 0.75 && metrics_get(&t->last, "loss") == 0.25);
    const MetricHistory *h = &j.rs.history;
    CHECK(h->n == 3 && !strcmp(h->items[1].key, "test_accuracy") && h->items[1].step == 1 &&
          h->items[1].ts_ms == 1764700001500LL && h->items[1].value == 0x1.6p-1 && h->items[2].value == 1.0);
    const Param *w = model->params.items[0], *b = model->params.items[1], *s = model->params.items[2];
    CHECK(w->t.data[5] == 5.0f && w->m[5] == 5.5f && w->v[0] == 0.25f && b->t.data[2] == 102.0f && b->m[1] == 101.5f);
    CHECK(s->t.data[0] == 200.0f && s->m[0] == 0.0f); /* frozen: no moments stored */
    CHECK(j.fp[0] == NULL && j.fp[1] == NULL);
    resume_free(&j.rs);
}

/* GOOD with one line changed ("" removes it) and the error that must name it. */
static const struct {
    const char *key, *line, *error;
} CORRUPT[] = {
    {"qat-resume", "qat-resume 2", "is corrupt (meta line 1: another format version); remove it or pass --no-resume"},
    {"threads", "", "(meta line 5: expected 'threads')"},
    {"batch", "batch 8", "(meta line 14: batch past the epoch's end)"},
    {"best_epoch", "best_epoch 3", "(meta line 24: integer out of range)"}, /* after epoch 2 */
    {"shuffle ", "shuffle 0123 4567", "(meta line 15: bad RNG state)"},
    {"graph_rng", "graph_rng -", "(meta line 17: missing RNG state)"},
    {"loss_sum", "loss_sum 1e999", "(meta line 20: not a number)"},
    {"sites", "sites 1x", "(meta line 25: site flags must be 0 or 1)"},
    {"metric 2", "metric 2 1764700002000 0x1p+0", "(meta line 32: bad metric)"},
    {"metric 2", "bogus 1", "(meta line 32: unexpected line)"},
    {"model", "model other", "is corrupt (two model names)"},
};

static void test_corrupt_meta(void) {
    for (size_t i = 0; i < sizeof CORRUPT / sizeof *CORRUPT; i++) {
        write_state(edit(CORRUPT[i].key, CORRUPT[i].line), NULL, 3);
        DIES("lsq", CORRUPT[i].error);
    }
    write_state("qat-resume 1\nrun r\n", NULL, 3);
    DIES("lsq", "(meta line 3: ends early)");
}

static void test_does_not_fit(void) {
    write_state(GOOD, NULL, 3);
    DIES("pact", "resume state ", "is of tiny with lsq, not tiny with pact; pass --no-resume");
    write_state(edit("train_batches", "train_batches 9"), NULL, 3);
    DIES("lsq", "was written with 9 training batches per epoch, the data now gives 7 (did the dataset change?)");
    write_state(edit("sites", "sites 1"), NULL, 3);
    DIES("lsq", "has 1 quant sites, the model 2");
    write_state(edit("sites", "sites 01"), NULL, 3);
    DIES("lsq", "quant site 1 has a quantizer here only");
    write_state(GOOD, "adam.m:fc.weight", 3);
    DIES("lsq", "has no array 'adam.m:fc.weight': it was written for another configuration; pass --no-resume");
    write_state(GOOD, NULL, 4);
    DIES("lsq", "array 'fc.bias' has shape [4], the model expects [3]; pass --no-resume");
    write_state(edit("calibrating", "calibrating 1"), NULL, 3);
    DIES("lsq", "is corrupt (it calibrates lsq)");
    const char *ada = "qat-resume 1\nrun r\nmodel tiny\nquantizer adaround\n";
    char meta[4096];
    snprintf(meta, sizeof meta, "%s%s", ada, strstr(edit("calib_next_site", "calib_next_site 5"), "threads"));
    write_state(meta, NULL, 3);
    DIES("adaround", "is corrupt (calibration at quant site 6 of 2)");
}

int main(void) {
    char dir[] = "/tmp/qat_resume_XXXXXX";
    if (!mkdtemp(dir)) return 2;
    snprintf(path, sizeof path, "%s/resume.state", dir);
    model = tiny_model();
    test_round_trip();
    test_corrupt_meta();
    test_does_not_fit();
    unlink(path);
    rmdir(dir);
    return check_done("resume_state");
}
