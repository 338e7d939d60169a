/* apot: being implemented. */
#include "core/error.h"
#include "quant/method.h"

Quantizer *apot_make(const QuantSpec *spec) {
    (void)spec;
    qat_die("quantizer 'apot' is not available yet in this version");
}
