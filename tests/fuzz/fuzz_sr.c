/* libFuzzer harness: the super-resolution readers of user files (data/sr.c): the
 * prepared-set cache (sr_set_cache_load, and sr_set_cache_save for the round trip), an
 * image archive (sr_set_add_tar) and an image folder (sr_set_add_dir).
 *
 * Input: MODE OPT PAYLOAD. (MODE & 3) % 3:
 *   0  PAYLOAD is a cache file. OPT % 4 + 1 is the set's scale, OPT bit 2 gray_as_y, OPT
 *      bit 3 puts one image in the set before loading (a failed load must leave it);
 *      the key asked for is the one in the file (bytes 4..11), plus one when MODE bit 2
 *      is set (a stale cache)
 *   1  PAYLOAD is a .tar of images (gzipped when MODE bit 2 is set), scale OPT % 4 + 1
 *   2  PAYLOAD is the only image in a folder, named img.png (img.bmp when MODE bit 2)
 *
 * Checked: a cache load never dies: it returns 1 with a consistent set whose save is the
 * same bytes as the file read, or 0 leaving the set as it was; archives and folders die
 * naming the file; prepared images are multiples of the scale, sorted by name. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/image.h"
#include "data/sr.h"
#include "fuzz_common.h"

typedef struct {
    const char *path, *save;
    uint64_t key;
    int preload, result;
    SrSet s;
} CacheCtx;

static void cache_load(void *p) {
    CacheCtx *c = p;
    if (c->preload) {
        unsigned char px[4 * 4 * 3];
        for (int i = 0; i < (int)sizeof px; i++) px[i] = (unsigned char)(i * 29);
        Image8 img = {4, 4, 3, px};
        sr_set_add(&c->s, &img, "preloaded");
    }
    int first = c->s.n;
    c->result = sr_set_cache_load(&c->s, c->path, c->key);
    if (!c->result) {
        FUZZ_CHECK(c->s.n == first);
        return;
    }
    for (int i = first; i < c->s.n; i++) {
        const SrImage *im = &c->s.img[i];
        FUZZ_CHECK(im->h > 0 && im->w > 0 && im->h % c->s.scale == 0 && im->w % c->s.scale == 0);
        FUZZ_CHECK(memchr(im->name, '\0', sizeof im->name) != NULL);
    }
    if (first) return; /* the save would hold the preloaded image too */
    sr_set_cache_save(&c->s, c->save, c->key);
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    FUZZ_CHECK(f != NULL);
    struct stat st;
    FUZZ_CHECK(fstat(fileno(f), &st) == 0);
    uint8_t *b = malloc((size_t)st.st_size + 1);
    FUZZ_CHECK(b != NULL && fread(b, 1, (size_t)st.st_size, f) == (size_t)st.st_size);
    fclose(f);
    *n = (size_t)st.st_size;
    return b;
}

typedef struct {
    const char *path;
    int dir;
    SrSet s;
} AddCtx;

static void add(void *p) {
    AddCtx *c = p;
    if (c->dir) sr_set_add_dir(&c->s, c->path);
    else sr_set_add_tar(&c->s, c->path);
    for (int i = 0; i < c->s.n; i++) {
        const SrImage *im = &c->s.img[i];
        FUZZ_CHECK(im->h > 0 && im->w > 0 && im->h % c->s.scale == 0 && im->w % c->s.scale == 0);
        if (i) FUZZ_CHECK(strcmp(c->s.img[i - 1].name, im->name) <= 0);
    }
}

static void run(const uint8_t *data, size_t size) {
    if (size < 2) return;
    unsigned mode = (data[0] & 3) % 3, flag = (data[0] >> 2) & 1, opt = data[1];
    const uint8_t *payload = data + 2;
    size_t n = size - 2;
    int scale = (int)(opt % 4) + 1;
    fuzz_clean_scratch();
    if (mode == 0) {
        CacheCtx c = {fuzz_path("set.bin"), fuzz_path("saved/set.bin"), 0, (opt >> 3) & 1, 0, {0}};
        if (n >= 12) memcpy(&c.key, payload + 4, 8);
        c.key += flag;
        fuzz_write_file(c.path, payload, n, 0);
        sr_set_init(&c.s, scale, (opt >> 2) & 1);
        if (fuzz_call(cache_load, &c)) fuzz_fail("sr_set_cache_load must not die: qat: error: %s", fuzz_message());
        if (c.result && !c.preload) {
            size_t m;
            uint8_t *saved = slurp(c.save, &m);
            if (m != n || memcmp(saved, payload, n)) fuzz_fail("a loaded cache saves as other bytes (%zu, read %zu)", m, n);
            free(saved);
        }
        sr_set_free(&c.s);
        return;
    }
    AddCtx c = {NULL, mode == 2, {0}};
    if (mode == 1) {
        c.path = fuzz_path(flag ? "images.tar.gz" : "images.tar");
        fuzz_write_file(c.path, payload, n, flag);
    } else {
        c.path = fuzz_path("images");
        mkdir(c.path, 0700);
        fuzz_write_file(fuzz_path(flag ? "images/img.bmp" : "images/img.png"), payload, n, 0);
    }
    sr_set_init(&c.s, scale, 0);
    if (fuzz_call(add, &c)) {
        FUZZ_EXPECT_MESSAGE(c.path);
        return;
    }
    sr_set_free(&c.s);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_init();
    /* a cache with one 2x2 image at scale 1 */
    static const uint8_t sample[] = {0, 0, 'Q', 'S', 'R', '1', 7, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
                                     1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 'a', 1, 2, 3, 4,
                                     0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'E', 'N', 'D', '1'};
    run(sample, sizeof sample);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    run(data, size);
    return 0;
}
