#include "core/runtime.h"

#include <omp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <pmmintrin.h>
#include <xmmintrin.h>
#endif

#include "core/blas.h"

static int g_threads = 1;

static void set_ftz_daz(void) {
#if defined(__x86_64__) || defined(__i386__)
    _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
    _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
#endif
}

void runtime_select_blas_kernel(char **argv) {
    if (getenv("OPENBLAS_CORETYPE")) return;
#if defined(__x86_64__)
    const char *core = NULL;
    if (runtime_has_avx512() && __builtin_cpu_supports("avx512bw"))
        core = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        core = "Haswell";
    if (!core) return;
    setenv("OPENBLAS_CORETYPE", core, 1);
    execv("/proc/self/exe", argv);
    /* exec failed: go on with whatever kernel OpenBLAS chose */
#else
    (void)argv;
#endif
}

int runtime_has_avx512(void) {
#if defined(__x86_64__)
    const char *off = getenv("QAT_NO_AVX512");
    if (off && *off && strcmp(off, "0") != 0) return 0;
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

int runtime_init(int threads) {
    if (threads <= 0) threads = omp_get_num_procs();
    g_threads = threads;
    omp_set_dynamic(0);
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    set_ftz_daz();
    /* MXCSR is per thread: set it in every worker of the pool too. */
#pragma omp parallel num_threads(threads)
    set_ftz_daz();
    return threads;
}

int runtime_threads(void) { return g_threads; }

static volatile sig_atomic_t g_stop_signal, g_defer_stops;

static void on_stop_signal(int sig) {
    if (!g_defer_stops || g_stop_signal) _exit(128 + sig);
    g_stop_signal = sig;
    static const char msg[] = "\nqat: stopping: saving the resume state (interrupt again to quit at once)\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
}

void runtime_catch_stops(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void runtime_defer_stops(int on) {
    g_defer_stops = on;
    if (!on && g_stop_signal) _exit(128 + g_stop_signal);
}

int runtime_stop_requested(void) { return g_stop_signal; }

double runtime_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
