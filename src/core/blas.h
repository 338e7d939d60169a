/* Every matrix product goes through OpenBLAS (its OpenMP build, which shares the
 * OpenMP thread pool). Inside an OpenMP parallel region OpenBLAS runs single-threaded. */
#ifndef QAT_CORE_BLAS_H
#define QAT_CORE_BLAS_H

#include <cblas.h>

void openblas_set_num_threads(int num_threads);

#endif
