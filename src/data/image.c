#include "data/image.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image.h>
#include <stb_image_write.h>

#include "core/error.h"
#include "data/png_read.h"
#include "io/atomic_file.h"

/* 8192 x 8192: far above any SR image; both decoders allocate the whole image from the
 * header's size before they read a pixel. (The fuzz build lowers it, so that every input
 * decodes in bounded time: a 16 KiB PNG may hold 16 million pixels.) */
#ifndef IMAGE_MAX_PIXELS
#define IMAGE_MAX_PIXELS ((long long)1 << 26)
#endif

static unsigned le16(const unsigned char *p) { return p[0] | (unsigned)p[1] << 8; }
static unsigned long le32(const unsigned char *p) { return le16(p) | (unsigned long)le16(p + 2) << 16; }

/* stb_image reads past the end of a BMP as zeros, without an error: a truncated BMP would
 * decode as an image with black rows (and a tiny file can declare a huge one). The
 * uncompressed rows stb reads must all be in the file. */
static void check_bmp_size(const unsigned char *data, size_t size, int w, int h, const char *name) {
    if (size < 30) return; /* too short for stb_image's header check */
    unsigned long off = le32(data + 10), hsz = le32(data + 14);
    unsigned bpp = hsz == 12 ? le16(data + 24) : le16(data + 28); /* OS/2 core header or later */
    unsigned long long row = ((unsigned long long)w * bpp + 31) / 32 * 4;
    unsigned long long need = off + row * (unsigned long long)h;
    if (need > size)
        qat_die("%s: truncated BMP (%dx%d at %u bits per pixel needs %llu bytes, the file has %zu)", name, w, h,
                bpp, need, size);
}

/* Only the two formats of the data sets are read: PNG with libpng, BMP with stb_image,
 * which would also decode JPEG, GIF, PSD, PIC, PNM, HDR and TGA: more decoders for a bad
 * file to reach, and TGA has no signature, so many a damaged file parses as one (a
 * 158-byte "TGA" found by fuzzing expands to 200 MB in 12 s). stb_image's PNG decoder is
 * not used: fuzzing found undefined behaviour in it (NULL + 0 on an empty first IDAT). */
static int png_or_bmp(const unsigned char *data, size_t size) {
    return (size >= 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8)) || (size >= 2 && data[0] == 'B' && data[1] == 'M');
}

void image_decode(Image8 *img, const unsigned char *data, size_t size, const char *name) {
    memset(img, 0, sizeof *img);
    if (size == 0) qat_die("%s: empty image file", name);
    if (size > INT_MAX) qat_die("%s: image file too large (%zu bytes)", name, size);
    if (!png_or_bmp(data, size)) qat_die("%s: not a readable PNG or BMP image (no PNG or BMP signature)", name);
    if (data[0] != 'B') {
        png_read_image8(img, data, size, IMAGE_MAX_PIXELS, name);
        return;
    }
    int w, h, comp;
    if (!stbi_info_from_memory(data, (int)size, &w, &h, &comp))
        qat_die("%s: not a readable PNG or BMP image (%s)", name, stbi_failure_reason());
    if (h < 0 && h > INT_MIN) h = -h; /* stbi_info: a top-down BMP's height is negative */
    if (w <= 0 || h <= 0) qat_die("%s: a %dx%d image has no pixels", name, w, h); /* stb takes a BMP of height 0 */
    if ((long long)w * h > IMAGE_MAX_PIXELS)
        qat_die("%s: a %dx%d image is too large (at most %lld pixels)", name, w, h, IMAGE_MAX_PIXELS);
    check_bmp_size(data, size, w, h, name);
    int want = comp <= 2 ? 1 : 3; /* gray -> 1, RGB(A) -> 3 */
    unsigned char *px = stbi_load_from_memory(data, (int)size, &w, &h, &comp, want);
    if (!px) qat_die("%s: corrupt BMP (%s)", name, stbi_failure_reason());
    img->w = w;
    img->h = h;
    img->channels = want;
    /* Our own copy, so image_free() is plain free() whatever allocator stb uses. */
    size_t n = (size_t)w * h * want;
    img->px = qat_malloc(n);
    memcpy(img->px, px, n);
    stbi_image_free(px);
}

void image_load(Image8 *img, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) qat_die("cannot open image %s", path);
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            buf = qat_realloc(buf, cap);
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) qat_die("cannot read image %s", path);
    image_decode(img, buf, len, path);
    free(buf);
}

void image_free(Image8 *img) {
    free(img->px);
    memset(img, 0, sizeof *img);
}

static void write_chunk(void *ctx, void *data, int size) {
    fwrite(data, 1, (size_t)size, (FILE *)ctx);
}

void image_write_png_gray(const char *path, const unsigned char *px, int w, int h) {
    AtomicFile af;
    FILE *f = atomic_file_open(&af, path);
    if (!stbi_write_png_to_func(write_chunk, f, w, h, 1, px, w)) {
        atomic_file_abort(&af);
        qat_die("cannot encode %s as PNG", path);
    }
    atomic_file_commit(&af);
}
