/* Errors: every failure a user can cause ends with one clear message and exit code 1.
 * qat_die() is for user-facing errors (bad flag, bad file); QAT_ASSERT for internal bugs. */
#ifndef QAT_CORE_ERROR_H
#define QAT_CORE_ERROR_H

#include <stddef.h>

#if defined(__GNUC__)
#define QAT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define QAT_NORETURN __attribute__((noreturn))
#else
#define QAT_PRINTF(a, b)
#define QAT_NORETURN
#endif

/* Prints "qat: error: <message>" to stderr and exits with status 1. */
QAT_NORETURN void qat_die(const char *fmt, ...) QAT_PRINTF(1, 2);

/* Where qat_die also writes its message (one line, the file replaced): how a parent
 * process (qat table) learns why its child run failed. NULL: nowhere. */
void qat_set_error_file(const char *path);

/* For fuzz harnesses: a hook that replaces the message and the exit (it must not return:
 * it longjmps back to the harness). NULL restores the default. */
typedef void (*QatDieHook)(const char *message);
void qat_set_die_hook(QatDieHook hook);

/* Allocation that never returns NULL (dies with a clear message instead). */
void *qat_malloc(size_t bytes);
void *qat_calloc(size_t count, size_t size);
void *qat_realloc(void *p, size_t bytes);
char *qat_strdup(const char *s);

#define QAT_ASSERT(cond)                                                             \
    do {                                                                             \
        if (!(cond)) qat_die("internal error: %s (%s:%d)", #cond, __FILE__, __LINE__); \
    } while (0)

#endif
