#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static QatDieHook g_die_hook;

void qat_set_die_hook(QatDieHook hook) { g_die_hook = hook; }

static char g_error_file[1024];

void qat_set_error_file(const char *path) { snprintf(g_error_file, sizeof g_error_file, "%s", path ? path : ""); }

/* Best effort: the process is exiting with the message on stderr anyway. */
static void write_error_file(const char *fmt, va_list ap) {
    if (!g_error_file[0]) return;
    FILE *f = fopen(g_error_file, "w");
    if (!f) return;
    vfprintf(f, fmt, ap);
    fputc('\n', f);
    fclose(f);
}

void qat_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (g_die_hook) {
        char msg[4096];
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        g_die_hook(msg);
        abort(); /* a hook that returns is a harness bug */
    }
    va_list copy;
    va_copy(copy, ap);
    write_error_file(fmt, copy);
    va_end(copy);
    fflush(stdout);
    fputs("qat: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

void *qat_malloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) qat_die("out of memory allocating %zu bytes", bytes);
    return p;
}

void *qat_calloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) qat_die("out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

void *qat_realloc(void *p, size_t bytes) {
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q) qat_die("out of memory reallocating %zu bytes", bytes);
    return q;
}

char *qat_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = qat_malloc(n);
    memcpy(d, s, n);
    return d;
}
