#include "io/atomic_file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "core/error.h"

FILE *atomic_file_open(AtomicFile *af, const char *path) {
    memset(af, 0, sizeof *af);
    if (strlen(path) >= sizeof af->path) qat_die("path too long: %s", path);
    snprintf(af->path, sizeof af->path, "%s", path);
    snprintf(af->tmp, sizeof af->tmp, "%s.tmp.%ld", path, (long)getpid());
    af->f = fopen(af->tmp, "wb");
    if (!af->f) qat_die("cannot create %s: %s", af->tmp, strerror(errno));
    return af->f;
}

void atomic_file_commit(AtomicFile *af) {
    QAT_ASSERT(af->f != NULL);
    FILE *f = af->f;
    af->f = NULL;
    int err = 0;
    if (ferror(f)) err = EIO;
    if (!err && fflush(f) != 0) err = errno;
    if (!err && fsync(fileno(f)) != 0 && errno != EINVAL && errno != EROFS) err = errno;
    if (fclose(f) != 0 && !err) err = errno;
    if (err) {
        unlink(af->tmp);
        qat_die("cannot write %s: %s", af->path, strerror(err));
    }
    if (rename(af->tmp, af->path) != 0) {
        err = errno;
        unlink(af->tmp);
        qat_die("cannot rename %s to %s: %s", af->tmp, af->path, strerror(err));
    }
}

void atomic_file_abort(AtomicFile *af) {
    if (af->f) {
        fclose(af->f);
        af->f = NULL;
    }
    if (af->tmp[0]) unlink(af->tmp);
}

void make_dirs(const char *path) {
    char buf[1200];
    size_t n = strlen(path);
    if (n == 0) return;
    if (n >= sizeof buf) qat_die("path too long: %s", path);
    memcpy(buf, path, n + 1);
    while (n > 1 && buf[n - 1] == '/') buf[--n] = '\0';
    for (char *p = buf + 1;; p++) {
        char c = *p;
        if (c == '/' || c == '\0') {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                qat_die("cannot create directory %s: %s", buf, strerror(errno));
            struct stat st;
            if (stat(buf, &st) != 0)
                qat_die("cannot create directory %s: %s", buf, strerror(errno));
            if (!S_ISDIR(st.st_mode))
                qat_die("cannot create directory %s: %s", buf, strerror(ENOTDIR));
            *p = c;
            if (c == '\0') break;
        }
    }
}

int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}
