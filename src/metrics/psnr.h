/* PSNR on the luminance (docs/METHODS.md 8.4, docs/BASELINES.md ESPCN). */
#ifndef QAT_METRICS_PSNR_H
#define QAT_METRICS_PSNR_H

/* PSNR in dB of a super-resolved Y plane against the 8-bit HR Y, both h x w:
 * sr (on the [0,1] scale) is clipped to [0,1] and scaled by 255, rounded to 8 bits when
 * round8 (MATLAB uint8(): half away from zero); `border` pixels are cut from every side;
 * PSNR = 10 log10(255^2 / MSE). +inf for identical images. */
double psnr_y(const float *sr, const unsigned char *hr, int h, int w, int border, int round8);

#endif
