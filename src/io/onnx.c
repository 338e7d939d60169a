#include "io/onnx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/atomic_file.h"
#include "onnx.pb-c.h"

/* Every allocation of a graph, freed together: the protobuf-c structs hold plain pointers. */
typedef struct {
    void **items;
    size_t n, cap;
} Pool;

struct OnnxGraph {
    Onnx__GraphProto proto;
    Pool pool;
    char prefix[32];
    long counter;                 /* for generated names */
    Onnx__StringStringEntryProto **meta;
    size_t nmeta;
    OnnxGraph **bodies; /* subgraphs taken over by nodes: freed with this graph */
    size_t nbodies;
};

static void *pool_keep(Pool *p, void *ptr) {
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 256;
        p->items = qat_realloc(p->items, p->cap * sizeof *p->items);
    }
    p->items[p->n++] = ptr;
    return ptr;
}

static void *galloc(OnnxGraph *g, size_t bytes) { return pool_keep(&g->pool, qat_calloc(1, bytes ? bytes : 1)); }

static char *gstrdup(OnnxGraph *g, const char *s) { return pool_keep(&g->pool, qat_strdup(s)); }

/* Appends ptr to a protobuf repeated field (count + array), growing it by doubling. */
#define APPEND(g, arr, count, ptr)                                                        \
    do {                                                                                  \
        if (((count) & ((count) - 1)) == 0) { /* 0, 1, 2, 4, ...: grow */                 \
            size_t cap_ = (count) ? 2 * (count) : 1;                                      \
            void *na_ = galloc((g), cap_ * sizeof *(arr));                                \
            if (count) memcpy(na_, (arr), (count) * sizeof *(arr));                       \
            (arr) = na_;                                                                  \
        }                                                                                 \
        (arr)[(count)++] = (ptr);                                                         \
    } while (0)

OnnxGraph *onnx_graph_new(const char *name, const char *prefix) {
    OnnxGraph *g = qat_calloc(1, sizeof *g);
    Onnx__GraphProto init = ONNX__GRAPH_PROTO__INIT;
    g->proto = init;
    g->proto.name = gstrdup(g, name);
    snprintf(g->prefix, sizeof g->prefix, "%s", prefix);
    return g;
}

void onnx_graph_free(OnnxGraph *g) {
    if (!g) return;
    for (size_t i = 0; i < g->nbodies; i++) onnx_graph_free(g->bodies[i]);
    free(g->bodies);
    for (size_t i = 0; i < g->pool.n; i++) free(g->pool.items[i]);
    free(g->pool.items);
    free(g);
}

/* ---- values ------------------------------------------------------------------------- */

static Onnx__ValueInfoProto *value_info(OnnxGraph *g, const char *name, OnnxType type, const char *dims) {
    Onnx__ValueInfoProto *v = galloc(g, sizeof *v);
    Onnx__ValueInfoProto vi = ONNX__VALUE_INFO_PROTO__INIT;
    *v = vi;
    v->name = gstrdup(g, name);
    Onnx__TypeProto *t = galloc(g, sizeof *t);
    Onnx__TypeProto ti = ONNX__TYPE_PROTO__INIT;
    *t = ti;
    Onnx__TypeProto__Tensor *tt = galloc(g, sizeof *tt);
    Onnx__TypeProto__Tensor tti = ONNX__TYPE_PROTO__TENSOR__INIT;
    *tt = tti;
    tt->has_elem_type = 1;
    tt->elem_type = type;
    Onnx__TensorShapeProto *sh = galloc(g, sizeof *sh);
    Onnx__TensorShapeProto shi = ONNX__TENSOR_SHAPE_PROTO__INIT;
    *sh = shi;
    char *copy = gstrdup(g, dims);
    for (char *tok = strtok(copy, ","); tok; tok = strtok(NULL, ",")) {
        Onnx__TensorShapeProto__Dimension *d = galloc(g, sizeof *d);
        Onnx__TensorShapeProto__Dimension di = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
        *d = di;
        char *end;
        long long n = strtoll(tok, &end, 10);
        if (*end == '\0' && end != tok) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = n;
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = gstrdup(g, tok);
        }
        APPEND(g, sh->dim, sh->n_dim, d);
    }
    tt->shape = sh;
    t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    t->tensor_type = tt;
    v->type = t;
    return v;
}

void onnx_input(OnnxGraph *g, const char *name, OnnxType type, const char *dims) {
    APPEND(g, g->proto.input, g->proto.n_input, value_info(g, name, type, dims));
}

void onnx_output(OnnxGraph *g, const char *name, OnnxType type, const char *dims) {
    APPEND(g, g->proto.output, g->proto.n_output, value_info(g, name, type, dims));
}

/* A fresh name: prefix + what + counter (names the user gives stay as they are). */
static const char *fresh_name(OnnxGraph *g, const char *what) {
    char buf[160];
    snprintf(buf, sizeof buf, "%s%s_%ld", g->prefix, what, g->counter++);
    return gstrdup(g, buf);
}

