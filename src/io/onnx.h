/* Writing ONNX models: a graph builder over the protobuf-c code generated from
 * third_party/onnx/onnx.proto. The builder owns every name and tensor it is given (copied),
 * names each node output uniquely, and writes the model atomically. No knowledge of qat's
 * models: export/ walks those and calls this.
 * The facts it relies on (types, opset 21 for int4/int16 Q/DQ, IR 10) are in
 * docs/EXPORT.md. */
#ifndef QAT_IO_ONNX_H
#define QAT_IO_ONNX_H

#include <stddef.h>
#include <stdint.h>

/* TensorProto.DataType values */
typedef enum {
    ONNX_FLOAT = 1,
    ONNX_UINT8 = 2,
    ONNX_INT8 = 3,
    ONNX_UINT16 = 4,
    ONNX_INT16 = 5,
    ONNX_INT32 = 6,
    ONNX_INT64 = 7,
    ONNX_BOOL = 9,
    ONNX_UINT4 = 21,
    ONNX_INT4 = 22,
} OnnxType;

#define ONNX_OPSET 21
#define ONNX_IR_VERSION 10

typedef struct OnnxGraph OnnxGraph;

typedef enum { ONNX_ATTR_INT, ONNX_ATTR_FLOAT, ONNX_ATTR_INTS, ONNX_ATTR_STRING, ONNX_ATTR_GRAPH } OnnxAttrKind;
typedef struct {
    const char *name;
    OnnxAttrKind kind;
    int64_t i;
    float f;
    const int64_t *ints;
    int nints;
    const char *s;
    OnnxGraph *g; /* a body graph; the node's graph takes it over */
} OnnxAttr;

#define ONNX_ATTR_I(n, v) ((OnnxAttr){.name = (n), .kind = ONNX_ATTR_INT, .i = (v)})
#define ONNX_ATTR_F(n, v) ((OnnxAttr){.name = (n), .kind = ONNX_ATTR_FLOAT, .f = (v)})
#define ONNX_ATTR_INTS(n, a, k) ((OnnxAttr){.name = (n), .kind = ONNX_ATTR_INTS, .ints = (a), .nints = (k)})
#define ONNX_ATTR_S(n, v) ((OnnxAttr){.name = (n), .kind = ONNX_ATTR_STRING, .s = (v)})
#define ONNX_ATTR_G(n, v) ((OnnxAttr){.name = (n), .kind = ONNX_ATTR_GRAPH, .g = (v)})

/* name: the graph's name; prefix: what this graph's generated names start with (bodies
 * of Scan/Loop get their own, so that names stay unique across the model). */
OnnxGraph *onnx_graph_new(const char *name, const char *prefix);
void onnx_graph_free(OnnxGraph *g);

/* Graph inputs and outputs. dims: comma-separated, a number or a symbolic name per
 * dimension ("N,1,28,28"; "" for a scalar). */
void onnx_input(OnnxGraph *g, const char *name, OnnxType type, const char *dims);
void onnx_output(OnnxGraph *g, const char *name, OnnxType type, const char *dims);
/* The value `value` as graph output `name` (through an Identity node). */
void onnx_output_from(OnnxGraph *g, const char *value, const char *name, OnnxType type, const char *dims);

/* Initializers; each returns its (unique) name. shape NULL with ndim 0: a scalar.
 * onnx_init_ints stores values in the container `type` (INT4/UINT4 packed two per byte,
 * low nibble first); each value must fit it. */
const char *onnx_init_float(OnnxGraph *g, const char *name, int ndim, const int64_t *shape, const float *data);
const char *onnx_init_ints(OnnxGraph *g, const char *name, OnnxType type, int ndim, const int64_t *shape,
                           const int32_t *values);
const char *onnx_init_int64(OnnxGraph *g, const char *name, int ndim, const int64_t *shape, const int64_t *values);
const char *onnx_scalar_float(OnnxGraph *g, const char *name, float v);
const char *onnx_scalar_int64(OnnxGraph *g, const char *name, int64_t v);

/* A node of `op` (standard domain) reading nin inputs ("" for an omitted optional one)
 * and making nout outputs, whose generated names go to out (when not NULL). Returns the
 * first output's name. */
const char *onnx_node(OnnxGraph *g, const char *op, int nin, const char *const *in, int nout, const char **out,
                      int nattr, const OnnxAttr *attr);
/* The common cases, one output: up to three inputs (trailing NULLs end the list), and
 * no attributes; or with attributes. */
const char *onnx_op(OnnxGraph *g, const char *op, const char *in0, const char *in1, const char *in2);
const char *onnx_opa(OnnxGraph *g, const char *op, int nin, const char *const *in, int nattr, const OnnxAttr *attr);

/* Model-level key/value metadata (metadata_props). */
void onnx_metadata(OnnxGraph *g, const char *key, const char *value);

/* Serialises g as a model (opset ONNX_OPSET, IR ONNX_IR_VERSION, producer "qat") to path,
 * through a temporary file and a rename. Dies with a message naming path on failure.
 * Returns the file's size in bytes. */
size_t onnx_write(OnnxGraph *g, const char *path, const char *producer_version);

#endif
