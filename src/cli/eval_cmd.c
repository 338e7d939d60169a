#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "core/error.h"
#include "core/runtime.h"
#include "run/eval_run.h"

static const char USAGE[] =
    "usage: qat eval RUN_DIR [--engine fp32|fakequant|int] [--dump-inputs DIR] [--outputs DIR]\n"
    "                [--threads N]\n"
    "\n"
    "Evaluates the finished run in RUN_DIR on its evaluation split and writes\n"
    "RUN_DIR/eval_ENGINE.json (metrics, samples, wall time).\n"
    "  --engine E          fakequant (default: the model as trained, quantizers on), fp32\n"
    "                      (every quantizer off)\n"
    "  --dump-inputs DIR   also write each batch's inputs and the engine's outputs as .npy\n"
    "                      (DIR/BBBBB_NAME.npy, the exported model's input and output names)\n"
    "  --outputs DIR       score the outputs another engine made from such inputs\n"
    "                      (DIR/BBBBB_OUTPUT.npy) instead of running one: eval_outputs.json\n"
    "  --threads N         compute threads (default: all cores)\n";

int cmd_eval(int argc, char **argv) {
    const char *dir = NULL, *v;
    EvalOptions o = {ENGINE_FAKEQUANT, NULL, NULL};
    long threads = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(USAGE, stdout);
            return 0;
        } else if ((v = flag_value(argc, argv, &i, "--engine"))) {
            flag_check_choice("--engine", v, EVAL_ENGINE_NAMES);
            for (int e = 0; EVAL_ENGINE_NAMES[e]; e++)
                if (strcmp(v, EVAL_ENGINE_NAMES[e]) == 0) o.engine = (EvalEngine)e;
        } else if ((v = flag_value(argc, argv, &i, "--dump-inputs"))) {
            o.dump_dir = v;
        } else if ((v = flag_value(argc, argv, &i, "--outputs"))) {
            o.outputs_dir = v;
        } else if ((v = flag_value(argc, argv, &i, "--threads"))) {
            threads = flag_parse_long("--threads", v, 1, 1024);
        } else if (argv[i][0] == '-') {
            qat_die("qat eval: unknown flag '%s' (see qat eval --help)", argv[i]);
        } else if (!dir) {
            dir = argv[i];
        } else {
            qat_die("qat eval: one RUN_DIR only (got '%s' and '%s')", dir, argv[i]);
        }
    }
    if (!dir) {
        fputs(USAGE, stderr);
        return 2;
    }
    if (o.outputs_dir && o.dump_dir) qat_die("qat eval: --outputs and --dump-inputs do not go together");
    runtime_init((int)threads);
    SavedRun r;
    saved_run_open(&r, dir);
    Metrics mt;
    eval_run(&r, &o, &mt);
    printf("%s %s (%s): %s = %.6f\n", r.md->name, r.qm->name, o.outputs_dir ? "given outputs" : EVAL_ENGINE_NAMES[o.engine],
           r.md->metric, metrics_get(&mt, r.md->metric));
    saved_run_close(&r);
    return 0;
}
