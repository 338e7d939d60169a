/* libFuzzer harness: the readers of the files a run writes and reads back: checkpoints
 * (io/checkpoint.c, checkpoint_load, on io/tensor_file.c) and resume states
 * (run/resume.c, resume_read then resume_apply to a Trainer).
 *
 * Input: FLAGS BODY.
 *   FLAGS bit 0   0: a checkpoint, 1: a resume state
 *   FLAGS bit 1   BODY is the whole file as is; else BODY is what follows the header (model
 *                 name, meta text, arrays) and the harness adds the magic, version, size
 *                 and checksum, so that mutations reach the parsers behind the checksum
 *   FLAGS bit 2   checkpoint: CKPT_ALLOW_MISSING_QUANT; resume state: the method is
 *                 AdaRound (post-training), else LSQ
 *   FLAGS bit 3   resume state: the model has its own RNG (SASRec's), and keeps the best
 *                 epoch's parameters
 * The model is tests/unit/tiny_model.h's ("tiny": three parameters, two quant sites).
 *
 * Checked: a rejected file dies naming it; an accepted one leaves finite parameters and
 * a Trainer whose position is inside the model's (batch <= batches per epoch, quant site
 * <= sites, best epoch <= epoch).
 *
 * QAT_FUZZ_SEEDS=DIR writes this harness's seed inputs (made with the project's own
 * writer) into DIR at start-up: tests/fuzz/corpus/fuzz_state is made so. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "run/methods.h"
#include "run/resume.h"
#include "fuzz_common.h"
#include "tiny_model.h"

#define NPARAMS 3

static Model *model;
static const ModelDef *const fuzz_def = &TINY_MODEL_DEF;
static Rng model_rng;
static float best_data[NPARAMS][8];
static float *best[NPARAMS] = {best_data[0], best_data[1], best_data[2]};

typedef struct {
    const char *path;
    CheckpointMode mode;
    ResumeState rs;
    Trainer t;
} Ctx;

static void load_checkpoint(void *p) {
    Ctx *c = p;
    checkpoint_load(c->path, fuzz_def->name, &model->params, c->mode);
}

static void load_resume(void *p) {
    Ctx *c = p;
    resume_read(&c->rs, c->path);
    resume_apply(&c->rs, &c->t);
}

static void fnv(uint64_t *h, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) *h = (*h ^ p[i]) * 0x100000001b3ULL;
}

/* The file: BODY framed as tensor_file_save frames it (see io/tensor_file.c). */
static uint8_t *frame(const char *magic, const uint8_t *body, size_t n, size_t *out_n) {
    size_t total = 20 + n + 8;
    uint8_t *b = malloc(total);
    memcpy(b, magic, 8);
    for (int i = 0; i < 4; i++) b[8 + i] = (uint8_t)(1u >> 8 * i);
    for (int i = 0; i < 8; i++) b[12 + i] = (uint8_t)((uint64_t)total >> 8 * i);
    memcpy(b + 20, body, n);
    uint64_t h = 0xcbf29ce484222325ULL;
    fnv(&h, b, 20 + n);
    for (int i = 0; i < 8; i++) b[20 + n + i] = (uint8_t)(h >> 8 * i);
    *out_n = total;
    return b;
}

static void check_loaded_params(void) {
    for (int k = 0; k < model->params.n; k++) {
        const Param *p = model->params.items[k];
        for (size_t i = 0; i < p->t.size; i++) FUZZ_CHECK(isfinite(p->t.data[i]));
    }
}

