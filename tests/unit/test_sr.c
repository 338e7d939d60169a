/* The super-resolution pipeline (data/sr.h, data/image.h, metrics/psnr.h):
 *  - rgb2ycbcr luma: docs/METHODS.md 8.4 values and scripts/gen_fixtures_sr.py's;
 *  - bicubic imresize against the Python re-implementation of MATLAB's imresize.m
 *    (tests/fixtures/sr_imresize.bin), plus properties that need no reference (a ramp's
 *    interior is reproduced exactly, a constant stays constant);
 *  - PSNR hand values; patches (count, skip, dihedral alignment of LR and HR); the cache
 *    (round trip, stale key, truncation); decoding (PNG round trip, BMP orientation and
 *    channel order); clear errors for a 1x1 image and a corrupt PNG;
 *  - malformed files the fuzz harnesses found: a truncated, a flat and a huge BMP (and a
 *    top-down one that must still decode), a TGA (stb decodes it, qat takes PNG and BMP
 *    only), a cache declaring a huge image, an archive
 *    without images or with an image below the scale;
 *  - on the real data: the bicubic baselines every SR paper prints (Set5 x3 30.39 dB,
 *    Set14 27.54 with the grayscale image taken as Y, BSD100 27.21), +- 0.05 dB. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stb_image_write.h>

#include "check.h"
#include "data/fetch.h"
#include "data/image.h"
#include "data/sr.h"
#include "fixture.h"
#include "metrics/psnr.h"

static void test_ycbcr(void) {
    CHECK_CLOSE(sr_rgb_to_y(255, 0, 0), 81.481, 1e-12);
    CHECK_CLOSE(sr_rgb_to_y(0, 255, 0), 144.553, 1e-12);
    CHECK_CLOSE(sr_rgb_to_y(0, 0, 255), 40.966, 1e-12);
    CHECK_CLOSE(sr_rgb_to_y(255, 255, 255), 235.0, 1e-12);
    CHECK_CLOSE(sr_rgb_to_y(0, 0, 0), 16.0, 1e-12);
    CHECK_CLOSE(sr_rgb_to_y(128, 64, 32), 84.2662, 1e-6);
    Fixture f;
    fixture_load(&f, "fixtures/sr_ycbcr.bin");
    const FixtureArray *rgb = fixture_get(&f, "rgb");
    float *y = fixture_data(&f, "y", (size_t)rgb->shape[0]);
    for (int i = 0; i < rgb->shape[0]; i++)
        CHECK_CLOSE(sr_rgb_to_y(rgb->data[3 * i], rgb->data[3 * i + 1], rgb->data[3 * i + 2]), y[i], 1e-6);
    fixture_free(&f);

    /* 8-bit Y: rounded; grayscale as R = G = B, or as Y itself. */
    unsigned char px[] = {128, 64, 32, 255, 255, 255, 0, 0, 0, 17, 200, 99};
    Image8 rgbimg = {4, 1, 3, px}, gray = {4, 1, 1, (unsigned char[]){0, 128, 255, 7}};
    unsigned char out[4];
    sr_image_y8(&rgbimg, 0, out);
    CHECK(out[0] == 84 && out[1] == 235 && out[2] == 16 && out[3] == (unsigned char)floor(sr_rgb_to_y(17, 200, 99) + 0.5));
    sr_image_y8(&gray, 0, out);
    CHECK(out[0] == 16 && out[1] == 126 && out[2] == 235 && out[3] == 22); /* 16 + 219 v / 255 */
    sr_image_y8(&gray, 1, out);
    CHECK(out[0] == 0 && out[1] == 128 && out[2] == 255 && out[3] == 7);
}

