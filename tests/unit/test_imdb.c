/* IMDB loader (data/imdb.h):
 *  - the tokenizer against Python's re.sub(r"[^\w\s]", " ", text.lower()).split() on
 *    ASCII, <br />, non-ASCII words (Latin, Greek with final sigma, CJK, other digits,
 *    full-width, combining marks, U+0130), and invalid UTF-8 (the expected tokens were
 *    printed by CPython 3.11);
 *  - a small aclImdb tree the test writes, read as a folder and as a .tar.gz: canonical
 *    order, labels, the vocabulary (frequency order, first-seen ties, min_freq,
 *    max_vocab), <unk>, truncation, README/urls files ignored, and the skipped reviews
 *    (an empty file, a non-UTF-8 file, a review without a word) counted;
 *  - the cache: a second load comes from it, with the same data; another setting misses;
 *    a damaged one (truncated, or with counts far beyond its size) is rebuilt;
 *  - a missing split folder (folder and tarball) ends with a clear error. */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "data/imdb.h"

typedef struct {
    int n;
    char w[16][64];
} Toks;

static void collect(void *ctx, const char *word, size_t n) {
    Toks *t = ctx;
    if (t->n < 16 && n < 64) {
        memcpy(t->w[t->n], word, n);
        t->w[t->n][n] = '\0';
    }
    t->n++;
}

/* expect: the tokens joined by '|' */
static void tok_case(const char *text, int strip_br, const char *expect) {
    Toks t = {0};
    long n = imdb_tokenize(text, strlen(text), strip_br, collect, &t);
    char got[512] = "";
    for (int i = 0; i < t.n && i < 16; i++) {
        if (i) strcat(got, "|");
        strcat(got, t.w[i]);
    }
    int ok = n == t.n && strcmp(got, expect) == 0;
    if (!ok) fprintf(stderr, "tokenize(\"%s\"): got \"%s\" (%ld), want \"%s\"\n", text, got, n, expect);
    CHECK(ok);
}

static void test_tokenizer(void) {
    tok_case("Hello, World!", 0, "hello|world");
    tok_case("It's <br /><br />great", 0, "it|s|br|br|great");
    tok_case("It's <br /><br />great", 1, "it|s|great");
    tok_case("a<BR/>b<br>c<br  />d", 1, "a|b|c|d");
    tok_case("snake_case 42 x2", 0, "snake_case|42|x2");
    tok_case("Café naïve ÉCOLE", 0, "café|naïve|école");
    tok_case("Ünïcödé—dash", 0, "ünïcödé|dash");
    tok_case("ΟΔΟΣ ΣΑΣ", 0, "οδος|σας");
    tok_case("Σ", 0, "σ");
    tok_case("ΑΣ.", 0, "ας");
    tok_case("ΑΣ'Α", 0, "ασ|α");
    tok_case("日本語のテキスト", 0, "日本語のテキスト");
    tok_case("٣ apples", 0, "٣|apples");
    tok_case("cafe\xcc\x81 ok", 0, "cafe|ok"); /* e + U+0301: the mark is not a word character */
    tok_case("İstanbul", 0, "i|stanbul");
    tok_case("good👍movie", 0, "good|movie");
    tok_case("ＡＢＣ", 0, "ａｂｃ");
    tok_case("x² ½", 0, "x²|½");
    tok_case("ǅemal", 0, "ǆemal");
    tok_case("tab\tnew\nline\xc2\xa0nbsp", 0, "tab|new|line|nbsp");
    tok_case("", 0, "");
    tok_case("?!...", 0, "");
    Toks t = {0};
    CHECK(imdb_tokenize("ok \xff\xfe bad", 9, 0, collect, &t) == -1 && t.n == 0);
    CHECK(imdb_tokenize("trunc \xc3", 7, 0, collect, &t) == -1);
    CHECK(imdb_tokenize("\xed\xa0\x80", 3, 0, collect, &t) == -1); /* an encoded surrogate */
}

/* ------------------------------------------------------------------------------------ */

static char tmp[64];

static void write_file(const char *rel, const char *text, size_t n) {
    char path[512], cmd[600];
    snprintf(path, sizeof path, "%s/%s", tmp, rel);
    snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s')\"", path);
    CHECK(system(cmd) == 0);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fwrite(text, 1, n, f);
    fclose(f);
}

static void put(const char *rel, const char *text) { write_file(rel, text, strlen(text)); }