static void run(const uint8_t *data, size_t size) {
    if (size < 1) return;
    unsigned flags = data[0];
    int is_state = flags & 1;
    const TensorFileKind *kind = is_state ? &TENSOR_FILE_RESUME : &TENSOR_FILE_CHECKPOINT;
    Ctx c;
    memset(&c, 0, sizeof c);
    c.path = fuzz_path(is_state ? "resume.state" : "model->ckpt");
    c.mode = flags & 4 ? CKPT_ALLOW_MISSING_QUANT : CKPT_STRICT;
    if (flags & 2) {
        fuzz_write_file(c.path, data + 1, size - 1, 0);
    } else {
        size_t n;
        uint8_t *file = frame(kind->magic, data + 1, size - 1, &n);
        fuzz_write_file(c.path, file, n, 0);
        free(file);
    }
    if (!is_state) {
        if (fuzz_call(load_checkpoint, &c)) {
            FUZZ_EXPECT_MESSAGE(c.path);
            return;
        }
        check_loaded_params();
        return;
    }
    float *fp_weights[2] = {NULL, NULL};
    Trainer *t = &c.t;
    t->md = fuzz_def;
    t->qm = quant_method_find(flags & 4 ? "adaround" : "lsq");
    t->m = model;
    model->rng = flags & 8 ? &model_rng : NULL;
    t->best = flags & 8 ? best : NULL;
    t->calib.fp_weights = fp_weights;
    if (fuzz_call(load_resume, &c)) {
        FUZZ_EXPECT_MESSAGE(c.path);
        return;
    }
    check_loaded_params();
    FUZZ_CHECK(t->batch >= 0 && t->batch <= model->train_batches);
    FUZZ_CHECK(t->calib.next_site >= 0 && t->calib.next_site <= model->sites.n);
    FUZZ_CHECK(t->best_epoch >= 0 && t->best_epoch <= t->epoch);
    FUZZ_CHECK(!t->calibrating || t->qm->is_ptq);
    FUZZ_CHECK(fp_weights[1] == NULL); /* an input site keeps no FP copy */
    free(fp_weights[0]);
    resume_free(&c.rs);
}

/* ---- seeds ---- */

/* A resume state's meta text as resume.c writes it. */
static const char *state_meta(int ptq, int own_rng) {
    static char text[2048];
    const char *rng = "0123456789abcdef fedcba9876543210 0000000000000001 ffffffffffffffff";
    snprintf(text, sizeof text,
             "qat-resume 1\nrun tiny_%s_s0\nmodel tiny\nquantizer %s\nthreads 2\nseconds 0x1.8p+3\n"
             "calibrating %d\ncalib_inputs_done %d\ncalib_next_site %d\ncalib_rng %s\ncalib_seen 64\n"
             "epoch %d\nbatch %d\ntrain_batches 7\nshuffle %s\nshuffle_epoch %s\ngraph_rng %s\nmodel_rng %s\n"
             "adam_t 17\nloss_sum 0x1.4p+1\ncorrect 0x1.2p+5\ncount 0x1p+6\nbest_val %s\nbest_epoch %d\n"
             "sites %s\nmlflow_run %s\nmlflow_start_ms 1764700000000\n"
             "%s",
             ptq ? "adaround" : "lsq", ptq ? "adaround" : "lsq", ptq, ptq, ptq, rng, ptq ? 0 : 2, ptq ? 0 : 3, rng,
             rng, rng, own_rng ? rng : "-", own_rng ? "0x1.8p-1" : "-inf", own_rng ? 2 : 0, ptq ? "00" : "10",
             ptq ? "-" : "0123456789abcdef0123456789abcdef",
             ptq ? "" : "last 0x1.8p-1 accuracy\nlast 0x1p-2 loss\nmetric 1 1764700001000 0x1.4p+0 train_loss\n"
                        "metric 1 1764700001000 0x1.6p-1 val_accuracy\nmetric 2 1764700002000 0x1p+0 train_loss\n");
    return text;
}

static void write_seed(const char *dir, const char *name, unsigned flags, const char *magic, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) fuzz_fail("cannot read %s", path);
    static uint8_t buf[1 << 16];
    size_t n = fread(buf + 1, 1, sizeof buf - 1, f);
    fclose(f);
    FUZZ_CHECK(n > 28 && !memcmp(buf + 1, magic, 8));
    buf[0] = (uint8_t)flags;
    char out[1024];
    snprintf(out, sizeof out, "%s/%s", dir, name);
    f = fopen(out, "wb");
    if (!f) fuzz_fail("cannot write %s", out);
    /* framed: drop the header and the checksum; raw: the whole file */
    if (flags & 2) fwrite(buf, 1, n + 1, f);
    else fputc(buf[0], f), fwrite(buf + 1 + 20, 1, n - 28, f);
    fclose(f);
}

