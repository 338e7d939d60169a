/* Process-wide compute settings: thread count for OpenMP and OpenBLAS, and
 * flush-to-zero / denormals-are-zero (denormals slow recurrent training badly). */
#ifndef QAT_CORE_RUNTIME_H
#define QAT_CORE_RUNTIME_H

/* OpenBLAS 0.3.21 (Debian 12) falls back to its slow generic Prescott kernels on CPUs
 * newer than it knows (e.g. Emerald Rapids), and picks its kernel when the library is
 * loaded. So, before anything else, a program calls this: when OPENBLAS_CORETYPE is unset
 * and the CPU has AVX-512 (or AVX2+FMA), it sets SkylakeX (or Haswell) and re-executes
 * itself. A value already set by the user is kept. Returns only when no re-exec happens. */
void runtime_select_blas_kernel(char **argv);

/* 1 when the CPU runs AVX-512F and QAT_NO_AVX512 is unset or "0". The variable lets an
 * AVX-512 machine run the AVX2 paths of a machine without it (make test-matrix). */
int runtime_has_avx512(void);

/* threads <= 0: use every core. Returns the thread count in force. */
int runtime_init(int threads);
int runtime_threads(void);
/* Stop requests (SIGINT, SIGTERM). runtime_catch_stops() installs the handlers. While
 * stops are deferred (runtime_defer_stops(1): a run with state worth saving), the first
 * signal only sets a flag that the training and calibration loops poll, so the run can
 * save its resume state and exit 128 + signal; a second one, or any signal while stops
 * are not deferred, exits 128 + signal at once. */
void runtime_catch_stops(void);
void runtime_defer_stops(int on);
/* 0, or the signal that asked to stop. */
int runtime_stop_requested(void);

/* Seconds since an arbitrary start, monotonic. */
double runtime_now(void);

#endif