static void test_imresize_fixture(void) {
    Fixture f;
    fixture_load(&f, "fixtures/sr_imresize.bin");
    const char *cases[] = {"down3", "up3", "down2", "odd", "ramp"};
    for (int c = 0; c < 5; c++) {
        char key[64];
        snprintf(key, sizeof key, "%s_in", cases[c]);
        const FixtureArray *in = fixture_get(&f, key);
        snprintf(key, sizeof key, "%s_out", cases[c]);
        const FixtureArray *want = fixture_get(&f, key);
        snprintf(key, sizeof key, "%s_scale", cases[c]);
        double scale = fixture_scalar(&f, key);
        /* the fixture's scale is float32: 1/3 -> recover the exact factor */
        if (scale < 1.0) scale = 1.0 / floor(1.0 / scale + 0.5);
        int h = in->shape[0], w = in->shape[1];
        int oh = sr_resize_len(h, scale), ow = sr_resize_len(w, scale);
        CHECK(oh == want->shape[0] && ow == want->shape[1]);
        if (oh != want->shape[0] || ow != want->shape[1]) continue;
        double *a = malloc(sizeof(double) * h * w), *o = malloc(sizeof(double) * oh * ow);
        for (int i = 0; i < h * w; i++) a[i] = in->data[i];
        sr_imresize(a, h, w, scale, oh, ow, o);
        float *of = malloc(sizeof(float) * oh * ow);
        for (int i = 0; i < oh * ow; i++) of[i] = (float)o[i];
        snprintf(key, sizeof key, "imresize %s against MATLAB's algorithm", cases[c]);
        CHECK_ARRAY(of, want->data, (size_t)oh * ow, 1e-6, key);
        free(a);
        free(o);
        free(of);
    }
    fixture_free(&f);
}

static void test_imresize_properties(void) {
    /* A linear ramp: the interior of a x1/3 downscale samples it at 3i + 1 exactly (the
     * kernel reproduces linear functions; LR pixel i covers HR pixels 3i..3i+2). */
    enum { H = 30, W = 33 };
    double a[H * W], o[10 * 11];
    for (int i = 0; i < H; i++)
        for (int j = 0; j < W; j++) a[i * W + j] = 0.25 * i - 0.5 * j + 3.0;
    sr_imresize(a, H, W, 1.0 / 3, 10, 11, o);
    double worst = 0.0;
    for (int i = 2; i < 8; i++) /* the kernel reaches 6 HR pixels: 2 LR pixels from the edge */
        for (int j = 2; j < 9; j++) worst = fmax(worst, fabs(o[i * 11 + j] - (0.25 * (3 * i + 1) - 0.5 * (3 * j + 1) + 3.0)));
    CHECK(worst < 1e-12);
    /* A constant stays constant (normalised weights, mirrored borders), down and up. */
    double c[7 * 5], cd[3 * 2], cu[21 * 15];
    for (int i = 0; i < 35; i++) c[i] = 0.7;
    sr_imresize(c, 7, 5, 1.0 / 3, 3, 2, cd);
    sr_imresize(c, 7, 5, 3.0, 21, 15, cu);
    worst = 0.0;
    for (int i = 0; i < 6; i++) worst = fmax(worst, fabs(cd[i] - 0.7));
    for (int i = 0; i < 21 * 15; i++) worst = fmax(worst, fabs(cu[i] - 0.7));
    CHECK(worst < 1e-12);
    CHECK(sr_resize_len(510, 1.0 / 3) == 170 && sr_resize_len(7, 1.0 / 3) == 3 && sr_resize_len(4, 3.0) == 12);
}

static void test_psnr(void) {
    /* docs/METHODS.md 8.4: HR [[100,110],[120,130]], SR [[102,108],[120,133]] -> MSE 4.25. */
    unsigned char hr[4] = {100, 110, 120, 130};
    float sr[4] = {102 / 255.0f, 108 / 255.0f, 120 / 255.0f, 133 / 255.0f};
    CHECK_CLOSE(psnr_y(sr, hr, 2, 2, 0, 1), 41.8469, 1e-5);
    CHECK_CLOSE(psnr_y(sr, hr, 2, 2, 0, 0), 41.8469, 1e-5);
    /* Clipping and rounding: 1.3 -> 255, -0.2 -> 0, 100.4/255 -> 100, 100.6/255 -> 101. */
    unsigned char hr2[4] = {255, 0, 100, 100};
    float sr2[4] = {1.3f, -0.2f, 100.4f / 255, 100.6f / 255};
    CHECK_CLOSE(psnr_y(sr2, hr2, 2, 2, 0, 1), 10 * log10(255.0 * 255.0 / 0.25), 1e-9);
    CHECK_CLOSE(psnr_y(sr2, hr2, 2, 2, 0, 0), 10 * log10(255.0 * 255.0 / ((0.16 + 0.36) / 4)), 1e-4);
    /* The border is cut: only the centre pixel of a 3x3 counts. */
    unsigned char hr3[9] = {0, 0, 0, 0, 50, 0, 0, 0, 0};
    float sr3[9] = {1, 1, 1, 1, 52 / 255.0f, 1, 1, 1, 1};
    CHECK_CLOSE(psnr_y(sr3, hr3, 3, 3, 1, 1), 10 * log10(255.0 * 255.0 / 4.0), 1e-9);
    float exact[4] = {100 / 255.0f, 110 / 255.0f, 120 / 255.0f, 130 / 255.0f};
    CHECK(isinf(psnr_y(exact, hr, 2, 2, 0, 1))); /* identical after rounding */
}

