#include "io/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static void reserve(JsonWriter *w, size_t extra) {
    if (w->len + extra + 1 <= w->cap) return;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + extra + 1) cap *= 2;
    w->buf = qat_realloc(w->buf, cap);
    w->cap = cap;
}

static void put(JsonWriter *w, const char *s, size_t n) {
    reserve(w, n);
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static void puts_(JsonWriter *w, const char *s) { put(w, s, strlen(s)); }

static void put_escaped(JsonWriter *w, const char *s) {
    put(w, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char tmp[8];
        switch (*p) {
        case '"': put(w, "\\\"", 2); break;
        case '\\': put(w, "\\\\", 2); break;
        case '\n': put(w, "\\n", 2); break;
        case '\r': put(w, "\\r", 2); break;
        case '\t': put(w, "\\t", 2); break;
        default:
            if (*p < 0x20) {
                snprintf(tmp, sizeof tmp, "\\u%04x", (unsigned)*p);
                put(w, tmp, 6);
            } else {
                put(w, (const char *)p, 1);
            }
        }
    }
    put(w, "\"", 1);
}

/* Separator and key before a value at the current depth. */
static void prefix(JsonWriter *w, const char *key) {
    if (w->need_comma[w->depth]) put(w, ", ", 2);
    w->need_comma[w->depth] = 1;
    if (key) {
        put_escaped(w, key);
        put(w, ": ", 2);
    }
}

void json_init(JsonWriter *w) {
    memset(w, 0, sizeof *w);
    reserve(w, 0);
    w->buf[0] = '\0';
}

void json_free(JsonWriter *w) {
    free(w->buf);
    memset(w, 0, sizeof *w);
}

static void begin(JsonWriter *w, const char *key, const char *open) {
    QAT_ASSERT(w->depth + 1 < (int)(sizeof w->need_comma / sizeof w->need_comma[0]));
    prefix(w, key);
    puts_(w, open);
    w->depth++;
    w->need_comma[w->depth] = 0;
}

static void end(JsonWriter *w, const char *close) {
    QAT_ASSERT(w->depth > 0);
    w->depth--;
    puts_(w, close);
}

void json_begin_object(JsonWriter *w, const char *key) { begin(w, key, "{"); }
void json_end_object(JsonWriter *w) { end(w, "}"); }
void json_begin_array(JsonWriter *w, const char *key) { begin(w, key, "["); }
void json_end_array(JsonWriter *w) { end(w, "]"); }

void json_string(JsonWriter *w, const char *key, const char *value) {
    prefix(w, key);
    if (value)
        put_escaped(w, value);
    else
        puts_(w, "null");
}

void json_number(JsonWriter *w, const char *key, double value) {
    prefix(w, key);
    if (!isfinite(value)) {
        puts_(w, "null");
        return;
    }
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%.17g", value);
    puts_(w, tmp);
}

void json_int(JsonWriter *w, const char *key, long long value) {
    prefix(w, key);
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%lld", value);
    puts_(w, tmp);
}

void json_bool(JsonWriter *w, const char *key, int value) {
    prefix(w, key);
    puts_(w, value ? "true" : "false");
}

void json_null(JsonWriter *w, const char *key) {
    prefix(w, key);
    puts_(w, "null");
}
