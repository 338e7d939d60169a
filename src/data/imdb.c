#include "data/imdb.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#include "core/error.h"
#include "core/runtime.h"
#include "core/sha256.h"
#include "data/fetch.h"
#include "data/tar.h"
#include "io/atomic_file.h"

#define TARBALL "aclImdb_v1_labelled.tar.gz"
#define CACHE_MAGIC "QIMDB002"
static const char *const SPLITS[2] = {"train", "test"};
static const char *const LABELS[2] = {"neg", "pos"};

/* ------------------------------------------------------------------------------------ */
/* Tokenizer                                                                             */

static int is_word_cp(int32_t c) {
    if (c < 128) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    utf8proc_category_t k = utf8proc_category(c);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
           (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}

/* Python's Cased and Case_Ignorable properties, as far as Final_Sigma needs them. */
static int is_cased(int32_t c) {
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
           utf8proc_islower(c) || utf8proc_isupper(c);
}

static int is_case_ignorable(int32_t c) {
    static const int32_t mid[] = {0x27,   0x2E,   0x3A,   0xB7,   0x387,  0x55F,  0x5F4,  0x2018, 0x2019,
                                  0x2024, 0x2027, 0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A};
    for (size_t i = 0; i < sizeof mid / sizeof mid[0]; i++)
        if (c == mid[i]) return 1;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK;
}

/* U+03A3 lowercases to final sigma U+03C2 after a cased letter and not before one
 * (case-ignorable characters skipped on both sides), as Python's str.lower(). */
static int32_t lower_sigma(const int32_t *cp, long n, long i) {
    long j = i - 1;
    while (j >= 0 && is_case_ignorable(cp[j])) j--;
    if (j < 0 || !is_cased(cp[j])) return 0x3C3;
    j = i + 1;
    while (j < n && is_case_ignorable(cp[j])) j++;
    return (j < n && is_cased(cp[j])) ? 0x3C3 : 0x3C2;
}

/* "<br />", "<br/>", "<br>" (any case, spaces before the slash) starting at cp[i]:
 * its length in code points, else 0. */
static long br_tag(const int32_t *cp, long n, long i) {
    if (i + 3 > n || cp[i] != '<' || (cp[i + 1] | 0x20) != 'b' || (cp[i + 2] | 0x20) != 'r') return 0;
    long j = i + 3;
    while (j < n && cp[j] == ' ') j++;
    if (j < n && cp[j] == '/') j++;
    return (j < n && cp[j] == '>') ? j + 1 - i : 0;
}

long imdb_tokenize(const char *text, size_t n, int strip_br, ImdbTokenFn fn, void *ctx) {
    /* decode first: Final_Sigma looks both ways */
    int32_t *cp = qat_malloc((n + 1) * sizeof(int32_t));
    long ncp = 0;
    const utf8proc_uint8_t *s = (const utf8proc_uint8_t *)text;
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(s + i, (utf8proc_ssize_t)(n - i), &c);
        if (k <= 0) {
            free(cp);
            return -1;
        }
        cp[ncp++] = c;
        i += (size_t)k;
    }
    char *word = qat_malloc(4 * (size_t)ncp + 8);
    size_t wl = 0;
    long count = 0;
    for (long i = 0; i <= ncp; i++) {
        int32_t c = i < ncp ? cp[i] : ' ';
        long br = strip_br && c == '<' ? br_tag(cp, ncp, i) : 0;
        if (br) {
            i += br - 1;
            c = ' ';
        }
        int split_after = 0;
        if (c < 128) {
            if (c >= 'A' && c <= 'Z') c += 32;
        } else if (c == 0x130) {
            c = 'i'; /* Python: "i" + U+0307 (a mark, not a word character) */
            split_after = 1;
        } else if (c == 0x3A3) {
            c = lower_sigma(cp, ncp, i);
        } else {
            c = utf8proc_tolower(c);
        }
        if (is_word_cp(c)) {
            wl += (size_t)utf8proc_encode_char(c, (utf8proc_uint8_t *)word + wl);
            if (!split_after) continue;
        }
        if (wl) {
            fn(ctx, word, wl);
            count++;
            wl = 0;
        }
    }
    free(word);
    free(cp);
    return count;
}

