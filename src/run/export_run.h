/* `qat export`: a finished run's model as a file another runtime executes. */
#ifndef QAT_RUN_EXPORT_RUN_H
#define QAT_RUN_EXPORT_RUN_H

#include <stddef.h>

#include "export/onnx_export.h"
#include "run/saved_run.h"

/* Writes the run's evaluation graph as ONNX to path (atomically) with its metadata
 * (model, method, bits, config hash, qat version); stats gets what the weights cost.
 * Returns the file size. Dies when the model has no export. */
size_t export_run_onnx(const SavedRun *r, const char *path, OnnxExport *stats);

#endif
