/* Process-wide compute settings: thread count for OpenMP and OpenBLAS, and
 * flush-to-zero / denormals-are-zero (denormals slow recurrent training badly). */
#ifndef QAT_CORE_RUNTIME_H
#define QAT_CORE_RUNTIME_H

/* threads <= 0: use every core. Returns the thread count in force. */
int runtime_init(int threads);
int runtime_threads(void);
/* Seconds since an arbitrary start, monotonic. */
double runtime_now(void);

#endif
