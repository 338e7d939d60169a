/* libFuzzer harness: YAML run configs, grids and --set (io/config.c), with the schemas
 * the real program uses (one model's schema + quant_schema, as experiment_load_grid).
 *
 * Input layout (every part but the first optional):
 *   [#@MODEL\n] MODEL_YAML [\n#--file\nQUANTIZER_YAML] [\n#--set\nSET\nSET...]
 * "#@lstm" (a YAML comment) picks the model schema (simple_cnn, lstm, sasrec, espcn;
 * default simple_cnn). The YAML parts are written to files and loaded in order, as the
 * model and quantizer configs; each SET line is one --set assignment (at most 8).
 *
 * Checked: a rejected input dies naming the file or the --set assignment; an accepted
 * grid has a sane count; some combinations resolve (no grid axis left), describe
 * (also into a tiny buffer), hash and write as YAML, and that YAML loads back to the same
 * values and hash; the whole grid written as YAML loads back to the same grid. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "io/config.h"
#include "models/model.h"
#include "quant/method.h"

extern const ModelDef simple_cnn_model, lstm_model, sasrec_model, espcn_model;

#define MAX_SETS 8

typedef struct {
    const CfgField *schemas[3];
    const char *files[2];
    int nfiles;
    char sets[MAX_SETS][512];
    int nsets;
    ConfigGrid grid; /* filled by parse() */
} Ctx;

static void parse(void *p) {
    Ctx *c = p;
    config_grid_init(&c->grid, c->schemas);
    for (int i = 0; i < c->nfiles; i++) config_grid_load_file(&c->grid, c->files[i]);
    for (int i = 0; i < c->nsets; i++) config_grid_set(&c->grid, c->sets[i]);
    FUZZ_CHECK(config_grid_count(&c->grid) >= 1);
}

/* Same entries, same values, same hash. */
static void check_same(const ConfigGrid *a, const ConfigGrid *b) {
    FUZZ_CHECK(a->n == b->n);
    for (int i = 0; i < a->n; i++) {
        const CfgEntry *x = &a->entries[i], *y = &b->entries[i];
        FUZZ_CHECK(x->field == y->field);
        if (x->nvalues != y->nvalues)
            fuzz_fail("%s.%s: %d values, %d after the YAML round trip", x->field->section,
                      x->field->key, x->nvalues, y->nvalues);
        for (int v = 0; v < x->nvalues; v++)
            if (strcmp(x->values[v], y->values[v]))
                fuzz_fail("%s.%s: '%s' reads back as '%s'", x->field->section, x->field->key,
                          x->values[v], y->values[v]);
    }
    FUZZ_CHECK(config_hash(a) == config_hash(b));
}

/* Writes c as YAML and loads it back with the same schemas. */
static void round_trip(const Ctx *ctx, const ConfigGrid *c, const char *name) {
    const char *path = fuzz_path(name);
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f != NULL);
    config_write_yaml(c, f);
    FUZZ_CHECK(fclose(f) == 0);
    ConfigGrid back;
    config_grid_init(&back, ctx->schemas);
    config_grid_load_file(&back, path);
    check_same(c, &back);
    config_grid_free(&back);
}

/* On an accepted grid nothing may die: any qat_die here is a finding. */
static void verify(void *p) {
    Ctx *c = p;
    const ConfigGrid *g = &c->grid;
    int count = config_grid_count(g);
    int picks[4] = {0, count - 1, count / 2, count / 3};
    for (int k = 0; k < 4; k++) {
        int dup = 0;
        for (int j = 0; j < k; j++) dup |= picks[j] == picks[k];
        if (dup) continue;
        Config cfg;
        config_grid_get(g, picks[k], &cfg);
        FUZZ_CHECK(cfg.n == g->n);
        for (int i = 0; i < cfg.n; i++) FUZZ_CHECK(cfg.entries[i].nvalues <= 1);
        char desc[1024], tiny[9];
        config_grid_describe(g, picks[k], desc, sizeof desc);
        config_grid_describe(g, picks[k], tiny, sizeof tiny);
        FUZZ_CHECK(strlen(tiny) < sizeof tiny && !strncmp(desc, tiny, strlen(tiny)));
        if (count == 1) FUZZ_CHECK(desc[0] == '\0');
        (void)config_hash(&cfg);
        if (k == 0) round_trip(c, &cfg, "combination.yml");
        config_grid_free(&cfg);
    }
    round_trip(c, g, "grid.yml");
}

static const CfgField *model_schema(const char *name, size_t n) {
    const ModelDef *all[] = {&simple_cnn_model, &lstm_model, &sasrec_model, &espcn_model};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (strlen(all[i]->name) == n && !memcmp(all[i]->name, name, n)) return all[i]->schema;
    return simple_cnn_model.schema;
}

static void run(const uint8_t *data, size_t size) {
    static Ctx c; /* large (two grids): not on the stack */
    memset(&c, 0, sizeof c);
    const uint8_t *yaml, *sets, *f1, *f2;
    size_t nyaml, nsets, n1, n2;
    fuzz_split(data, size, "\n#--set\n", &yaml, &nyaml, &sets, &nsets);
    int two = fuzz_split(yaml, nyaml, "\n#--file\n", &f1, &n1, &f2, &n2);
    size_t name_len = 0;
    const char *name = "simple_cnn";
    if (n1 > 2 && f1[0] == '#' && f1[1] == '@') {
        name = (const char *)f1 + 2;
        while (2 + name_len < n1 && name[name_len] != '\n') name_len++;
    } else {
        name_len = strlen(name);
    }
    c.schemas[0] = model_schema(name, name_len);
    c.schemas[1] = quant_schema;
    c.files[0] = fuzz_path("model.yml");
    fuzz_write_file(c.files[0], f1, n1, 0);
    c.nfiles = 1;
    if (two) {
        c.files[1] = fuzz_path("quantizer.yml");
        fuzz_write_file(c.files[1], f2, n2, 0);
        c.nfiles = 2;
    }
    for (size_t i = 0; i < nsets && c.nsets < MAX_SETS;) {
        size_t j = i;
        while (j < nsets && sets[j] != '\n') j++;
        size_t len = j - i < sizeof c.sets[0] - 1 ? j - i : sizeof c.sets[0] - 1;
        memcpy(c.sets[c.nsets], sets + i, len);
        c.sets[c.nsets++][len] = '\0';
        i = j + 1;
    }
    if (fuzz_call(parse, &c)) {
        FUZZ_EXPECT_MESSAGE(c.files[0], c.nfiles == 2 ? c.files[1] : c.files[0], "--set '",
                            "the config grid has more than");
        return;
    }
    if (fuzz_call(verify, &c)) fuzz_fail("a loaded config failed later: qat: error: %s", fuzz_message());
    config_grid_free(&c.grid);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_init();
    static const char sample[] = "#@lstm\nmodel:\n  hidden_size: [64, 128]\ntraining:\n  lr: 0.001\n"
                                 "\n#--file\nquantizer:\n  bit_width: 4\n\n#--set\ntraining.epochs=2\n";
    run((const uint8_t *)sample, sizeof sample - 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    run(data, size);
    return 0;
}
