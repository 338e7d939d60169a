#include "fixture.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fixture_die(const char *path, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fixture %s: ", path);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (regenerate with: /usr/bin/python3 scripts/gen_fixtures.py)\n");
    va_end(ap);
    exit(1);
}

typedef struct {
    const unsigned char *p;
    size_t left;
    const char *path;
} Cursor;

static const unsigned char *take(Cursor *c, size_t n, const char *what) {
    if (n > c->left) fixture_die(c->path, "truncated while reading %s", what);
    const unsigned char *p = c->p;
    c->p += n;
    c->left -= n;
    return p;
}

static uint32_t take_u32(Cursor *c, const char *what) {
    const unsigned char *b = take(c, 4, what);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

void fixture_load(Fixture *f, const char *path) {
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    FILE *fp = fopen(path, "rb");
    if (!fp) fixture_die(path, "cannot open (run the test from the tests/ folder)");
    if (fseek(fp, 0, SEEK_END) != 0) fixture_die(path, "cannot seek");
    long len = ftell(fp);
    if (len < 0 || fseek(fp, 0, SEEK_SET) != 0) fixture_die(path, "cannot seek");
    unsigned char *buf = malloc((size_t)len + 1);
    if (!buf) fixture_die(path, "out of memory");
    if (fread(buf, 1, (size_t)len, fp) != (size_t)len) fixture_die(path, "read error");
    fclose(fp);

    Cursor c = {buf, (size_t)len, f->path};
    if (memcmp(take(&c, 4, "magic"), "QFX1", 4) != 0) fixture_die(path, "bad magic (not a QFX1 file)");
    uint32_t count = take_u32(&c, "array count");
    if (count > 10000) fixture_die(path, "implausible array count %u", count);
    f->arrays = calloc(count ? count : 1, sizeof *f->arrays);
    if (!f->arrays) fixture_die(path, "out of memory");
    for (uint32_t i = 0; i < count; i++) {
        FixtureArray *a = &f->arrays[i];
        uint32_t nl = take_u32(&c, "name length");
        if (nl == 0 || nl > 255) fixture_die(path, "bad name length %u in array %u", nl, i);
        const unsigned char *nm = take(&c, nl, "name");
        a->name = malloc(nl + 1);
        if (!a->name) fixture_die(path, "out of memory");
        memcpy(a->name, nm, nl);
        a->name[nl] = '\0';
        uint32_t nd = take_u32(&c, "ndim");
        if (nd > FIXTURE_MAX_DIMS) fixture_die(path, "array '%s': ndim %u too large", a->name, nd);
        a->ndim = (int)nd;
        a->size = 1;
        for (uint32_t d = 0; d < nd; d++) {
            int32_t s = (int32_t)take_u32(&c, "shape");
            if (s < 0) fixture_die(path, "array '%s': negative dimension", a->name);
            a->shape[d] = s;
            a->size *= (size_t)s;
        }
        if (a->size > ((size_t)1 << 26)) fixture_die(path, "array '%s': implausible size", a->name);
        const unsigned char *raw = take(&c, a->size * 4, a->name);
        a->data = malloc(a->size ? a->size * sizeof(float) : sizeof(float));
        if (!a->data) fixture_die(path, "out of memory");
        for (size_t k = 0; k < a->size; k++) {
            const unsigned char *b = raw + 4 * k;
            uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
            memcpy(&a->data[k], &u, sizeof u);
        }
        f->n++;
    }
    if (c.left != 0) fixture_die(path, "%zu trailing bytes", c.left);
    free(buf);
}

void fixture_free(Fixture *f) {
    for (int i = 0; i < f->n; i++) {
        free(f->arrays[i].name);
        free(f->arrays[i].data);
    }
    free(f->arrays);
    memset(f, 0, sizeof *f);
}

const FixtureArray *fixture_find(const Fixture *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->arrays[i].name, name) == 0) return &f->arrays[i];
    return NULL;
}

const FixtureArray *fixture_get(const Fixture *f, const char *name) {
    const FixtureArray *a = fixture_find(f, name);
    if (a) return a;
    fixture_die(f->path, "no array named '%s'", name);
    return NULL; /* not reached */
}

float *fixture_data(const Fixture *f, const char *name, size_t expect_size) {
    const FixtureArray *a = fixture_get(f, name);
    if (expect_size && a->size != expect_size)
        fixture_die(f->path, "array '%s' has %zu values, expected %zu", name, a->size, expect_size);
    return a->data;
}

float fixture_scalar(const Fixture *f, const char *name) {
    const FixtureArray *a = fixture_get(f, name);
    if (a->size < 1) fixture_die(f->path, "array '%s' is empty", name);
    return a->data[0];
}

int fixture_int(const Fixture *f, const char *name) { return (int)fixture_scalar(f, name); }

int *fixture_ints(const Fixture *f, const char *name, size_t *n_out) {
    const FixtureArray *a = fixture_get(f, name);
    int *out = malloc(a->size ? a->size * sizeof(int) : sizeof(int));
    if (!out) fixture_die(f->path, "out of memory");
    for (size_t i = 0; i < a->size; i++) out[i] = (int)a->data[i];
    if (n_out) *n_out = a->size;
    return out;
}
