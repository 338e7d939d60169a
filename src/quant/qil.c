/* qil: being implemented. */
#include "core/error.h"
#include "quant/method.h"

Quantizer *qil_make(const QuantSpec *spec) {
    (void)spec;
    qat_die("quantizer 'qil' is not available yet in this version");
}
