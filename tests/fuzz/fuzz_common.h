/* What the libFuzzer harnesses in tests/fuzz share: running a parser so that qat_die()
 * returns to the harness (with what the parser held freed), a scratch folder for the
 * files the parsers read, and small helpers. See fuzz_common.c for how and why. */
#ifndef QAT_FUZZ_COMMON_H
#define QAT_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Once, from LLVMFuzzerInitialize: installs the allocation hooks and the die hook,
 * creates the scratch folder and does the first uses that allocate lasting state. */
void fuzz_init(void);

/* Runs fn(ctx). Returns 0 when it returned, 1 when it called qat_die(): then the streams
 * it opened are closed and every block it allocated and still held is freed, as the
 * process exit would have done. A die with "internal error" aborts (a bug, not a
 * rejected input). Not reentrant. */
int fuzz_call(void (*fn)(void *ctx), void *ctx);

/* The message of the last die ("" when none). */
const char *fuzz_message(void);

/* After a die: aborts unless the message holds at least one of the needles (NULL-ended):
 * a rejected file must be named in its error. */
void fuzz_expect_message(const char *const *needles);
#define FUZZ_EXPECT_MESSAGE(...) fuzz_expect_message((const char *const[]){__VA_ARGS__, NULL})

/* Reports a broken invariant (what, with printf arguments) and aborts. */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
#define FUZZ_CHECK(cond)                                                                    \
    do {                                                                                    \
        if (!(cond)) fuzz_fail("check failed: %s (%s:%d)", #cond, __FILE__, __LINE__);      \
    } while (0)

/* The per-process scratch folder (/dev/shm/qat-fuzz-PID, or under TMPDIR without
 * /dev/shm); removed at exit. */
const char *fuzz_scratch(void);
/* "<scratch>/<name>" in a static buffer (one of a few rotating ones). */
const char *fuzz_path(const char *name);
/* Writes n bytes to path, plain or gzip-compressed (level 1). */
void fuzz_write_file(const char *path, const void *data, size_t n, int gzip);
/* Removes everything in the scratch folder (files and folders). */
void fuzz_clean_scratch(void);

/* The harness's own diagnostics: the real stderr (the project's stderr prints go to
 * /dev/null while fuzzing, to keep the logs readable; FUZZ_VERBOSE=1 keeps them and
 * also prints each rejected input's error). */
extern FILE *fuzz_stderr;

/* Splits data at the first occurrence of sep: *a = [0, i), *b = after sep. Returns 0
 * and *a = all of data, *b = empty when sep is absent. */
int fuzz_split(const uint8_t *data, size_t n, const char *sep, const uint8_t **a, size_t *na,
               const uint8_t **b, size_t *nb);

#endif
