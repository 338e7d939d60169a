/* pact: being implemented. */
#include "core/error.h"
#include "quant/method.h"

Quantizer *pact_make(const QuantSpec *spec) {
    (void)spec;
    qat_die("quantizer 'pact' is not available yet in this version");
}
