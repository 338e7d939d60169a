/* qat: quantization-aware training and post-training quantization, evaluated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "core/error.h"
#include "core/runtime.h"

static const char USAGE[] =
    "usage: qat COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  train    train or quantize one model (qat train --help)\n"
    "  table    fill the results table: methods x models at B bits (qat table --help)\n"
    "  export   write a finished run as an ONNX model (qat export --help)\n"
    "  eval     evaluate a finished run, or another engine's outputs (qat eval --help)\n"
    "  fetch    set up a dataset in data/, checked against its sha256 (qat fetch --help)\n"
    "\n"
    "Environment: QAT_DATA_DIR (data root, default data), QAT_DATA_MIRROR (local copy of the\n"
    "datasets, default ../shared/data), QAT_CONFIG_DIR (default configs), MLFLOW_TRACKING_URI,\n"
    "QAT_ERROR_FILE (a file that gets the error message when qat fails).\n";

int main(int argc, char **argv) {
    runtime_select_blas_kernel(argv);
    const char *error_file = getenv("QAT_ERROR_FILE");
    if (error_file && *error_file) qat_set_error_file(error_file);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "train") == 0) return cmd_train(argc - 2, argv + 2);
    if (strcmp(cmd, "fetch") == 0) return cmd_fetch(argc - 2, argv + 2);
    if (strcmp(cmd, "table") == 0) return cmd_table(argc - 2, argv + 2);
    if (strcmp(cmd, "export") == 0) return cmd_export(argc - 2, argv + 2);
    if (strcmp(cmd, "eval") == 0) return cmd_eval(argc - 2, argv + 2);
    if (strcmp(cmd, "bench") == 0)
        qat_die("'qat %s' is not available yet in this version", cmd);
    qat_die("unknown command '%s' (see qat --help)", cmd);
}
