/* PNG decoding with libpng (Debian's libpng16), for files from users and archives: libpng
 * checks every chunk's CRC and the zlib stream, and reports a damaged file as an error.
 * The pixels are those stb_image gives for the same file: 16-bit samples keep their high
 * byte, palettes and 1/2/4-bit gray expand to 8 bits, alpha is dropped, no gamma. */
#include "data/png_read.h"

#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef struct {
    const unsigned char *data;
    size_t size, at;
    char message[256]; /* libpng's error */
} PngSource;

static void read_bytes(png_structp png, png_bytep out, size_t n) {
    PngSource *src = png_get_io_ptr(png);
    if (n > src->size - src->at) png_error(png, "the file ends early");
    memcpy(out, src->data + src->at, n);
    src->at += n;
}

static void on_error(png_structp png, png_const_charp msg) {
    PngSource *src = png_get_error_ptr(png);
    snprintf(src->message, sizeof src->message, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

void png_read_image8(Image8 *img, const unsigned char *data, size_t size, long long max_pixels,
                     const char *name) {
    PngSource src = {data, size, 0, ""};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, on_error, on_warning);
    if (!png) qat_die("%s: out of memory reading a PNG", name);
    png_infop info = png_create_info_struct(png);
    unsigned char *volatile px = NULL;
    png_bytep *volatile rows = NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        free(px);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        qat_die("%s: corrupt PNG (%s)", name, src.message[0] ? src.message : "out of memory");
    }
    png_set_read_fn(png, &src, read_bytes);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if ((long long)w * h > max_pixels) {
        png_destroy_read_struct(&png, &info, NULL);
        qat_die("%s: a %ux%u image is too large (at most %lld pixels)", name, (unsigned)w, (unsigned)h, max_pixels);
    }
    if (depth == 16) png_set_strip_16(png);
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (color & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int channels = png_get_channels(png, info);
    size_t stride = png_get_rowbytes(png, info);
    if ((channels != 1 && channels != 3) || stride != (size_t)w * channels)
        png_error(png, "unexpected pixel layout after conversion");
    px = malloc((size_t)h * stride);
    rows = malloc((size_t)h * sizeof *rows);
    if (!px || !rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rows[y] = px + (size_t)y * stride;
    png_read_image(png, rows);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    img->w = (int)w;
    img->h = (int)h;
    img->channels = channels;
    img->px = px;
}