/* snprintf into a path buffer; a path that does not fit is an error. */
QAT_PRINTF(3, 4) static void path_fmt(char *out, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap) qat_die("imdb: path too long: %.80s...", out);
}

/* ------------------------------------------------------------------------------------ */
/* Reading the reviews                                                                   */

typedef struct {
    int split, label, id, rating;
    char *name; /* as found: "aclImdb/train/pos/0_9.txt" */
    char *text;
    size_t size;
} Review;

typedef struct {
    Review *r;
    long n, cap;
    long per_folder[2][2];
} Reviews;

/* "<...>/{train,test}/{neg,pos}/<id>_<rating>.txt": 1 and the fields, else 0. */
static int parse_name(const char *name, int *split, int *label, int *id, int *rating) {
    const char *c[3] = {NULL, NULL, name}; /* the last three components */
    for (const char *q = name; *q; q++)
        if (*q == '/' && q[1]) c[0] = c[1], c[1] = c[2], c[2] = q + 1;
    if (!c[0] || !c[1]) return 0;
    *split = -1, *label = -1;
    for (int i = 0; i < 2; i++) {
        if (!strncmp(c[0], SPLITS[i], strlen(SPLITS[i])) && c[0][strlen(SPLITS[i])] == '/') *split = i;
        if (!strncmp(c[1], LABELS[i], 3) && c[1][3] == '/') *label = i;
    }
    if (*split < 0 || *label < 0) return 0;
    char tail[8];
    int used = 0;
    if (sscanf(c[2], "%d_%d%7s%n", id, rating, tail, &used) != 3 || strcmp(tail, ".txt") || c[2][used]) return 0;
    return 1;
}

static void add_review(Reviews *rs, const char *name, const unsigned char *data, size_t size) {
    int split, label, id, rating;
    if (!parse_name(name, &split, &label, &id, &rating)) return;
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? 2 * rs->cap : 1024;
        rs->r = qat_realloc(rs->r, (size_t)rs->cap * sizeof *rs->r);
    }
    Review *r = &rs->r[rs->n++];
    *r = (Review){split, label, id, rating, qat_strdup(name), qat_malloc(size + 1), size};
    memcpy(r->text, data, size);
    r->text[size] = '\0';
    rs->per_folder[split][label]++;
}

static int tar_entry(void *ctx, const char *name, const unsigned char *data, size_t size) {
    add_review(ctx, name, data, size);
    return 0;
}

/* An extracted folder: DIR/{train,test}/{neg,pos} or DIR/aclImdb/... */
static void folder_base(const char *dir, char *base, size_t cap) {
    struct stat st;
    char probe[1200];
    path_fmt(probe, sizeof probe, "%s/train", dir);
    if (stat(probe, &st) == 0 && S_ISDIR(st.st_mode)) {
        path_fmt(base, cap, "%s", dir);
        return;
    }
    path_fmt(probe, sizeof probe, "%s/aclImdb", dir);
    if (stat(probe, &st) == 0 && S_ISDIR(st.st_mode)) {
        path_fmt(base, cap, "%s", probe);
        return;
    }
    path_fmt(base, cap, "%s", dir);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The file names of one class folder, sorted; dies when the folder is missing. */
static char **list_folder(const char *path, long *count) {
    DIR *dir = opendir(path);
    if (!dir) qat_die("imdb: cannot open the folder %s: %s (expected the aclImdb layout train/{pos,neg}, "
                      "test/{pos,neg})", path, strerror(errno));
    char **names = NULL;
    long n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            names = qat_realloc(names, (size_t)cap * sizeof *names);
        }
        names[n++] = qat_strdup(e->d_name);
    }
    closedir(dir);
    if (n) qsort(names, (size_t)n, sizeof *names, by_name);
    *count = n;
    return names;
}

