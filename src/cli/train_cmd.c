#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "core/error.h"
#include "core/runtime.h"
#include "models/model.h"
#include "run/experiment.h"
#include "run/methods.h"

static const char USAGE[] =
    "usage: qat train --model MODEL [options]\n"
    "\n"
    "Trains (or post-training quantizes) one model and writes the run to OUTPUT_DIR.\n"
    "\n"
    "  --model {sasrec,espcn,lstm,simple_cnn}   model and its dataset (required)\n"
    "  --quantizer {no_quant,lsq,pact,adaround,apot,qil}   method (default no_quant)\n"
    "  --model-config PATH          model YAML (default configs/model/MODEL_default.yml)\n"
    "  --quantizer-config PATH|default|bit_width_gridsearch\n"
    "                               quantizer YAML (default: configs/quantizer/Q_default.yml)\n"
    "  --device cpu|cuda            compute device (default cpu)\n"
    "  --logging-backend none|mlflow  also write MLflow's file store (default none;\n"
    "                               directory from MLFLOW_TRACKING_URI, else ./mlruns)\n"
    "  --from-pretrained PATH       start from this checkpoint (model.ckpt of a run)\n"
    "  --experiment-postfix S       appended to the experiment name MODEL_QUANTIZER\n"
    "  --seed N                     seed for init, shuffling and dropout (default 0)\n"
    "  --threads N                  compute threads (default: all cores)\n"
    "  --output-dir DIR             run store root (default runs)\n"
    "  --set section.key=VALUE      override a config value; repeatable; a YAML list\n"
    "                               such as [2,4,8] makes a grid axis\n"
    "  --save-every SECONDS         write the resume state at least this often within an\n"
    "                               epoch (default 300; it is also written after every epoch)\n"
    "  --no-resume                  start over: ignore the run's resume state and its result\n"
    "\n"
    "A list in a YAML config where a single value is expected is a grid: every\n"
    "combination runs as its own run. Same seed and thread count give the same metrics.\n"
    "\n"
    "Running the same command again continues a run that was stopped (kill, power loss,\n"
    "Ctrl-C) from its last resume state, with the metrics an uninterrupted run gives, and\n"
    "reuses a run that finished with the same threads. Ctrl-C or SIGTERM saves the state and\n"
    "exits 130 or 143; a second Ctrl-C quits at once.\n";

int cmd_train(int argc, char **argv) {
    TrainOptions o = {0};
    o.quantizer = "no_quant";
    o.quantizer_config = "default";
    o.device = "cpu";
    o.logging_backend = "none";
    o.output_dir = "runs";
    o.save_every = 300.0;
    long threads = 0;
    static const char *const devices[] = {"cpu", "cuda", NULL};
    static const char *const backends[] = {"none", "mlflow", NULL};
    for (int i = 0; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(USAGE, stdout);
            return 0;
        } else if ((v = flag_value(argc, argv, &i, "--model"))) {
            flag_check_choice("--model", v, model_names());
            o.model = v;
        } else if ((v = flag_value(argc, argv, &i, "--quantizer"))) {
            flag_check_choice("--quantizer", v, quant_method_names());
            o.quantizer = v;
        } else if ((v = flag_value(argc, argv, &i, "--model-config"))) {
            o.model_config = v;
        } else if ((v = flag_value(argc, argv, &i, "--quantizer-config"))) {
            o.quantizer_config = v;
        } else if ((v = flag_value(argc, argv, &i, "--device"))) {
            flag_check_choice("--device", v, devices);
            o.device = v;
        } else if ((v = flag_value(argc, argv, &i, "--logging-backend"))) {
            flag_check_choice("--logging-backend", v, backends);
            o.logging_backend = v;
        } else if ((v = flag_value(argc, argv, &i, "--from-pretrained"))) {
            o.from_pretrained = v;
        } else if ((v = flag_value(argc, argv, &i, "--experiment-postfix"))) {
            o.experiment_postfix = v;
        } else if ((v = flag_value(argc, argv, &i, "--seed"))) {
            o.seed = (uint64_t)flag_parse_long("--seed", v, 0, 2147483647L);
        } else if ((v = flag_value(argc, argv, &i, "--threads"))) {
            threads = flag_parse_long("--threads", v, 1, 1024);
        } else if ((v = flag_value(argc, argv, &i, "--output-dir"))) {
            o.output_dir = v;
        } else if (strcmp(argv[i], "--no-resume") == 0) {
            o.no_resume = 1;
        } else if ((v = flag_value(argc, argv, &i, "--save-every"))) {
            o.save_every = flag_parse_double("--save-every", v, 0.0, 1e9);
        } else if ((v = flag_value(argc, argv, &i, "--set"))) {
            if (o.nsets == TRAIN_MAX_SETS) qat_die("too many --set flags (at most %d)", TRAIN_MAX_SETS);
            o.sets[o.nsets++] = v;
        } else {
            qat_die("unknown flag '%s' for 'qat train' (see qat train --help)", argv[i]);
        }
    }
    if (!o.model) qat_die("qat train needs --model (see qat train --help)");
    runtime_init((int)threads);
    runtime_catch_stops();
    experiment_train(&o);
    return 0;
}
