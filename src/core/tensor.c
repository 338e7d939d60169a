#include "core/tensor.h"

#include <stdio.h>

#include "core/error.h"

size_t shape_size(int ndim, const int *shape) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    return n;
}

Tensor tensor_view(const Tensor *t, int ndim, const int *shape) {
    QAT_ASSERT(ndim >= 1 && ndim <= QAT_MAX_DIMS);
    Tensor v = *t;
    v.ndim = ndim;
    for (int i = 0; i < ndim; i++) v.shape[i] = shape[i];
    for (int i = ndim; i < QAT_MAX_DIMS; i++) v.shape[i] = 0;
    v.size = shape_size(ndim, shape);
    QAT_ASSERT(v.size == t->size);
    return v;
}

const char *tensor_shape_str(const Tensor *t, char *buf, size_t cap) {
    size_t off = 0;
    off += (size_t)snprintf(buf + off, cap - off, "[");
    for (int i = 0; i < t->ndim && off < cap; i++)
        off += (size_t)snprintf(buf + off, cap - off, i ? ", %d" : "%d", t->shape[i]);
    if (off < cap) snprintf(buf + off, cap - off, "]");
    return buf;
}