static void read_folder(const char *dir, Reviews *rs) {
    char base[1024];
    folder_base(dir, base, sizeof base);
    for (int s = 0; s < 2; s++)
        for (int l = 0; l < 2; l++) {
            char path[1200];
            path_fmt(path, sizeof path, "%s/%s/%s", base, SPLITS[s], LABELS[l]);
            long n;
            char **names = list_folder(path, &n);
            for (long i = 0; i < n; i++) {
                char file[1400];
                path_fmt(file, sizeof file, "%s/%s", path, names[i]);
                FILE *f = fopen(file, "rb");
                if (!f) qat_die("imdb: cannot read %s: %s", file, strerror(errno));
                fseek(f, 0, SEEK_END);
                long size = ftell(f);
                fseek(f, 0, SEEK_SET);
                unsigned char *buf = qat_malloc((size_t)size + 1);
                if (size > 0 && fread(buf, 1, (size_t)size, f) != (size_t)size)
                    qat_die("imdb: cannot read %s", file);
                fclose(f);
                add_review(rs, file, buf, (size_t)size);
                free(buf);
                free(names[i]);
            }
            free(names);
        }
}

static int is_folder(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int review_order(const void *a, const void *b) {
    const Review *x = a, *y = b;
    if (x->split != y->split) return x->split - y->split;
    if (x->label != y->label) return x->label - y->label;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return x->rating - y->rating;
}

/* ------------------------------------------------------------------------------------ */
/* Word table: interned training words with their count and first appearance            */

typedef struct {
    char *pool;
    size_t pool_len, pool_cap;
    size_t *at;   /* [n] offset of word i in pool (NUL-terminated) */
    long *count;  /* [n] */
    int32_t *slot; /* [cap] word index + 1, 0 = empty */
    long n, cap_words, cap;
} Words;

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return h;
}

static void words_init(Words *w) {
    memset(w, 0, sizeof *w);
    w->cap = 1 << 18;
    w->slot = qat_calloc((size_t)w->cap, sizeof *w->slot);
}

static void words_free(Words *w) {
    free(w->pool), free(w->at), free(w->count), free(w->slot);
}

/* Slot of the word (its index + 1 there), or the empty slot where it would go. */
static long words_slot(const Words *w, const char *s, size_t n) {
    long mask = w->cap - 1, i = (long)(hash_bytes(s, n) & (uint64_t)mask);
    while (w->slot[i]) {
        const char *k = w->pool + w->at[w->slot[i] - 1];
        if (strlen(k) == n && !memcmp(k, s, n)) return i;
        i = (i + 1) & mask;
    }
    return i;
}

static long words_find(const Words *w, const char *s, size_t n) {
    long i = words_slot(w, s, n);
    return w->slot[i] ? w->slot[i] - 1 : -1;
}

static void words_grow(Words *w) {
    long cap = w->cap * 2;
    int32_t *slot = qat_calloc((size_t)cap, sizeof *slot);
    for (long i = 0; i < w->cap; i++) {
        if (!w->slot[i]) continue;
        const char *k = w->pool + w->at[w->slot[i] - 1];
        long j = (long)(hash_bytes(k, strlen(k)) & (uint64_t)(cap - 1));
        while (slot[j]) j = (j + 1) & (cap - 1);
        slot[j] = w->slot[i];
    }
    free(w->slot);
    w->slot = slot;
    w->cap = cap;
}

/* Index of the word, added (count 0) when new: indices follow first appearance. */
static long words_add(Words *w, const char *s, size_t n) {
    long i = words_slot(w, s, n);
    if (w->slot[i]) return w->slot[i] - 1;
    if (w->n == w->cap_words) {
        w->cap_words = w->cap_words ? 2 * w->cap_words : 4096;
        w->at = qat_realloc(w->at, (size_t)w->cap_words * sizeof *w->at);
        w->count = qat_realloc(w->count, (size_t)w->cap_words * sizeof *w->count);
    }
    if (w->pool_len + n + 1 > w->pool_cap) {
        w->pool_cap = 2 * (w->pool_len + n + 1) + (1 << 20);
        w->pool = qat_realloc(w->pool, w->pool_cap);
    }
    memcpy(w->pool + w->pool_len, s, n);
    w->pool[w->pool_len + n] = '\0';
    w->at[w->n] = w->pool_len;
    w->count[w->n] = 0;
    w->pool_len += n + 1;
    w->slot[i] = (int32_t)(w->n + 1);
    long idx = w->n++;
    if (2 * w->n > w->cap) words_grow(w);
    return idx;
}

/* ------------------------------------------------------------------------------------ */
/* Tokenizing the splits                                                                 */

typedef struct {
    int32_t *v;
    long n, cap;
} IntVec;

