/* Tensor files: named float arrays plus a model name and free text, in a binary file that
 * ends in a checksum, so a truncated or corrupt file is detected. Written atomically.
 * Checkpoints (io/checkpoint.h) and resume states (run/resume.h) are tensor files with
 * their own magic. */
#ifndef QAT_IO_TENSOR_FILE_H
#define QAT_IO_TENSOR_FILE_H

#include <stddef.h>

#include "core/tensor.h"

#define TENSOR_NAME_MAX 128 /* names are shorter than this */

/* A named array to store (data is read during tensor_file_save only). */
typedef struct {
    const char *name;
    int group; /* ParamGroup for parameters, 0 otherwise */
    int ndim;
    const int *shape;
    const float *data;
} TensorRef;

/* What a file's kind is called in messages, and its 8-byte magic. */
typedef struct {
    const char *what;  /* "checkpoint" */
    const char *magic; /* "QATCKPT1" */
    const char *title; /* "a QAT checkpoint" (the wrong-magic message) */
    const char *item;  /* what an array is called: "parameter" */
} TensorFileKind;

extern const TensorFileKind TENSOR_FILE_CHECKPOINT;

void tensor_file_save(const TensorFileKind *kind, const char *path, const char *model_name,
                      const char *meta, const TensorRef *items, int n);

/* One stored array, pointing into the file's buffer (little-endian floats). */
typedef struct {
    char name[TENSOR_NAME_MAX];
    int group, ndim;
    int shape[QAT_MAX_DIMS];
    size_t size;
    const unsigned char *data;
} StoredTensor;

typedef struct {
    const TensorFileKind *kind;
    char path[1024];
    char model[TENSOR_NAME_MAX]; /* NUL-terminated copies */
    char *meta;
    int n;
    StoredTensor *items;
    unsigned char *buf;
} TensorFile;

/* Reads and checks the whole file; dies with a message naming it when it is missing,
 * truncated, corrupt, of another kind or version. */
void tensor_file_read(TensorFile *tf, const TensorFileKind *kind, const char *path);
/* NULL when absent. */
const StoredTensor *tensor_file_find(const TensorFile *tf, const char *name);
/* The stored values into out[st->size]. */
void stored_tensor_copy(const StoredTensor *st, float *out);
/* "[2, 3]" */
const char *dims_str(int ndim, const int *shape, char *buf, size_t cap);
void tensor_file_free(TensorFile *tf);

#endif
