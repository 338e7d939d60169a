/* Decoding PNG (libpng, data/png_read.h) and BMP (stb_image from Debian's libstb-dev)
 * images into 8-bit pixels,
 * from a file or from memory (a tar entry). Grayscale files keep one channel, RGB(A)
 * files become three (alpha dropped). A corrupt or unsupported file (another format than
 * PNG or BMP, a truncated BMP, no pixels, more than 2^26 pixels) is a clear error that
 * names it. */
#ifndef QAT_DATA_IMAGE_H
#define QAT_DATA_IMAGE_H

#include <stddef.h>

typedef struct {
    int w, h;
    int channels;      /* 1 (gray) or 3 (RGB) */
    unsigned char *px; /* [h][w][channels], row-major, top row first */
} Image8;

/* name: shown in error messages (the file, or "archive.tar.gz:member.png"). */
void image_decode(Image8 *img, const unsigned char *data, size_t size, const char *name);
void image_load(Image8 *img, const char *path);
void image_free(Image8 *img);

/* Writes an 8-bit grayscale PNG (for a look at super-resolved outputs); dies on failure. */
void image_write_png_gray(const char *path, const unsigned char *px, int w, int h);

#endif
