/* clang 14 names the dispatcher of a target_clones function "NAME.ifunc" and leaves NAME
 * itself undefined for callers in other files (later clang versions emit NAME); conv2d
 * calls fast_tanh_serial (nn/fast_tanh.c) that way, and the model code the config
 * harness links for its schemas reaches conv2d. This forwards NAME to the dispatcher. */
#include <stddef.h>

#include "nn/fast_tanh.h"

extern void fast_tanh_serial_dispatch(const float *in, float *out, size_t n) __asm__("fast_tanh_serial.ifunc");

void fast_tanh_serial(const float *in, float *out, size_t n) { fast_tanh_serial_dispatch(in, out, n); }
