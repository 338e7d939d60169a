/* Arrays in NumPy's .npy format (version 1.0, little-endian, C order): how `qat eval`
 * hands evaluation inputs to another engine and takes its outputs back. Types: float32,
 * int64. Reading checks the whole header and the file size: a bad file ends with one
 * message naming it and what is wrong. */
#ifndef QAT_IO_NPY_H
#define QAT_IO_NPY_H

#include <stddef.h>
#include <stdint.h>

#define NPY_MAX_DIMS 4

typedef enum { NPY_F32, NPY_I64 } NpyType;

typedef struct {
    NpyType type;
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
    void *data; /* owned: npy_free */
} NpyArray;

size_t npy_count(const NpyArray *a);
/* A zeroed array of the given shape. */
NpyArray npy_new(NpyType type, int ndim, const int64_t *shape);
void npy_free(NpyArray *a);

/* Atomically (temporary file + rename). */
void npy_write(const char *path, const NpyArray *a);
/* Dies on a malformed file, another dtype than float32 / int64, or a fortran-order one. */
NpyArray npy_read(const char *path);

#endif
