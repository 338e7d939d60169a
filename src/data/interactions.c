#include "data/interactions.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/error.h"

typedef struct {
    int64_t user, key, item; /* key: timestamp / order number / 0 */
    long line;               /* file order breaks ties: the sort is stable */
} Rec;

static const char *const FORMAT_NAMES[] = {"auto", "user_item", "ml_ratings", "tifu_csv"};

InterFormat interactions_format(const char *name) {
    for (int i = 0; i < 4; i++)
        if (strcmp(name, FORMAT_NAMES[i]) == 0) return (InterFormat)i;
    qat_die("unknown interaction log format '%s' (known: auto, user_item, ml_ratings, tifu_csv)", name);
}

/* One integer field ending at a separator (or the end of the line); NULL when malformed. */
static const char *parse_int(const char *p, int64_t *out) {
    while (*p == ' ' || *p == '\t') p++;
    char *end;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (end == p || errno) return NULL;
    *out = v;
    while (*end == ' ' || *end == '\t') end++;
    return end;
}

static int line_is_blank(const char *s) {
    for (; *s; s++)
        if (!isspace((unsigned char)*s)) return 0;
    return 1;
}

static void strip_newline(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = '\0';
}

/* Parses one data line into r; returns 0 when it does not fit the format. */
static int parse_line(const char *s, InterFormat fmt, Rec *r) {
    const char *p = s;
    int64_t rating;
    r->key = 0;
    switch (fmt) {
    case INTER_USER_ITEM:
        if (!(p = parse_int(p, &r->user)) || !(p = parse_int(p, &r->item))) return 0;
        return *p == '\0';
    case INTER_ML_RATINGS:
        if (!(p = parse_int(p, &r->user)) || strncmp(p, "::", 2)) return 0;
        if (!(p = parse_int(p + 2, &r->item)) || strncmp(p, "::", 2)) return 0;
        /* The rating may be fractional in derived files: skip it as text. */
        p += 2;
        if (!(p = parse_int(p, &rating))) return 0;
        while (*p && *p != ':') p++;
        if (strncmp(p, "::", 2) || !(p = parse_int(p + 2, &r->key))) return 0;
        return *p == '\0';
    case INTER_TIFU_CSV:
        if (!(p = parse_int(p, &r->user)) || *p != ',') return 0;
        if (!(p = parse_int(p + 1, &r->key)) || *p != ',') return 0;
        if (!(p = parse_int(p + 1, &r->item))) return 0;
        return *p == '\0';
    case INTER_AUTO:
        break;
    }
    return 0;
}

static const char *format_hint(InterFormat fmt) {
    switch (fmt) {
    case INTER_USER_ITEM: return "\"user item\" (two integers)";
    case INTER_ML_RATINGS: return "UserID::MovieID::Rating::Timestamp";
    case INTER_TIFU_CSV: return "CUSTOMER_ID,ORDER_NUMBER,MATERIAL_NUMBER (integers)";
    case INTER_AUTO: break;
    }
    return "?";
}

static int rec_cmp(const void *a, const void *b) {
    const Rec *x = a, *y = b;
    if (x->user != y->user) return x->user < y->user ? -1 : 1;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->line > y->line) - (x->line < y->line);
}

/* Raw item id -> 1..n by first appearance (open addressing on the 64-bit id). */
typedef struct {
    int64_t *keys;
    int *vals; /* 0: empty slot */
    size_t cap;
    int n;
} IdMap;

static int idmap_get(IdMap *m, int64_t key) {
    if ((size_t)(m->n + 1) * 2 > m->cap) {
        IdMap big = {NULL, NULL, m->cap ? 2 * m->cap : 1024, m->n};
        big.keys = qat_malloc(big.cap * sizeof(int64_t));
        big.vals = qat_calloc(big.cap, sizeof(int));
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->vals[i]) continue;
            size_t h = ((uint64_t)m->keys[i] * 0x9E3779B97F4A7C15ull) & (big.cap - 1);
            while (big.vals[h]) h = (h + 1) & (big.cap - 1);
            big.keys[h] = m->keys[i];
            big.vals[h] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        *m = big;
    }
    size_t h = ((uint64_t)key * 0x9E3779B97F4A7C15ull) & (m->cap - 1);
    while (m->vals[h] && m->keys[h] != key) h = (h + 1) & (m->cap - 1);
    if (!m->vals[h]) {
        m->keys[h] = key;
        m->vals[h] = ++m->n;
    }
    return m->vals[h];
}

