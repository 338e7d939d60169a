/* Checkpoints: bit-exact round trip, the missing-quantizer mode, and every way a file can be
 * wrong (each checked in a forked child: exit status 1 and a message naming the problem). */
#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/param.h"
#include "io/checkpoint.h"

static char tmpdir[256];

/* ---- helpers ---- */

static void path_in(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

static uint64_t fnv1a(const unsigned char *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Recompute the trailing checksum, so a crafted field gets past the checksum test. */
static void reseal(unsigned char *b, size_t n) {
    uint64_t h = fnv1a(b, n - 8);
    for (int i = 0; i < 8; i++) b[n - 8 + i] = (unsigned char)(h >> (8 * i));
}

typedef struct {
    const char *name;
    int ndim;
    int shape[4];
    ParamGroup group;
} Spec;

static void build(ParamList *l, const Spec *s, int n, unsigned seed) {
    memset(l, 0, sizeof *l);
    for (int i = 0; i < n; i++) {
        Param *p = param_new(s[i].name, s[i].ndim, s[i].shape, s[i].group);
        for (size_t j = 0; j < p->t.size; j++) {
            seed = seed * 1664525u + 1013904223u;
            uint32_t bits = seed;
            if ((bits & 0x7f800000u) == 0x7f800000u) bits ^= 0x40000000u; /* any finite bit pattern */
            memcpy(&p->t.data[j], &bits, 4);
        }
        param_list_add(l, p);
    }
}

static int same_data(const ParamList *a, const ParamList *b) {
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++) {
        const Param *q = param_list_find(b, a->items[i]->name);
        if (!q || q->t.size != a->items[i]->t.size) return 0;
        if (memcmp(q->t.data, a->items[i]->t.data, q->t.size * 4) != 0) return 0;
    }
    return 1;
}

/* ---- running a load that must die ---- */

typedef struct {
    const char *path;
    const char *model;
    const Spec *spec;
    int nspec;
    CheckpointMode mode;
} LoadJob;

static void run_load(const void *arg) {
    const LoadJob *job = arg;
    ParamList l;
    build(&l, job->spec, job->nspec, 7);
    checkpoint_load(job->path, job->model, &l, job->mode);
}

/* Runs fn(arg) in a child; 1 when it exited with status 1 and its stderr is one line,
 * "qat: error: ...", holding every string of `want` (NULL-terminated). */
static int child_dies(void (*fn)(const void *), const void *arg, const char *const *want,
                      int verbose) {
    char msg[4096];
    int ok = check_dies(fn, arg, CHECK_DIES_ONLY_LINE, want, msg, sizeof msg);
    if (ok && verbose) fprintf(stderr, "ok: child said: %s", msg);
    return ok;
}

static int dies_with(const LoadJob *job, const char *const *want, int verbose) {
    return child_dies(run_load, job, want, verbose);
}

/* Saving where it cannot be written. */
typedef struct {
    const char *path;
    const ParamList *params;
    long fsize_limit; /* > 0: RLIMIT_FSIZE, so writes fail like a full disk */
} SaveJob;

static void run_save(const void *arg) {
    const SaveJob *job = arg;
    if (job->fsize_limit > 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {(rlim_t)job->fsize_limit, (rlim_t)job->fsize_limit};
        setrlimit(RLIMIT_FSIZE, &rl);
    }
    checkpoint_save(job->path, "simple_cnn", job->params, "meta");
}

#define W(...) ((const char *const[]){__VA_ARGS__, NULL})

static const Spec MODEL[] = {
    {"conv.weight", 4, {4, 1, 3, 3}, PARAM_GROUP_WEIGHT},
    {"conv.bias", 1, {4}, PARAM_GROUP_NO_DECAY},
    {"fc.weight", 2, {10, 32}, PARAM_GROUP_WEIGHT},
    {"act.scale", 1, {1}, PARAM_GROUP_QUANT},
};
#define NMODEL 4

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/qat_ckpt_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    char ck[512], p2[512];
    path_in(ck, sizeof ck, "model.ckpt");

    /* ---- round trip ---- */
    ParamList a, b;
    build(&a, MODEL, NMODEL, 12345);
    a.items[0]->t.data[0] = -0.0f;
    a.items[0]->t.data[1] = FLT_MAX;
    a.items[0]->t.data[2] = 1e-45f; /* denormal */
    const char *meta = "model:\n  name: simple_cnn\ntraining:\n  lr: 0.001\n";
    checkpoint_save(ck, "simple_cnn", &a, meta);
    build(&b, MODEL, NMODEL, 999);
    CHECK(!same_data(&a, &b));
    CHECK(checkpoint_load(ck, "simple_cnn", &b, CKPT_STRICT) == NMODEL);
    CHECK(same_data(&a, &b));
    CHECK(signbit(b.items[0]->t.data[0]) && b.items[0]->t.data[0] == 0.0f);

    /* Layout: magic, version, recorded size = file size, meta stored verbatim. */
    size_t n = 0;
    unsigned char *file = read_all(ck, &n);
    size_t expect = 8 + 4 + 8 + (4 + 10) + (4 + strlen(meta)) + 4;
    for (int i = 0; i < NMODEL; i++) {
        size_t sz = 1;
        for (int d = 0; d < MODEL[i].ndim; d++) sz *= (size_t)MODEL[i].shape[d];
        expect += 4 + strlen(MODEL[i].name) + 4 + 4 + 4 * (size_t)MODEL[i].ndim + 4 * sz;
    }
    expect += 8;
    CHECK(n == expect);
    CHECK(memcmp(file, "QATCKPT1", 8) == 0);
    CHECK(get_u32(file + 8) == 1);
    CHECK(get_u32(file + 12) == n && get_u32(file + 16) == 0);
    CHECK(get_u32(file + 20) == 10 && memcmp(file + 24, "simple_cnn", 10) == 0);
    CHECK(get_u32(file + 34) == strlen(meta) && memcmp(file + 38, meta, strlen(meta)) == 0);
    CHECK(get_u32(file + 38 + strlen(meta)) == NMODEL);
    size_t p0 = 42 + strlen(meta); /* first parameter */
    CHECK(get_u32(file + p0) == 11 && memcmp(file + p0 + 4, "conv.weight", 11) == 0);
    CHECK(get_u32(file + p0 + 15) == PARAM_GROUP_WEIGHT && get_u32(file + p0 + 19) == 4);
    CHECK(get_u32(file + p0 + 23) == 4 && get_u32(file + p0 + 35) == 3);
    CHECK(memcmp(file + p0 + 39, a.items[0]->t.data, 36 * 4) == 0);
    uint64_t h = fnv1a(file, n - 8), stored = 0;
    for (int i = 7; i >= 0; i--) stored = stored << 8 | file[n - 8 + i];
    CHECK(h == stored);

    /* Saved atomically: no temporary left, saving again replaces the file. */
    DIR *d = opendir(tmpdir);
    int entries = 0, tmps = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        entries++;
        if (strstr(e->d_name, ".tmp.")) tmps++;
    }
    closedir(d);
    CHECK(entries == 1 && tmps == 0);
    checkpoint_save(ck, "simple_cnn", &a, NULL);
    size_t n2 = 0;
    unsigned char *file2 = read_all(ck, &n2);
    CHECK(n2 == n - strlen(meta));
    free(file2);
    checkpoint_save(ck, "simple_cnn", &a, meta);

    /* Write errors: no folder, a full disk (file size limit). The old file survives and no
     * temporary is left. */
    {
        SaveJob j = {"/nonexistent_qat_dir/x.ckpt", &a, 0};
        CHECK(child_dies(run_save, &j, W("cannot create /nonexistent_qat_dir/x.ckpt.tmp.",
                                         "No such file or directory"), 1));
        SaveJob big = {ck, &a, 600};
        CHECK(child_dies(run_save, &big, W("cannot write ", "model.ckpt", "File too large"), 1));
        ParamList back;
        build(&back, MODEL, NMODEL, 31);
        CHECK(checkpoint_load(ck, "simple_cnn", &back, CKPT_STRICT) == NMODEL);
        CHECK(same_data(&a, &back));
        param_list_free(&back, 1);
        DIR *dd = opendir(tmpdir);
        int left = 0;
        struct dirent *de;
        while ((de = readdir(dd)) != NULL) left += strstr(de->d_name, ".tmp.") != NULL;
        closedir(dd);
        CHECK(left == 0);
    }

    /* ---- the missing-quantizer mode ---- */
    ParamList noq;
    build(&noq, MODEL, NMODEL - 1, 4242);
    path_in(p2, sizeof p2, "noquant.ckpt");
    checkpoint_save(p2, "simple_cnn", &noq, "");
    ParamList c;
    build(&c, MODEL, NMODEL, 1);
    float scale_before = c.items[3]->t.data[0];
    CHECK(checkpoint_load(p2, "simple_cnn", &c, CKPT_ALLOW_MISSING_QUANT) == NMODEL - 1);
    CHECK(memcmp(c.items[2]->t.data, noq.items[2]->t.data, 320 * 4) == 0);
    CHECK(memcmp(&c.items[3]->t.data[0], &scale_before, 4) == 0);
    {
        LoadJob j = {p2, "simple_cnn", MODEL, NMODEL, CKPT_STRICT};
        CHECK(dies_with(&j, W("checkpoint ", "noquant.ckpt has no parameter 'act.scale'",
                              "shape [1]"), 1));
    }
    /* ALLOW_MISSING_QUANT does not excuse a missing weight. */
    {
        static const Spec less[] = {{"conv.weight", 4, {4, 1, 3, 3}, PARAM_GROUP_WEIGHT}};
        ParamList l1;
        build(&l1, less, 1, 3);
        path_in(p2, sizeof p2, "less.ckpt");
        checkpoint_save(p2, "simple_cnn", &l1, "");
        param_list_free(&l1, 1);
        LoadJob j = {p2, "simple_cnn", MODEL, NMODEL, CKPT_ALLOW_MISSING_QUANT};
        CHECK(dies_with(&j, W("less.ckpt has no parameter 'conv.bias'"), 0));
    }

    /* ---- errors ---- */
    {
        path_in(p2, sizeof p2, "nope.ckpt");
        LoadJob j = {p2, "simple_cnn", MODEL, NMODEL, CKPT_STRICT};
        CHECK(dies_with(&j, W("cannot open checkpoint ", "nope.ckpt", "No such file"), 1));
    }
    {
        LoadJob j = {tmpdir, "simple_cnn", MODEL, NMODEL, CKPT_STRICT};
        CHECK(dies_with(&j, W("checkpoint ", tmpdir), 0));
    }
    {
        LoadJob j = {ck, "lstm", MODEL, NMODEL, CKPT_STRICT};
        CHECK(dies_with(&j, W("model.ckpt holds model 'simple_cnn', not 'lstm'"), 1));
    }
    {
        /* The model has fc.weight [10, 64]; the file [10, 32]. */
        Spec m2[NMODEL];
        memcpy(m2, MODEL, sizeof m2);
        m2[2].shape[1] = 64;
        LoadJob j = {ck, "simple_cnn", m2, NMODEL, CKPT_STRICT};
        CHECK(dies_with(&j, W("checkpoint ", "model.ckpt: parameter 'fc.weight' has shape "
                              "[10, 32], the model expects [10, 64]"), 1));
        m2[2].ndim = 3;
        m2[2].shape[2] = 1;
        CHECK(dies_with(&j, W("has shape [10, 32], the model expects [10, 64, 1]"), 0));
    }
    {
        /* A parameter in the file that the model lacks. */
        LoadJob j = {ck, "simple_cnn", MODEL, NMODEL - 1, CKPT_STRICT};
        CHECK(dies_with(&j, W("model.ckpt: parameter 'act.scale' (shape [1]) is not in model "
                              "'simple_cnn'"), 1));
    }
    {
        /* A parameter of the model that the file lacks (renamed in the model). */
        Spec m2[NMODEL];
        memcpy(m2, MODEL, sizeof m2);
        m2[1].name = "conv.b";
        LoadJob j = {ck, "simple_cnn", m2, NMODEL, CKPT_STRICT};
        CHECK(dies_with(&j, W("parameter 'conv.bias'", "is not in model"), 0));
    }

    char bad[512];
    path_in(bad, sizeof bad, "bad.ckpt");
    LoadJob jb = {bad, "simple_cnn", MODEL, NMODEL, CKPT_STRICT};
    unsigned char *buf = malloc(n + 64);
    {
        memcpy(buf, file, n);
        memcpy(buf, "PK\x03\x04", 4);
        check_write_file(bad, buf, n);
        CHECK(dies_with(&jb, W("bad.ckpt is not a QAT checkpoint (wrong magic)"), 1));
        check_write_file(bad, "hello", 5);
        CHECK(dies_with(&jb, W("not a QAT checkpoint"), 0));
    }
    {
        memcpy(buf, file, n);
        put_u32(buf + 8, 2);
        check_write_file(bad, buf, n);
        CHECK(dies_with(&jb, W("bad.ckpt has format version 2; this build reads version 1"), 1));
    }
    {
        /* A flipped bit anywhere after the header: checksum. */
        int all = 1;
        for (size_t pos = 20; pos < n; pos += 37) {
            memcpy(buf, file, n);
            buf[pos] ^= 0x10;
            check_write_file(bad, buf, n);
            all &= dies_with(&jb, W("bad.ckpt is corrupt (checksum mismatch"), pos == 20 + 37 * 3);
        }
        CHECK(all);
    }
    {
        /* Extra bytes after the checksum. */
        memcpy(buf, file, n);
        memset(buf + n, 0, 16);
        check_write_file(bad, buf, n + 16);
        CHECK(dies_with(&jb, W("bad.ckpt is corrupt", "but its header records"), 1));
    }
    {
        /* Truncated at every length: each one names the cut. */
        int all = 1;
        char want[128];
        for (size_t cut = 0; cut < n; cut++) {
            check_write_file(bad, file, cut);
            if (cut >= 20)
                snprintf(want, sizeof want, "bad.ckpt is truncated (read %zu of %zu bytes)", cut,
                         n);
            else
                snprintf(want, sizeof want, "bad.ckpt is truncated (read %zu bytes", cut);
            int ok = dies_with(&jb, W(want), cut == 0 || cut == 7 || cut == 100);
            if (!ok) fprintf(stderr, "  cut at %zu\n", cut);
            all &= ok;
        }
        CHECK(all);
    }
    {
        /* Corrupt lengths behind a valid checksum: refused before any allocation. */
        const uint32_t huge[] = {0xFFFFFFFFu, 0x7FFFFFFFu, 0x10000u, (uint32_t)n};
        for (int i = 0; i < 4; i++) {
            memcpy(buf, file, n);
            put_u32(buf + 20, huge[i]); /* model name length */
            reseal(buf, n);
            check_write_file(bad, buf, n);
            CHECK(dies_with(&jb, W("bad.ckpt is corrupt (model name at byte"), i == 0));

            memcpy(buf, file, n);
            put_u32(buf + 34, huge[i]); /* meta length */
            reseal(buf, n);
            check_write_file(bad, buf, n);
            CHECK(dies_with(&jb, W("bad.ckpt is corrupt (meta text"), i == 0));

            memcpy(buf, file, n);
            put_u32(buf + 38 + strlen(meta), huge[i]); /* parameter count */
            reseal(buf, n);
            check_write_file(bad, buf, n);
            CHECK(dies_with(&jb, W("bad.ckpt is corrupt (parameter count"), i == 0));

            memcpy(buf, file, n);
            put_u32(buf + p0, huge[i]); /* first parameter's name length */
            reseal(buf, n);
            check_write_file(bad, buf, n);
            CHECK(dies_with(&jb, W("bad.ckpt is corrupt (parameter name"), i == 0));
        }
        /* Shapes whose product overflows or exceeds the file. */
        const uint32_t dims[][4] = {{0xFFFFFFFFu, 1, 3, 3},
                                    {0x7FFFFFFFu, 0x7FFFFFFFu, 0x7FFFFFFFu, 0x7FFFFFFFu},
                                    {65536, 65536, 1, 1},
                                    {4, 1, 3, 4}};
        const char *what[] = {"parameter shape", "parameter shape", "parameter shape",
                              "parameter "};
        for (int i = 0; i < 4; i++) {
            memcpy(buf, file, n);
            for (int k = 0; k < 4; k++) put_u32(buf + p0 + 23 + 4 * k, dims[i][k]);
            reseal(buf, n);
            check_write_file(bad, buf, n);
            CHECK(dies_with(&jb, W("bad.ckpt is corrupt (", what[i]), i == 1));
        }
        /* Non-finite values (writers store finite ones only), named with their place. */
        const uint32_t nonfinite[] = {0x7fc00000u, 0xff800000u};
        for (int i = 0; i < 2; i++) {
            memcpy(buf, file, n);
            put_u32(buf + p0 + 39 + 4 * 5, nonfinite[i]); /* conv.weight[5] */
            reseal(buf, n);
            check_write_file(bad, buf, n);
            char at[64];
            snprintf(at, sizeof at, " at byte %zu)", p0 + 39 + 4 * 5);
            CHECK(dies_with(&jb, W("bad.ckpt is corrupt (parameter 'conv.weight' holds ", i ? "an infinity" : "NaN", at),
                            i == 0));
        }
        memcpy(buf, file, n);
        put_u32(buf + p0 + 19, 9); /* rank */
        reseal(buf, n);
        check_write_file(bad, buf, n);
        CHECK(dies_with(&jb, W("bad.ckpt is corrupt (parameter rank"), 1));
        memcpy(buf, file, n);
        put_u32(buf + p0 + 15, 77); /* group */
        reseal(buf, n);
        check_write_file(bad, buf, n);
        CHECK(dies_with(&jb, W("bad.ckpt is corrupt (parameter group"), 0));
        /* Recorded size smaller than the file. */
        memcpy(buf, file, n);
        put_u32(buf + 12, 5);
        check_write_file(bad, buf, n);
        CHECK(dies_with(&jb, W("bad.ckpt is corrupt (recorded size 5 bytes is too small)"), 1));
    }
    {
        /* Duplicate names in the file. */
        static const Spec dup[] = {{"w", 1, {2}, PARAM_GROUP_WEIGHT},
                                   {"w", 1, {2}, PARAM_GROUP_WEIGHT}};
        ParamList l2;
        build(&l2, dup, 2, 5);
        checkpoint_save(bad, "m", &l2, "");
        param_list_free(&l2, 1);
        LoadJob j = {bad, "m", dup, 1, CKPT_STRICT};
        CHECK(dies_with(&j, W("bad.ckpt is corrupt (duplicate parameter name"), 1));
    }
    {
        /* An empty model round-trips too. */
        ParamList none = {0};
        checkpoint_save(bad, "empty", &none, "");
        CHECK(checkpoint_load(bad, "empty", &none, CKPT_STRICT) == 0);
    }

    free(buf);
    free(file);
    param_list_free(&a, 1);
    param_list_free(&b, 1);
    param_list_free(&c, 1);
    param_list_free(&noq, 1);
    /* Clean up the temporary folder. */
    d = opendir(tmpdir);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        path_in(p2, sizeof p2, e->d_name);
        unlink(p2);
    }
    closedir(d);
    rmdir(tmpdir);
    return check_done("test_checkpoint");
}