static void make_tree(void) {
    put("src/aclImdb/README", "not a review");
    put("src/aclImdb/imdb.vocab", "bad\ngood\n");
    put("src/aclImdb/train/urls_pos.txt", "http://example.com");
    /* written out of order: the loader sorts split, neg before pos, id */
    put("src/aclImdb/train/pos/1_8.txt", "Great fun! <br /><br />fun fun");
    put("src/aclImdb/train/pos/0_9.txt", "great movie great acting");
    put("src/aclImdb/train/neg/1_2.txt", "boring movie, bad acting");
    put("src/aclImdb/train/neg/0_1.txt", "bad bad movie");
    put("src/aclImdb/train/neg/10_3.txt", "\xff bad");        /* not UTF-8: skipped */
    put("src/aclImdb/train/pos/2_7.txt", "");                 /* empty: skipped */
    put("src/aclImdb/test/neg/0_2.txt", "Bad movie, zzz");
    put("src/aclImdb/test/pos/0_10.txt", "great GREAT fun acting yes");
    put("src/aclImdb/test/pos/1_9.txt", "!!! ...");           /* no word: skipped */
    put("src/aclImdb/test/pos/notes.md", "ignored: not <id>_<rating>.txt");
}

static ImdbOptions opts(const char *source, int max_vocab, int max_len, const char *cache) {
    ImdbOptions o = {source, max_vocab, 2, max_len, 0, cache != NULL, cache};
    return o;
}

static int same_split(const ImdbSplit *a, const ImdbSplit *b) {
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++)
        if (a->label[i] != b->label[i] || a->len[i] != b->len[i]) return 0;
    return memcmp(a->tok, b->tok, (size_t)a->off[a->n] * sizeof *a->tok) == 0;
}

static void check_data(const ImdbData *d, const char *what) {
    char msg[160];
    /* counts: bad 3 movie 3 great 3 fun 3 (first seen in this order), acting 2, br 2;
     * boring 1 (< min_freq) */
    static const char *const want[] = {"<pad>", "<unk>", "bad", "movie", "great", "fun", "acting", "br"};
    int ok = d->vocab_size == 8;
    for (int i = 0; ok && i < 8; i++) ok = strcmp(d->words[i], want[i]) == 0;
    snprintf(msg, sizeof msg, "%s: vocabulary order", what);
    check_true(ok, msg, __FILE__, __LINE__);
    /* train: neg 0, neg 1, pos 0, pos 1 */
    static const int32_t train_tok[] = {2, 2, 3, /**/ 1, 3, 2, 6, /**/ 4, 3, 4, 6, /**/ 4, 5, 7, 7, 5, 5};
    static const int train_len[] = {3, 4, 4, 6}, train_label[] = {0, 0, 1, 1};
    ok = d->train.n == 4;
    for (int i = 0; ok && i < 4; i++) ok = d->train.len[i] == train_len[i] && d->train.label[i] == train_label[i];
    ok = ok && d->train.off[4] == 17 && !memcmp(d->train.tok, train_tok, sizeof train_tok);
    snprintf(msg, sizeof msg, "%s: training reviews", what);
    check_true(ok, msg, __FILE__, __LINE__);
    /* test: "Bad movie, zzz" (zzz unknown), "great GREAT fun acting yes" */
    static const int32_t test_tok[] = {2, 3, 1, 4, 4, 5, 6, 1};
    ok = d->test.n == 2 && d->test.label[0] == 0 && d->test.label[1] == 1 && d->test.len[1] == 5 &&
         !memcmp(d->test.tok, test_tok, sizeof test_tok);
    snprintf(msg, sizeof msg, "%s: test reviews", what);
    check_true(ok, msg, __FILE__, __LINE__);
    snprintf(msg, sizeof msg, "%s: skipped reviews counted", what);
    check_true(d->skipped_empty == 1 && d->skipped_utf8 == 1 && d->skipped_nowords == 1, msg, __FILE__, __LINE__);
}

static void load_imdb(const void *o) {
    ImdbData d;
    imdb_load(&d, o);
}

