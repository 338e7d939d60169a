#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "core/error.h"

const char *flag_value(int argc, char **argv, int *i, const char *name) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return NULL;
    if (a[n] == '=') return a + n + 1;
    if (a[n] != '\0') return NULL;
    if (*i + 1 >= argc) qat_die("flag %s needs a value", name);
    (*i)++;
    return argv[*i];
}

void flag_check_choice(const char *flag, const char *s, const char *const *choices) {
    char list[256] = "";
    for (int i = 0; choices[i]; i++) {
        if (strcmp(s, choices[i]) == 0) return;
        strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, choices[i], sizeof list - strlen(list) - 1);
    }
    qat_die("%s: unknown value '%s' (choose from: %s)", flag, s, list);
}

long flag_parse_long(const char *flag, const char *s, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        qat_die("%s: '%s' is not a whole number in %ld..%ld", flag, s, lo, hi);
    return v;
}

double flag_parse_double(const char *flag, const char *s, double lo, double hi) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        qat_die("%s: '%s' is not a number in %g..%g", flag, s, lo, hi);
    return v;
}
