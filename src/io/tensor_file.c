/* Tensor file format (all integers little-endian):
 *   8-byte magic               the kind ("QATCKPT1" for checkpoints)
 *   u32 version                TF_VERSION
 *   u64 total_size             size of the whole file, checksum included (detects truncation)
 *   u32 len + bytes            model name
 *   u32 len + bytes            meta text
 *   u32 count                  number of arrays
 *   per array:
 *     u32 len + bytes          name
 *     u32 group                ParamGroup (0 for arrays that are not parameters)
 *     u32 ndim                 1..QAT_MAX_DIMS
 *     i32 shape[ndim]
 *     f32 data[prod(shape)]
 *   u64 checksum               FNV-1a 64 of every byte before it
 * Reading checks the size and checksum before parsing, and every length against the bytes
 * left before using it, so a corrupt length never drives an allocation. */
#include "io/tensor_file.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/param.h"
#include "io/atomic_file.h"

#define TF_VERSION 1u
#define TF_HEADER_SIZE 20u /* magic + version + total size */
#define TF_MAX_MODEL 4096u

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

const TensorFileKind TENSOR_FILE_CHECKPOINT = {"checkpoint", "QATCKPT1", "a QAT checkpoint", "parameter"};

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

static int host_is_le(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* ---- writing ---- */

typedef struct {
    AtomicFile *af;
    const TensorFileKind *kind;
    const char *path;
    uint64_t hash;
    uint64_t written;
} Writer;

static void w_bytes(Writer *w, const void *p, size_t n) {
    if (n == 0) return;
    if (fwrite(p, 1, n, w->af->f) != n) {
        int e = errno;
        atomic_file_abort(w->af); /* leave no partial temporary behind */
        qat_die("cannot write %s %s: %s", w->kind->what, w->path, strerror(e));
    }
    w->hash = fnv1a(w->hash, p, n);
    w->written += n;
}

static void w_u32(Writer *w, uint32_t v) {
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    w_bytes(w, b, 4);
}

static void w_u64(Writer *w, uint64_t v) {
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
    w_bytes(w, b, 8);
}

static void w_str(Writer *w, const char *s) {
    size_t n = strlen(s);
    if (n > UINT32_MAX) qat_die("%s %s: string too long", w->kind->what, w->path);
    w_u32(w, (uint32_t)n);
    w_bytes(w, s, n);
}

static void w_floats(Writer *w, const float *x, size_t n) {
    if (host_is_le()) {
        w_bytes(w, x, n * sizeof(float));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        w_u32(w, u);
    }
}

static size_t ref_size(const TensorRef *t) {
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
    return n;
}

void tensor_file_save(const TensorFileKind *kind, const char *path, const char *model_name,
                      const char *meta, const TensorRef *items, int n) {
    if (!meta) meta = "";
    uint64_t total = TF_HEADER_SIZE + 4 + strlen(model_name) + 4 + strlen(meta) + 4;
    for (int i = 0; i < n; i++) {
        const TensorRef *t = &items[i];
        QAT_ASSERT(strlen(t->name) < TENSOR_NAME_MAX && t->ndim >= 1 && t->ndim <= QAT_MAX_DIMS);
        total += 4 + strlen(t->name) + 4 + 4 + 4ull * (uint64_t)t->ndim + 4ull * (uint64_t)ref_size(t);
    }
    total += 8;

    AtomicFile af;
    atomic_file_open(&af, path);
    Writer w = {&af, kind, path, FNV_OFFSET, 0};
    w_bytes(&w, kind->magic, 8);
    w_u32(&w, TF_VERSION);
    w_u64(&w, total);
    w_str(&w, model_name);
    w_str(&w, meta);
    w_u32(&w, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        const TensorRef *t = &items[i];
        w_str(&w, t->name);
        w_u32(&w, (uint32_t)t->group);
        w_u32(&w, (uint32_t)t->ndim);
        for (int d = 0; d < t->ndim; d++) w_u32(&w, (uint32_t)t->shape[d]);
        w_floats(&w, t->data, ref_size(t));
    }
    uint64_t h = w.hash;
    w_u64(&w, h);
    QAT_ASSERT(w.written == total);
    atomic_file_commit(&af);
}

/* ---- reading ---- */

typedef struct {
    const unsigned char *buf;
    size_t len, pos; /* len excludes the checksum */
    const TensorFile *tf;
} Reader;

/* what: the part that is wrong; "@" stands for the kind's item word ("parameter"). */
QAT_NORETURN static void corrupt(const Reader *r, const char *what) {
    char msg[TENSOR_NAME_MAX + 80];
    size_t k = 0;
    for (const char *c = what; *c && k + 40 < sizeof msg; c++) {
        if (*c != '@') {
            msg[k++] = *c;
            continue;
        }
        size_t n = strlen(r->tf->kind->item);
        memcpy(msg + k, r->tf->kind->item, n);
        k += n;
    }
    msg[k] = '\0';
    qat_die("%s %s is corrupt (%s at byte %zu)", r->tf->kind->what, r->tf->path, msg, r->pos);
}

static uint32_t r_u32(Reader *r, const char *what) {
    if (r->len - r->pos < 4) corrupt(r, what);
    const unsigned char *b = r->buf + r->pos;
    r->pos += 4;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint64_t le64(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

/* A length-prefixed string: returns its start, sets *n. */
static const char *r_str(Reader *r, uint32_t *n, uint32_t max, const char *what) {
    *n = r_u32(r, what);
    if (*n > max || *n > r->len - r->pos) corrupt(r, what);
    const char *s = (const char *)r->buf + r->pos;
    r->pos += *n;
    return s;
}

/* A NUL-free string copied into out[cap]. */
static void r_name(Reader *r, char *out, size_t cap, const char *what) {
    uint32_t n;
    const char *s = r_str(r, &n, (uint32_t)cap - 1, what);
    memcpy(out, s, n);
    out[n] = '\0';
    if (strlen(out) != n) corrupt(r, what);
}

const char *dims_str(int ndim, const int *shape, char *buf, size_t cap) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, cap - k, "[");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, i ? ", %d" : "%d", shape[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
    return buf;
}

/* The whole file into tf->buf after the size checks; returns its length. */
static size_t read_checked(TensorFile *tf) {
    const char *what = tf->kind->what, *path = tf->path;
    FILE *f = fopen(path, "rb");
    if (!f) qat_die("cannot open %s %s: %s", what, path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0) qat_die("cannot read %s %s: %s", what, path, strerror(errno));
    if (S_ISDIR(st.st_mode)) qat_die("cannot read %s %s: %s", what, path, strerror(EISDIR));
    uint64_t fsize = (uint64_t)st.st_size;

    unsigned char head[TF_HEADER_SIZE];
    size_t got = fread(head, 1, sizeof head, f);
    if (ferror(f)) qat_die("cannot read %s %s: %s", what, path, strerror(errno));
    size_t magic_n = got < 8 ? got : 8;
    if (memcmp(head, tf->kind->magic, magic_n) != 0)
        qat_die("%s %s is not %s (wrong magic)", what, path, tf->kind->title);
    if (got < TF_HEADER_SIZE)
        qat_die("%s %s is truncated (read %zu bytes, the header alone is %u)", what, path, got, TF_HEADER_SIZE);
    uint32_t version = (uint32_t)head[8] | (uint32_t)head[9] << 8 | (uint32_t)head[10] << 16 |
                       (uint32_t)head[11] << 24;
    if (version != TF_VERSION)
        qat_die("%s %s has format version %u; this build reads version %u", what, path, version, TF_VERSION);
    uint64_t total = le64(head + 12);
    if (total < TF_HEADER_SIZE + 12 + 8)
        qat_die("%s %s is corrupt (recorded size %llu bytes is too small)", what, path, (unsigned long long)total);
    if (fsize < total)
        qat_die("%s %s is truncated (read %llu of %llu bytes)", what, path, (unsigned long long)fsize,
                (unsigned long long)total);
    if (fsize > total)
        qat_die("%s %s is corrupt (%llu bytes, but its header records %llu)", what, path,
                (unsigned long long)fsize, (unsigned long long)total);
    if (total > (uint64_t)SIZE_MAX) qat_die("%s %s is too large for this machine", what, path);

    /* The size is the file's real size: safe to allocate. */
    size_t n = (size_t)total;
    tf->buf = qat_malloc(n);
    memcpy(tf->buf, head, TF_HEADER_SIZE);
    size_t rest = fread(tf->buf + TF_HEADER_SIZE, 1, n - TF_HEADER_SIZE, f);
    if (ferror(f)) qat_die("cannot read %s %s: %s", what, path, strerror(errno));
    fclose(f);
    if (rest != n - TF_HEADER_SIZE)
        qat_die("%s %s is truncated (read %zu of %zu bytes)", what, path, rest + TF_HEADER_SIZE, n);
    uint64_t want = le64(tf->buf + n - 8);
    uint64_t have = fnv1a(FNV_OFFSET, tf->buf, n - 8);
    if (want != have)
        qat_die("%s %s is corrupt (checksum mismatch: stored %016llx, computed %016llx)", what, path,
                (unsigned long long)want, (unsigned long long)have);
    return n;
}

void tensor_file_read(TensorFile *tf, const TensorFileKind *kind, const char *path) {
    memset(tf, 0, sizeof *tf);
    tf->kind = kind;
    if (strlen(path) >= sizeof tf->path) qat_die("%s path too long: %s", kind->what, path);
    snprintf(tf->path, sizeof tf->path, "%s", path);
    size_t n = read_checked(tf);

    Reader r = {tf->buf, n - 8, TF_HEADER_SIZE, tf};
    uint32_t mlen;
    const char *mname = r_str(&r, &mlen, TF_MAX_MODEL, "model name");
    if (mlen >= sizeof tf->model || memchr(mname, '\0', mlen)) corrupt(&r, "model name");
    memcpy(tf->model, mname, mlen);
    tf->model[mlen] = '\0';
    uint32_t tlen;
    const char *meta = r_str(&r, &tlen, UINT32_MAX, "meta text");
    tf->meta = qat_malloc((size_t)tlen + 1);
    memcpy(tf->meta, meta, tlen);
    tf->meta[tlen] = '\0';
    uint32_t count = r_u32(&r, "@ count");
    /* Each array takes at least 16 bytes: bound the count by the bytes left. */
    if (count > (r.len - r.pos) / 16) corrupt(&r, "@ count");
    tf->items = qat_calloc(count ? count : 1, sizeof *tf->items);
    for (uint32_t i = 0; i < count; i++) {
        StoredTensor *q = &tf->items[i];
        r_name(&r, q->name, sizeof q->name, "@ name");
        uint32_t group = r_u32(&r, "@ group");
        if (group >= PARAM_GROUP_COUNT) corrupt(&r, "@ group");
        q->group = (int)group;
        uint32_t ndim = r_u32(&r, "@ rank");
        if (ndim < 1 || ndim > QAT_MAX_DIMS) corrupt(&r, "@ rank");
        q->ndim = (int)ndim;
        uint64_t size = 1;
        for (uint32_t d = 0; d < ndim; d++) {
            uint32_t s = r_u32(&r, "@ shape");
            if (s > (uint32_t)INT32_MAX) corrupt(&r, "@ shape");
            q->shape[d] = (int)s;
            uint64_t limit = (r.len - r.pos) / 4; /* floats that could still follow */
            if (s != 0 && size > limit / s) corrupt(&r, "@ shape");
            size *= s;
        }
        if (size * 4 > r.len - r.pos) corrupt(&r, "@ data");
        q->size = (size_t)size;
        q->data = tf->buf + r.pos;
        /* Writers store finite values only (training stops at the first non-finite one). */
        for (size_t j = 0; j < q->size; j++) {
            uint32_t u = (uint32_t)q->data[4 * j] | (uint32_t)q->data[4 * j + 1] << 8 |
                         (uint32_t)q->data[4 * j + 2] << 16 | (uint32_t)q->data[4 * j + 3] << 24;
            if ((u & 0x7f800000u) == 0x7f800000u) {
                char what[TENSOR_NAME_MAX + 40];
                snprintf(what, sizeof what, "@ '%s' holds %s", q->name, u & 0x007fffffu ? "NaN" : "an infinity");
                r.pos += 4 * j;
                corrupt(&r, what);
            }
        }
        r.pos += q->size * 4;
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(tf->items[j].name, q->name) == 0) corrupt(&r, "duplicate @ name");
        tf->n = (int)i + 1;
    }
    if (r.pos != r.len) corrupt(&r, "trailing bytes after the last @");
}

const StoredTensor *tensor_file_find(const TensorFile *tf, const char *name) {
    for (int i = 0; i < tf->n; i++)
        if (strcmp(tf->items[i].name, name) == 0) return &tf->items[i];
    return NULL;
}

void stored_tensor_copy(const StoredTensor *st, float *out) {
    if (host_is_le()) {
        memcpy(out, st->data, st->size * 4);
        return;
    }
    for (size_t j = 0; j < st->size; j++) {
        const unsigned char *b = st->data + 4 * j;
        uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        memcpy(&out[j], &u, 4);
    }
}

void tensor_file_free(TensorFile *tf) {
    free(tf->meta);
    free(tf->items);
    free(tf->buf);
    memset(tf, 0, sizeof *tf);
}
