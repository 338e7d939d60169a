/* Shared by the libFuzzer harnesses in tests/fuzz.
 *
 * Rejected inputs. The parsers report a bad file with qat_die(), which in the real
 * program prints one "qat: error:" line and exits with status 1. Here a die hook
 * (qat_set_die_hook) longjmps back into fuzz_call() instead, so a rejected input is a
 * normal outcome and fuzzing goes on. What the parser had allocated by then would stay
 * unreachable, since the process did not exit, and LeakSanitizer (which libFuzzer runs
 * on every input that allocates more than it frees, -detect_leaks=1) would report it as
 * a leak although the real program exits there. So, while fuzz_call() runs a parser:
 *
 *   - the sanitizer allocation hooks (__sanitizer_install_malloc_and_free_hooks) record
 *     every block the fuzzing thread allocates and has not freed yet. The record is an
 *     open-addressing hash set plus a dense list, in mmap'd memory: the hooks must not
 *     call malloc, and LeakSanitizer does not scan anonymous mappings, so the record never
 *     makes a leaked block look reachable;
 *   - the streams opened (fopen, gzopen, opendir: the harnesses link with -Wl,--wrap for
 *     these and their close functions) are recorded as well.
 *
 * When the parser dies, the recorded streams are closed first (so their descriptors are
 * released and their own blocks are freed through the normal path, leaving libc's list of
 * open FILEs consistent), then every block still recorded is freed: the state the real
 * program drops at exit(1), libyaml's parser and document included. When the parser
 * returns normally nothing is freed for it: a block it leaked is LeakSanitizer's to
 * report, which is how leaks on success paths stay detected, and a stream left open is
 * reported here.
 *
 * This is only right if nothing allocated during a call is meant to outlive it: state a
 * library builds on first use and keeps (stdio buffers, locale data, an OpenMP thread
 * pool) would be freed under its owner. fuzz_init() therefore makes stdout unbuffered,
 * touches strerror, zlib, opendir and the scratch folder once, and each harness runs one
 * valid sample through its parsers in LLVMFuzzerInitialize before fuzzing starts. None of
 * the parsers fuzzed here runs an OpenMP region.
 *
 * A die is a normal outcome only for a user-facing error: "internal error" (a QAT_ASSERT
 * reached from input) aborts, and harnesses check that the message names the file
 * (fuzz_expect_message). The project's own prints on stderr (progress, warnings) go to
 * /dev/null while fuzzing, the sanitizers' and libFuzzer's reports do not (they write to
 * file descriptor 2 directly). */
#include "fuzz_common.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <sanitizer/allocator_interface.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/error.h"

FILE *fuzz_stderr;

/* ---- the record of live blocks ----------------------------------------------------- */

#define TABLE_BITS 21           /* 2M slots: a load factor of at most 1/4 */
#define MAX_LIVE (1u << 19)     /* blocks live at once inside one call */
#define TABLE_MASK (((size_t)1 << TABLE_BITS) - 1)

/* A slot is in use when its gen is the current call's: starting a call empties the
 * table in O(1). */
typedef struct {
    uintptr_t key;
    uint32_t gen, idx; /* idx: position in g_live */
} Slot;

static Slot *g_slots;
static uintptr_t *g_live;
static uint32_t g_nlive, g_gen;
static int g_overflow;
static __thread int tl_track; /* only the fuzzing thread's allocations are recorded */

static size_t home(uintptr_t k) { return (size_t)(((uint64_t)k * 0x9E3779B97F4A7C15ull) >> (64 - TABLE_BITS)); }

static size_t find_slot(uintptr_t k) {
    for (size_t i = home(k);; i = (i + 1) & TABLE_MASK) {
        if (g_slots[i].gen != g_gen) return (size_t)-1;
        if (g_slots[i].key == k) return i;
    }
}

static void live_add(uintptr_t k) {
    if (g_nlive == MAX_LIVE) {
        g_overflow = 1;
        return;
    }
    size_t i = home(k);
    while (g_slots[i].gen == g_gen) i = (i + 1) & TABLE_MASK;
    g_slots[i] = (Slot){k, g_gen, g_nlive};
    g_live[g_nlive++] = k;
}

static void live_remove(uintptr_t k) {
    size_t i = find_slot(k);
    if (i == (size_t)-1) return; /* allocated before the call */
    uint32_t idx = g_slots[i].idx;
    uintptr_t last = g_live[--g_nlive];
    if (idx != g_nlive) {
        g_live[idx] = last;
        g_slots[find_slot(last)].idx = idx;
    }
    /* Backward-shift deletion: no tombstones, so probe chains stay short. */
    for (size_t j = (i + 1) & TABLE_MASK; g_slots[j].gen == g_gen; j = (j + 1) & TABLE_MASK) {
        size_t h = home(g_slots[j].key);
        if (((j - h) & TABLE_MASK) >= ((j - i) & TABLE_MASK)) {
            g_slots[i] = g_slots[j];
            i = j;
        }
    }
    g_slots[i].gen = 0;
}