static void ivec_push(IntVec *v, int32_t x) {
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 1 << 20;
        v->v = qat_realloc(v->v, (size_t)v->cap * sizeof *v->v);
    }
    v->v[v->n++] = x;
}

typedef struct {
    Words *w;
    IntVec *out;
    int add; /* training split: intern and count; test: look up (-1 = unknown) */
} TokCtx;

static void on_token(void *ctx, const char *word, size_t n) {
    TokCtx *t = ctx;
    long id;
    if (t->add) {
        id = words_add(t->w, word, n);
        t->w->count[id]++;
    } else {
        id = words_find(t->w, word, n);
    }
    ivec_push(t->out, (int32_t)id);
}

typedef struct {
    long empty, utf8, nowords;
    const char *first[3];
} Skips;

static void skip_note(Skips *s, int why, const char *name) {
    long *c[3] = {&s->empty, &s->utf8, &s->nowords};
    if ((*c[why])++ == 0) s->first[why] = name;
}

/* Tokenizes the reviews of one split (already in order) into word indices; off[i] ..
 * off[i+1] are review i's, label[i] its label. Skipped reviews get no entry. */
static int tokenize_split(Reviews *rs, int split, Words *w, int strip_br, IntVec *tok, int64_t **off_out,
                          int **label_out, Skips *sk) {
    int64_t *off = qat_malloc((size_t)(rs->n + 1) * sizeof *off);
    int *label = qat_malloc((size_t)rs->n * sizeof *label);
    int n = 0;
    off[0] = 0;
    TokCtx ctx = {w, tok, split == 0};
    for (long i = 0; i < rs->n; i++) {
        Review *r = &rs->r[i];
        if (r->split != split) continue;
        if (r->size == 0) {
            skip_note(sk, 0, r->name);
            continue;
        }
        long before = tok->n;
        long k = imdb_tokenize(r->text, r->size, strip_br, on_token, &ctx);
        if (k < 0) {
            skip_note(sk, 1, r->name);
            continue;
        }
        if (k == 0) {
            tok->n = before;
            skip_note(sk, 2, r->name);
            continue;
        }
        label[n] = r->label;
        off[++n] = tok->n;
    }
    *off_out = off;
    *label_out = label;
    return n;
}

typedef struct {
    long count, first;
} Rank;

static const Words *g_sort_words;

static int by_frequency(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    const Words *w = g_sort_words;
    if (w->count[x] != w->count[y]) return w->count[x] > w->count[y] ? -1 : 1;
    return (x > y) - (x < y); /* word index = order of first appearance */
}

/* Word index -> vocabulary id, and the vocabulary's words. */
static int32_t *build_vocab(const Words *w, const ImdbOptions *o, ImdbData *d) {
    long *cand = qat_malloc((size_t)(w->n ? w->n : 1) * sizeof *cand);
    long nc = 0;
    for (long i = 0; i < w->n; i++)
        if (w->count[i] >= o->min_freq) cand[nc++] = i;
    g_sort_words = w;
    qsort(cand, (size_t)nc, sizeof *cand, by_frequency);
    g_sort_words = NULL;
    if (nc > o->max_vocab - 2) nc = o->max_vocab - 2;
    int32_t *map = qat_malloc((size_t)(w->n ? w->n : 1) * sizeof *map);
    for (long i = 0; i < w->n; i++) map[i] = 1;
    d->vocab_size = (int)nc + 2;
    d->words = qat_malloc((size_t)d->vocab_size * sizeof *d->words);
    d->words[0] = qat_strdup("<pad>");
    d->words[1] = qat_strdup("<unk>");
    for (long r = 0; r < nc; r++) {
        map[cand[r]] = (int32_t)(r + 2);
        d->words[r + 2] = qat_strdup(w->pool + w->at[cand[r]]);
    }
    free(cand);
    return map;
}