static void test_loader(void) {
    make_tree();
    char folder[128], tarball[128], cache[128], cmd[512];
    snprintf(folder, sizeof folder, "%s/src", tmp);
    snprintf(tarball, sizeof tarball, "%s/imdb.tar.gz", tmp);
    snprintf(cache, sizeof cache, "%s/cache", tmp);
    snprintf(cmd, sizeof cmd, "cd %s/src && tar czf ../imdb.tar.gz aclImdb", tmp);
    CHECK(system(cmd) == 0);

    ImdbData a, b, c, e;
    ImdbOptions o = opts(folder, 50000, 512, NULL);
    imdb_load(&a, &o);
    check_data(&a, "folder");
    o = opts(tarball, 50000, 512, cache);
    imdb_load(&b, &o);
    check_data(&b, "tarball");
    CHECK(!b.from_cache);
    imdb_load(&c, &o);
    CHECK(c.from_cache);
    check_data(&c, "cache");
    CHECK(same_split(&b.train, &c.train) && same_split(&b.test, &c.test));

    /* max_vocab 6 keeps bad movie great fun; max_seq_len 3 keeps the first 3 tokens */
    o = opts(tarball, 6, 3, cache);
    imdb_load(&e, &o);
    CHECK(!e.from_cache); /* other settings, other cache key */
    CHECK(e.vocab_size == 6 && e.test.len[1] == 3 && e.train.len[3] == 3);
    static const int32_t t2[] = {2, 3, 1, 4, 4, 5};
    CHECK(!memcmp(e.test.tok, t2, sizeof t2));
    CHECK(e.train.tok[e.train.off[1]] == 1); /* "boring" */

    /* a damaged cache is rebuilt */
    snprintf(cmd, sizeof cmd, "for f in %s/imdb-*.bin; do truncate -s 100 $f; done", cache);
    CHECK(system(cmd) == 0);
    imdb_free(&e);
    imdb_load(&e, &o);
    CHECK(!e.from_cache && e.vocab_size == 6);

    /* Damaged counts (found by tests/fuzz/fuzz_imdb_tar.c): a vocabulary of 2^28 - 1
     * words, or 16 reviews of 2^31 - 1 tokens (128 GiB), in a file of a few bytes. They
     * were allocated before reading (the tokens: an out-of-memory error); now the cache
     * reads as damaged and is rebuilt. So is a cache without a review in its splits
     * (k = 2), which would have trained on nothing. */
    for (int k = 0; k < 3; k++) {
        unsigned char body[256];
        size_t n = 0;
        int64_t head[4] = {k == 0 ? (1 << 28) - 1 : 2, 0, 0, 0};
        memcpy(body, head, sizeof head), n += sizeof head;
        for (int w = 0; k > 0 && w < 2; w++) {
            uint32_t len = 5;
            memcpy(body + n, &len, 4), n += 4;
            memcpy(body + n, w ? "<unk>" : "<pad>", 5), n += 5;
        }
        if (k == 2) {
            int64_t none = 0;
            memcpy(body + n, &none, 8), n += 8;
            memcpy(body + n, &none, 8), n += 8;
        }
        if (k == 1) {
            int64_t reviews = 16;
            memcpy(body + n, &reviews, 8), n += 8;
            int32_t label[16] = {0}, len[16];
            for (int i = 0; i < 16; i++) len[i] = 0x7fffffff;
            memcpy(body + n, label, sizeof label), n += sizeof label;
            memcpy(body + n, len, sizeof len), n += sizeof len;
        }
        glob_t g;
        snprintf(cmd, sizeof cmd, "%s/imdb-*.bin", cache);
        CHECK(glob(cmd, 0, NULL, &g) == 0 && g.gl_pathc == 2);
        for (size_t i = 0; i < g.gl_pathc; i++) {
            unsigned char keep[72];
            FILE *f = fopen(g.gl_pathv[i], "rb");
            CHECK(f && fread(keep, 1, sizeof keep, f) == sizeof keep); /* magic and key */
            if (f) fclose(f);
            f = fopen(g.gl_pathv[i], "wb");
            CHECK(f && fwrite(keep, 1, sizeof keep, f) == sizeof keep && fwrite(body, 1, n, f) == n);
            if (f) fclose(f);
        }
        globfree(&g);
        imdb_free(&e);
        imdb_load(&e, &o);
        CHECK(!e.from_cache && e.vocab_size == 6);
    }

    /* a missing split folder */
    snprintf(cmd, sizeof cmd, "cd %s/src && rm -r aclImdb/test/neg && tar czf ../broken.tar.gz aclImdb", tmp);
    CHECK(system(cmd) == 0);
    o = opts(folder, 50000, 512, NULL);
    CHECK_DIES(load_imdb, &o, "test/neg");
    char broken[160];
    snprintf(broken, sizeof broken, "%s/broken.tar.gz", tmp);
    o = opts(broken, 50000, 512, NULL);
    CHECK_DIES(load_imdb, &o, "no reviews in test/neg/");
    o = opts("/nonexistent/aclImdb.tar.gz", 50000, 512, NULL);
    CHECK_DIES(load_imdb, &o, "/nonexistent/aclImdb.tar.gz");

    imdb_free(&a);
    imdb_free(&b);
    imdb_free(&c);
    imdb_free(&e);
}

int main(void) {
    test_tokenizer();
    snprintf(tmp, sizeof tmp, "/tmp/qat_imdb_XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    test_loader();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return check_done("test_imdb");
}
