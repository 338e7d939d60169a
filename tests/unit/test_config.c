/* Tests for io/config: defaults, loading and merging files, --set overrides, grid
 * axes and their order, YAML round trip, hashing, and the user-facing errors (each
 * checked in a forked child, since qat_die() exits). Runs from the tests/ folder. */
#include "io/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static const CfgField base_schema[] = {
    {"model", "name", CFG_STRING, "simple_cnn", NULL, "model architecture"},
    {"model", "width", CFG_INT, "32", NULL, "channels of the first layer"},
    {"dataset", "name", CFG_STRING, "mnist", NULL, "dataset name"},
    {"dataset", "shuffle", CFG_BOOL, "true", NULL, "shuffle every epoch"},
    {"training", "batch_size", CFG_INT, "64", NULL, "samples per step"},
    {"training", "epochs", CFG_INT, "10", NULL, "passes over the data"},
    {"training", "lr", CFG_FLOAT, "5.0e-3", NULL, "learning rate"},
    {"training", "weight_decay", CFG_FLOAT, "0", NULL, "L2 penalty"},
    {"quantizer", "name", CFG_STRING, "none", NULL, "quantizer kind"},
    {"quantizer", "bit_width", CFG_INT, "8", NULL, "bits per value"},
    {"quantizer", "per_channel", CFG_BOOL, "false", NULL, "one scale per channel"},
    {NULL, NULL, CFG_INT, NULL, NULL, NULL},
};

/* A second schema: a new section, a duplicate of training.lr (ignored: the first
 * wins) and a training key without a default, apart from the other training keys. */
static const CfgField extra_schema[] = {
    {"quantizer_optimizer", "lr", CFG_FLOAT, "1e-4", NULL, "quantizer learning rate"},
    {"training", "lr", CFG_INT, "7", NULL, "duplicate: must be ignored"},
    {"quantizer_optimizer", "name", CFG_STRING, "adam", NULL, "optimizer"},
    {"training", "warmup", CFG_INT, NULL, NULL, "warmup steps (unset by default)"},
    {NULL, NULL, CFG_INT, NULL, NULL, NULL},
};

static const CfgField *const schemas[] = {base_schema, extra_schema, NULL};

#define BASE "data/config/base.yml"
#define OVERRIDE "data/config/override.yml"

/* --- helpers ------------------------------------------------------------------------ */

static char temp_paths[128][64];
static int n_temp;

/* Writes text to a new file under /tmp; returns its path (removed at the end). */
static const char *temp_yaml(const char *text) {
    if (n_temp == (int)(sizeof temp_paths / sizeof *temp_paths)) {
        fprintf(stderr, "too many temp files\n");
        exit(2);
    }
    char *path = temp_paths[n_temp++];
    snprintf(path, 64, "/tmp/qat_test_config_XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("mkstemp");
        exit(2);
    }
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len) {
        perror("write");
        exit(2);
    }
    close(fd);
    return path;
}

static const CfgEntry *entry(const ConfigGrid *g, const char *section, const char *key) {
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->entries[i].field->section, section) &&
            !strcmp(g->entries[i].field->key, key))
            return &g->entries[i];
    return NULL;
}

static const char *value_of(const ConfigGrid *g, const char *section, const char *key, int i) {
    const CfgEntry *e = entry(g, section, key);
    return e && i < e->nvalues ? e->values[i] : "<none>";
}

