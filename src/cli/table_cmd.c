#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "core/error.h"
#include "models/model.h"
#include "quant/method.h"
#include "run/table.h"
#include "run/table_presets.h"

static const char USAGE[] =
    "usage: qat table [--bits B] [--preset quick|full] [--models a,b] [--methods a,b]\n"
    "                 [--output-dir DIR] [--seed N] [--threads N]\n"
    "\n"
    "Fills the results table: for each model the FP baseline (no_quant), then LSQ, PACT,\n"
    "APoT and QIL fine-tuned from it and AdaRound applied to it, at WbAb with the first and\n"
    "last layer at 8 bits. Writes DIR/table_Bbit.{md,csv,json,svg} and prints the tables.\n"
    "A cell whose run already finished with the same config, checkpoint and seed is reused,\n"
    "so an interrupted table resumes; a failing cell is reported and the others still run.\n"
    "\n"
    "  --bits B          weight and activation bits (default 4)\n"
    "  --preset P        quick (small settings, about 30 min for 18 cells on 2 cores) or\n"
    "                    full (the default configs) (default quick)\n"
    "  --models LIST     comma-separated (default lstm,sasrec,espcn; simple_cnn also works)\n"
    "  --methods LIST    comma-separated (default lsq,pact,adaround,apot,qil)\n"
    "  --output-dir DIR  run store and table files (default runs)\n"
    "  --seed N          (default 0)\n"
    "  --threads N       compute threads of every run (default 2)\n";

/* Splits a comma list into out: pointers into *copy, which the caller frees. */
static int split_list(const char *flag, const char *s, const char **out, int cap, const char *const *choices,
                      char **copy_out) {
    char *copy = qat_strdup(s);
    free(*copy_out);
    *copy_out = copy;
    int n = 0;
    for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
        if (n == cap) qat_die("%s: at most %d entries", flag, cap);
        flag_check_choice(flag, tok, choices);
        out[n++] = tok;
    }
    if (n == 0) qat_die("%s needs at least one entry", flag);
    return n;
}

int cmd_table(int argc, char **argv) {
    TableOptions o = {0};
    o.bits = 4;
    o.preset = "quick";
    o.output_dir = "runs";
    o.threads = 2;
    static const char *const presets[] = {"quick", "full", NULL};
    static const char *const table_models[] = {"lstm", "sasrec", "espcn", "simple_cnn", NULL};
    static const char *const qmethods[] = {"lsq", "pact", "adaround", "apot", "qil", NULL};
    const char *methods[TABLE_MAX_METHODS] = {0};
    int nmethods = 0;
    char *models_copy = NULL, *methods_copy = NULL;
    for (int i = 0; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(USAGE, stdout);
            return 0;
        } else if ((v = flag_value(argc, argv, &i, "--bits"))) {
            o.bits = (int)flag_parse_long("--bits", v, 2, 16);
        } else if ((v = flag_value(argc, argv, &i, "--preset"))) {
            flag_check_choice("--preset", v, presets);
            o.preset = v;
        } else if ((v = flag_value(argc, argv, &i, "--models"))) {
            o.nmodels = split_list("--models", v, o.models, TABLE_MAX_MODELS, table_models, &models_copy);
        } else if ((v = flag_value(argc, argv, &i, "--methods"))) {
            nmethods = split_list("--methods", v, methods, TABLE_MAX_METHODS - 1, qmethods, &methods_copy);
        } else if ((v = flag_value(argc, argv, &i, "--output-dir"))) {
            o.output_dir = v;
        } else if ((v = flag_value(argc, argv, &i, "--seed"))) {
            o.seed = (uint64_t)flag_parse_long("--seed", v, 0, 2147483647L);
        } else if ((v = flag_value(argc, argv, &i, "--threads"))) {
            o.threads = (int)flag_parse_long("--threads", v, 1, 1024);
        } else {
            qat_die("unknown flag '%s' for 'qat table' (see qat table --help)", argv[i]);
        }
    }
    if (o.nmodels == 0)
        for (const char *const *m = table_default_models(); *m; m++) o.models[o.nmodels++] = *m;
    for (int i = 0; i < o.nmodels; i++)
        if (!model_find(o.models[i])) qat_die("qat table: model '%s' is not available yet in this version", o.models[i]);
    o.methods[o.nmethods++] = "no_quant";
    if (nmethods == 0)
        for (int i = 0; qmethods[i]; i++) o.methods[o.nmethods++] = qmethods[i];
    for (int i = 0; i < nmethods; i++) o.methods[o.nmethods++] = methods[i];

    int failed = table_run(&o);
    printf("written: %s/table_%dbit.{md,csv,json,svg}\n", o.output_dir, o.bits);
    if (failed) fprintf(stderr, "qat: %d cell(s) failed; see the logs named above\n", failed);
    free(models_copy);
    free(methods_copy);
    return failed ? 1 : 0;
}
