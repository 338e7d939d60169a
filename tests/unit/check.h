/* A tiny test harness: CHECK* record failures and go on; check_done() prints
 * "N passed, N failed" and returns the exit status. */
#ifndef QAT_TESTS_CHECK_H
#define QAT_TESTS_CHECK_H

#include <stddef.h>

extern int check_passed, check_failed;

void check_true(int cond, const char *what, const char *file, int line);
/* |a - b| <= atol + rtol * |b| */
void check_close(double a, double b, double rtol, double atol, const char *what,
                 const char *file, int line);
/* max_i |a_i - b_i| / max(|b_i|, floor) <= rtol; prints the worst index */
void check_array_close(const float *a, const float *b, size_t n, double rtol, double floor,
                       const char *what, const char *file, int line);
int check_done(const char *suite);

#define CHECK(cond) check_true((cond), #cond, __FILE__, __LINE__)
#define CHECK_CLOSE(a, b, tol) check_close((a), (b), (tol), 1e-7, #a " ~ " #b, __FILE__, __LINE__)
#define CHECK_ARRAY(a, b, n, tol, what) check_array_close((a), (b), (n), (tol), 1e-3, (what), __FILE__, __LINE__)

#endif