/* A synthetic image whose gray values encode the position. */
static Image8 make_gray(int w, int h) {
    Image8 im = {w, h, 1, malloc((size_t)w * h)};
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) im.px[i * w + j] = (unsigned char)((i * 7 + j * 13 + (i * j) % 11) & 255);
    return im;
}

static void test_patches(void) {
    SrSet s;
    sr_set_init(&s, 3, 1);
    Image8 a = make_gray(80, 62), b = make_gray(40, 90), c = make_gray(50, 50);
    sr_set_add(&s, &a, "a"); /* 78x60 HR, LR 26x20 */
    sr_set_add(&s, &b, "b"); /* 39x90, LR 13x30: narrower than 17 -> skipped */
    sr_set_add(&s, &c, "c"); /* 48x48, LR 16x16 -> skipped */
    CHECK(s.n == 3 && s.img[0].w == 78 && s.img[0].h == 60 && s.img[1].w == 39 && s.img[1].h == 90);
    /* modcrop keeps the top-left corner */
    CHECK(s.img[0].hr[61 * 0 + 5] == a.px[5] && s.img[0].hr[59 * 78 + 77] == a.px[59 * 80 + 77]);
    SrPatches pt;
    sr_patches_index(&pt, &s, 17, 7);
    /* LR 26 wide: x = 0, 7 (14 + 17 > 26); 20 high: y = 0 */
    CHECK(pt.n == 2 && pt.skipped == 2);
    CHECK(pt.p[1].img == 0 && pt.p[1].x == 7 && pt.p[1].y == 0);
    sr_patches_free(&pt);
    sr_patches_index(&pt, &s, 5, 3);
    CHECK(pt.skipped == 0 && pt.n == 8 * 6 + 3 * 9 + 4 * 4);

    /* Dihedral transforms: t = 0 is a plain copy; each t maps LR and HR alike (the HR
     * block of LR pixel (i, j) moves with it); the 8 transforms differ. */
    enum { P = 5, HP = 15 };
    float lr[8][P * P], hr[8][HP * HP];
    SrPatch p = pt.p[pt.n - 1];
    for (int t = 0; t < 8; t++) sr_patch_get(&s, &p, P, t, lr[t], hr[t]);
    const SrImage *im = &s.img[p.img];
    int ok = 1;
    for (int i = 0; i < P; i++)
        for (int j = 0; j < P; j++) ok &= lr[0][i * P + j] == im->lr[(p.y + i) * (im->w / 3) + p.x + j];
    for (int i = 0; i < HP; i++)
        for (int j = 0; j < HP; j++) ok &= hr[0][i * HP + j] == im->hr[(p.y * 3 + i) * im->w + p.x * 3 + j] / 255.0f;
    CHECK(ok);
    int aligned = 1, distinct = 1;
    for (int t = 0; t < 8; t++) {
        /* Find where LR pixel (1, 2) went; its HR block's centre must go to the block's centre. */
        for (int i = 0; i < P; i++)
            for (int j = 0; j < P; j++) {
                int si = (t & 1) ? j : i, sj = (t & 1) ? i : j;
                if (t & 2) sj = P - 1 - sj;
                if (t & 4) si = P - 1 - si;
                aligned &= lr[t][i * P + j] == lr[0][si * P + sj];
                aligned &= hr[t][(3 * i + 1) * HP + 3 * j + 1] == hr[0][(3 * si + 1) * HP + 3 * sj + 1];
            }
        for (int u = 0; u < t; u++) distinct &= memcmp(hr[t], hr[u], sizeof hr[t]) != 0;
    }
    CHECK(aligned);
    CHECK(distinct);
    sr_patches_free(&pt);

    /* Cache: round trip, another key, truncation, a damaged name. */
    char dir[] = "/tmp/qat_sr_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], cmd[512];
    snprintf(path, sizeof path, "%s/sub/set.bin", dir);
    sr_set_cache_save(&s, path, 42);
    SrSet r;
    sr_set_init(&r, 3, 1);
    CHECK(sr_set_cache_load(&r, path, 42) == 1);
    int same = r.n == s.n;
    for (int i = 0; same && i < s.n; i++)
        same = r.img[i].h == s.img[i].h && r.img[i].w == s.img[i].w && !strcmp(r.img[i].name, s.img[i].name) &&
               !memcmp(r.img[i].hr, s.img[i].hr, (size_t)s.img[i].h * s.img[i].w) &&
               !memcmp(r.img[i].lr, s.img[i].lr, sizeof(float) * (s.img[i].h / 3) * (s.img[i].w / 3));
    CHECK(same);
    sr_set_free(&r);
    sr_set_init(&r, 3, 1);
    CHECK(sr_set_cache_load(&r, path, 43) == 0 && r.n == 0);
    sr_set_free(&r);
    sr_set_init(&r, 3, 0); /* other gray handling: another set */
    CHECK(sr_set_cache_load(&r, path, 42) == 0 && r.n == 0);
    sr_set_free(&r);
    snprintf(cmd, sizeof cmd, "truncate -s -100 %s", path);
    CHECK(system(cmd) == 0);
    sr_set_init(&r, 3, 1);
    CHECK(sr_set_cache_load(&r, path, 42) == 0 && r.n == 0);
    sr_set_free(&r);
    /* A NUL inside an image name (found by tests/fuzz/fuzz_sr.c: the name read back
     * shorter than stored): the cache reads as damaged. Byte 36: the first name's first. */
    sr_set_cache_save(&s, path, 42);
    snprintf(cmd, sizeof cmd, "printf '\\000' | dd of=%s bs=1 seek=36 conv=notrunc 2>/dev/null", path);
    CHECK(system(cmd) == 0);
    sr_set_init(&r, 3, 1);
    CHECK(sr_set_cache_load(&r, path, 42) == 0 && r.n == 0);
    sr_set_free(&r);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    sr_set_free(&s);
    free(a.px);
    free(b.px);
    free(c.px);
}

