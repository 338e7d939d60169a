#include "check.h"

#include <math.h>
#include <stdio.h>

int check_passed, check_failed;

void check_true(int cond, const char *what, const char *file, int line) {
    if (cond) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr, "FAIL %s:%d: %s\n", file, line, what);
    }
}

void check_close(double a, double b, double rtol, double atol, const char *what,
                 const char *file, int line) {
    if (fabs(a - b) <= atol + rtol * fabs(b) && !isnan(a)) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr, "FAIL %s:%d: %s: got %.9g, want %.9g\n", file, line, what, a, b);
    }
}

void check_array_close(const float *a, const float *b, size_t n, double rtol, double floor,
                       const char *what, const char *file, int line) {
    double worst = 0.0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double den = fabs((double)b[i]) > floor ? fabs((double)b[i]) : floor;
        double e = fabs((double)a[i] - (double)b[i]) / den;
        if (isnan(a[i]) || isnan(e)) e = INFINITY;
        if (e > worst) {
            worst = e;
            wi = i;
        }
    }
    if (worst <= rtol) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr, "FAIL %s:%d: %s: max rel error %.3g at [%zu] (got %.9g, want %.9g)\n",
                file, line, what, worst, wi, (double)a[wi], (double)b[wi]);
    }
}

int check_done(const char *suite) {
    printf("%s: %d passed, %d failed\n", suite, check_passed, check_failed);
    return check_failed ? 1 : 0;
}