static const char *source_of(const ConfigGrid *g, const char *section, const char *key) {
    const CfgEntry *e = entry(g, section, key);
    return e ? e->source : "<none>";
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* Resolves combination 0, writes it as YAML, reloads that file into a fresh grid and
 * returns whether the reloaded config hashes the same. */
static int roundtrip_same(const ConfigGrid *g) {
    Config c, back;
    config_grid_get(g, 0, &c);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    config_write_yaml(&c, mem);
    fclose(mem);
    const char *path = temp_yaml(text);
    free(text);
    ConfigGrid g2;
    config_grid_init(&g2, schemas);
    config_grid_load_file(&g2, path);
    config_grid_get(&g2, 0, &back);
    int same = config_hash(&c) == config_hash(&back) && config_grid_count(&g2) == 1;
    config_grid_free(&g2);
    config_grid_free(&back);
    config_grid_free(&c);
    return same;
}

/* Loading `text` from a temp file dies with "path:line: " and the needles. */
#define EXPECT_LOAD_DIES(text, lineno, ...)                                         \
    do {                                                                            \
        const char *p_ = temp_yaml(text);                                           \
        char at_[96];                                                               \
        snprintf(at_, sizeof at_, "qat: error: %s:%d: ", p_, (lineno));             \
        CHECK_DIES(child_load, p_, at_, __VA_ARGS__);                               \
    } while (0)

static void child_load(const void *path) {
    ConfigGrid g;
    config_grid_init(&g, schemas);
    config_grid_load_file(&g, path);
}

static void child_set(const void *assignment) {
    ConfigGrid g;
    config_grid_init(&g, schemas);
    config_grid_set(&g, assignment);
}

/* arg is "getter name": calls that getter on the resolved defaults. */
static void child_get(const void *arg) {
    ConfigGrid g;
    Config c;
    config_grid_init(&g, schemas);
    config_grid_get(&g, 0, &c);
    const char *name = strchr(arg, ' ') + 1;
    if (!strncmp(arg, "int ", 4)) cfg_int(&c, name);
    if (!strncmp(arg, "float ", 6)) cfg_float(&c, name);
    if (!strncmp(arg, "bool ", 5)) cfg_bool(&c, name);
    if (!strncmp(arg, "str ", 4)) cfg_str(&c, name);
}

/* Asks for a float on an unresolved grid axis. */
static void child_get_axis(const void *name) {
    ConfigGrid g;
    config_grid_init(&g, schemas);
    config_grid_set(&g, "training.lr=[0.1, 0.2]");
    cfg_float(&g, name);
}

/* 8 axes of 16 values: 2^32 combinations do not fit an int. */
static void child_huge_grid(const void *unused) {
    (void)unused;
    static const char *const names[] = {"model.width", "training.batch_size", "training.epochs",
                                        "training.lr", "training.weight_decay", "training.warmup",
                                        "quantizer.bit_width", "quantizer_optimizer.lr"};
    ConfigGrid g;
    config_grid_init(&g, schemas);
    for (int i = 0; i < 8; i++) {
        char set[256];
        snprintf(set, sizeof set, "%s=[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]", names[i]);
        config_grid_set(&g, set);
    }
    config_grid_count(&g);
}

/* --- tests ------------------------------------------------------------------------------- */

static void test_defaults(void) {
    ConfigGrid g;
    Config c;
    config_grid_init(&g, schemas);
    CHECK(g.n == 14); /* 11 + 3 new from the second schema; the duplicate is dropped */
    CHECK(config_grid_count(&g) == 1);
    config_grid_get(&g, 0, &c);
    CHECK(!strcmp(cfg_str(&c, "model.name"), "simple_cnn"));
    CHECK(cfg_int(&c, "model.width") == 32);
    CHECK(!strcmp(cfg_str(&c, "dataset.name"), "mnist"));
    CHECK(cfg_bool(&c, "dataset.shuffle") == 1);
    CHECK(cfg_bool(&c, "quantizer.per_channel") == 0);
    CHECK(cfg_int(&c, "training.epochs") == 10);
    /* First schema wins: training.lr stays a float with default 5.0e-3. */
    CHECK_CLOSE(cfg_float(&c, "training.lr"), 0.005, 1e-12);
    CHECK(!strcmp(value_of(&g, "training", "lr", 0), "0.005")); /* canonical text */
    CHECK(!strcmp(value_of(&g, "training", "weight_decay", 0), "0"));
    CHECK(!strcmp(value_of(&g, "quantizer_optimizer", "lr", 0), "0.0001"));
    CHECK(!strcmp(cfg_str(&c, "quantizer_optimizer.name"), "adam"));
    CHECK(!strcmp(source_of(&g, "training", "lr"), "default"));
    /* No default: known key, but no value until set. */
    CHECK(cfg_has(&c, "training.warmup") == 0);
    CHECK(cfg_has(&c, "training.lr") == 1);
    CHECK(cfg_has(&c, "training.nope") == 0);
    CHECK(cfg_has(&c, "nosection") == 0);
    char buf[64] = "x";
    config_grid_describe(&g, 0, buf, sizeof buf);
    CHECK(!strcmp(buf, "")); /* no axes */
    config_grid_free(&c);
    config_grid_free(&g);
    config_grid_free(&g); /* freeing twice is harmless */
    CHECK(g.n == 0);
}

static void test_load(void) {
    ConfigGrid g;
    Config c;
    config_grid_init(&g, schemas);
    config_grid_load_file(&g, BASE);
    CHECK(config_grid_count(&g) == 1);
    config_grid_get(&g, 0, &c);
    CHECK(!strcmp(cfg_str(&c, "dataset.name"), "cifar10"));
    CHECK(cfg_bool(&c, "dataset.shuffle") == 0); /* "no" */
    CHECK(cfg_int(&c, "training.batch_size") == 128);
    CHECK(cfg_int(&c, "training.epochs") == 3);
    CHECK_CLOSE(cfg_float(&c, "training.lr"), 1e-3, 1e-12);
    CHECK(!strcmp(value_of(&g, "training", "lr", 0), "0.001")); /* 1e-3 canonicalized */
    CHECK(!strcmp(cfg_str(&c, "quantizer.name"), "lsq"));
    CHECK(cfg_int(&c, "quantizer.bit_width") == 4);
    /* Untouched keys keep their defaults; `model: {}` is an empty section. */
    CHECK(!strcmp(cfg_str(&c, "model.name"), "simple_cnn"));
    CHECK_CLOSE(cfg_float(&c, "training.weight_decay"), 0.0, 0.0);
    CHECK(!strcmp(source_of(&g, "dataset", "name"), BASE ":4"));
    CHECK(!strcmp(source_of(&g, "training", "lr"), BASE ":9"));
    CHECK(!strcmp(source_of(&g, "quantizer", "bit_width"), BASE ":12"));
    CHECK(!strcmp(source_of(&g, "model", "name"), "default"));
    config_grid_free(&c);

    /* Null and empty sections merge nothing (files that set nothing at all are errors:
     * test_errors). */
    uint64_t before;
    config_grid_get(&g, 0, &c);
    before = config_hash(&c);
    config_grid_free(&c);
    config_grid_load_file(&g, temp_yaml("model:\ndataset: ~\ntraining: {}\n"));
    config_grid_get(&g, 0, &c);
    CHECK(config_hash(&c) == before);
    config_grid_free(&c);

    /* Accepted spellings. */
    config_grid_load_file(&g, temp_yaml("training:\n  lr: 2\n  weight_decay: -1.5E-4\n"
                                        "  epochs: -3\n  batch_size: +7\n"
                                        "dataset: {shuffle: True, name: \"x y\"}\n"
                                        "quantizer:\n  per_channel: yes\n  name: 'q'\n"));
    CHECK(!strcmp(value_of(&g, "training", "lr", 0), "2"));
    CHECK(!strcmp(value_of(&g, "training", "weight_decay", 0), "-0.00015"));
    CHECK(!strcmp(value_of(&g, "training", "epochs", 0), "-3"));
    CHECK(!strcmp(value_of(&g, "training", "batch_size", 0), "7"));
    CHECK(!strcmp(value_of(&g, "dataset", "shuffle", 0), "true"));
    CHECK(!strcmp(value_of(&g, "dataset", "name", 0), "x y"));
    CHECK(!strcmp(value_of(&g, "quantizer", "per_channel", 0), "true"));
    CHECK(!strcmp(value_of(&g, "quantizer", "name", 0), "q"));
    config_grid_free(&g);
}

static void test_merge(void) {
    ConfigGrid g;
    config_grid_init(&g, schemas);
    config_grid_load_file(&g, BASE);
    config_grid_load_file(&g, OVERRIDE);
    CHECK(!strcmp(value_of(&g, "training", "lr", 0), "0.005")); /* 5.0e-3 */
    CHECK(!strcmp(source_of(&g, "training", "lr"), OVERRIDE ":3"));
    /* Keys the second file does not mention keep the first file's values. */
    CHECK(!strcmp(value_of(&g, "training", "batch_size", 0), "128"));
    CHECK(!strcmp(source_of(&g, "training", "batch_size"), BASE ":7"));
    CHECK(!strcmp(value_of(&g, "quantizer", "name", 0), "lsq"));
    CHECK(!strcmp(value_of(&g, "quantizer", "per_channel", 0), "true"));
    CHECK(!strcmp(source_of(&g, "quantizer", "per_channel"), OVERRIDE ":6"));
    /* epochs became an axis [1, 2]. */
    const CfgEntry *e = entry(&g, "training", "epochs");
    CHECK(e && e->nvalues == 2);
    CHECK(!strcmp(value_of(&g, "training", "epochs", 0), "1"));
    CHECK(!strcmp(value_of(&g, "training", "epochs", 1), "2"));
    CHECK(config_grid_count(&g) == 2);
    char buf[128];
    config_grid_describe(&g, 1, buf, sizeof buf);
    CHECK(!strcmp(buf, "training.epochs=2"));
    /* A later scalar replaces the axis. */
    config_grid_load_file(&g, temp_yaml("training:\n  epochs: 5\n"));
    CHECK(config_grid_count(&g) == 1);
    CHECK(!strcmp(value_of(&g, "training", "epochs", 0), "5"));
    config_grid_free(&g);
}

static void test_set(void) {
    ConfigGrid g;
    Config c;
    config_grid_init(&g, schemas);
    config_grid_load_file(&g, BASE);
    config_grid_set(&g, "training.lr=0.01");
    config_grid_set(&g, "dataset.shuffle=yes");
    config_grid_set(&g, "model.width=-3");
    config_grid_set(&g, "training.weight_decay=1e-3");
    config_grid_set(&g, "model.name=\"my model: v2\"");
    config_grid_set(&g, " training.epochs = 7 ");
    config_grid_set(&g, "training.warmup=[100]"); /* one-element list: a plain value */
    config_grid_set(&g, "quantizer_optimizer.name=");  /* empty string */
    CHECK(!strcmp(source_of(&g, "training", "lr"), "--set"));
    CHECK(!strcmp(source_of(&g, "training", "batch_size"), BASE ":7"));
    CHECK(config_grid_count(&g) == 1);
    config_grid_get(&g, 0, &c);
    CHECK_CLOSE(cfg_float(&c, "training.lr"), 0.01, 1e-12);
    CHECK(cfg_bool(&c, "dataset.shuffle") == 1);
    CHECK(cfg_int(&c, "model.width") == -3);
    CHECK(!strcmp(value_of(&c, "training", "weight_decay", 0), "0.001"));
    CHECK(!strcmp(cfg_str(&c, "model.name"), "my model: v2"));
    CHECK(cfg_int(&c, "training.epochs") == 7);
    CHECK(cfg_has(&c, "training.warmup") && cfg_int(&c, "training.warmup") == 100);
    CHECK(!strcmp(cfg_str(&c, "quantizer_optimizer.name"), ""));
    config_grid_free(&c);

    config_grid_set(&g, "quantizer.bit_width=[2, 4]");
    CHECK(config_grid_count(&g) == 2);
    CHECK(!strcmp(source_of(&g, "quantizer", "bit_width"), "--set"));
    config_grid_set(&g, "quantizer.bit_width=8");
    CHECK(config_grid_count(&g) == 1);
    config_grid_free(&g);
}

static void test_grid(void) {
    ConfigGrid g;
    config_grid_init(&g, schemas);
    /* Set in the opposite order: axes still vary in schema order (training before
     * quantizer), the last one fastest. */
    config_grid_set(&g, "quantizer.bit_width=[2, 4, 8]");
    config_grid_set(&g, "training.lr=[0.1, 0.01]");
    CHECK(config_grid_count(&g) == 6);
    static const double want_lr[6] = {0.1, 0.1, 0.1, 0.01, 0.01, 0.01};
    static const int want_bits[6] = {2, 4, 8, 2, 4, 8};
    uint64_t hashes[6];
    for (int i = 0; i < 6; i++) {
        Config c;
        config_grid_get(&g, i, &c);
        int single = 1;
        for (int k = 0; k < c.n; k++) single &= c.entries[k].nvalues <= 1;
        CHECK(single);
        CHECK(c.n == g.n);
        CHECK_CLOSE(cfg_float(&c, "training.lr"), want_lr[i], 1e-12);
        CHECK(cfg_int(&c, "quantizer.bit_width") == want_bits[i]);
        CHECK(cfg_int(&c, "training.epochs") == 10); /* non-axis keys unchanged */
        CHECK(config_grid_count(&c) == 1);
        hashes[i] = config_hash(&c);
        for (int j = 0; j < i; j++) CHECK(hashes[j] != hashes[i]);
        config_grid_free(&c);
    }
    char buf[128];
    config_grid_describe(&g, 0, buf, sizeof buf);
    CHECK(!strcmp(buf, "training.lr=0.1 quantizer.bit_width=2"));
    config_grid_describe(&g, 1, buf, sizeof buf);
    CHECK(!strcmp(buf, "training.lr=0.1 quantizer.bit_width=4"));
    config_grid_describe(&g, 5, buf, sizeof buf);
    CHECK(!strcmp(buf, "training.lr=0.01 quantizer.bit_width=8"));
    char small[12];
    config_grid_describe(&g, 5, small, sizeof small); /* truncates, stays terminated */
    CHECK(strlen(small) == sizeof small - 1 && !strncmp(small, "training.lr", 11));

    /* The resolved config is a deep copy: it outlives the grid. */
    Config c;
    config_grid_get(&g, 4, &c);
    config_grid_free(&g);
    CHECK_CLOSE(cfg_float(&c, "training.lr"), 0.01, 1e-12);
    CHECK(cfg_int(&c, "quantizer.bit_width") == 4);
    CHECK(!strcmp(cfg_str(&c, "model.name"), "simple_cnn"));
    config_grid_free(&c);

    /* out may be the grid itself. */
    config_grid_init(&g, schemas);
    config_grid_set(&g, "training.epochs=[1, 2, 3]");
    config_grid_get(&g, 2, &g);
    CHECK(config_grid_count(&g) == 1);
    CHECK(cfg_int(&g, "training.epochs") == 3);
    config_grid_free(&g);
}

static void test_write_and_roundtrip(void) {
    ConfigGrid g;
    Config c;
    config_grid_init(&g, schemas);
    config_grid_set(&g, "training.warmup=5");
    config_grid_get(&g, 0, &c);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    config_write_yaml(&c, mem);
    fclose(mem);
    /* Sections once each, in schema order; warmup (second schema) sits under training. */
    const char *m = strstr(text, "model:\n"), *d = strstr(text, "dataset:\n"),
               *t = strstr(text, "training:\n"), *q = strstr(text, "quantizer:\n"),
               *qo = strstr(text, "quantizer_optimizer:\n");
    CHECK(m == text && d > m && t > d && q > t && qo > q);
    CHECK(strstr(t + 1, "training:") == NULL);
    CHECK(strstr(text, "training:\n  batch_size: 64\n  epochs: 10\n  lr: 0.005\n"
                       "  weight_decay: 0\n  warmup: 5\nquantizer:\n") != NULL);
    CHECK(strstr(text, "  shuffle: true\n") != NULL);
    CHECK(strstr(text, "  name: simple_cnn\n") != NULL);
    free(text);
    config_grid_free(&c);
    CHECK(roundtrip_same(&g));
    config_grid_free(&g);

    /* Characters YAML folds (NEL, LS, PS) or refuses raw (C1 controls, BOM, U+FFFF) come
     * back as they were (found by tests/fuzz/fuzz_config.c: "\N" read back as a space). */
    config_grid_init(&g, schemas);
    config_grid_load_file(&g, temp_yaml("model:\n  name: \"a\\Nb\\Lc\\Pd\\x80e\\uFEFFf\\uFFFFg\\u00e9h\"\n"));
    CHECK(!strcmp(cfg_str(&g, "model.name"), "a\xc2\x85" "b\xe2\x80\xa8" "c\xe2\x80\xa9" "d\xc2\x80" "e\xef\xbb\xbf"
                                             "f\xef\xbf\xbf" "g\xc3\xa9" "h"));
    CHECK(roundtrip_same(&g));
    config_grid_free(&g);

    /* Merged file + overrides survive the round trip. */
    config_grid_init(&g, schemas);
    config_grid_load_file(&g, BASE);
    config_grid_load_file(&g, OVERRIDE);
    config_grid_set(&g, "training.epochs=4");
    CHECK(roundtrip_same(&g));
    config_grid_free(&g);

    /* Strings that need quoting read back as the same string. */
    static const char *const cases[][2] = {
        {"model.name=\"a: b\"", "a: b"},      {"model.name=''", ""},
        {"model.name='true'", "true"},        {"model.name='123'", "123"},
        {"model.name='1e-3'", "1e-3"},        {"model.name='say \"hi\"'", "say \"hi\""},
        {"model.name=\"tab\\there\"", "tab\there"}, {"model.name='#hash'", "#hash"},
        {"model.name='- dash'", "- dash"},    {"model.name=ünïcödé", "ünïcödé"},
        {"model.name='back\\slash'", "back\\slash"}, {"model.name=\"line\\nbreak\"", "line\nbreak"},
        {"model.name='null'", "null"},        {"model.name=' lead'", " lead"},
        {"model.name='[x]'", "[x]"},          {"model.name='a, b'", "a, b"},
        {"model.name=\"bell\\a\"", "bell\a"}, {"model.name='No'", "No"},
        {"model.name=configs/model/x.yml", "configs/model/x.yml"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        config_grid_init(&g, schemas);
        config_grid_set(&g, cases[i][0]);
        config_grid_get(&g, 0, &c);
        CHECK(!strcmp(cfg_str(&c, "model.name"), cases[i][1]));
        CHECK(roundtrip_same(&g));
        config_grid_free(&c);
        config_grid_free(&g);
    }

    /* A grid written unresolved reloads as the same grid. */
    config_grid_init(&g, schemas);
    config_grid_set(&g, "training.lr=[0.1, 0.01]");
    config_grid_set(&g, "model.name=[\"a b\", c, 'true']");
    text = NULL;
    mem = open_memstream(&text, &len);
    config_write_yaml(&g, mem);
    fclose(mem);
    CHECK(strstr(text, "  lr: [0.1, 0.01]\n") != NULL);
    ConfigGrid g2;
    config_grid_init(&g2, schemas);
    config_grid_load_file(&g2, temp_yaml(text));
    free(text);
    CHECK(config_grid_count(&g2) == 6);
    CHECK(config_hash(&g2) == config_hash(&g));
    char b1[128], b2[128];
    config_grid_describe(&g, 5, b1, sizeof b1);
    config_grid_describe(&g2, 5, b2, sizeof b2);
    CHECK(!strcmp(b1, b2) && !strcmp(b1, "model.name=true training.lr=0.01"));
    config_grid_free(&g2);
    config_grid_free(&g);
}

static void test_hash(void) {
    /* The test's FNV-1a 64 matches the published vectors. */
    CHECK(fnv1a("") == 0xcbf29ce484222325ULL);
    CHECK(fnv1a("a") == 0xaf63dc4c8601ec8cULL);

    static const CfgField small[] = {
        {"training", "lr", CFG_FLOAT, "5e-1", NULL, NULL},
        {"model", "name", CFG_STRING, "x", NULL, NULL},
        {"model", "unset", CFG_STRING, NULL, NULL, NULL},
        {NULL, NULL, CFG_INT, NULL, NULL, NULL},
    };
    const CfgField *const one[] = {small, NULL};
    ConfigGrid g;
    config_grid_init(&g, one);
    CHECK(config_hash(&g) == fnv1a("training.lr=0.5\nmodel.name=x\n"));
    config_grid_free(&g);

    /* Equal settings spelled differently hash the same; any change changes it. */
    ConfigGrid a, b;
    config_grid_init(&a, schemas);
    config_grid_init(&b, schemas);
    config_grid_set(&a, "training.lr=1e-3");
    config_grid_set(&b, "training.lr=0.001000");
    CHECK(config_hash(&a) == config_hash(&b));
    config_grid_set(&b, "dataset.shuffle=yes"); /* same as the default true */
    CHECK(config_hash(&a) == config_hash(&b));
    config_grid_set(&b, "training.epochs=11");
    CHECK(config_hash(&a) != config_hash(&b));
    config_grid_free(&a);
    config_grid_free(&b);
}

static void test_errors(void) {
    /* Unknown names: the message lists the known ones and suggests the near miss. */
    EXPECT_LOAD_DIES("model: {}\ntraining:\n  lrr: 0.1\n", 3, "unknown key 'training.lrr'",
                     "(known keys in 'training': batch_size, epochs, lr, warmup, weight_decay)",
                     "did you mean 'lr'?");
    EXPECT_LOAD_DIES("trainig:\n  lr: 1\n", 1, "unknown section 'trainig'",
                     "known sections: model, dataset, training, quantizer, quantizer_optimizer",
                     "did you mean 'training'?");
    /* Wrong types. */
    EXPECT_LOAD_DIES("model: {}\ntraining:\n  lr: abc\n", 3, "'training.lr' expects a number",
                     "got 'abc'");
    EXPECT_LOAD_DIES("quantizer:\n  bit_width: 1.5\n", 2,
                     "'quantizer.bit_width' expects an integer", "got '1.5'");
    EXPECT_LOAD_DIES("quantizer:\n  bit_width: 1e3\n", 2, "'quantizer.bit_width'", "'1e3'");
    EXPECT_LOAD_DIES("dataset:\n  shuffle: maybe\n", 2, "'dataset.shuffle' expects true or false",
                     "'maybe'");
    EXPECT_LOAD_DIES("training:\n  lr: .inf\n", 2, "'training.lr'", "'.inf'");
    EXPECT_LOAD_DIES("training:\n  epochs:\n", 2, "'training.epochs'", "empty value");
    EXPECT_LOAD_DIES("model:\n  width: 99999999999999999999\n", 2, "'model.width'",
                     "out of range");
    /* Shapes. */
    EXPECT_LOAD_DIES("training:\n  lr:\n    value: 1\n", 3, "'training.lr'", "got a mapping");
    EXPECT_LOAD_DIES("quantizer:\n  bit_width: [2, x]\n", 2, "'quantizer.bit_width'",
                     "got 'x'");
    EXPECT_LOAD_DIES("quantizer:\n  bit_width:\n    - 2\n    - [3]\n", 4,
                     "'quantizer.bit_width'", "got a list inside the list");
    EXPECT_LOAD_DIES("training:\n  lr: []\n", 2, "'training.lr' is an empty list");
    EXPECT_LOAD_DIES("training:\n  epochs: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]\n", 2,
                     "'training.epochs' lists 17 values (at most 16");
    EXPECT_LOAD_DIES("training:\n  lr: [0.1, 1e-1]\n", 2,
                     "'training.lr' lists the value '0.1' twice");
    EXPECT_LOAD_DIES("- training\n- model\n", 1, "expected a mapping of sections");
    EXPECT_LOAD_DIES("42\n", 1, "expected a mapping of sections", "got a value");
    /* Files that set nothing: the wrong file, most likely. */
    const char *nothing[] = {"", "# only a comment\n\n", "---\n", "~\n", "\n\n  \n"};
    for (int i = 0; i < 5; i++) {
        const char *p = temp_yaml(nothing[i]);
        char want[160];
        snprintf(want, sizeof want, "qat: error: config file '%s' is empty", p);
        CHECK_DIES(child_load, p, want, "expected a mapping of sections");
    }
    {
        const char *p = temp_yaml("{}\n");
        char want[160];
        snprintf(want, sizeof want, "qat: error: config file '%s' is an empty mapping", p);
        CHECK_DIES(child_load, p, want);
    }
    EXPECT_LOAD_DIES("model: {}\ntraining: 5\n", 2,
                     "section 'training' must be a mapping of key: value, got the value '5'");
    EXPECT_LOAD_DIES("training:\n  lr: 1\n  epochs: 2\n  lr: 2\n", 4,
                     "duplicate key 'training.lr' (first set at line 2)");
    EXPECT_LOAD_DIES("training:\n  lr: 1\nmodel: {}\ntraining:\n  epochs: 2\n", 4,
                     "duplicate section 'training' (first at line 1)");
    EXPECT_LOAD_DIES("training:\n  lr: 1\n---\ntraining:\n  lr: 2\n", 4, "second one");
    /* Malformed YAML: libyaml's message with the line of the problem. */
    EXPECT_LOAD_DIES("training:\n  lr: [0.1, 0.2\n  epochs: 3\n", 3, "malformed YAML",
                     "flow sequence at line 2");
    EXPECT_LOAD_DIES("training:\n  lr: 0.1\n epochs: 3\n", 3, "malformed YAML");
    EXPECT_LOAD_DIES("training:\n  lr: \"0.1\n", 3, "malformed YAML", "quoted scalar");
    /* Files. */
    CHECK_DIES(child_load, "/tmp/qat_no_such_dir/x.yml",
               "cannot read config file '/tmp/qat_no_such_dir/x.yml'", "No such file");
    CHECK_DIES(child_load, "/tmp", "cannot read config file '/tmp'", "directory");

    /* --set: the message quotes the assignment. */
    CHECK_DIES(child_set, "training.lr", "--set 'training.lr'", "expected section.key=value");
    CHECK_DIES(child_set, "lr=0.1", "--set 'lr=0.1'", "expected section.key=value");
    CHECK_DIES(child_set, ".lr=0.1", "--set '.lr=0.1'", "expected section.key=value");
    CHECK_DIES(child_set, "training.=0.1", "--set 'training.=0.1'", "expected section.key=value");
    CHECK_DIES(child_set, "training.lrr=0.1",
               "--set 'training.lrr=0.1': unknown key 'training.lrr'",
               "known keys in 'training': batch_size, epochs, lr, warmup, weight_decay");
    CHECK_DIES(child_set, "traning.lr=0.1", "--set 'traning.lr=0.1': unknown section 'traning'");
    CHECK_DIES(child_set, "training.lr=abc", "--set 'training.lr=abc'",
               "'training.lr' expects a number, got 'abc'");
    CHECK_DIES(child_set, "quantizer.bit_width=[2, 4.5]", "'quantizer.bit_width'",
               "expects an integer, got '4.5'");
    CHECK_DIES(child_set, "training.lr=[0.1, 0.2", "--set 'training.lr=[0.1, 0.2'",
               "malformed YAML");
    CHECK_DIES(child_set, "training.lr={a: 1}", "'training.lr'", "got a mapping");
    CHECK_DIES(child_set, "training.lr=[]", "'training.lr' is an empty list");
    CHECK_DIES(child_set, "model.width=", "'model.width' expects an integer, got an empty value");

    /* Getter misuse is a bug in the caller, reported as an internal error. */
    CHECK_DIES(child_get, "int training.nope", "internal error", "'training.nope'");
    CHECK_DIES(child_get, "str nosection", "internal error", "'nosection'");
    CHECK_DIES(child_get, "int training.lr", "internal error", "cfg_int('training.lr')",
               "is CFG_FLOAT, not CFG_INT");
    CHECK_DIES(child_get, "bool model.name", "internal error", "cfg_bool('model.name')");
    CHECK_DIES(child_get, "float training.epochs", "internal error");
    CHECK_DIES(child_get, "str training.lr", "internal error");
    CHECK_DIES(child_get, "int training.warmup", "internal error", "no value");
    CHECK_DIES(child_get_axis, "training.lr", "internal error", "grid axis");
    CHECK_DIES(child_huge_grid, "", "more than 2147483647 combinations");
}

/* ---- ranges: the schema declares what a key takes ---- */

static const CfgField ranged_schema[] = {
    {"r", "n", CFG_INT, "1", ">= 1", NULL},
    {"r", "lr", CFG_FLOAT, "0.1", "> 0", NULL},
    {"r", "k", CFG_INT, "3", "1..8", NULL},
    {"r", "p", CFG_FLOAT, "0.5", "0..<1", NULL},
    {"r", "s", CFG_STRING, "sawb", "sawb|dorefa", NULL},
    {NULL, NULL, CFG_INT, NULL, NULL, NULL},
};
static const CfgField *const ranged[] = {ranged_schema, NULL};

static void child_set_ranged(const void *assignment) {
    ConfigGrid g;
    config_grid_init(&g, ranged);
    config_grid_set(&g, assignment);
}

static void child_load_ranged(const void *path) {
    ConfigGrid g;
    config_grid_init(&g, ranged);
    config_grid_load_file(&g, path);
}

static void test_ranges(void) {
    ConfigGrid g;
    config_grid_init(&g, ranged);
    /* the ends are in (but lr's 0 and p's 1 are not) */
    config_grid_set(&g, "r.n=1");
    config_grid_set(&g, "r.lr=1e-9");
    config_grid_set(&g, "r.k=[1, 8]");
    config_grid_set(&g, "r.p=[0, 0.999]");
    config_grid_set(&g, "r.s=dorefa");
    CHECK(config_grid_count(&g) == 4 && !strcmp(cfg_str(&g, "r.s"), "dorefa"));
    config_grid_free(&g);
    CHECK_DIES(child_set_ranged, "r.n=0", "'r.n' must be >= 1, got '0'");
    CHECK_DIES(child_set_ranged, "r.lr=0", "'r.lr' must be > 0, got '0'");
    CHECK_DIES(child_set_ranged, "r.k=[2, 9]", "'r.k' must be in 1..8, got '9'");
    CHECK_DIES(child_set_ranged, "r.k=0", "'r.k' must be in 1..8, got '0'");
    CHECK_DIES(child_set_ranged, "r.p=1", "'r.p' must be in [0, 1), got '1'");
    CHECK_DIES(child_set_ranged, "r.p=-0.5", "'r.p' must be in [0, 1), got '-0.5'");
    CHECK_DIES(child_set_ranged, "r.s=sawbx", "'r.s' must be one of sawb, dorefa, got 'sawbx'");
    /* in a file: the error names the file and the line */
    const char *p = temp_yaml("r:\n  n: 2\n  s: other\n");
    char at[160];
    snprintf(at, sizeof at, "%s:3: 'r.s' must be one of sawb, dorefa, got 'other'", p);
    CHECK_DIES(child_load_ranged, p, at);
}

int main(void) {
    test_defaults();
    test_load();
    test_merge();
    test_set();
    test_grid();
    test_write_and_roundtrip();
    test_hash();
    test_errors();
    test_ranges();
    for (int i = 0; i < n_temp; i++) unlink(temp_paths[i]);
    return check_done("config");
}
