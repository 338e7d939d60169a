/* The super-resolution image sets by name, where each lives under the SR root, and their
 * prepared-set cache (docs/DATA.md 3). */
#include "data/sr_source.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/sha256.h"
#include "data/fetch.h"

typedef struct {
    const char *name;    /* "t91" */
    const char *rel;     /* under the SR root: a .tar.gz or a folder */
    const char *dataset; /* fetch table name */
    int test;            /* a test set (evaluation.sets may name it) */
} SrSource;

static const SrSource SOURCES[] = {
    {"t91", "yang91.tar.gz", "sr", 0},   {"bsd200", "bsd200.tar.gz", "sr_bsd200", 0},
    {"set5", "Set5", "sr", 1},           {"set14", "Set14", "sr", 1},
    {"bsd100", "bsd100.tar.gz", "sr", 1}, {NULL, NULL, NULL, 0},
};

static const SrSource *find_source(const char *name) {
    for (const SrSource *src = SOURCES; src->name; src++)
        if (strcmp(src->name, name) == 0) return src;
    return NULL;
}

/* The cache file of a set prepared from verified data: named by a hash of everything
 * that changes its content (the pipeline version, the source, scale, gray handling). */
static uint64_t cache_key(const SrSource *src, int scale, int gray_as_y, char *path, size_t cap) {
    char desc[256], hex[65];
    snprintf(desc, sizeof desc, "espcn-sr v1 matlab-bicubic rgb2ycbcr-u8 modcrop src=%s scale=%d gray_as_y=%d",
             src->rel, scale, gray_as_y);
    Sha256 h;
    sha256_init(&h);
    sha256_update(&h, desc, strlen(desc));
    sha256_final_hex(&h, hex);
    snprintf(path, cap, "%s/sr/cache/%s_x%d_%.16s.bin", data_root(), src->name, scale, hex);
    return strtoull(hex + 48, NULL, 16);
}

static void add_source(SrSet *s, const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) sr_set_add_dir(s, path);
    else sr_set_add_tar(s, path);
}

int sr_source_is_test_set(const char *name) {
    const SrSource *src = find_source(name);
    return src && src->test;
}

void sr_source_load(SrSet *s, const char *name, const char *root, int use_cache) {
    const SrSource *src = find_source(name);
    QAT_ASSERT(src != NULL);
    int verified = root == NULL;
    char cpath[1024] = "", path[1024];
    uint64_t key = 0;
    if (verified && use_cache) {
        key = cache_key(src, s->scale, s->gray_as_y, cpath, sizeof cpath);
        if (sr_set_cache_load(s, cpath, key)) return;
    }
    if (verified) {
        data_fetch(src->dataset);
        snprintf(path, sizeof path, "%s/sr/%s", data_root(), src->rel);
    } else {
        snprintf(path, sizeof path, "%s/%s", root, src->rel);
    }
    add_source(s, path);
    if (cpath[0]) {
        sr_set_cache_save(s, cpath, key);
        fprintf(stderr, "qat: prepared %s (%d images) -> %s\n", name, s->n, cpath);
    }
}