static void add_1x1(const void *name) {
    SrSet s;
    sr_set_init(&s, 3, 0);
    Image8 im = {1, 1, 3, (unsigned char[]){1, 2, 3}};
    sr_set_add(&s, &im, name);
}

static void load_image(const void *path) {
    Image8 im;
    image_load(&im, path);
}

/* A BMP header (BITMAPINFOHEADER, 24 bits) for w x h; rows follow at byte 54. */
static void bmp_header(unsigned char *b, int w, int h, size_t file_size) {
    memset(b, 0, 54);
    b[0] = 'B', b[1] = 'M';
    for (int i = 0; i < 4; i++) {
        b[2 + i] = (unsigned char)(file_size >> 8 * i);
        b[18 + i] = (unsigned char)((unsigned)w >> 8 * i);
        b[22 + i] = (unsigned char)((unsigned)h >> 8 * i);
    }
    b[10] = 54, b[14] = 40, b[26] = 1, b[28] = 24;
}

static void test_decode(void) {
    char dir[] = "/tmp/qat_img_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    /* PNG round trip (gray). */
    unsigned char px[6] = {0, 50, 100, 150, 200, 255};
    snprintf(path, sizeof path, "%s/g.png", dir);
    image_write_png_gray(path, px, 3, 2);
    Image8 im;
    image_load(&im, path);
    CHECK(im.w == 3 && im.h == 2 && im.channels == 1 && !memcmp(im.px, px, 6));
    image_free(&im);
    /* A 2x2 24-bit BMP as T91 stores it: bottom-up rows, BGR, rows padded to 4 bytes. */
    unsigned char bmp[54 + 16];
    bmp_header(bmp, 2, 2, sizeof bmp); /* height > 0: bottom-up */
    /* bottom row: (R 10, G 20, B 30), (40, 50, 60); top row: (70, 80, 90), (100, 110, 120) */
    unsigned char rows[16] = {30, 20, 10, 60, 50, 40, 0, 0, 90, 80, 70, 120, 110, 100, 0, 0};
    memcpy(bmp + 54, rows, 16);
    image_decode(&im, bmp, sizeof bmp, "t.bmp");
    unsigned char want[12] = {70, 80, 90, 100, 110, 120, 10, 20, 30, 40, 50, 60};
    CHECK(im.w == 2 && im.h == 2 && im.channels == 3 && !memcmp(im.px, want, 12));
    image_free(&im);
    /* The same rows in a top-down BMP (negative height): now the first is the top one. */
    bmp_header(bmp, 2, -2, sizeof bmp);
    image_decode(&im, bmp, sizeof bmp, "top-down.bmp");
    CHECK(im.w == 2 && im.h == 2 && !memcmp(im.px, want + 6, 6) && !memcmp(im.px + 6, want, 6));
    image_free(&im);
    /* A corrupt PNG (cut short) and a non-image: errors naming the file. */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "head -c 40 %s/g.png > %s/cut.png && printf 'not an image' > %s/x.png", dir, dir, dir);
    CHECK(system(cmd) == 0);
    snprintf(path, sizeof path, "%s/cut.png", dir);
    CHECK_DIES(load_image, path, path, "corrupt PNG (");
    /* libpng checks each chunk's CRC (stb_image did not): a changed byte of the header's CRC is an error. */
    snprintf(cmd, sizeof cmd, "cp %s/g.png %s/crc.png && printf '\\377' | dd of=%s/crc.png bs=1 seek=30 conv=notrunc 2>/dev/null",
             dir, dir, dir);
    CHECK(system(cmd) == 0);
    snprintf(path, sizeof path, "%s/crc.png", dir);
    CHECK_DIES(load_image, path, path, "corrupt PNG (", "CRC");
    /* Alpha is dropped: RGBA -> RGB, gray + alpha -> gray, as before with stb_image. */
    const unsigned char rgba[8] = {10, 20, 30, 40, 50, 60, 70, 80}, ga[4] = {100, 7, 200, 9};
    snprintf(path, sizeof path, "%s/rgba.png", dir);
    CHECK(stbi_write_png(path, 2, 1, 4, rgba, 8));
    image_load(&im, path);
    CHECK(im.w == 2 && im.h == 1 && im.channels == 3 && !memcmp(im.px, (unsigned char[]){10, 20, 30, 50, 60, 70}, 6));
    image_free(&im);
    snprintf(path, sizeof path, "%s/ga.png", dir);
    CHECK(stbi_write_png(path, 2, 1, 2, ga, 4));
    image_load(&im, path);
    CHECK(im.w == 2 && im.h == 1 && im.channels == 1 && im.px[0] == 100 && im.px[1] == 200);
    image_free(&im);
    snprintf(path, sizeof path, "%s/x.png", dir);
    CHECK_DIES(load_image, path, "x.png: not a readable PNG or BMP image");
    CHECK_DIES(load_image, "/nonexistent/y.png", "cannot open image /nonexistent/y.png");
    CHECK_DIES(add_1x1, "tiny.png", "tiny.png: a 1x1 image is smaller than the scale 3");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