void interactions_load(Interactions *ix, const char *path, InterFormat fmt) {
    memset(ix, 0, sizeof *ix);
    gzFile f = gzopen(path, "rb");
    if (!f) qat_die("cannot open interaction log %s", path);
    Rec *recs = NULL;
    size_t n = 0, cap = 0;
    char buf[4096];
    long line = 0;
    int first = 1;
    while (gzgets(f, buf, sizeof buf)) {
        line++;
        size_t len = strlen(buf);
        if (len == sizeof buf - 1 && buf[len - 1] != '\n') qat_die("%s:%ld: line too long", path, line);
        strip_newline(buf);
        if (line_is_blank(buf)) continue;
        if (first) {
            first = 0;
            if (fmt == INTER_AUTO)
                fmt = strstr(buf, "::") ? INTER_ML_RATINGS : (strchr(buf, ',') ? INTER_TIFU_CSV : INTER_USER_ITEM);
            /* The TIFUKNN CSV starts with its column names. */
            if (fmt == INTER_TIFU_CSV && !isdigit((unsigned char)buf[0]) && buf[0] != '-') continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 1 << 16;
            recs = qat_realloc(recs, cap * sizeof *recs);
        }
        Rec *r = &recs[n];
        if (!parse_line(buf, fmt, r))
            qat_die("%s:%ld: expected %s, got '%.60s'", path, line, format_hint(fmt), buf);
        if (fmt == INTER_USER_ITEM && (r->item < 1 || r->item > 0x7fffffff))
            qat_die("%s:%ld: item id %lld outside 1..2^31-1 (0 is the padding id)", path, line, (long long)r->item);
        r->line = line;
        n++;
    }
    int err;
    const char *msg = gzerror(f, &err);
    if (err != Z_OK && err != Z_STREAM_END) qat_die("%s: read error: %s", path, msg);
    gzclose(f);
    if (n == 0) qat_die("%s: no interactions (the file is empty)", path);

    int sorted = 1;
    for (size_t i = 1; i < n && sorted; i++) sorted = rec_cmp(&recs[i - 1], &recs[i]) < 0;
    if (!sorted) qsort(recs, n, sizeof *recs, rec_cmp);

    ix->items = qat_malloc(n * sizeof(int));
    ix->off = qat_malloc((n + 1) * sizeof(long));
    ix->user_id = qat_malloc(n * sizeof(int64_t));
    IdMap map = {0};
    int max_item = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || recs[i].user != recs[i - 1].user) {
            ix->off[ix->n_users] = (long)i;
            ix->user_id[ix->n_users++] = recs[i].user;
        }
        int item = fmt == INTER_USER_ITEM ? (int)recs[i].item : idmap_get(&map, recs[i].item);
        ix->items[i] = item;
        if (item > max_item) max_item = item;
    }
    ix->off[ix->n_users] = (long)n;
    ix->n_items = max_item;
    free(map.keys);
    free(map.vals);
    free(recs);
}

void interactions_free(Interactions *ix) {
    free(ix->off);
    free(ix->items);
    free(ix->user_id);
    memset(ix, 0, sizeof *ix);
}

void loo_split(const Interactions *ix, LooSplit *s) {
    s->n_users = ix->n_users;
    s->n_items = ix->n_items;
    s->off = ix->off;
    s->items = ix->items;
    s->n_train = qat_malloc((size_t)ix->n_users * sizeof(int));
    s->val = qat_calloc((size_t)ix->n_users, sizeof(int));
    s->test = qat_calloc((size_t)ix->n_users, sizeof(int));
    for (int u = 0; u < ix->n_users; u++) {
        long len = ix->off[u + 1] - ix->off[u];
        if (len < 3) {
            s->n_train[u] = (int)len; /* too short to hold out: training only */
            continue;
        }
        s->n_train[u] = (int)(len - 2);
        s->val[u] = ix->items[ix->off[u + 1] - 2];
        s->test[u] = ix->items[ix->off[u + 1] - 1];
    }
}

void loo_split_free(LooSplit *s) {
    free(s->n_train);
    free(s->val);
    free(s->test);
    memset(s, 0, sizeof *s);
}
