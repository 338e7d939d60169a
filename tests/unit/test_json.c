/* JSON writer: exact text for nesting, separators, escapes and numbers. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "io/json.h"

static int same(const JsonWriter *w, const char *want) {
    if (strcmp(w->buf, want) == 0) return 1;
    fprintf(stderr, "got:  %s\nwant: %s\n", w->buf, want);
    return 0;
}

int main(void) {
    JsonWriter w;

    json_init(&w);
    CHECK(w.buf != NULL && w.len == 0 && strcmp(w.buf, "") == 0);
    json_begin_object(&w, NULL);
    json_end_object(&w);
    CHECK(same(&w, "{}"));
    CHECK(w.len == 2 && w.depth == 0);
    json_free(&w);

    json_init(&w);
    json_begin_object(&w, NULL);
    json_string(&w, "model", "simple_cnn");
    json_int(&w, "seed", -3);
    json_number(&w, "acc", 0.5);
    json_number(&w, "lr", 0.1);
    json_number(&w, "big", 1e300);
    json_number(&w, "neg0", -0.0);
    json_number(&w, "nan", NAN);
    json_number(&w, "inf", INFINITY);
    json_number(&w, "ninf", -INFINITY);
    json_bool(&w, "ok", 1);
    json_bool(&w, "bad", 0);
    json_null(&w, "none");
    json_begin_array(&w, "list");
    json_int(&w, NULL, 1);
    json_number(&w, NULL, 2.25);
    json_begin_object(&w, NULL);
    json_string(&w, "k", "v");
    json_end_object(&w);
    json_begin_array(&w, NULL);
    json_end_array(&w);
    json_string(&w, NULL, NULL);
    json_end_array(&w);
    json_begin_object(&w, "nested");
    json_begin_object(&w, "deeper");
    json_int(&w, "x", 9223372036854775807LL);
    json_end_object(&w);
    json_end_object(&w);
    json_end_object(&w);
    CHECK(same(&w,
               "{\"model\": \"simple_cnn\", \"seed\": -3, \"acc\": 0.5, "
               "\"lr\": 0.10000000000000001, \"big\": 1.0000000000000001e+300, \"neg0\": -0, "
               "\"nan\": null, \"inf\": null, \"ninf\": null, \"ok\": true, \"bad\": false, "
               "\"none\": null, \"list\": [1, 2.25, {\"k\": \"v\"}, [], null], "
               "\"nested\": {\"deeper\": {\"x\": 9223372036854775807}}}"));
    CHECK(w.len == strlen(w.buf));
    CHECK(w.depth == 0);
    json_free(&w);
    CHECK(w.buf == NULL);

    /* Escapes: quotes, backslash, common controls, other controls as \u00XX, UTF-8 kept. */
    json_init(&w);
    json_begin_object(&w, NULL);
    json_string(&w, "q\"k", "a\"b\\c/d\ne\rf\tg\x01h\x1fi\x7fj \xc3\xa9");
    json_end_object(&w);
    CHECK(same(&w, "{\"q\\\"k\": \"a\\\"b\\\\c/d\\ne\\rf\\tg\\u0001h\\u001fi\x7fj \xc3\xa9\"}"));
    json_free(&w);

    /* Top-level array; %.17g round trip of awkward doubles. */
    json_init(&w);
    json_begin_array(&w, NULL);
    json_number(&w, NULL, 1.0 / 3.0);
    json_number(&w, NULL, 5e-324);
    json_number(&w, NULL, 100);
    json_end_array(&w);
    CHECK(same(&w, "[0.33333333333333331, 4.9406564584124654e-324, 100]"));
    double back = 0;
    CHECK(sscanf(w.buf + 1, "%lf", &back) == 1 && back == 1.0 / 3.0);
    json_free(&w);

    /* Growth: a long document stays intact. */
    json_init(&w);
    json_begin_array(&w, NULL);
    for (int i = 0; i < 5000; i++) json_int(&w, NULL, i);
    json_end_array(&w);
    CHECK(strncmp(w.buf, "[0, 1, 2, ", 10) == 0);
    CHECK(w.len >= 11 && strcmp(w.buf + w.len - 11, "4998, 4999]") == 0);
    CHECK(w.buf[w.len - 1] == ']' && w.buf[w.len] == '\0');
    json_free(&w);

    return check_done("test_json");
}