static void on_malloc(const volatile void *p, size_t n) {
    (void)n;
    if (tl_track && p) live_add((uintptr_t)p);
}

static void on_free(const volatile void *p) {
    if (tl_track && p) live_remove((uintptr_t)p);
}

/* ---- streams ------------------------------------------------------------------------- */

enum { STREAM_FILE, STREAM_GZ, STREAM_DIR };
#define MAX_STREAMS 64
static struct {
    int kind;
    void *p;
} g_streams[MAX_STREAMS];
static int g_nstreams;

static void stream_add(int kind, void *p) {
    if (!tl_track || !p) return;
    if (g_nstreams == MAX_STREAMS) {
        g_overflow = 1;
        return;
    }
    g_streams[g_nstreams].kind = kind;
    g_streams[g_nstreams++].p = p;
}

static void stream_drop(void *p) {
    for (int i = 0; i < g_nstreams; i++)
        if (g_streams[i].p == p) {
            g_streams[i] = g_streams[--g_nstreams];
            g_streams[g_nstreams].p = NULL;
            return;
        }
}

FILE *__real_fopen(const char *path, const char *mode);
int __real_fclose(FILE *f);
gzFile __real_gzopen(const char *path, const char *mode);
int __real_gzclose(gzFile f);
DIR *__real_opendir(const char *path);
int __real_closedir(DIR *d);

/* The wrappers, prototyped here only: -Wl,--wrap resolves calls to them. */
FILE *__wrap_fopen(const char *path, const char *mode);
int __wrap_fclose(FILE *f);
gzFile __wrap_gzopen(const char *path, const char *mode);
int __wrap_gzclose(gzFile f);
DIR *__wrap_opendir(const char *path);
int __wrap_closedir(DIR *d);

FILE *__wrap_fopen(const char *path, const char *mode) {
    FILE *f = __real_fopen(path, mode);
    stream_add(STREAM_FILE, f);
    return f;
}
int __wrap_fclose(FILE *f) {
    stream_drop(f);
    return __real_fclose(f);
}
gzFile __wrap_gzopen(const char *path, const char *mode) {
    gzFile f = __real_gzopen(path, mode);
    stream_add(STREAM_GZ, f);
    return f;
}
int __wrap_gzclose(gzFile f) {
    stream_drop(f);
    return __real_gzclose(f);
}
DIR *__wrap_opendir(const char *path) {
    DIR *d = __real_opendir(path);
    stream_add(STREAM_DIR, d);
    return d;
}
int __wrap_closedir(DIR *d) {
    stream_drop(d);
    return __real_closedir(d);
}

/* ---- dying --------------------------------------------------------------------------- */

static jmp_buf g_jmp;
static int g_in_call, g_verbose;
static char g_msg[4096];

void fuzz_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz: ", fuzz_stderr);
    vfprintf(fuzz_stderr, fmt, ap);
    fputc('\n', fuzz_stderr);
    va_end(ap);
    abort();
}

static void on_die(const char *msg) {
    snprintf(g_msg, sizeof g_msg, "%s", msg);
    if (!g_in_call) fuzz_fail("qat_die outside fuzz_call: %s", msg);
    if (!strncmp(msg, "internal error", 14)) fuzz_fail("an input reached an internal error: %s", msg);
    longjmp(g_jmp, 1);
}

const char *fuzz_message(void) { return g_msg; }

void fuzz_expect_message(const char *const *needles) {
    for (int i = 0; needles[i]; i++)
        if (strstr(g_msg, needles[i])) return;
    fuzz_fail("the error does not name the input (expected '%s'): qat: error: %s", needles[0], g_msg);
}

int fuzz_call(void (*fn)(void *ctx), void *ctx) {
    if (g_in_call) fuzz_fail("fuzz_call is not reentrant");
    if (++g_gen == 0) { /* after 2^32 calls: really empty the table once */
        memset(g_slots, 0, sizeof *g_slots << TABLE_BITS);
        g_gen = 1;
    }
    g_nlive = 0;
    g_nstreams = 0;
    g_overflow = 0;
    g_msg[0] = '\0';
    g_in_call = 1;
    if (setjmp(g_jmp)) {
        /* Still recording: closing a stream frees its blocks, which must leave the record
         * (else the sweep below would free them twice). */
        while (g_nstreams > 0) {
            int i = --g_nstreams;
            void *p = g_streams[i].p;
            g_streams[i].p = NULL;
            if (g_streams[i].kind == STREAM_FILE) __real_fclose(p);
            else if (g_streams[i].kind == STREAM_GZ) __real_gzclose(p);
            else __real_closedir(p);
        }
        tl_track = 0;
        g_in_call = 0;
        if (g_overflow)
            fuzz_fail("more than %u blocks or %d streams live in one call: raise MAX_LIVE / MAX_STREAMS",
                      MAX_LIVE, MAX_STREAMS);
        for (uint32_t i = 0; i < g_nlive; i++) free((void *)g_live[i]);
        g_nlive = 0;
        if (g_verbose) fprintf(fuzz_stderr, "fuzz: rejected: qat: error: %s\n", g_msg);
        return 1;
    }
    tl_track = 1;
    fn(ctx);
    tl_track = 0;
    g_in_call = 0;
    if (g_nstreams) fuzz_fail("%d stream(s) opened by the parser were left open", g_nstreams);
    g_nlive = 0;
    return 0;
}