/* Word indices -> vocabulary ids, first max_seq_len tokens of each review. */
static void finish_split(ImdbSplit *s, int n, const int64_t *off, const int *label, const IntVec *tok,
                         const int32_t *map, int max_len) {
    s->n = n;
    s->label = qat_malloc((size_t)(n ? n : 1) * sizeof *s->label);
    s->len = qat_malloc((size_t)(n ? n : 1) * sizeof *s->len);
    s->off = qat_malloc((size_t)(n + 1) * sizeof *s->off);
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        int64_t L = off[i + 1] - off[i];
        s->len[i] = (int)(L < max_len ? L : max_len);
        total += s->len[i];
    }
    s->tok = qat_malloc((size_t)(total ? total : 1) * sizeof *s->tok);
    s->off[0] = 0;
    for (int i = 0; i < n; i++) {
        s->label[i] = label[i];
        for (int j = 0; j < s->len[i]; j++) {
            int32_t wi = tok->v[off[i] + j];
            s->tok[s->off[i] + j] = wi < 0 ? 1 : map[wi];
        }
        s->off[i + 1] = s->off[i] + s->len[i];
    }
}

static void build(ImdbData *d, const ImdbOptions *o, const char *source) {
    double t0 = runtime_now();
    Reviews rs;
    memset(&rs, 0, sizeof rs);
    if (is_folder(source)) read_folder(source, &rs);
    else tar_foreach(source, tar_entry, &rs);
    for (int s = 0; s < 2; s++)
        for (int l = 0; l < 2; l++)
            if (rs.per_folder[s][l] == 0)
                qat_die("imdb: %s has no reviews in %s/%s/ (expected the aclImdb layout: train/{pos,neg}, "
                        "test/{pos,neg}, files <id>_<rating>.txt)", source, SPLITS[s], LABELS[l]);
    qsort(rs.r, (size_t)rs.n, sizeof *rs.r, review_order);
    Words w;
    words_init(&w);
    Skips sk;
    memset(&sk, 0, sizeof sk);
    IntVec tok[2];
    memset(tok, 0, sizeof tok);
    int64_t *off[2];
    int *label[2], n[2];
    for (int s = 0; s < 2; s++) n[s] = tokenize_split(&rs, s, &w, o->strip_br, &tok[s], &off[s], &label[s], &sk);
    int32_t *map = build_vocab(&w, o, d);
    finish_split(&d->train, n[0], off[0], label[0], &tok[0], map, o->max_seq_len);
    finish_split(&d->test, n[1], off[1], label[1], &tok[1], map, o->max_seq_len);
    d->skipped_empty = sk.empty, d->skipped_utf8 = sk.utf8, d->skipped_nowords = sk.nowords;
    const char *why[3] = {"empty", "not valid UTF-8", "without a word"};
    long cnt[3] = {sk.empty, sk.utf8, sk.nowords};
    for (int k = 0; k < 3; k++)
        if (cnt[k])
            fprintf(stderr, "imdb: warning: skipped %ld review(s) %s (first: %s)\n", cnt[k], why[k], sk.first[k]);
    fprintf(stderr, "imdb: tokenized %ld reviews from %s in %.1f s (%ld distinct training words)\n", rs.n, source,
            runtime_now() - t0, w.n);
    for (int s = 0; s < 2; s++) free(tok[s].v), free(off[s]), free(label[s]);
    free(map);
    words_free(&w);
    for (long i = 0; i < rs.n; i++) free(rs.r[i].name), free(rs.r[i].text);
    free(rs.r);
}

/* ------------------------------------------------------------------------------------ */
/* Cache                                                                                 */

