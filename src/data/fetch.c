#include "data/fetch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "core/sha256.h"
#include "io/atomic_file.h"

static const DataFile FILES[] = {
    {"mnist", "mnist/train-images-idx3-ubyte.gz",
     "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
     "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz"},
    {"mnist", "mnist/train-labels-idx1-ubyte.gz",
     "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
     "https://ossci-datasets.s3.amazonaws.com/mnist/train-labels-idx1-ubyte.gz"},
    {"mnist", "mnist/t10k-images-idx3-ubyte.gz",
     "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
     "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz"},
    {"mnist", "mnist/t10k-labels-idx1-ubyte.gz",
     "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
     "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz"},
    {NULL, NULL, NULL, NULL},
};

static const char *const DATASETS[] = {"mnist", NULL};

const char *const *data_known_datasets(void) { return DATASETS; }

const char *data_root(void) {
    const char *r = getenv("QAT_DATA_DIR");
    return (r && *r) ? r : "data";
}

static const char *mirror_root(void) {
    const char *m = getenv("QAT_DATA_MIRROR");
    if (m && *m) return m;
    struct stat st;
    if (stat("../shared/data", &st) == 0 && S_ISDIR(st.st_mode)) return "../shared/data";
    return NULL;
}

static const DataFile *find_file(const char *rel) {
    for (const DataFile *f = FILES; f->path; f++)
        if (strcmp(f->path, rel) == 0) return f;
    return NULL;
}

static int verified(const char *path, const char *want) {
    char hex[65];
    return sha256_file_hex(path, hex) && strcmp(hex, want) == 0;
}

static void copy_file(const char *src, const char *dst) {
    FILE *in = fopen(src, "rb");
    if (!in) qat_die("cannot read %s: %s", src, strerror(errno));
    AtomicFile af;
    FILE *out = atomic_file_open(&af, dst);
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) qat_die("cannot write %s: %s", dst, strerror(errno));
    if (ferror(in)) qat_die("cannot read %s: %s", src, strerror(errno));
    fclose(in);
    atomic_file_commit(&af);
}

/* Runs curl (or wget) into tmp; returns 1 on success. */
static int download(const char *url, const char *tmp) {
    pid_t pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) {
        execlp("curl", "curl", "-fL", "--retry", "2", "-sS", "-o", tmp, url, (char *)NULL);
        execlp("wget", "wget", "-q", "-O", tmp, url, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) < 0) return 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void fetch_one(const DataFile *f) {
    char dst[1024];
    snprintf(dst, sizeof dst, "%s/%s", data_root(), f->path);
    if (file_exists(dst)) {
        if (verified(dst, f->sha256)) return;
        fprintf(stderr, "qat: %s does not match its sha256; fetching it again\n", dst);
    }
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", dst);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        make_dirs(dir);
    }
    const char *mirror = mirror_root();
    if (mirror) {
        char src[1024];
        snprintf(src, sizeof src, "%s/%s", mirror, f->path);
        if (file_exists(src)) {
            if (!verified(src, f->sha256))
                qat_die("%s in the mirror does not match its sha256 %s", src, f->sha256);
            fprintf(stderr, "qat: copying %s -> %s\n", src, dst);
            copy_file(src, dst);
            return;
        }
    }
    if (!f->url)
        qat_die("data file %s is missing: not in %s and it has no download URL (set QAT_DATA_MIRROR)",
                f->path, mirror ? mirror : "any mirror");
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.download.%d", dst, (int)getpid());
    fprintf(stderr, "qat: downloading %s\n", f->url);
    if (!download(f->url, tmp)) {
        unlink(tmp);
        qat_die("data file %s is missing and downloading %s failed (no mirror: set QAT_DATA_MIRROR to a "
                "directory laid out like shared/data)", f->path, f->url);
    }
    if (!verified(tmp, f->sha256)) {
        unlink(tmp);
        qat_die("downloaded %s does not match its sha256 %s", f->url, f->sha256);
    }
    if (rename(tmp, dst) != 0) qat_die("cannot move %s to %s: %s", tmp, dst, strerror(errno));
}

void data_fetch(const char *dataset) {
    int found = 0;
    for (const DataFile *f = FILES; f->path; f++)
        if (strcmp(f->dataset, dataset) == 0) {
            fetch_one(f);
            found = 1;
        }
    if (!found) qat_die("unknown dataset '%s'", dataset);
}

void data_path(const char *rel, char *out, int cap) {
    const DataFile *f = find_file(rel);
    QAT_ASSERT(f != NULL);
    fetch_one(f);
    snprintf(out, (size_t)cap, "%s/%s", data_root(), rel);
}