/* ---- scratch files ------------------------------------------------------------------- */

static char g_scratch[512];

const char *fuzz_scratch(void) { return g_scratch; }

const char *fuzz_path(const char *name) {
    static char bufs[8][1024];
    static int next;
    char *b = bufs[next++ & 7];
    snprintf(b, sizeof bufs[0], "%s/%s", g_scratch, name);
    return b;
}

void fuzz_write_file(const char *path, const void *data, size_t n, int gzip) {
    if (gzip) {
        gzFile f = gzopen(path, "wb1");
        if (!f) fuzz_fail("cannot create %s", path);
        if (n && gzwrite(f, data, (unsigned)n) != (int)n) fuzz_fail("cannot write %s", path);
        if (gzclose(f) != Z_OK) fuzz_fail("cannot write %s", path);
        return;
    }
    FILE *f = fopen(path, "wb");
    if (!f) fuzz_fail("cannot create %s: %s", path, strerror(errno));
    if (n && fwrite(data, 1, n, f) != n) fuzz_fail("cannot write %s", path);
    if (fclose(f) != 0) fuzz_fail("cannot write %s", path);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag;
    if (ftw->level > 0) remove(path);
    return 0;
}

void fuzz_clean_scratch(void) { nftw(g_scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

static void remove_scratch(void) {
    fuzz_clean_scratch();
    rmdir(g_scratch);
}

int fuzz_split(const uint8_t *data, size_t n, const char *sep, const uint8_t **a, size_t *na,
               const uint8_t **b, size_t *nb) {
    size_t ls = strlen(sep);
    const uint8_t *p = ls <= n ? memmem(data, n, sep, ls) : NULL;
    *a = data;
    if (!p) {
        *na = n;
        *b = data + n;
        *nb = 0;
        return 0;
    }
    *na = (size_t)(p - data);
    *b = p + ls;
    *nb = n - *na - ls;
    return 1;
}

/* ---- set-up -------------------------------------------------------------------------- */

void fuzz_init(void) {
    int fd = dup(2);
    fuzz_stderr = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!fuzz_stderr) fuzz_stderr = stderr;
    setvbuf(fuzz_stderr, NULL, _IONBF, 0);
    setvbuf(stdout, NULL, _IONBF, 0); /* no stdout buffer allocated inside a call */
    g_verbose = getenv("FUZZ_VERBOSE") != NULL;
    if (!g_verbose) {
        FILE *null = fopen("/dev/null", "w");
        if (null) stderr = null; /* glibc's stderr is an assignable variable */
    }

    g_slots = mmap(NULL, sizeof *g_slots << TABLE_BITS, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    g_live = mmap(NULL, sizeof *g_live * MAX_LIVE, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (g_slots == MAP_FAILED || g_live == MAP_FAILED) fuzz_fail("mmap: %s", strerror(errno));
    if (!__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free))
        fuzz_fail("cannot install the allocation hooks");
    qat_set_die_hook(on_die);

    /* QAT_FUZZ_SCRATCH: a folder the runner removes afterwards (a crash skips atexit). */
    const char *base = getenv("QAT_FUZZ_SCRATCH");
    struct stat st;
    if (!base || !*base) base = stat("/dev/shm", &st) == 0 ? "/dev/shm" : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    mkdir(base, 0700);
    snprintf(g_scratch, sizeof g_scratch, "%s/qat-fuzz-XXXXXX", base);
    if (!mkdtemp(g_scratch)) fuzz_fail("cannot create a scratch folder under %s: %s", base, strerror(errno));
    atexit(remove_scratch);

    /* First uses that may build lasting state. */
    for (int e = 0; e < 140; e++) (void)strerror(e);
    gzFile gz = gzopen(fuzz_path("absent.gz"), "rb");
    if (gz) gzclose(gz);
    DIR *d = opendir(g_scratch);
    if (d) {
        while (readdir(d)) {
        }
        closedir(d);
    }
}
