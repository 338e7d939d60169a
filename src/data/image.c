#include "data/image.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image.h>
#include <stb_image_write.h>

#include "core/error.h"
#include "io/atomic_file.h"

void image_decode(Image8 *img, const unsigned char *data, size_t size, const char *name) {
    memset(img, 0, sizeof *img);
    if (size == 0) qat_die("%s: empty image file", name);
    if (size > INT_MAX) qat_die("%s: image file too large (%zu bytes)", name, size);
    int w, h, comp;
    if (!stbi_info_from_memory(data, (int)size, &w, &h, &comp))
        qat_die("%s: not a readable PNG or BMP image (%s)", name, stbi_failure_reason());
    int want = comp <= 2 ? 1 : 3; /* gray(+alpha) -> 1, RGB(A) -> 3 */
    unsigned char *px = stbi_load_from_memory(data, (int)size, &w, &h, &comp, want);
    if (!px) qat_die("%s: corrupt image (%s)", name, stbi_failure_reason());
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
