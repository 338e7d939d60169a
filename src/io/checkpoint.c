/* Checkpoint format (all integers little-endian):
 *   "QATCKPT1"                 8-byte magic
 *   u32 version                CKPT_VERSION
 *   u64 total_size             size of the whole file, checksum included (detects truncation)
 *   u32 len + bytes            model name
 *   u32 len + bytes            meta text (resolved config YAML)
 *   u32 count                  number of parameters
 *   per parameter:
 *     u32 len + bytes          name
 *     u32 group                ParamGroup
 *     u32 ndim                 1..QAT_MAX_DIMS
 *     i32 shape[ndim]
 *     f32 data[prod(shape)]
 *   u64 checksum               FNV-1a 64 of every byte before it
 * Loading checks the size and checksum before parsing, and every length against the bytes
 * left before using it, so a corrupt length never drives an allocation. */
#include "io/checkpoint.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "io/atomic_file.h"

#define CKPT_MAGIC "QATCKPT1"
#define CKPT_VERSION 1u
#define CKPT_HEADER_SIZE 20u /* magic + version + total size */
#define CKPT_MAX_NAME 4096u

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

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
    const char *path;
    uint64_t hash;
    uint64_t written;
} Writer;

static void w_bytes(Writer *w, const void *p, size_t n) {
    if (n == 0) return;
    if (fwrite(p, 1, n, w->af->f) != n) {
        int e = errno;
        atomic_file_abort(w->af); /* leave no partial temporary behind */
        qat_die("cannot write checkpoint %s: %s", w->path, strerror(e));
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
    if (n > UINT32_MAX) qat_die("checkpoint %s: string too long", w->path);
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

void checkpoint_save(const char *path, const char *model_name, const ParamList *params,
                     const char *meta) {
    if (!meta) meta = "";
    uint64_t total = CKPT_HEADER_SIZE + 4 + strlen(model_name) + 4 + strlen(meta) + 4;
    for (int i = 0; i < params->n; i++) {
        const Param *p = params->items[i];
        total += 4 + strlen(p->name) + 4 + 4 + 4ull * (uint64_t)p->t.ndim +
                 4ull * (uint64_t)p->t.size;
    }
    total += 8;

    AtomicFile af;
    atomic_file_open(&af, path);
    Writer w = {&af, path, FNV_OFFSET, 0};
    w_bytes(&w, CKPT_MAGIC, 8);
    w_u32(&w, CKPT_VERSION);
    w_u64(&w, total);
    w_str(&w, model_name);
    w_str(&w, meta);
    w_u32(&w, (uint32_t)params->n);
    for (int i = 0; i < params->n; i++) {
        const Param *p = params->items[i];
        w_str(&w, p->name);
        w_u32(&w, (uint32_t)p->group);
        w_u32(&w, (uint32_t)p->t.ndim);
        for (int d = 0; d < p->t.ndim; d++) w_u32(&w, (uint32_t)p->t.shape[d]);
        w_floats(&w, p->t.data, p->t.size);
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
    const char *path;
} Reader;

static void corrupt(const Reader *r, const char *what) {
    qat_die("checkpoint %s is corrupt (%s at byte %zu)", r->path, what, r->pos);
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

typedef struct {
    char name[96];
    uint32_t group, ndim;
    int shape[QAT_MAX_DIMS];
    size_t size;
    const unsigned char *data;
} FileParam;

static const char *shape_str(int ndim, const int *shape, char *buf, size_t cap) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, cap - k, "[");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, i ? ", %d" : "%d", shape[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
    return buf;
}

int checkpoint_load(const char *path, const char *model_name, ParamList *params,
                    CheckpointMode mode) {
    FILE *f = fopen(path, "rb");
    if (!f) qat_die("cannot open checkpoint %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0) qat_die("cannot read checkpoint %s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) qat_die("cannot read checkpoint %s: %s", path, strerror(EISDIR));
    uint64_t fsize = (uint64_t)st.st_size;

    unsigned char head[CKPT_HEADER_SIZE];
    size_t got = fread(head, 1, sizeof head, f);
    if (ferror(f)) qat_die("cannot read checkpoint %s: %s", path, strerror(errno));
    size_t magic_n = got < 8 ? got : 8;
    if (memcmp(head, CKPT_MAGIC, magic_n) != 0)
        qat_die("checkpoint %s is not a QAT checkpoint (wrong magic)", path);
    if (got < CKPT_HEADER_SIZE)
        qat_die("checkpoint %s is truncated (read %zu bytes, the header alone is %u)", path, got,
                CKPT_HEADER_SIZE);
    uint32_t version = (uint32_t)head[8] | (uint32_t)head[9] << 8 | (uint32_t)head[10] << 16 |
                       (uint32_t)head[11] << 24;
    if (version != CKPT_VERSION)
        qat_die("checkpoint %s has format version %u; this build reads version %u", path, version,
                CKPT_VERSION);
    uint64_t total = le64(head + 12);
    if (total < CKPT_HEADER_SIZE + 12 + 8)
        qat_die("checkpoint %s is corrupt (recorded size %llu bytes is too small)", path,
                (unsigned long long)total);
    if (fsize < total)
        qat_die("checkpoint %s is truncated (read %llu of %llu bytes)", path,
                (unsigned long long)fsize, (unsigned long long)total);
    if (fsize > total)
        qat_die("checkpoint %s is corrupt (%llu bytes, but its header records %llu)", path,
                (unsigned long long)fsize, (unsigned long long)total);
    if (total > (uint64_t)SIZE_MAX) qat_die("checkpoint %s is too large for this machine", path);

    /* The size is the file's real size: safe to allocate. */
    size_t n = (size_t)total;
    unsigned char *buf = qat_malloc(n);
    memcpy(buf, head, CKPT_HEADER_SIZE);
    size_t rest = fread(buf + CKPT_HEADER_SIZE, 1, n - CKPT_HEADER_SIZE, f);
    if (ferror(f)) qat_die("cannot read checkpoint %s: %s", path, strerror(errno));
    fclose(f);
    if (rest != n - CKPT_HEADER_SIZE)
        qat_die("checkpoint %s is truncated (read %zu of %zu bytes)", path,
                rest + CKPT_HEADER_SIZE, n);
    uint64_t want = le64(buf + n - 8);
    uint64_t have = fnv1a(FNV_OFFSET, buf, n - 8);
    if (want != have)
        qat_die("checkpoint %s is corrupt (checksum mismatch: stored %016llx, computed %016llx)",
                path, (unsigned long long)want, (unsigned long long)have);

    Reader r = {buf, n - 8, CKPT_HEADER_SIZE, path};
    uint32_t mlen, tlen;
    const char *mname = r_str(&r, &mlen, CKPT_MAX_NAME, "model name");
    if (strlen(model_name) != mlen || memcmp(mname, model_name, mlen) != 0)
        qat_die("checkpoint %s holds model '%.*s', not '%s'", path, (int)mlen, mname, model_name);
    (void)r_str(&r, &tlen, UINT32_MAX, "meta text");
    uint32_t count = r_u32(&r, "parameter count");
    /* Each parameter takes at least 16 bytes: bound the count by the bytes left. */
    if (count > (r.len - r.pos) / 16) corrupt(&r, "parameter count");
    FileParam *fp = qat_calloc(count ? count : 1, sizeof *fp);
    for (uint32_t i = 0; i < count; i++) {
        FileParam *q = &fp[i];
        uint32_t nl;
        const char *nm = r_str(&r, &nl, sizeof q->name - 1, "parameter name");
        memcpy(q->name, nm, nl);
        q->name[nl] = '\0';
        if (strlen(q->name) != nl) corrupt(&r, "parameter name");
        q->group = r_u32(&r, "parameter group");
        if (q->group >= PARAM_GROUP_COUNT) corrupt(&r, "parameter group");
        q->ndim = r_u32(&r, "parameter rank");
        if (q->ndim < 1 || q->ndim > QAT_MAX_DIMS) corrupt(&r, "parameter rank");
        uint64_t size = 1;
        for (uint32_t d = 0; d < q->ndim; d++) {
            uint32_t s = r_u32(&r, "parameter shape");
            if (s > (uint32_t)INT32_MAX) corrupt(&r, "parameter shape");
            q->shape[d] = (int)s;
            uint64_t limit = (r.len - r.pos) / 4; /* floats that could still follow */
            if (s != 0 && size > limit / s) corrupt(&r, "parameter shape");
            size *= s;
        }
        if (size * 4 > r.len - r.pos) corrupt(&r, "parameter data");
        q->size = (size_t)size;
        q->data = buf + r.pos;
        r.pos += q->size * 4;
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(fp[j].name, q->name) == 0) corrupt(&r, "duplicate parameter name");
    }
    if (r.pos != r.len) corrupt(&r, "trailing bytes after the last parameter");

    /* Match by name, before touching any parameter. */
    char s1[96], s2[96];
    for (uint32_t i = 0; i < count; i++) {
        Param *p = param_list_find(params, fp[i].name);
        if (!p && mode == CKPT_ALLOW_MISSING_QUANT && fp[i].group == PARAM_GROUP_QUANT) continue;
        if (!p)
            qat_die("checkpoint %s: parameter '%s' (shape %s) is not in model '%s'", path,
                    fp[i].name, shape_str((int)fp[i].ndim, fp[i].shape, s1, sizeof s1),
                    model_name);
        int same = p->t.ndim == (int)fp[i].ndim;
        for (int d = 0; same && d < p->t.ndim; d++) same = p->t.shape[d] == fp[i].shape[d];
        if (!same)
            qat_die("checkpoint %s: parameter '%s' has shape %s, the model expects %s", path,
                    fp[i].name, shape_str((int)fp[i].ndim, fp[i].shape, s1, sizeof s1),
                    shape_str(p->t.ndim, p->t.shape, s2, sizeof s2));
    }
    for (int k = 0; k < params->n; k++) {
        const Param *p = params->items[k];
        int found = 0;
        for (uint32_t i = 0; i < count && !found; i++) found = strcmp(fp[i].name, p->name) == 0;
        if (found) continue;
        if (mode == CKPT_ALLOW_MISSING_QUANT && p->group == PARAM_GROUP_QUANT) continue;
        qat_die("checkpoint %s has no parameter '%s' (shape %s) of model '%s'", path, p->name,
                shape_str(p->t.ndim, p->t.shape, s1, sizeof s1), model_name);
    }

    int loaded = 0;
    for (int k = 0; k < params->n; k++) params->items[k]->loaded = 0;
    for (uint32_t i = 0; i < count; i++) {
        Param *p = param_list_find(params, fp[i].name);
        if (!p) continue; /* another method's quantizer parameter, skipped above */
        p->loaded = 1;
        if (host_is_le()) {
            memcpy(p->t.data, fp[i].data, fp[i].size * 4);
        } else {
            for (size_t j = 0; j < fp[i].size; j++) {
                const unsigned char *b = fp[i].data + 4 * j;
                uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                             (uint32_t)b[3] << 24;
                memcpy(&p->t.data[j], &u, 4);
            }
        }
        loaded++;
    }
    free(fp);
    free(buf);
    return loaded;
}
