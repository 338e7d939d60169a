/* Decoding a PNG file in memory into 8-bit pixels with libpng (data/png_read.c).
 * Internal to data/: only files of data/ include it (scripts/check_layers.sh). */
#ifndef QAT_DATA_PNG_READ_H
#define QAT_DATA_PNG_READ_H

#include <stddef.h>

#include "data/image.h"

/* Gray (with or without alpha) -> 1 channel, RGB(A) and palettes -> 3. Dies, naming the
 * file, when it is damaged (libpng's reason) or has more than max_pixels pixels. */
void png_read_image8(Image8 *img, const unsigned char *data, size_t size, long long max_pixels, const char *name);

#endif