typedef struct {
    const unsigned char *data;
    size_t size;
    const char *name;
} Bytes;

static void decode_bytes(const void *ctx) {
    const Bytes *b = ctx;
    Image8 im;
    image_decode(&im, b->data, b->size, b->name);
}

static void add_tar(const void *path) {
    SrSet s;
    sr_set_init(&s, 3, 0);
    sr_set_add_tar(&s, path);
}

/* Malformed files found by the fuzz harnesses (tests/fuzz/fuzz_image.c, fuzz_sr.c). */
static void test_malformed(void) {
    /* stb_image reads a truncated BMP's missing rows as zeros: now an error naming it. */
    unsigned char bmp[54 + 16];
    bmp_header(bmp, 2, 2, sizeof bmp);
    memset(bmp + 54, 7, 16);
    Bytes b = {bmp, 54 + 12, "cut.bmp"};
    CHECK_DIES(decode_bytes, &b, "cut.bmp: truncated BMP", "needs 70 bytes, the file has 66");
    /* Height 0: stb returns an image without pixels. */
    bmp_header(bmp, 2056, 0, sizeof bmp);
    b = (Bytes){bmp, sizeof bmp, "flat.bmp"};
    CHECK_DIES(decode_bytes, &b, "flat.bmp: a 2056x0 image has no pixels");
    /* A TGA (stb_image decodes it too; the harness found a 158-byte one that expands to
     * 200 MB in 12 s): only PNG and BMP are taken. */
    unsigned char tga[18 + 12] = {0, 0, 2};
    tga[12] = 2, tga[14] = 2, tga[16] = 24;
    b = (Bytes){tga, sizeof tga, "x.tga.png"};
    CHECK_DIES(decode_bytes, &b, "x.tga.png: not a readable PNG or BMP image");
    /* 16646159 x 5 declared in 70 bytes: stb would allocate 250 MB and loop over 83M
     * pixels of zeros (a fuzz timeout). */
    bmp_header(bmp, 16646159, -5, sizeof bmp);
    b = (Bytes){bmp, sizeof bmp, "huge.bmp"};
    CHECK_DIES(decode_bytes, &b, "huge.bmp: a 16646159x5 image is too large");

    char dir[] = "/tmp/qat_sr_bad_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], cmd[600];
    /* A damaged cache declaring a 1610612736 x 1610612736 image: not whole, so 0 (it was
     * allocated first: an out-of-memory error instead of preparing the set again). */
    snprintf(path, sizeof path, "%s/set.bin", dir);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        uint64_t key = 42;
        int32_t hdr[3] = {3, 1, 1}, dim[3] = {3 << 29, 3 << 29, 1};
        fwrite("QSR1", 1, 4, f);
        fwrite(&key, 8, 1, f);
        fwrite(hdr, sizeof hdr, 1, f);
        fwrite(dim, sizeof dim, 1, f);
        fwrite("a", 1, 1, f);
        fwrite(bmp, 1, sizeof bmp, f);
        fwrite("END1", 1, 4, f);
        fclose(f);
    }
    SrSet r;
    sr_set_init(&r, 3, 1);
    CHECK(sr_set_cache_load(&r, path, 42) == 0 && r.n == 0);
    sr_set_free(&r);
    /* An archive without images (it gave an empty set, and qsort(NULL + 0)); one whose
     * image is smaller than the scale: the error names the archive and the member. */
    unsigned char px[1] = {9};
    snprintf(path, sizeof path, "%s/tiny.png", dir);
    image_write_png_gray(path, px, 1, 1);
    snprintf(cmd, sizeof cmd, "cd %s && printf 'text' > README && tar cf none.tar README && tar cf tiny.tar tiny.png", dir);
    CHECK(system(cmd) == 0);
    snprintf(path, sizeof path, "%s/none.tar", dir);
    CHECK_DIES(add_tar, path, "the archive", "none.tar holds no .png or .bmp file");
    snprintf(path, sizeof path, "%s/tiny.tar", dir);
    CHECK_DIES(add_tar, path, "tiny.tar:tiny.png: a 1x1 image is smaller than the scale 3");
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