/* ---- initializers ------------------------------------------------------------------- */

static Onnx__TensorProto *new_tensor(OnnxGraph *g, const char *name, OnnxType type, int ndim, const int64_t *shape,
                                     size_t *count) {
    Onnx__TensorProto *t = galloc(g, sizeof *t);
    Onnx__TensorProto ti = ONNX__TENSOR_PROTO__INIT;
    *t = ti;
    t->name = (char *)(name && name[0] ? fresh_name(g, name) : fresh_name(g, "const"));
    t->has_data_type = 1;
    t->data_type = type;
    t->n_dims = (size_t)ndim;
    t->dims = galloc(g, (size_t)(ndim ? ndim : 1) * sizeof *t->dims);
    *count = 1;
    for (int i = 0; i < ndim; i++) {
        QAT_ASSERT(shape[i] >= 0);
        t->dims[i] = shape[i];
        *count *= (size_t)shape[i];
    }
    APPEND(g, g->proto.initializer, g->proto.n_initializer, t);
    return t;
}

static void set_raw(OnnxGraph *g, Onnx__TensorProto *t, const void *bytes, size_t n) {
    t->has_raw_data = 1;
    t->raw_data.len = n;
    t->raw_data.data = galloc(g, n);
    if (n) memcpy(t->raw_data.data, bytes, n);
}

/* Raw data is little-endian, as on every machine qat builds for (x86-64). */
const char *onnx_init_float(OnnxGraph *g, const char *name, int ndim, const int64_t *shape, const float *data) {
    size_t n;
    Onnx__TensorProto *t = new_tensor(g, name, ONNX_FLOAT, ndim, shape, &n);
    set_raw(g, t, data, n * sizeof(float));
    return t->name;
}

const char *onnx_init_int64(OnnxGraph *g, const char *name, int ndim, const int64_t *shape, const int64_t *values) {
    size_t n;
    Onnx__TensorProto *t = new_tensor(g, name, ONNX_INT64, ndim, shape, &n);
    set_raw(g, t, values, n * sizeof(int64_t));
    return t->name;
}

static void type_range(OnnxType type, int32_t *lo, int32_t *hi, int *bytes) {
    switch (type) {
    case ONNX_INT4: *lo = -8, *hi = 7, *bytes = 0; return;
    case ONNX_UINT4: *lo = 0, *hi = 15, *bytes = 0; return;
    case ONNX_INT8: *lo = -128, *hi = 127, *bytes = 1; return;
    case ONNX_UINT8: *lo = 0, *hi = 255, *bytes = 1; return;
    case ONNX_INT16: *lo = -32768, *hi = 32767, *bytes = 2; return;
    case ONNX_UINT16: *lo = 0, *hi = 65535, *bytes = 2; return;
    case ONNX_INT32: *lo = INT32_MIN, *hi = INT32_MAX, *bytes = 4; return;
    default: QAT_ASSERT(!"an integer container type");
    }
}

const char *onnx_init_ints(OnnxGraph *g, const char *name, OnnxType type, int ndim, const int64_t *shape,
                           const int32_t *values) {
    size_t n;
    Onnx__TensorProto *t = new_tensor(g, name, type, ndim, shape, &n);
    int32_t lo, hi;
    int bytes;
    type_range(type, &lo, &hi, &bytes);
    size_t len = bytes ? n * (size_t)bytes : (n + 1) / 2;
    uint8_t *raw = qat_calloc(len ? len : 1, 1);
    for (size_t i = 0; i < n; i++) {
        int32_t v = values[i];
        QAT_ASSERT(v >= lo && v <= hi);
        if (bytes == 0) raw[i / 2] |= (uint8_t)(((uint32_t)v & 0xF) << (i % 2 ? 4 : 0));
        else
            for (int k = 0; k < bytes; k++) raw[i * (size_t)bytes + k] = (uint8_t)((uint32_t)v >> (8 * k));
    }
    set_raw(g, t, raw, len);
    free(raw);
    return t->name;
}

const char *onnx_scalar_float(OnnxGraph *g, const char *name, float v) { return onnx_init_float(g, name, 0, NULL, &v); }

const char *onnx_scalar_int64(OnnxGraph *g, const char *name, int64_t v) { return onnx_init_int64(g, name, 0, NULL, &v); }

/* ---- nodes -------------------------------------------------------------------------- */

