/* stb_image and stb_image_write, compiled from Debian's headers (the code of libstb0,
 * which the real build links) into the fuzz harnesses, with the sanitizers and coverage:
 * faults inside the decoder are then found and reported where they happen. Only the
 * library's own warnings are silenced; this file adds no code.
 *
 * Known and tolerated (CMakeLists.txt compiles this file without UBSan's pointer-overflow
 * and nonnull-attribute checks): stb_image.h:5130 (v2.27, stbi__parse_png_file) calls
 * stbi__getn(s, z->idata + ioff, 0) with z->idata NULL when the first IDAT chunk has
 * length 0, i.e. NULL + 0, and stbi__getn then memcpy(NULL, ..., 0) (line 1663): undefined
 * in C, harmless in practice (nothing is copied). Reproducer:
 * tests/fuzz/corpus/fuzz_image/stb-png-empty-idat.png. */
#pragma clang diagnostic ignored "-Wunused-function"
#pragma clang diagnostic ignored "-Wsign-compare"
#pragma clang diagnostic ignored "-Wunused-parameter"
#pragma clang diagnostic ignored "-Wimplicit-fallthrough"
#pragma clang diagnostic ignored "-Wmissing-field-initializers"
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image.h>
#include <stb_image_write.h>
