#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "core/error.h"
#include "core/runtime.h"
#include "run/export_run.h"

static const char USAGE[] =
    "usage: qat export RUN_DIR [--format onnx] [-o FILE]\n"
    "\n"
    "Writes the finished run in RUN_DIR as a model another runtime executes: ONNX (opset 21)\n"
    "with every quant site as QuantizeLinear/DequantizeLinear (or the same function in float\n"
    "ops), weights stored as integer codes at their bit width (docs/EXPORT.md).\n"
    "  --format onnx   the only format (default)\n"
    "  -o FILE         output (default RUN_DIR/model.onnx), written atomically\n";

int cmd_export(int argc, char **argv) {
    const char *dir = NULL, *out = NULL, *v;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(USAGE, stdout);
            return 0;
        } else if ((v = flag_value(argc, argv, &i, "--format"))) {
            static const char *const FORMATS[] = {"onnx", NULL};
            flag_check_choice("--format", v, FORMATS);
        } else if ((v = flag_value(argc, argv, &i, "-o"))) {
            out = v;
        } else if (argv[i][0] == '-') {
            qat_die("qat export: unknown flag '%s' (see qat export --help)", argv[i]);
        } else if (!dir) {
            dir = argv[i];
        } else {
            qat_die("qat export: one RUN_DIR only (got '%s' and '%s')", dir, argv[i]);
        }
    }
    if (!dir) {
        fputs(USAGE, stderr);
        return 2;
    }
    runtime_init(0);
    char path[1100];
    if (!out) {
        snprintf(path, sizeof path, "%s/model.onnx", dir);
        out = path;
    }
    SavedRun r;
    saved_run_open(&r, dir);
    OnnxExport st;
    size_t bytes = export_run_onnx(&r, out, &st);
    printf("%s: %zu bytes (%s, %s, W%dA%d); %zu quantized weights in %zu bytes%s\n", out, bytes, r.md->name,
           r.qm->name, r.result.weight_bits, r.result.act_bits, st.weight_values, st.weight_bytes,
           st.float_fallbacks ? " (some as float: no exact integer form)" : "");
    saved_run_close(&r);
    return 0;
}