static void add_refs(TensorRef *refs, int *n, const char *prefix, int moments_only, char names[][TENSOR_NAME_MAX]) {
    for (int k = 0; k < model->params.n; k++) {
        const Param *p = model->params.items[k];
        if (moments_only && p->frozen) continue;
        snprintf(names[*n], TENSOR_NAME_MAX, "%s%s", prefix, p->name);
        refs[*n] = (TensorRef){names[*n], (int)p->group, p->t.ndim, p->t.shape, p->t.data};
        (*n)++;
    }
}

static void write_seeds(const char *dir) {
    for (int k = 0; k < model->params.n; k++)
        for (size_t i = 0; i < model->params.items[k]->t.size; i++) model->params.items[k]->t.data[i] = 0.25f * (float)(i + k);
    const char *ckpt = fuzz_path("seed.ckpt"), *state = fuzz_path("seed.state");
    checkpoint_save(ckpt, fuzz_def->name, &model->params, "model:\n  hidden: 3\ntraining:\n  lr: 0.001\n");
    write_seed(dir, "checkpoint", 0, "QATCKPT1", ckpt);
    write_seed(dir, "checkpoint-raw", 2, "QATCKPT1", ckpt);
    ParamList two = {model->params.items, 2, 2}; /* without the quantizer parameter */
    checkpoint_save(ckpt, fuzz_def->name, &two, "");
    write_seed(dir, "checkpoint-no-quant", 4, "QATCKPT1", ckpt);

    for (int s = 0; s < 3; s++) {
        int ptq = s == 2, own_rng = s == 1;
        TensorRef refs[16];
        char names[16][TENSOR_NAME_MAX];
        int n = 0;
        add_refs(refs, &n, "", 0, names);
        add_refs(refs, &n, "adam.m:", 1, names), add_refs(refs, &n, "adam.v:", 1, names);
        if (own_rng) add_refs(refs, &n, "best:", 0, names);
        if (ptq) {
            snprintf(names[n], TENSOR_NAME_MAX, "fp:fc.weight");
            refs[n] = (TensorRef){names[n], 0, 2, model->params.items[0]->t.shape, model->params.items[0]->t.data};
            n++;
        }
        tensor_file_save(&TENSOR_FILE_RESUME, state, fuzz_def->name, state_meta(ptq, own_rng), refs, n);
        static const char *const seed_names[3] = {"state-lsq", "state-lsq-rng-best", "state-adaround"};
        write_seed(dir, seed_names[s], 1u | (own_rng ? 8u : 0u) | (ptq ? 4u : 0u), "QATSTAT1", state);
    }
    write_seed(dir, "state-adaround-raw", 1 | 2 | 4, "QATSTAT1", state);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_init();
    model = tiny_model();
    const char *seeds = getenv("QAT_FUZZ_SEEDS");
    if (seeds && *seeds) write_seeds(seeds);
    /* the first uses, outside fuzzing: an LSQ resume state that loads */
    const char *meta = state_meta(0, 0);
    uint8_t body[1024];
    size_t n = 0;
    uint32_t len = 4;
    memcpy(body + n, &len, 4), n += 4, memcpy(body + n, "tiny", 4), n += 4;
    len = (uint32_t)strlen(meta);
    memcpy(body + n, &len, 4), n += 4;
    static uint8_t sample[4096];
    sample[0] = 1;
    memcpy(sample + 1, body, n);
    memcpy(sample + 1 + n, meta, len);
    size_t at = 1 + n + len;
    uint32_t count = 0; /* no arrays: dies, naming the file */
    memcpy(sample + at, &count, 4), at += 4;
    run(sample, at);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    run(data, size);
    return 0;
}
