#include "run/export_run.h"

#include <stdio.h>

#include "core/error.h"
#include "core/version.h"

size_t export_run_onnx(const SavedRun *r, const char *path, OnnxExport *stats) {
    Model *m = r->m;
    if (!m->export_onnx) qat_die("qat export: the %s model has no ONNX export yet", r->md->name);
    OnnxExport e = {onnx_graph_new(r->md->name, ""), 0, 0, 0};
    m->export_onnx(m, &e);
    char buf[32];
    onnx_metadata(e.g, "model", r->md->name);
    onnx_metadata(e.g, "method", r->qm->name);
    snprintf(buf, sizeof buf, "%d", r->result.weight_bits);
    onnx_metadata(e.g, "weight_bits", buf);
    snprintf(buf, sizeof buf, "%d", r->result.act_bits);
    onnx_metadata(e.g, "act_bits", buf);
    onnx_metadata(e.g, "config_hash", r->result.config_hash);
    onnx_metadata(e.g, "qat_version", QAT_VERSION);
    size_t bytes = onnx_write(e.g, path, QAT_VERSION);
    onnx_graph_free(e.g);
    e.g = NULL;
    if (stats) *stats = e;
    return bytes;
}