/* The source's identity: the archive's bytes, or the folder's names, sizes and mtimes. */
static void source_digest(const char *source, char hex[65]) {
    if (!is_folder(source)) {
        if (!sha256_file_hex(source, hex)) qat_die("imdb: cannot read %s: %s", source, strerror(errno));
        return;
    }
    char base[1024];
    folder_base(source, base, sizeof base);
    Sha256 h;
    sha256_init(&h);
    for (int s = 0; s < 2; s++)
        for (int l = 0; l < 2; l++) {
            char path[1200];
            path_fmt(path, sizeof path, "%s/%s/%s", base, SPLITS[s], LABELS[l]);
            long n;
            char **names = list_folder(path, &n);
            for (long i = 0; i < n; i++) {
                char file[1400], line[1600];
                path_fmt(file, sizeof file, "%s/%s", path, names[i]);
                struct stat st;
                if (stat(file, &st) != 0) memset(&st, 0, sizeof st);
                int len = snprintf(line, sizeof line, "%s/%s/%s %lld %lld.%09ld\n", SPLITS[s], LABELS[l], names[i],
                                   (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
                sha256_update(&h, line, (size_t)len);
                free(names[i]);
            }
            free(names);
        }
    sha256_final_hex(&h, hex);
}

static void cache_key(const char *source, const ImdbOptions *o, char hex[65]) {
    char src[65], text[512];
    source_digest(source, src);
    int len = snprintf(text, sizeof text,
                       "%s source %s max_vocab %d min_freq %d max_seq_len %d strip_br %d utf8proc %s\n", CACHE_MAGIC,
                       src, o->max_vocab, o->min_freq, o->max_seq_len, o->strip_br, utf8proc_version());
    Sha256 h;
    sha256_init(&h);
    sha256_update(&h, text, (size_t)len);
    sha256_final_hex(&h, hex);
}

static void put(FILE *f, const void *p, size_t n) {
    if (n && fwrite(p, 1, n, f) != n) qat_die("imdb: cannot write the cache: %s", strerror(errno));
}

static int get(FILE *f, void *p, size_t n) { return n == 0 || fread(p, 1, n, f) == n; }

/* Bytes from the read position to the end of the file: a damaged count in the cache must
 * not allocate more than the file can hold. */
static int64_t bytes_left(FILE *f) {
    struct stat st;
    long at = ftell(f);
    return fstat(fileno(f), &st) == 0 && at >= 0 && at <= st.st_size ? (int64_t)st.st_size - at : 0;
}

static void write_split(FILE *f, const ImdbSplit *s) {
    int64_t n = s->n;
    put(f, &n, sizeof n);
    put(f, s->label, (size_t)s->n * sizeof *s->label);
    put(f, s->len, (size_t)s->n * sizeof *s->len);
    put(f, s->tok, (size_t)s->off[s->n] * sizeof *s->tok);
}

static void cache_write(const char *path, const char *key, const ImdbData *d) {
    AtomicFile af;
    FILE *f = atomic_file_open(&af, path);
    put(f, CACHE_MAGIC, 8);
    put(f, key, 64);
    int64_t head[4] = {d->vocab_size, d->skipped_empty, d->skipped_utf8, d->skipped_nowords};
    put(f, head, sizeof head);
    for (int i = 0; i < d->vocab_size; i++) {
        uint32_t n = (uint32_t)strlen(d->words[i]);
        put(f, &n, sizeof n);
        put(f, d->words[i], n);
    }
    write_split(f, &d->train);
    write_split(f, &d->test);
    atomic_file_commit(&af);
}

static int read_split(FILE *f, ImdbSplit *s, int vocab) {
    int64_t n;
    /* a cache is only written with reviews in both splits */
    if (!get(f, &n, sizeof n) || n < 1 || n > (1 << 24) || n > bytes_left(f) / 8) return 0;
    s->n = (int)n;
    s->label = qat_malloc((size_t)(n ? n : 1) * sizeof *s->label);
    s->len = qat_malloc((size_t)(n ? n : 1) * sizeof *s->len);
    s->off = qat_malloc((size_t)(n + 1) * sizeof *s->off);
    if (!get(f, s->label, (size_t)n * sizeof *s->label) || !get(f, s->len, (size_t)n * sizeof *s->len)) return 0;
    s->off[0] = 0;
    for (int i = 0; i < s->n; i++) {
        if (s->len[i] < 1 || (s->label[i] != 0 && s->label[i] != 1)) return 0;
        s->off[i + 1] = s->off[i] + s->len[i];
    }
    if (s->off[n] > bytes_left(f) / (int64_t)sizeof *s->tok) return 0;
    s->tok = qat_malloc((size_t)(s->off[n] ? s->off[n] : 1) * sizeof *s->tok);
    if (!get(f, s->tok, (size_t)s->off[n] * sizeof *s->tok)) return 0;
    for (int64_t i = 0; i < s->off[n]; i++)
        if (s->tok[i] < 1 || s->tok[i] >= vocab) return 0;
    return 1;
}

/* 1 when the cache file exists, has this key and is whole. */
static int cache_read(const char *path, const char *key, ImdbData *d) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char magic[8], k[64];
    int64_t head[4];
    int ok = get(f, magic, 8) && !memcmp(magic, CACHE_MAGIC, 8) && get(f, k, 64) && !memcmp(k, key, 64) &&
             get(f, head, sizeof head) && head[0] >= 2 && head[0] < (1 << 28) && head[0] <= bytes_left(f) / 4 &&
             head[1] >= 0 && head[2] >= 0 && head[3] >= 0;
    if (ok) {
        d->vocab_size = (int)head[0];
        d->skipped_empty = head[1], d->skipped_utf8 = head[2], d->skipped_nowords = head[3];
        d->words = qat_calloc((size_t)d->vocab_size, sizeof *d->words);
        for (int i = 0; ok && i < d->vocab_size; i++) {
            uint32_t n;
            ok = get(f, &n, sizeof n) && n < 65536;
            if (!ok) break;
            d->words[i] = qat_malloc(n + 1);
            ok = get(f, d->words[i], n);
            d->words[i][n] = '\0';
        }
        ok = ok && read_split(f, &d->train, d->vocab_size) && read_split(f, &d->test, d->vocab_size);
        char extra;
        ok = ok && fread(&extra, 1, 1, f) == 0;
    }
    fclose(f);
    if (!ok) {
        imdb_free(d);
        fprintf(stderr, "imdb: the cache %s is damaged or stale; rebuilding it\n", path);
    }
    return ok;
}

/* ------------------------------------------------------------------------------------ */

void imdb_load(ImdbData *d, const ImdbOptions *o) {
    memset(d, 0, sizeof *d);
    if (o->max_vocab < 2) qat_die("dataset.max_vocab_size must be >= 2 (got %d)", o->max_vocab);
    if (o->min_freq < 1) qat_die("dataset.min_freq must be >= 1 (got %d)", o->min_freq);
    if (o->max_seq_len < 1) qat_die("model.max_seq_len must be >= 1 (got %d)", o->max_seq_len);
    char source[1024];
    if (o->source && !data_location_is_verified(o->source, "", 1)) {
        path_fmt(source, sizeof source, "%s", o->source);
        struct stat st;
        if (stat(source, &st) != 0) qat_die("imdb: %s: %s", source, strerror(errno));
    } else {
        data_path(TARBALL, source, sizeof source);
    }
    char path[1200] = "", key[65];
    if (o->use_cache) {
        double t0 = runtime_now();
        cache_key(source, o, key);
        char dir[1024];
        if (o->cache_dir) path_fmt(dir, sizeof dir, "%s", o->cache_dir);
        else path_fmt(dir, sizeof dir, "%s/cache", data_root());
        path_fmt(path, sizeof path, "%s/imdb-%.16s.bin", dir, key);
        if (cache_read(path, key, d)) {
            d->from_cache = 1;
            fprintf(stderr, "imdb: %d train / %d test reviews (%lld / %lld tokens kept), vocabulary %d, from %s (%.1f s)\n",
                    d->train.n, d->test.n, (long long)d->train.off[d->train.n], (long long)d->test.off[d->test.n],
                    d->vocab_size, path, runtime_now() - t0);
            long skipped = d->skipped_empty + d->skipped_utf8 + d->skipped_nowords;
            if (skipped)
                fprintf(stderr, "imdb: warning: %ld review(s) were skipped: %ld empty, %ld not valid UTF-8, %ld "
                                "without a word\n", skipped, d->skipped_empty, d->skipped_utf8, d->skipped_nowords);
            return;
        }
        make_dirs(dir);
    }
    build(d, o, source);
    if (d->train.n == 0 || d->test.n == 0)
        qat_die("imdb: %s: no usable review in the %s split", source, d->train.n == 0 ? "train" : "test");
    fprintf(stderr, "imdb: %d train / %d test reviews (%lld / %lld tokens kept), vocabulary %d\n", d->train.n,
            d->test.n, (long long)d->train.off[d->train.n], (long long)d->test.off[d->test.n], d->vocab_size);
    if (o->use_cache) cache_write(path, key, d);
}

static void split_free(ImdbSplit *s) {
    free(s->label), free(s->len), free(s->off), free(s->tok);
    memset(s, 0, sizeof *s);
}

void imdb_free(ImdbData *d) {
    split_free(&d->train);
    split_free(&d->test);
    if (d->words)
        for (int i = 0; i < d->vocab_size; i++) free(d->words[i]);
    free(d->words);
    memset(d, 0, sizeof *d);
}