static Onnx__AttributeProto *attribute(OnnxGraph *g, const OnnxAttr *a) {
    Onnx__AttributeProto *p = galloc(g, sizeof *p);
    Onnx__AttributeProto pi = ONNX__ATTRIBUTE_PROTO__INIT;
    *p = pi;
    p->name = gstrdup(g, a->name);
    p->has_type = 1;
    switch (a->kind) {
    case ONNX_ATTR_INT:
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        p->has_i = 1, p->i = a->i;
        break;
    case ONNX_ATTR_FLOAT:
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
        p->has_f = 1, p->f = a->f;
        break;
    case ONNX_ATTR_INTS:
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
        p->n_ints = (size_t)a->nints;
        p->ints = galloc(g, (size_t)(a->nints ? a->nints : 1) * sizeof(int64_t));
        if (a->nints) memcpy(p->ints, a->ints, (size_t)a->nints * sizeof(int64_t));
        break;
    case ONNX_ATTR_STRING:
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
        p->has_s = 1;
        p->s.len = strlen(a->s);
        p->s.data = (uint8_t *)gstrdup(g, a->s);
        break;
    case ONNX_ATTR_GRAPH:
        p->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
        p->g = &a->g->proto;
        g->bodies = qat_realloc(g->bodies, (g->nbodies + 1) * sizeof *g->bodies);
        g->bodies[g->nbodies++] = a->g;
        break;
    }
    return p;
}

const char *onnx_node(OnnxGraph *g, const char *op, int nin, const char *const *in, int nout, const char **out,
                      int nattr, const OnnxAttr *attr) {
    Onnx__NodeProto *n = galloc(g, sizeof *n);
    Onnx__NodeProto ni = ONNX__NODE_PROTO__INIT;
    *n = ni;
    n->op_type = gstrdup(g, op);
    n->name = (char *)fresh_name(g, op);
    n->n_input = (size_t)nin;
    n->input = galloc(g, (size_t)(nin ? nin : 1) * sizeof(char *));
    for (int i = 0; i < nin; i++) n->input[i] = gstrdup(g, in[i] ? in[i] : "");
    n->n_output = (size_t)nout;
    n->output = galloc(g, (size_t)nout * sizeof(char *));
    for (int i = 0; i < nout; i++) {
        n->output[i] = (char *)fresh_name(g, op);
        if (out) out[i] = n->output[i];
    }
    for (int i = 0; i < nattr; i++) APPEND(g, n->attribute, n->n_attribute, attribute(g, &attr[i]));
    APPEND(g, g->proto.node, g->proto.n_node, n);
    return n->output[0];
}

const char *onnx_op(OnnxGraph *g, const char *op, const char *in0, const char *in1, const char *in2) {
    const char *in[3] = {in0, in1, in2};
    int nin = in2 ? 3 : in1 ? 2 : in0 ? 1 : 0;
    return onnx_node(g, op, nin, in, 1, NULL, 0, NULL);
}

const char *onnx_opa(OnnxGraph *g, const char *op, int nin, const char *const *in, int nattr, const OnnxAttr *attr) {
    return onnx_node(g, op, nin, in, 1, NULL, nattr, attr);
}

void onnx_output_from(OnnxGraph *g, const char *value, const char *name, OnnxType type, const char *dims) {
    const char *out;
    onnx_node(g, "Identity", 1, &value, 1, &out, 0, NULL);
    for (size_t i = 0; i < g->proto.n_node; i++) /* the node just made: its output takes the name */
        if (g->proto.node[i]->output[0] == out) g->proto.node[i]->output[0] = gstrdup(g, name);
    onnx_output(g, name, type, dims);
}

void onnx_metadata(OnnxGraph *g, const char *key, const char *value) {
    Onnx__StringStringEntryProto *e = galloc(g, sizeof *e);
    Onnx__StringStringEntryProto ei = ONNX__STRING_STRING_ENTRY_PROTO__INIT;
    *e = ei;
    e->key = gstrdup(g, key);
    e->value = gstrdup(g, value);
    APPEND(g, g->meta, g->nmeta, e);
}

/* ---- the model ---------------------------------------------------------------------- */

size_t onnx_write(OnnxGraph *g, const char *path, const char *producer_version) {
    Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
    m.has_ir_version = 1;
    m.ir_version = ONNX_IR_VERSION;
    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    opset.domain = "";
    opset.has_version = 1;
    opset.version = ONNX_OPSET;
    Onnx__OperatorSetIdProto *ops[1] = {&opset};
    m.n_opset_import = 1;
    m.opset_import = ops;
    m.producer_name = "qat";
    m.producer_version = (char *)producer_version;
    m.graph = &g->proto;
    m.n_metadata_props = g->nmeta;
    m.metadata_props = g->meta;
    size_t len = onnx__model_proto__get_packed_size(&m);
    uint8_t *buf = qat_malloc(len ? len : 1);
    size_t packed = onnx__model_proto__pack(&m, buf);
    QAT_ASSERT(packed == len);
    AtomicFile af;
    FILE *f = atomic_file_open(&af, path);
    if (fwrite(buf, 1, len, f) != len) {
        atomic_file_abort(&af);
        free(buf);
        qat_die("%s: cannot write the model (%zu bytes)", path, len);
    }
    atomic_file_commit(&af);
    free(buf);
    return len;
}
