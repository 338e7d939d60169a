/* libFuzzer harness: the tar reader (data/tar.c) and the IMDB loader (data/imdb.c).
 *
 * Input: MODE OPT1 OPT2 OPT3 PAYLOAD. (MODE & 7) % 5 picks what PAYLOAD is:
 *   0  a .tar for tar_foreach
 *   1  the same, gzipped by the harness (a .tar.gz with a valid gzip stream)
 *   2  review text for imdb_tokenize (with and without strip_br)
 *   3  an aclImdb .tar (gzipped when MODE bit 3 is set) for imdb_load, no cache; OPT1..3
 *      give max_vocab, min_freq and max_seq_len, MODE bit 4 strip_br
 *   4  the IMDB token cache after its magic and key (which the harness puts in front, so
 *      that imdb_load takes the file for the cache of a fixed small source and reads it;
 *      the cache has no checksum: what is checked of a cache read is its shape)
 *
 * Checked: rejected inputs die naming the archive (or the source); tar entries are
 * NUL-terminated as promised; tokens are non-empty valid UTF-8 and counted right, and
 * strip_br never adds tokens; a loaded data set (from the reviews or from the cache) has
 * labels 0/1, lengths in 1..max_seq_len, token ids in 1..vocab_size-1 and the reserved
 * words; a damaged cache is rebuilt, never fatal. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "data/imdb.h"
#include "data/tar.h"
#include "fuzz_common.h"

/* ---- tar -------------------------------------------------------------------------------- */

typedef struct {
    const char *path;
    long visited;
} TarCtx;

static int visit(void *ctx, const char *name, const unsigned char *data, size_t size) {
    TarCtx *c = ctx;
    FUZZ_CHECK(strlen(name) < 4096);
    FUZZ_CHECK(data[size] == '\0');
    c->visited++;
    return 0;
}

static void walk(void *p) {
    TarCtx *c = p;
    long files = tar_foreach(c->path, visit, c);
    FUZZ_CHECK(files == c->visited);
}

/* ---- tokenizer ------------------------------------------------------------------------- */

typedef struct {
    long calls;
} TokCtx;

static void on_token(void *ctx, const char *word, size_t n) {
    TokCtx *t = ctx;
    FUZZ_CHECK(n > 0);
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)word + i, (utf8proc_ssize_t)(n - i), &cp);
        FUZZ_CHECK(k > 0);
        i += (size_t)k;
    }
    t->calls++;
}

static void tokenize(const uint8_t *text, size_t n) {
    TokCtx a = {0}, b = {0};
    long na = imdb_tokenize((const char *)text, n, 0, on_token, &a);
    long nb = imdb_tokenize((const char *)text, n, 1, on_token, &b);
    FUZZ_CHECK((na < 0) == (nb < 0));
    FUZZ_CHECK(na < 0 ? a.calls == 0 && b.calls == 0 : na == a.calls && nb == b.calls);
    FUZZ_CHECK(nb <= na);
}

/* ---- the loader -------------------------------------------------------------------------- */

typedef struct {
    ImdbOptions o;
    ImdbData d;
} LoadCtx;

static void load(void *p) {
    LoadCtx *c = p;
    imdb_load(&c->d, &c->o);
}

static void check_split(const ImdbSplit *s, const ImdbData *d, int max_len) {
    FUZZ_CHECK(s->n >= 0 && s->off[0] == 0);
    for (int i = 0; i < s->n; i++) {
        FUZZ_CHECK(s->label[i] == 0 || s->label[i] == 1);
        FUZZ_CHECK(s->len[i] >= 1 && s->len[i] <= max_len);
        FUZZ_CHECK(s->off[i + 1] == s->off[i] + s->len[i]);
    }
    for (int64_t k = 0; k < s->off[s->n]; k++) FUZZ_CHECK(s->tok[k] >= 1 && s->tok[k] < d->vocab_size);
}

/* words: whether the words are the loader's own; the cache has no checksum, so a word
 * changed inside a cache file reads back as it is (cache_read checks the shape only). */
static void check_data(const ImdbData *d, const ImdbOptions *o, int words) {
    FUZZ_CHECK(d->vocab_size >= 2 && (d->from_cache || d->vocab_size <= o->max_vocab));
    for (int i = 0; i < d->vocab_size; i++) FUZZ_CHECK(d->words[i] != NULL);
    if (words) FUZZ_CHECK(!strcmp(d->words[0], "<pad>") && !strcmp(d->words[1], "<unk>"));
    FUZZ_CHECK(d->train.n > 0 && d->test.n > 0);
    check_split(&d->train, d, o->max_seq_len);
    check_split(&d->test, d, o->max_seq_len);
}

