/* adaround: being implemented. */
#include "core/error.h"
#include "quant/method.h"

Quantizer *adaround_make(const QuantSpec *spec) {
    (void)spec;
    qat_die("quantizer 'adaround' is not available yet in this version");
}

void adaround_calibrate(QuantSiteList *sites, ParamList *params, const Config *cfg, CalibSource *src,
                        uint64_t seed) {
    (void)sites, (void)params, (void)cfg, (void)src, (void)seed;
}
