#include "metrics/psnr.h"

#include <math.h>

#include "core/error.h"

double psnr_y(const float *sr, const unsigned char *hr, int h, int w, int border, int round8) {
    QAT_ASSERT(border >= 0 && h > 2 * border && w > 2 * border);
    double sum = 0.0;
    for (int i = border; i < h - border; i++)
        for (int j = border; j < w - border; j++) {
            double v = sr[(size_t)i * w + j];
            v = (v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v) * 255.0;
            if (round8) v = floor(v + 0.5);
            double d = v - hr[(size_t)i * w + j];
            sum += d * d;
        }
    double mse = sum / ((double)(h - 2 * border) * (w - 2 * border));
    return 10.0 * log10(255.0 * 255.0 / mse);
}
