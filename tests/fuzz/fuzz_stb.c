/* stb_image and stb_image_write, compiled from Debian's headers (the code of libstb0,
 * which the real build links) into the fuzz harnesses, with the sanitizers and coverage:
 * faults inside the decoder are then found and reported where they happen. Only the
 * library's own warnings are silenced; this file adds no code.
 *
 * Only stb's BMP decoder is reached: PNGs go to libpng (data/png_read.c), since stb_image
 * 2.27's PNG decoder computes NULL + 0 and memcpy(NULL, src, 0) on a PNG whose first IDAT
 * chunk is empty (stb_image.h:5130, 1663; reproducer
 * tests/fuzz/corpus/fuzz_image/stb-png-empty-idat.png). */
#pragma clang diagnostic ignored "-Wunused-function"
#pragma clang diagnostic ignored "-Wsign-compare"
#pragma clang diagnostic ignored "-Wunused-parameter"
#pragma clang diagnostic ignored "-Wimplicit-fallthrough"
#pragma clang diagnostic ignored "-Wmissing-field-initializers"
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image.h>
#include <stb_image_write.h>
