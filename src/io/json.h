/* A small JSON writer into a growing buffer, for result.json and tables. */
#ifndef QAT_IO_JSON_H
#define QAT_IO_JSON_H

#include <stddef.h>

typedef struct {
    char *buf;
    size_t len, cap;
    int need_comma[32];
    int depth;
} JsonWriter;

void json_init(JsonWriter *w);
void json_free(JsonWriter *w);
void json_begin_object(JsonWriter *w, const char *key); /* key NULL inside arrays / at top */
void json_end_object(JsonWriter *w);
void json_begin_array(JsonWriter *w, const char *key);
void json_end_array(JsonWriter *w);
void json_string(JsonWriter *w, const char *key, const char *value);
void json_number(JsonWriter *w, const char *key, double value); /* %.17g; NaN/inf -> null */
void json_int(JsonWriter *w, const char *key, long long value);
void json_bool(JsonWriter *w, const char *key, int value);
void json_null(JsonWriter *w, const char *key);

#endif
