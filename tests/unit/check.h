/* A tiny test harness: CHECK* record failures and go on; check_done() prints
 * "N passed, N failed" and returns the exit status. */
#ifndef QAT_TESTS_CHECK_H
#define QAT_TESTS_CHECK_H

#include <stddef.h>
#include <stdint.h>

extern int check_passed, check_failed;

void check_true(int cond, const char *what, const char *file, int line);
/* |a - b| <= atol + rtol * |b| */
void check_close(double a, double b, double rtol, double atol, const char *what,
                 const char *file, int line);
/* max_i |a_i - b_i| / max(|b_i|, floor) <= rtol; prints the worst index */
void check_array_close(const float *a, const float *b, size_t n, double rtol, double floor,
                       const char *what, const char *file, int line);
int check_done(const char *suite);
/* One check_close(got[i], want[i], rtol, atol) per element, named "what[i]". */
void check_vec_close(const float *got, const double *want, int n, double rtol, double atol,
                     const char *what, const char *file, int line);
/* check_array_close against a reference (PyTorch) array with floor = max(1e-3 * max|want|,
 * 1e-6): entries near zero, which float32 sums of many terms cannot give to rtol, count
 * relative to the array's scale. verbose: also print the worst relative error. */
void check_ref_close(const float *got, const float *want, size_t n, double rtol, int verbose,
                     const char *what, const char *file, int line);

/* --- a call that must die with a user-facing error ----------------------------------------
 * check_dies() runs fn(ctx) in a forked child with the child's stderr on a pipe (stdout and
 * stderr are flushed first; it exits 2 when pipe or fork fails) and returns 1 when the child
 * exited with status 1 and its stderr passes `how`:
 *   CHECK_DIES_QAT_LINE: exactly one line starts "qat: " (other lines, e.g. valgrind's
 *       "==pid==" ones, are skipped); it starts "qat: error: " and holds every needle;
 *   CHECK_DIES_ONLY_LINE: all of stderr is one line, "qat: error: ...\n", holding every needle;
 *   CHECK_DIES_ANYWHERE: every needle occurs somewhere in stderr.
 * needles ends with NULL. err (cap bytes; may be NULL) gets the child's stderr. A failure is
 * explained on stderr; with QAT_TEST_SHOW_ERRORS set, the message is printed on stdout. */
enum { CHECK_DIES_QAT_LINE, CHECK_DIES_ONLY_LINE, CHECK_DIES_ANYWHERE };
int check_dies(void (*fn)(const void *ctx), const void *ctx, int how, const char *const *needles,
               char *err, size_t cap);
/* check_dies() recorded as one check. */
void check_dies_true(void (*fn)(const void *ctx), const void *ctx, int how,
                     const char *const *needles, const char *what, const char *file, int line);

/* fn(ctx) exits 1 with one "qat: error:" line holding every needle (CHECK_DIES_QAT_LINE). */
#define CHECK_DIES(fn, ctx, ...) CHECK_DIES_HOW(CHECK_DIES_QAT_LINE, fn, ctx, __VA_ARGS__)
#define CHECK_DIES_HOW(how, fn, ctx, ...)                                                   \
    check_dies_true((fn), (ctx), (how), (const char *const[]){__VA_ARGS__, NULL},           \
                    #fn "(" #ctx ") dies", __FILE__, __LINE__)

/* Fixed pseudo-random streams: tests whose data was drawn from them keep drawing the same
 * numbers (core/rng's xoshiro256** gives others). *state is the whole generator state.
 * Uniforms are in [0, 1) with 53 bits; normals are Box-Muller from two uniforms, guarded
 * against log(0) the way each stream's tests always were. */
double check_splitmix_uniform(uint64_t *state);
float check_splitmix_normal(uint64_t *state);
double check_xorshift_uniform(uint64_t *state);
double check_xorshift_normal(uint64_t *state);

/* Writes n bytes to path (created or truncated); exits 2 when it cannot. */
void check_write_file(const char *path, const void *data, size_t n);

/* [N][C][HW] -> [N][HW][C] (channels last); back != 0: the inverse. */
void check_to_channels_last(const float *src, float *dst, int N, int C, int HW, int back);

#define CHECK(cond) check_true((cond), #cond, __FILE__, __LINE__)
#define CHECK_CLOSE(a, b, tol) check_close((a), (b), (tol), 1e-7, #a " ~ " #b, __FILE__, __LINE__)
#define CHECK_ARRAY(a, b, n, tol, what) check_array_close((a), (b), (n), (tol), 1e-3, (what), __FILE__, __LINE__)

#endif
