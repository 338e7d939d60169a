#include "data/mnist.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/error.h"
#include "data/fetch.h"

/* Reads bytes [got, n) of `what` into buf; `need` is its whole size (for the message). */
static void read_range(gzFile f, const char *path, unsigned char *buf, size_t got, size_t n, size_t need,
                       const char *what) {
    while (got < n) {
        unsigned chunk = (n - got) > (1u << 30) ? (1u << 30) : (unsigned)(n - got);
        int r = gzread(f, buf + got, chunk);
        if (r < 0) {
            int err;
            qat_die("%s: cannot read %s: %s", path, what, gzerror(f, &err));
        }
        if (r == 0) qat_die("%s is truncated: %s needs %zu bytes, the file has %zu", path, what, need, got);
        got += (size_t)r;
    }
}

static void read_exact(gzFile f, const char *path, void *buf, size_t n, const char *what) {
    read_range(f, path, buf, 0, n, n, what);
}

/* n bytes in a buffer that grows with the data read (gzip gives no size up front): a
 * header that declares more than the file holds ends in the truncation error, not in an
 * allocation of the declared size. */
static unsigned char *read_grow(gzFile f, const char *path, size_t n, const char *what) {
    size_t cap = n < ((size_t)1 << 24) ? n : (size_t)1 << 24, got = 0;
    unsigned char *buf = qat_malloc(cap);
    for (;;) {
        read_range(f, path, buf, got, cap, n, what);
        if (cap == n) return buf;
        got = cap;
        cap = n - cap < cap ? n : 2 * cap;
        buf = qat_realloc(buf, cap);
    }
}

static uint32_t read_be32(gzFile f, const char *path, const char *what) {
    unsigned char b[4];
    read_exact(f, path, b, 4, what);
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static gzFile open_idx(const char *path) {
    gzFile f = gzopen(path, "rb");
    if (!f) qat_die("cannot open %s", path);
    return f;
}

static void expect_end(gzFile f, const char *path) {
    char extra;
    if (gzread(f, &extra, 1) > 0) qat_die("%s has trailing bytes after the data its header declares", path);
}

void mnist_load(ImageSet *set, const char *images_path, const char *labels_path) {
    memset(set, 0, sizeof *set);
    gzFile fi = open_idx(images_path);
    uint32_t magic = read_be32(fi, images_path, "the header");
    if (magic != 0x00000803)
        qat_die("%s is not an IDX image file (magic 0x%08x, expected 0x00000803)", images_path, magic);
    uint32_t n = read_be32(fi, images_path, "the header");
    uint32_t rows = read_be32(fi, images_path, "the header");
    uint32_t cols = read_be32(fi, images_path, "the header");
    if (n == 0 || n > 10000000 || rows == 0 || rows > 4096 || cols == 0 || cols > 4096)
        qat_die("%s: implausible header (%u images of %ux%u)", images_path, n, rows, cols);
    size_t pix = (size_t)rows * cols, total = (size_t)n * pix;
    unsigned char *raw = read_grow(fi, images_path, total, "the pixel data");
    expect_end(fi, images_path);
    gzclose(fi);

    gzFile fl = open_idx(labels_path);
    magic = read_be32(fl, labels_path, "the header");
    if (magic != 0x00000801)
        qat_die("%s is not an IDX label file (magic 0x%08x, expected 0x00000801)", labels_path, magic);
    uint32_t nl = read_be32(fl, labels_path, "the header");
    if (nl != n) qat_die("%s holds %u labels but %s holds %u images", labels_path, nl, images_path, n);
    unsigned char *lab = qat_malloc(n);
    read_exact(fl, labels_path, lab, n, "the labels");
    expect_end(fl, labels_path);
    gzclose(fl);

    set->n = (int)n;
    set->rows = (int)rows;
    set->cols = (int)cols;
    set->images = qat_malloc(total * sizeof(float));
    set->labels = qat_malloc(n * sizeof(int));
    for (size_t i = 0; i < total; i++) set->images[i] = raw[i] / 255.0f;
    for (uint32_t i = 0; i < n; i++) {
        if (lab[i] > 9) qat_die("%s: label %u at index %u is outside 0..9", labels_path, lab[i], i);
        set->labels[i] = lab[i];
    }
    free(raw);
    free(lab);
}

void mnist_load_split(ImageSet *set, const char *split) {
    int train = strcmp(split, "train") == 0;
    if (!train && strcmp(split, "test") != 0) qat_die("unknown MNIST split '%s' (train or test)", split);
    char ip[1024], lp[1024];
    data_path(train ? "mnist/train-images-idx3-ubyte.gz" : "mnist/t10k-images-idx3-ubyte.gz", ip, sizeof ip);
    data_path(train ? "mnist/train-labels-idx1-ubyte.gz" : "mnist/t10k-labels-idx1-ubyte.gz", lp, sizeof lp);
    mnist_load(set, ip, lp);
}

void image_set_free(ImageSet *set) {
    free(set->images);
    free(set->labels);
    memset(set, 0, sizeof *set);
}
