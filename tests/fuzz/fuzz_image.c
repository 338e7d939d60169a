/* libFuzzer harness: PNG/BMP decoding (data/image.c, image_decode, on stb_image), then
 * the super-resolution preparation of the decoded image (data/sr.c: Y plane, modcrop,
 * bicubic LR, patches), as the SR loaders do for every image of a set.
 *
 * The input is the image file. stb_image is compiled into the harness from Debian's
 * header (fuzz_stb.c) so that ASan and UBSan see inside the decoder too.
 *
 * Checked: a rejected image dies naming it; a decoded one has a positive size and 1 or
 * 3 channels, and every pixel is read (ASan checks the buffer's size); a small one goes
 * through sr_set_add, sr_patches_index, sr_patch_get under all 8 transforms and
 * sr_bicubic_up, whose outputs stay finite. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/image.h"
#include "data/sr.h"
#include "fuzz_common.h"

#define NAME "fuzz/input.png"

typedef struct {
    const uint8_t *data;
    size_t size;
    Image8 img;
} DecodeCtx;

static void decode(void *p) {
    DecodeCtx *c = p;
    image_decode(&c->img, c->data, c->size, NAME);
}

typedef struct {
    const Image8 *img;
    int scale;
} SrCtx;

static void prepare(void *p) {
    SrCtx *c = p;
    SrSet s;
    sr_set_init(&s, c->scale, c->img->channels == 1);
    sr_set_add(&s, c->img, NAME);
    FUZZ_CHECK(s.n == 1);
    const SrImage *im = &s.img[0];
    FUZZ_CHECK(im->h % c->scale == 0 && im->w % c->scale == 0 && im->h > 0 && im->w > 0);
    for (int i = 0; i < (im->h / c->scale) * (im->w / c->scale); i++) FUZZ_CHECK(isfinite(im->lr[i]));
    SrPatches pt;
    int size = 4;
    sr_patches_index(&pt, &s, size, 3);
    if (pt.n > 0) {
        float lr[16], hr[16 * 16 * 16];
        int hs = size * c->scale;
        for (int t = 0; t < 8; t++) {
            sr_patch_get(&s, &pt.p[t % 2 ? pt.n - 1 : 0], size, t, lr, hr);
            for (int i = 0; i < hs * hs; i++) FUZZ_CHECK(hr[i] >= 0.0f && hr[i] <= 1.0f);
        }
    }
    sr_patches_free(&pt);
    float *up = malloc((size_t)im->h * im->w * sizeof *up);
    FUZZ_CHECK(up != NULL);
    sr_bicubic_up(&s, im, up);
    for (int i = 0; i < im->h * im->w; i++) FUZZ_CHECK(isfinite(up[i]));
    free(up);
    sr_set_free(&s);
}

static void run(const uint8_t *data, size_t size) {
    DecodeCtx c = {data, size, {0}};
    if (fuzz_call(decode, &c)) {
        FUZZ_EXPECT_MESSAGE(NAME);
        return;
    }
    const Image8 *img = &c.img;
    FUZZ_CHECK(img->w > 0 && img->h > 0 && (img->channels == 1 || img->channels == 3));
    unsigned sum = 0;
    size_t n = (size_t)img->w * img->h * img->channels;
    for (size_t i = 0; i < n; i++) sum += img->px[i];
    (void)sum;
    /* The SR steps cost O(pixels): only on small images, to keep inputs fast. */
    if ((size_t)img->w * img->h <= 128 * 128) {
        SrCtx s = {img, 2 + (int)(size % 3)};
        if (fuzz_call(prepare, &s)) FUZZ_EXPECT_MESSAGE(NAME);
    }
    image_free(&c.img);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_init();
    /* a 4x4 24-bit BMP */
    static uint8_t bmp[54 + 4 * 12] = {'B', 'M', 54 + 48, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0,
                                       4, 0, 0, 0, 4, 0, 0, 0, 1, 0, 24, 0, 0, 0, 0, 0, 48, 0, 0, 0};
    for (int i = 54; i < (int)sizeof bmp; i++) bmp[i] = (uint8_t)(i * 37);
    run(bmp, sizeof bmp);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    run(data, size);
    return 0;
}
