#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

void check_vec_close(const float *got, const double *want, int n, double rtol, double atol,
                     const char *what, const char *file, int line) {
    char name[160];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%s[%d]", what, i);
        check_close(got[i], want[i], rtol, atol, name, file, line);
    }
}

void check_ref_close(const float *got, const float *want, size_t n, double rtol, int verbose,
                     const char *what, const char *file, int line) {
    double mx = 0.0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs((double)want[i]));
    double floor = fmax(1e-3 * mx, 1e-6);
    if (verbose) {
        double worst = 0.0;
        for (size_t i = 0; i < n; i++)
            worst = fmax(worst, fabs((double)got[i] - want[i]) / fmax(fabs((double)want[i]), floor));
        printf("  %-40s n=%-6zu max rel err %.3g\n", what, n, worst);
    }
    check_array_close(got, want, n, rtol, floor, what, file, line);
}

double check_splitmix_uniform(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

float check_splitmix_normal(uint64_t *state) {
    double u1 = check_splitmix_uniform(state), u2 = check_splitmix_uniform(state);
    if (u1 < 1e-300) u1 = 1e-300;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

double check_xorshift_uniform(uint64_t *state) {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (double)(*state >> 11) / 9007199254740992.0;
}

double check_xorshift_normal(uint64_t *state) {
    double u1 = check_xorshift_uniform(state) + 1e-12, u2 = check_xorshift_uniform(state);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Runs fn(ctx) in a child with stderr on a pipe; out (cap bytes) gets what it wrote there,
 * NUL-terminated. Returns the exit status, -1 when it did not exit normally. */
static int run_child(void (*fn)(const void *), const void *ctx, char *out, size_t cap) {
    int fds[2];
    if (pipe(fds)) {
        perror("pipe");
        exit(2);
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        close(fds[1]);
        fn(ctx);
        _exit(0); /* fn should not return */
    }
    close(fds[1]);
    size_t n = 0;
    char sink[4096];
    for (;;) { /* past cap, keep reading (and dropping) so the child never blocks */
        int room = n + 1 < cap;
        ssize_t r = read(fds[0], room ? out + n : sink, room ? cap - 1 - n : sizeof sink);
        if (r <= 0) break;
        if (room) n += (size_t)r;
    }
    close(fds[0]);
    out[n] = '\0';
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Appends the text of fmt to why (cap bytes), after "; " when why is not empty. */
static void add_why(char *why, size_t cap, const char *fmt, const char *arg) {
    size_t used = strlen(why);
    if (used) used += (size_t)snprintf(why + used, cap - used, "; ");
    if (used < cap) snprintf(why + used, cap - used, fmt, arg);
}

/* check_dies(); with what != NULL it is also recorded as a check named `what` at file:line. */
static int dies(void (*fn)(const void *), const void *ctx, int how, const char *const *needles,
                char *err, size_t errcap, const char *what, const char *file, int line) {
    static char out[16384], msg[16384];
    char why[2048] = "", status[32];
    int st = run_child(fn, ctx, out, sizeof out);
    if (err && errcap) snprintf(err, errcap, "%s", out);
    snprintf(status, sizeof status, "%d", st);
    if (st != 1) add_why(why, sizeof why, "exit status %s, want 1", status);
    const char *shown = out; /* where the needles must be */
    if (how == CHECK_DIES_QAT_LINE) {
        /* The "qat: " lines; anything else (e.g. valgrind's "==pid==" lines) is skipped. */
        int lines = 0;
        msg[0] = '\0';
        for (const char *p = out; *p;) {
            size_t len = strcspn(p, "\n");
            if (!strncmp(p, "qat: ", 5) && lines++ == 0) snprintf(msg, sizeof msg, "%.*s", (int)len, p);
            p += len;
            if (*p) p++;
        }
        shown = msg;
        snprintf(status, sizeof status, "%d", lines);
        if (lines != 1) add_why(why, sizeof why, "%s lines start \"qat: \", want 1", status);
        if (strncmp(msg, "qat: error: ", 12)) add_why(why, sizeof why, "%s", "no \"qat: error: \" line");
    } else if (how == CHECK_DIES_ONLY_LINE) {
        if (strncmp(out, "qat: error: ", 12) || strchr(out, '\n') != out + strlen(out) - 1)
            add_why(why, sizeof why, "%s", "stderr is not one \"qat: error: ...\" line");
    }
    for (int i = 0; needles[i]; i++)
        if (!strstr(shown, needles[i])) add_why(why, sizeof why, "missing \"%s\"", needles[i]);
    int ok = !why[0];
    if (getenv("QAT_TEST_SHOW_ERRORS")) printf("  %.*s\n", (int)strcspn(shown, "\n"), shown);
    if (what) check_true(ok, what, file, line);
    if (!ok) {
        size_t n = strlen(out) > 4000 ? 4000 : strlen(out); /* enough to see what went wrong */
        fprintf(stderr, "  %s%s\n  child stderr: %.*s%s", what ? "" : "check_dies: ", why, (int)n,
                out, n && out[n - 1] == '\n' ? "" : "\n");
    }
    return ok;
}

int check_dies(void (*fn)(const void *ctx), const void *ctx, int how, const char *const *needles,
               char *err, size_t cap) {
    return dies(fn, ctx, how, needles, err, cap, NULL, NULL, 0);
}

void check_dies_true(void (*fn)(const void *ctx), const void *ctx, int how,
                     const char *const *needles, const char *what, const char *file, int line) {
    dies(fn, ctx, how, needles, NULL, 0, what, file, line);
}

void check_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

void check_to_channels_last(const float *src, float *dst, int N, int C, int HW, int back) {
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int p = 0; p < HW; p++) {
                size_t planes = ((size_t)n * C + c) * HW + p, last = ((size_t)n * HW + p) * C + c;
                if (back) dst[planes] = src[last];
                else dst[last] = src[planes];
            }
}
