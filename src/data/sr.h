/* Super-resolution data, prepared as every published SR number is (SRCNN's MATLAB code,
 * docs/METHODS.md 8.4, docs/BASELINES.md ESPCN):
 *   Y  = rgb2ycbcr(uint8 RGB)(:,:,1)     BT.601, 16..235, rounded to 8 bits
 *   HR = Y cropped to a multiple of the scale (modcrop)
 *   LR = imresize(HR/255, 1/scale, 'bicubic')   in double, antialiased, not rounded
 * Training patches are LR size x size squares every `stride` LR pixels with the HR square
 * at scale x the offset. Prepared sets are cached in one binary file per set. */
#ifndef QAT_DATA_SR_H
#define QAT_DATA_SR_H

#include <stdint.h>

#include "data/image.h"

/* MATLAB rgb2ycbcr luma for R, G, B in 0..255: 16 + (65.481 R + 128.553 G + 24.966 B)/255. */
double sr_rgb_to_y(double r, double g, double b);
/* The 8-bit Y plane [h*w] of an image, as rgb2ycbcr on uint8 input (rounded). A grayscale
 * image counts as R = G = B (docs/METHODS.md 8.4), or, with gray_as_y, its values are Y itself
 * (SRCNN's code, which gives the published Set14 bicubic 27.54 dB). */
void sr_image_y8(const Image8 *img, int gray_as_y, unsigned char *y);

/* MATLAB imresize(in, scale, 'bicubic') of an h x w image to oh x ow: cubic kernel
 * a = -0.5, kernel widened by 1/scale when shrinking (antialiasing), mirrored borders,
 * rows resized before columns. Computed in double. */
void sr_imresize(const double *in, int h, int w, double scale, int oh, int ow, double *out);
/* MATLAB's output length for a factor: ceil(n * scale). */
int sr_resize_len(int n, double scale);

typedef struct {
    char name[128];
    int h, w;          /* HR size, multiples of the scale */
    unsigned char *hr; /* HR Y, 8-bit [h*w] */
    float *lr;         /* LR Y on the [0,1] scale [(h/scale)*(w/scale)] */
} SrImage;

typedef struct {
    int scale, gray_as_y;
    int n, cap;
    SrImage *img;
} SrSet;

void sr_set_init(SrSet *s, int scale, int gray_as_y);
void sr_set_free(SrSet *s);
/* Prepares one decoded image (Y, modcrop, LR). Dies, naming it, when it is smaller than
 * scale x scale (nothing is left after the crop: a 1x1 image, say). */
void sr_set_add(SrSet *s, const Image8 *img, const char *name);
/* Every .png / .bmp in a .tar.gz or a folder, in name order. Corrupt images, and an
 * archive or folder without any, are errors naming the file. */
void sr_set_add_tar(SrSet *s, const char *tar_path);
void sr_set_add_dir(SrSet *s, const char *dir);

/* Cache of a prepared set: 1 when path holds a complete cache written with this key
 * (anything else, a truncated or stale file, reads as 0: prepare the set again). */
int sr_set_cache_load(SrSet *s, const char *path, uint64_t key);
/* Written atomically (a temporary name, renamed when complete). */
void sr_set_cache_save(const SrSet *s, const char *path, uint64_t key);

/* Training patches: the LR top-left corner of each, at (y, x) = multiples of the stride. */
typedef struct {
    int img, y, x;
} SrPatch;

typedef struct {
    int n;
    SrPatch *p;
    int size;    /* LR side; the HR side is size * scale */
    int skipped; /* images with an LR side shorter than size: no patch */
} SrPatches;

void sr_patches_index(SrPatches *pt, const SrSet *s, int size, int stride);
void sr_patches_free(SrPatches *pt);
/* Copies patch p into lr[size*size] and hr[(size*scale)^2] (HR on the [0,1] scale), under
 * the dihedral transform t (0..7: bit 0 transpose, bit 1 mirror columns, bit 2 mirror
 * rows; 0 is the identity). LR and HR get the same transform, so they stay aligned. */
void sr_patch_get(const SrSet *s, const SrPatch *p, int size, int t, float *lr, float *hr);

/* Bicubic upscaling of an image's LR back to its HR size (the baseline), [0,1] scale. */
void sr_bicubic_up(const SrSet *s, const SrImage *im, float *out);

#endif