/* A minimal ustar archive writer for the fixed source of mode 4. */
static size_t tar_add(uint8_t *buf, size_t at, const char *name, const char *text) {
    size_t n = strlen(text);
    uint8_t *h = buf + at;
    memset(h, 0, 512);
    snprintf((char *)h, 100, "%s", name);
    memcpy(h + 100, "0000644", 7);
    memcpy(h + 108, "0000000", 7);
    memcpy(h + 116, "0000000", 7);
    snprintf((char *)h + 124, 12, "%011o", (unsigned)n);
    memcpy(h + 136, "00000000000", 11);
    h[156] = '0';
    memcpy(h + 257, "ustar\0" "00", 8);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++) sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    memset(buf + at + 512, 0, (n + 511) / 512 * 512);
    memcpy(buf + at + 512, text, n);
    return at + 512 + (n + 511) / 512 * 512;
}

static ImdbOptions g_cache_opts;
static char g_cache_file[1200];
static uint8_t g_cache_head[72]; /* the magic and key of the fixed source's cache */

static void setup_cache_source(void) {
    static uint8_t tar[16 * 1024];
    size_t n = 0;
    n = tar_add(tar, n, "aclImdb/train/neg/0_1.txt", "Bad bad movie, boring acting.");
    n = tar_add(tar, n, "aclImdb/train/pos/0_9.txt", "Great movie<br /><br />great fun");
    n = tar_add(tar, n, "aclImdb/test/neg/0_2.txt", "A bad, bad film");
    n = tar_add(tar, n, "aclImdb/test/pos/0_10.txt", "Fun! Great acting.");
    memset(tar + n, 0, 1024);
    n += 1024;
    static char src[1024], dir[1024];
    snprintf(src, sizeof src, "%s", fuzz_path("fixed.tar"));
    snprintf(dir, sizeof dir, "%s", fuzz_path("cache"));
    fuzz_write_file(src, tar, n, 0);
    g_cache_opts = (ImdbOptions){src, 100, 1, 16, 1, 1, dir};
    LoadCtx c = {g_cache_opts, {0}};
    if (fuzz_call(load, &c)) fuzz_fail("the fixed IMDB source does not load: %s", fuzz_message());
    imdb_free(&c.d);
    DIR *d = opendir(dir);
    FUZZ_CHECK(d != NULL);
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "imdb-", 5)) snprintf(g_cache_file, sizeof g_cache_file, "%s/%s", dir, e->d_name);
    closedir(d);
    FILE *f = fopen(g_cache_file, "rb");
    FUZZ_CHECK(f != NULL && fread(g_cache_head, 1, sizeof g_cache_head, f) == sizeof g_cache_head);
    /* FUZZ_DUMP_CACHE=PATH: write a mode-4 seed (the valid cache body) to PATH. */
    const char *dump = getenv("FUZZ_DUMP_CACHE");
    if (dump) {
        static uint8_t body[1 << 16];
        body[0] = 4, body[1] = body[2] = body[3] = 0;
        size_t m = fread(body + 4, 1, sizeof body - 4, f);
        fuzz_write_file(dump, body, m + 4, 0);
    }
    fclose(f);
}

/* ---- driver ---------------------------------------------------------------------------------- */

static void run(const uint8_t *data, size_t size) {
    if (size < 4) return;
    unsigned mode = (data[0] & 7) % 5;
    const uint8_t *payload = data + 4;
    size_t n = size - 4;
    if (mode == 0 || mode == 1) {
        TarCtx c = {fuzz_path(mode ? "t.tar.gz" : "t.tar"), 0};
        fuzz_write_file(c.path, payload, n, mode == 1);
        if (fuzz_call(walk, &c)) FUZZ_EXPECT_MESSAGE(c.path);
    } else if (mode == 2) {
        tokenize(payload, n);
    } else if (mode == 3) {
        int gz = (data[0] >> 3) & 1;
        const char *src = fuzz_path(gz ? "reviews.tar.gz" : "reviews.tar");
        fuzz_write_file(src, payload, n, gz);
        LoadCtx c = {{src, 2 + data[1] % 64, 1 + data[2] % 3, 1 + data[3] % 64, (data[0] >> 4) & 1, 0, NULL}, {0}};
        if (fuzz_call(load, &c)) {
            FUZZ_EXPECT_MESSAGE(src);
            return;
        }
        check_data(&c.d, &c.o, 1);
        imdb_free(&c.d);
    } else {
        FILE *f = fopen(g_cache_file, "wb");
        FUZZ_CHECK(f != NULL);
        FUZZ_CHECK(fwrite(g_cache_head, 1, sizeof g_cache_head, f) == sizeof g_cache_head);
        FUZZ_CHECK(fwrite(payload, 1, n, f) == n && fclose(f) == 0);
        LoadCtx c = {g_cache_opts, {0}};
        if (fuzz_call(load, &c)) fuzz_fail("a damaged cache must be rebuilt, not fatal: qat: error: %s", fuzz_message());
        check_data(&c.d, &c.o, !c.d.from_cache);
        imdb_free(&c.d);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_init();
    setup_cache_source();
    static const uint8_t sample[] = "\x02\0\0\0It's <br /><br />GREAT, ΟΔΟΣ!";
    run(sample, sizeof sample - 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    run(data, size);
    return 0;
}
