/* Format: magic "\x93NUMPY", version 1.0, a little-endian uint16 header length, then a
 * Python dict literal padded with spaces to a multiple of 64 bytes and ended by '\n':
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * then the data in C order. */
#include "io/npy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/atomic_file.h"

static size_t elem_size(NpyType t) { return t == NPY_F32 ? 4 : 8; }

size_t npy_count(const NpyArray *a) {
    size_t n = 1;
    for (int i = 0; i < a->ndim; i++) n *= (size_t)a->shape[i];
    return n;
}

NpyArray npy_new(NpyType type, int ndim, const int64_t *shape) {
    QAT_ASSERT(ndim >= 0 && ndim <= NPY_MAX_DIMS);
    NpyArray a = {type, ndim, {0}, NULL};
    for (int i = 0; i < ndim; i++) {
        QAT_ASSERT(shape[i] >= 0);
        a.shape[i] = shape[i];
    }
    size_t n = npy_count(&a);
    a.data = qat_calloc(n ? n : 1, elem_size(type));
    return a;
}

void npy_free(NpyArray *a) {
    free(a->data);
    a->data = NULL;
}

void npy_write(const char *path, const NpyArray *a) {
    char dict[256];
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                       a->type == NPY_F32 ? "<f4" : "<i8");
    for (int i = 0; i < a->ndim; i++)
        len += snprintf(dict + len, sizeof dict - (size_t)len, "%lld%s", (long long)a->shape[i],
                        a->ndim == 1 ? "," : i + 1 < a->ndim ? ", " : "");
    len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");
    int total = 10 + len + 1, pad = (64 - total % 64) % 64;
    AtomicFile af;
    FILE *f = atomic_file_open(&af, path);
    unsigned hl = (unsigned)(len + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc((int)(hl & 0xFF), f);
    fputc((int)(hl >> 8), f);
    fwrite(dict, 1, (size_t)len, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    size_t n = npy_count(a);
    if (fwrite(a->data, elem_size(a->type), n, f) != n) {
        atomic_file_abort(&af);
        qat_die("%s: cannot write %zu values", path, n);
    }
    atomic_file_commit(&af);
}

/* The value of 'key' in the header dict: a pointer just past "'key':" and spaces. */
static const char *dict_value(const char *path, const char *dict, const char *key) {
    char pat[32];
    snprintf(pat, sizeof pat, "'%s':", key);
    const char *p = strstr(dict, pat);
    if (!p) qat_die("%s: not a .npy file this reads (no '%s' in the header)", path, key);
    p += strlen(pat);
    while (*p == ' ') p++;
    return p;
}

NpyArray npy_read(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) qat_die("%s: cannot open", path);
    unsigned char head[10];
    if (fread(head, 1, 10, f) != 10 || memcmp(head, "\x93NUMPY", 6) != 0)
        qat_die("%s: not a .npy file (bad magic)", path);
    if (head[6] != 1) qat_die("%s: .npy version %d.%d; this reads version 1.0", path, head[6], head[7]);
    unsigned hl = head[8] | (unsigned)head[9] << 8;
    char *dict = qat_malloc(hl + 1);
    if (fread(dict, 1, hl, f) != hl) qat_die("%s: truncated .npy header", path);
    dict[hl] = '\0';
    NpyArray a = {NPY_F32, 0, {0}, NULL};
    const char *d = dict_value(path, dict, "descr");
    if (strncmp(d, "'<f4'", 5) == 0) a.type = NPY_F32;
    else if (strncmp(d, "'<i8'", 5) == 0) a.type = NPY_I64;
    else qat_die("%s: dtype %.8s; this reads float32 ('<f4') and int64 ('<i8')", path, d);
    if (strncmp(dict_value(path, dict, "fortran_order"), "False", 5) != 0)
        qat_die("%s: a Fortran-order array; write it in C order", path);
    const char *s = dict_value(path, dict, "shape");
    if (*s != '(') qat_die("%s: bad shape in the .npy header", path);
    s++;
    while (*s != ')') {
        while (*s == ' ' || *s == ',') s++;
        if (*s == ')') break;
        char *end;
        long long v = strtoll(s, &end, 10);
        if (end == s || v < 0 || v > (1LL << 40)) qat_die("%s: bad shape in the .npy header", path);
        if (a.ndim == NPY_MAX_DIMS) qat_die("%s: more than %d dimensions", path, NPY_MAX_DIMS);
        a.shape[a.ndim++] = v;
        s = end;
    }
    free(dict);
    size_t es = elem_size(a.type);
    /* The file's size against the header's promise before any allocation: a header may
     * promise more than memory holds. */
    long here = ftell(f);
    if (here < 0 || fseek(f, 0, SEEK_END) != 0) qat_die("%s: cannot seek", path);
    long end = ftell(f);
    if (end < here || fseek(f, here, SEEK_SET) != 0) qat_die("%s: cannot seek", path);
    size_t have = (size_t)(end - here), n = 1;
    for (int i = 0; i < a.ndim; i++) {
        if (a.shape[i] != 0 && n > have / (size_t)a.shape[i]) {
            n = SIZE_MAX;
            break;
        }
        n *= (size_t)a.shape[i];
    }
    if (n == SIZE_MAX || n * es > have) qat_die("%s: truncated: the header promises more values than the file holds", path);
    if (n * es < have) qat_die("%s: data after the %zu values the header promises", path, n);
    a.data = qat_malloc(n ? n * es : 1);
    if (fread(a.data, es, n, f) != n) qat_die("%s: truncated: the header promises %zu values", path, n);
    fclose(f);
    return a;
}
