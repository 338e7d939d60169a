/* MNIST IDX reader (data/mnist.h) on small files this test writes: a plain and a gzip
 * round trip, and the errors (each in a forked child, since qat_die() exits), among them
 * a header that declares far more pixels than the file holds (found by
 * tests/fuzz/fuzz_idx.c: it was allocated in full before reading, an out-of-memory error
 * instead of the truncation message). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "check.h"
#include "data/mnist.h"

static char dir[64];

/* Each call gets its own buffer (the test makes fewer than 32 files). */
static const char *path_of(const char *name) {
    static char buf[32][256];
    static int next;
    char *p = buf[next++ & 31];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

static size_t be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
    return 4;
}

/* An IDX image file: n images of rows x cols, pixel i = i * 37 mod 256; `keep` bytes of
 * pixels written (all when keep < 0). */
static const char *write_images(const char *name, uint32_t n, uint32_t rows, uint32_t cols, long keep, int gz) {
    size_t total = (size_t)n * rows * cols, len = keep < 0 ? total : (size_t)keep;
    unsigned char *b = malloc(16 + len);
    size_t o = be32(b, 0x803);
    o += be32(b + o, n), o += be32(b + o, rows), o += be32(b + o, cols);
    for (size_t i = 0; i < len; i++) b[o + i] = (unsigned char)(i * 37);
    const char *p = path_of(name);
    if (gz) {
        gzFile f = gzopen(p, "wb");
        gzwrite(f, b, (unsigned)(o + len));
        gzclose(f);
    } else {
        check_write_file(p, b, o + len);
    }
    free(b);
    return p;
}

static const char *write_labels(const char *name, uint32_t n) {
    unsigned char b[64];
    size_t o = be32(b, 0x801);
    o += be32(b + o, n);
    for (uint32_t i = 0; i < n; i++) b[o++] = (unsigned char)(i % 10);
    const char *p = path_of(name);
    check_write_file(p, b, o);
    return p;
}

typedef struct {
    const char *images, *labels;
} Paths;

static void load(const void *ctx) {
    const Paths *p = ctx;
    ImageSet s;
    mnist_load(&s, p->images, p->labels);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/qat_mnist_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    const char *labels = write_labels("labels", 3);
    for (int gz = 0; gz < 2; gz++) {
        ImageSet s;
        mnist_load(&s, write_images(gz ? "images.gz" : "images", 3, 2, 5, -1, gz), labels);
        CHECK(s.n == 3 && s.rows == 2 && s.cols == 5);
        CHECK(s.labels[0] == 0 && s.labels[2] == 2);
        CHECK(s.images[1] == 37 / 255.0f && s.images[29] == (unsigned char)(29 * 37) / 255.0f);
        image_set_free(&s);
    }
    /* 10M images of 4096 x 4096 declared, 100 bytes of pixels present: the truncation
     * error naming the file, not an attempt to allocate 1.6e14 bytes. */
    Paths p = {write_images("huge", 10000000, 4096, 4096, 100, 0), labels};
    CHECK_DIES(load, &p, p.images, "is truncated", "the file has 100");
    p.images = write_images("huge.gz", 10000000, 4096, 4096, 100, 1);
    CHECK_DIES(load, &p, p.images, "is truncated");
    /* more pixels than one growth step (16 MiB) are read whole */
    ImageSet s;
    p = (Paths){write_images("big", 3, 2400, 2400, -1, 0), labels};
    mnist_load(&s, p.images, p.labels);
    CHECK(s.n == 3 && s.images[3 * 2400 * 2400 - 1] == (unsigned char)((size_t)(3 * 2400 * 2400 - 1) * 37) / 255.0f);
    image_set_free(&s);
    p.images = write_images("big-cut", 3, 2400, 2400, 3 * 2400 * 2400 - 1, 0);
    CHECK_DIES(load, &p, p.images, "is truncated", "needs 17280000 bytes, the file has 17279999");
    /* other malformed files */
    p = (Paths){write_images("ok", 3, 2, 5, -1, 0), write_labels("two-labels", 2)};
    CHECK_DIES(load, &p, p.labels, "holds 2 labels but");
    p = (Paths){labels, labels};
    CHECK_DIES(load, &p, labels, "is not an IDX image file");
    p = (Paths){write_images("zero", 0, 2, 5, -1, 0), labels};
    CHECK_DIES(load, &p, p.images, "implausible header");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return check_done("mnist");
}
