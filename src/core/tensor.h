/* Tensors: float32, row-major, up to 4 dims. A tensor does not own its memory:
 * activations live in the graph's arena, parameters in their Param. `grad` is NULL
 * where no gradient flows (inputs, evaluation mode). */
#ifndef QAT_CORE_TENSOR_H
#define QAT_CORE_TENSOR_H

#include <stddef.h>

#define QAT_MAX_DIMS 4

typedef struct {
    float *data;
    float *grad;
    int ndim;
    int shape[QAT_MAX_DIMS];
    size_t size;
} Tensor;

size_t shape_size(int ndim, const int *shape);
/* Same memory (data and grad), another shape of the same size. */
Tensor tensor_view(const Tensor *t, int ndim, const int *shape);
/* "[2, 3, 4]" into buf; returns buf. */
const char *tensor_shape_str(const Tensor *t, char *buf, size_t cap);

#endif