static double bicubic_set(SrSet *s) {
    double sum = 0.0;
    for (int i = 0; i < s->n; i++) {
        const SrImage *im = &s->img[i];
        float *up = malloc(sizeof(float) * im->h * im->w);
        sr_bicubic_up(s, im, up);
        sum += psnr_y(up, im->hr, im->h, im->w, s->scale, 1);
        free(up);
    }
    return sum / s->n;
}

/* The bicubic baselines on the real data check the resize, Y, crop and PSNR together. */
static void test_real_baselines(void) {
    data_fetch("sr");
    char path[1024];
    const char *sets[] = {"Set5", "Set14", "bsd100.tar.gz"};
    const double want[] = {30.39, 27.54, 27.21};
    for (int k = 0; k < 3; k++) {
        SrSet s;
        sr_set_init(&s, 3, 1);
        snprintf(path, sizeof path, "%s/sr/%s", data_root(), sets[k]);
        if (k < 2) sr_set_add_dir(&s, path);
        else sr_set_add_tar(&s, path);
        double psnr = bicubic_set(&s);
        printf("bicubic x3 %s: %.4f dB (published %.2f)\n", sets[k], psnr, want[k]);
        CHECK(fabs(psnr - want[k]) <= 0.05);
        CHECK(s.n == (k == 0 ? 5 : k == 1 ? 14 : 100));
        sr_set_free(&s);
    }
    /* The default (docs/METHODS.md 8.4) counts Set14's grayscale bridge as R = G = B. */
    SrSet s;
    sr_set_init(&s, 3, 0);
    snprintf(path, sizeof path, "%s/sr/Set14", data_root());
    sr_set_add_dir(&s, path);
    double psnr = bicubic_set(&s);
    printf("bicubic x3 Set14, gray as R = G = B: %.4f dB\n", psnr);
    CHECK(fabs(psnr - 27.63) <= 0.01);
    sr_set_free(&s);
}

int main(void) {
    test_ycbcr();
    test_imresize_fixture();
    test_imresize_properties();
    test_psnr();
    test_patches();
    test_decode();
    test_malformed();
    test_real_baselines();
    return check_done("sr");
}
