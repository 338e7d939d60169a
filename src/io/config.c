/* Run configuration: schema-checked YAML files, --set overrides and grid axes.
 *
 * Ownership and lifetime:
 *   - A ConfigGrid owns the value strings of its entries (heap copies); config_grid_free
 *     releases them and leaves an empty grid, so freeing twice is harmless.
 *   - Entries point at the CfgField of the schema they came from: the schema arrays
 *     passed to config_grid_init must outlive every grid and Config made from them
 *     (they are normally static tables).
 *   - config_grid_get writes a deep copy into `out`, which the caller frees with
 *     config_grid_free independently of the grid. `out` is overwritten without being
 *     freed first, so free an earlier result before reusing it (out == g is allowed).
 *
 * Schemas: several schemas may be passed; entries keep the order of the schemas. When
 * the same section.key appears twice (in one schema or across schemas) the first entry
 * wins, its type and default included; later duplicates are ignored. A field whose
 * default_value is NULL starts without a value: cfg_has() is 0 for it until a file or
 * --set gives one, and it is left out of config_write_yaml and config_hash.
 *
 * Values are kept as canonical text so that equal settings hash and print the same
 * whatever their spelling: ints "%lld", floats "%.9g", bools "true"/"false". */
#include "io/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#include "core/error.h"

/* Where values being applied come from: a file (errors carry path:line) or a --set
 * assignment (errors quote the whole assignment, which is what the user typed). */
typedef struct {
    const char *path;     /* NULL for --set */
    const char *set_text; /* the --set assignment */
} Origin;

/* One raw scalar of a value: its text and 0-based line (for messages). */
typedef struct {
    const char *text;
    size_t line;
} RawValue;

static const char *type_name(CfgType t) {
    switch (t) {
    case CFG_INT: return "integer";
    case CFG_FLOAT: return "number";
    case CFG_BOOL: return "bool (true/false)";
    case CFG_STRING: return "string";
    }
    return "?";
}

static const char *enum_name(CfgType t) {
    static const char *const names[] = {"CFG_INT", "CFG_FLOAT", "CFG_BOOL", "CFG_STRING"};
    return (unsigned)t < 4 ? names[t] : "?";
}

/* --- error messages ------------------------------------------------------------- */

QAT_NORETURN QAT_PRINTF(3, 4) static void die_at(const Origin *o, size_t line0,
                                                 const char *fmt, ...) {
    char msg[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (o->path)
        qat_die("%s:%zu: %s", o->path, line0 + 1, msg);
    else
        qat_die("--set '%s': %s", o->set_text, msg);
}

static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return (size_t)-1;
    size_t prev[64], cur[64];
    for (size_t j = 0; j <= lb; j++) prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof *prev);
    }
    return prev[lb];
}

/* Appends "; did you mean 'x'?" when one candidate is a likely typo of `name`. */
static void append_suggestion(char *buf, size_t cap, const char *name, const char **cands,
                              int n) {
    const char *best = NULL;
    size_t bestd = (size_t)-1;
    for (int i = 0; i < n; i++) {
        size_t d = edit_distance(name, cands[i]);
        if (d < bestd) {
            bestd = d;
            best = cands[i];
        }
    }
    if (best && bestd <= 2 && bestd < strlen(name)) {
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, "; did you mean '%s'?", best);
    }
}

static void join_names(char *buf, size_t cap, const char **names, int n) {
    size_t len = strlen(buf);
    for (int i = 0; i < n && len + 1 < cap; i++) {
        snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", names[i]);
        len = strlen(buf);
    }
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* --- lookup ----------------------------------------------------------------------- */

static int find_entry(const ConfigGrid *g, const char *section, const char *key) {
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->entries[i].field->section, section) &&
            !strcmp(g->entries[i].field->key, key))
            return i;
    return -1;
}

/* The prototype's layout always has these sections, even where a model has no keys
 * in them (simple_cnn's `model: {}`); they are accepted when empty. */
static const char *const STANDARD_SECTIONS[] = {"model", "dataset", "training", "quantizer",
                                                "quantizer_optimizer", NULL};

static int has_section(const ConfigGrid *g, const char *section) {
    for (int i = 0; STANDARD_SECTIONS[i]; i++)
        if (!strcmp(STANDARD_SECTIONS[i], section)) return 1;
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->entries[i].field->section, section)) return 1;
    return 0;
}

/* Section names in schema order, each once. */
static int section_names(const ConfigGrid *g, const char **out) {
    int n = 0;
    for (int i = 0; i < g->n; i++) {
        const char *s = g->entries[i].field->section;
        int seen = 0;
        for (int j = 0; j < n && !seen; j++) seen = !strcmp(out[j], s);
        if (!seen) out[n++] = s;
    }
    return n;
}

QAT_NORETURN static void die_unknown_section(const ConfigGrid *g, const Origin *o,
                                             size_t line0, const char *section) {
    const char *names[CFG_MAX_FIELDS];
    int n = section_names(g, names);
    char buf[4096] = "";
    join_names(buf, sizeof buf, names, n);
    size_t len = strlen(buf);
    snprintf(buf + len, sizeof buf - len, ")");
    append_suggestion(buf, sizeof buf, section, names, n);
    die_at(o, line0, "unknown section '%s' (known sections: %s", section, buf);
}

QAT_NORETURN static void die_unknown_key(const ConfigGrid *g, const Origin *o, size_t line0,
                                         const char *section, const char *key) {
    const char *names[CFG_MAX_FIELDS];
    int n = 0;
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->entries[i].field->section, section)) names[n++] = g->entries[i].field->key;
    if (n == 0) die_at(o, line0, "unknown key '%s.%s' (section '%s' takes no keys here)", section, key, section);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    char buf[4096] = "";
    join_names(buf, sizeof buf, names, n);
    size_t len = strlen(buf);
    snprintf(buf + len, sizeof buf - len, ")");
    append_suggestion(buf, sizeof buf, key, names, n);
    die_at(o, line0, "unknown key '%s.%s' (known keys in '%s': %s", section, key, section, buf);
}

/* --- value parsing ------------------------------------------------------------------ */

static int is_int_text(const char *s) {
    if (*s == '+' || *s == '-') s++;
    if (!isdigit((unsigned char)*s)) return 0;
    while (isdigit((unsigned char)*s)) s++;
    return *s == '\0';
}

/* Decimal numbers only: strtod alone would also take "inf", "nan" and hex floats. */
static int is_float_text(const char *s) {
    int digits = 0;
    if (*s == '+' || *s == '-') s++;
    while (isdigit((unsigned char)*s)) s++, digits++;
    if (*s == '.') {
        s++;
        while (isdigit((unsigned char)*s)) s++, digits++;
    }
    if (!digits) return 0;
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-') s++;
        if (!isdigit((unsigned char)*s)) return 0;
        while (isdigit((unsigned char)*s)) s++;
    }
    return *s == '\0';
}

static int parse_bool_text(const char *s, int *out) {
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        if (!strcmp(s, yes[i])) return *out = 1, 1;
        if (!strcmp(s, no[i])) return *out = 0, 1;
    }
    return 0;
}

/* Canonical heap copy of `text` as type t, or NULL with *why set to the reason. */
static char *canonical(CfgType t, const char *text, const char **why) {
    char buf[64];
    switch (t) {
    case CFG_INT: {
        if (!is_int_text(text)) {
            *why = "expects an integer";
            return NULL;
        }
        errno = 0;
        long long v = strtoll(text, NULL, 10);
        if (errno == ERANGE) {
            *why = "is out of range for a 64-bit integer";
            return NULL;
        }
        snprintf(buf, sizeof buf, "%lld", v);
        return qat_strdup(buf);
    }
    case CFG_FLOAT: {
        if (!is_float_text(text)) {
            *why = "expects a number";
            return NULL;
        }
        double v = strtod(text, NULL);
        if (!isfinite(v)) {
            *why = "is out of range for a double";
            return NULL;
        }
        snprintf(buf, sizeof buf, "%.9g", v);
        return qat_strdup(buf);
    }
    case CFG_BOOL: {
        int b;
        if (!parse_bool_text(text, &b)) {
            *why = "expects true or false";
            return NULL;
        }
        return qat_strdup(b ? "true" : "false");
    }
    case CFG_STRING: return qat_strdup(text);
    }
    *why = "has an unknown type";
    return NULL;
}

/* 1 when the canonical value v is in f's range; *what gets the range in words. */
static int in_range(const CfgField *f, const char *v, char *what, size_t cap) {
    const char *r = f->range;
    if (!r) return 1;
    if (f->type == CFG_STRING) {
        snprintf(what, cap, "one of ");
        size_t n = strlen(v), k = strlen(what);
        int ok = 0;
        for (const char *p = r; *p;) {
            size_t len = strcspn(p, "|");
            if (len == n && !strncmp(p, v, n)) ok = 1;
            k += (size_t)snprintf(what + k, k < cap ? cap - k : 0, "%s%.*s", p == r ? "" : ", ", (int)len, p);
            p += len + (p[len] == '|');
        }
        return ok;
    }
    QAT_ASSERT(f->type == CFG_INT || f->type == CFG_FLOAT);
    double x = strtod(v, NULL), lo, hi;
    if (!strncmp(r, ">= ", 3) || !strncmp(r, "> ", 2)) {
        int strict = r[1] == ' ';
        lo = strtod(r + (strict ? 2 : 3), NULL);
        snprintf(what, cap, "%s", r);
        return strict ? x > lo : x >= lo;
    }
    const char *dots = strstr(r, "..");
    QAT_ASSERT(dots != NULL);
    char a[32], b[32];
    int open_hi = dots[2] == '<';
    snprintf(a, sizeof a, "%.*s", (int)(dots - r), r); /* "0." would read as a number */
    snprintf(b, sizeof b, "%s", dots + 2 + open_hi);
    lo = strtod(a, NULL);
    hi = strtod(b, NULL);
    snprintf(what, cap, open_hi ? "in [%s, %s)" : "in %s..%s", a, b);
    return x >= lo && (open_hi ? x < hi : x <= hi);
}

static void free_values(CfgEntry *e) {
    for (int i = 0; i < e->nvalues; i++) {
        free(e->values[i]);
        e->values[i] = NULL;
    }
    e->nvalues = 0;
}

/* Type-checks every raw value, then replaces the entry's values (later source wins). */
static void set_entry(ConfigGrid *g, int idx, const RawValue *raw, int n, const Origin *o,
                      size_t key_line) {
    CfgEntry *e = &g->entries[idx];
    const CfgField *f = e->field;
    char *vals[CFG_MAX_VALUES];
    for (int i = 0; i < n; i++) {
        const char *why = NULL;
        vals[i] = canonical(f->type, raw[i].text, &why);
        if (!vals[i]) {
            if (raw[i].text[0] == '\0')
                die_at(o, raw[i].line, "'%s.%s' %s, got an empty value", f->section, f->key, why);
            die_at(o, raw[i].line, "'%s.%s' %s, got '%s'", f->section, f->key, why, raw[i].text);
        }
        char what[256];
        if (!in_range(f, vals[i], what, sizeof what))
            die_at(o, raw[i].line, "'%s.%s' must be %s, got '%s'", f->section, f->key, what, vals[i]);
        /* A repeated value on an axis would just run the same combination twice. */
        for (int j = 0; j < i; j++)
            if (!strcmp(vals[i], vals[j]))
                die_at(o, raw[i].line, "'%s.%s' lists the value '%s' twice", f->section, f->key,
                       vals[i]);
    }
    free_values(e);
    for (int i = 0; i < n; i++) e->values[i] = vals[i];
    e->nvalues = n;
    if (o->path) {
        /* Keep the end of long paths: the file name and line matter most. */
        size_t len = strlen(o->path);
        if (len > 120)
            snprintf(e->source, sizeof e->source, "...%s:%zu", o->path + len - 117, key_line + 1);
        else
            snprintf(e->source, sizeof e->source, "%s:%zu", o->path, key_line + 1);
    } else {
        snprintf(e->source, sizeof e->source, "--set");
    }
}

/* --- YAML ----------------------------------------------------------------------------- */

static const char *node_kind(const yaml_node_t *n) {
    switch (n->type) {
    case YAML_MAPPING_NODE: return "a mapping";
    case YAML_SEQUENCE_NODE: return "a list";
    default: return "a value";
    }
}

static const char *scalar_text(const yaml_node_t *n, const Origin *o) {
    const char *s = (const char *)n->data.scalar.value;
    if (strlen(s) != n->data.scalar.length)
        die_at(o, n->start_mark.line, "value contains a NUL character");
    return s;
}

/* `model:` with nothing after it (or ~ / null) counts as an empty section. */
static int is_null_scalar(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *s = (const char *)n->data.scalar.value;
    return !strcmp(s, "") || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

QAT_NORETURN static void die_yaml(const yaml_parser_t *p, const Origin *o) {
    if (p->error == YAML_MEMORY_ERROR) qat_die("out of memory while parsing YAML");
    const char *problem = p->problem ? p->problem : "unknown error";
    if (p->error == YAML_READER_ERROR) {
        /* Reader errors (bad encoding) have an offset but no line. */
        if (o->path)
            qat_die("%s: malformed YAML: %s at byte %zu", o->path, problem, p->problem_offset);
        qat_die("--set '%s': malformed YAML value: %s", o->set_text, problem);
    }
    if (p->context)
        die_at(o, p->problem_mark.line, "malformed YAML: %s (%s at line %zu)", problem, p->context,
               p->context_mark.line + 1);
    die_at(o, p->problem_mark.line, "malformed YAML: %s", problem);
}

/* Loads the single document of the parser's input into doc. */
static void load_document(yaml_parser_t *p, const Origin *o, yaml_document_t *doc) {
    if (!yaml_parser_load(p, doc)) die_yaml(p, o);
    yaml_document_t next;
    if (!yaml_parser_load(p, &next)) die_yaml(p, o);
    yaml_node_t *extra = yaml_document_get_root_node(&next);
    if (extra) {
        size_t line = extra->start_mark.line;
        yaml_document_delete(&next);
        die_at(o, line, "expected one YAML document, found a second one");
    }
    yaml_document_delete(&next);
}

/* A scalar sets one value; a list of scalars makes a grid axis. */
static void apply_value(ConfigGrid *g, int idx, yaml_document_t *doc, yaml_node_t *v,
                        const Origin *o, size_t key_line) {
    const CfgField *f = g->entries[idx].field;
    RawValue raw[CFG_MAX_VALUES];
    int n = 0;
    if (v->type == YAML_SCALAR_NODE) {
        raw[n].text = scalar_text(v, o);
        raw[n++].line = v->start_mark.line;
    } else if (v->type == YAML_SEQUENCE_NODE) {
        yaml_node_item_t *it = v->data.sequence.items.start, *end = v->data.sequence.items.top;
        if (it == end)
            die_at(o, v->start_mark.line,
                   "'%s.%s' is an empty list (a grid axis needs at least one value)", f->section,
                   f->key);
        if (end - it > CFG_MAX_VALUES)
            die_at(o, v->start_mark.line, "'%s.%s' lists %d values (at most %d on a grid axis)",
                   f->section, f->key, (int)(end - it), CFG_MAX_VALUES);
        for (; it < end; it++) {
            yaml_node_t *item = yaml_document_get_node(doc, *it);
            if (item->type != YAML_SCALAR_NODE)
                die_at(o, item->start_mark.line,
                       "'%s.%s' expects a list of values, got %s inside the list", f->section,
                       f->key, node_kind(item));
            raw[n].text = scalar_text(item, o);
            raw[n++].line = item->start_mark.line;
        }
    } else {
        die_at(o, v->start_mark.line, "'%s.%s' expects a %s (or a list of them), got %s",
               f->section, f->key, type_name(f->type), node_kind(v));
    }
    set_entry(g, idx, raw, n, o, key_line);
}

/* Finds the value node for `key` in an earlier pair of the same mapping, to report
 * duplicates (libyaml keeps both; silently taking the last hides typos). */
static const yaml_node_t *earlier_key(yaml_document_t *doc, yaml_node_t *map,
                                      yaml_node_pair_t *upto, const char *key) {
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < upto; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
            return k;
    }
    return NULL;
}

static void apply_section(ConfigGrid *g, yaml_document_t *doc, const char *section,
                          yaml_node_t *map, const Origin *o) {
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        if (k->type != YAML_SCALAR_NODE)
            die_at(o, k->start_mark.line, "keys in section '%s' must be names, got %s", section,
                   node_kind(k));
        const char *key = scalar_text(k, o);
        int idx = find_entry(g, section, key);
        if (idx < 0) die_unknown_key(g, o, k->start_mark.line, section, key);
        const yaml_node_t *prev = earlier_key(doc, map, p, key);
        if (prev)
            die_at(o, k->start_mark.line, "duplicate key '%s.%s' (first set at line %zu)", section,
                   key, prev->start_mark.line + 1);
        apply_value(g, idx, doc, v, o, k->start_mark.line);
    }
}

static void apply_document(ConfigGrid *g, yaml_document_t *doc, const Origin *o) {
    yaml_node_t *root = yaml_document_get_root_node(doc);
    /* A file that sets nothing is almost surely the wrong file: say so instead of
     * training with the defaults. */
    if (!root || is_null_scalar(root))
        qat_die("config file '%s' is empty (no YAML content besides comments); expected a mapping of "
                "sections (model:, training:, ...)", o->path);
    if (root->type != YAML_MAPPING_NODE)
        die_at(o, root->start_mark.line,
               "expected a mapping of sections (model:, training:, ...), got %s", node_kind(root));
    if (root->data.mapping.pairs.start == root->data.mapping.pairs.top)
        qat_die("config file '%s' is an empty mapping ({}); expected sections (model:, training:, ...)",
                o->path);
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        if (k->type != YAML_SCALAR_NODE)
            die_at(o, k->start_mark.line, "section names must be names, got %s", node_kind(k));
        const char *section = scalar_text(k, o);
        if (!has_section(g, section)) die_unknown_section(g, o, k->start_mark.line, section);
        const yaml_node_t *prev = earlier_key(doc, root, p, section);
        if (prev)
            die_at(o, k->start_mark.line, "duplicate section '%s' (first at line %zu)", section,
                   prev->start_mark.line + 1);
        if (is_null_scalar(v)) continue;
        if (v->type == YAML_SCALAR_NODE)
            die_at(o, v->start_mark.line,
                   "section '%s' must be a mapping of key: value, got the value '%s'", section,
                   scalar_text(v, o));
        if (v->type != YAML_MAPPING_NODE)
            die_at(o, v->start_mark.line, "section '%s' must be a mapping of key: value, got %s",
                   section, node_kind(v));
        apply_section(g, doc, section, v, o);
    }
}

/* --- public API ------------------------------------------------------------------------ */

void config_grid_init(ConfigGrid *g, const CfgField *const *schemas) {
    memset(g, 0, sizeof *g);
    for (int s = 0; schemas && schemas[s]; s++) {
        for (const CfgField *f = schemas[s]; f->section; f++) {
            if (!f->key || !f->key[0] || !f->section[0] || strchr(f->section, '.'))
                qat_die("internal error: bad schema entry in section '%s'", f->section);
            if (find_entry(g, f->section, f->key) >= 0) continue; /* first one wins */
            if (g->n == CFG_MAX_FIELDS)
                qat_die("internal error: more than %d config fields (raise CFG_MAX_FIELDS)",
                        CFG_MAX_FIELDS);
            CfgEntry *e = &g->entries[g->n++];
            e->field = f;
            snprintf(e->source, sizeof e->source, "default");
            if (!f->default_value) continue;
            const char *why = NULL;
            e->values[0] = canonical(f->type, f->default_value, &why);
            if (!e->values[0])
                qat_die("internal error: default of '%s.%s' %s, got '%s'", f->section, f->key, why,
                        f->default_value);
            char what[256];
            if (!in_range(f, e->values[0], what, sizeof what))
                qat_die("internal error: default of '%s.%s' is not %s", f->section, f->key, what);
            e->nvalues = 1;
        }
    }
}

void config_grid_free(ConfigGrid *g) {
    for (int i = 0; i < g->n; i++) free_values(&g->entries[i]);
    g->n = 0;
}

void config_grid_load_file(ConfigGrid *g, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) qat_die("cannot read config file '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode))
        qat_die("cannot read config file '%s': it is a directory", path);
    Origin o = {path, NULL};
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) qat_die("out of memory while parsing YAML");
    yaml_parser_set_input_file(&p, f);
    yaml_document_t doc;
    load_document(&p, &o, &doc);
    if (ferror(f)) qat_die("cannot read config file '%s': read error", path);
    apply_document(g, &doc, &o);
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    fclose(f);
}

void config_grid_set(ConfigGrid *g, const char *assignment) {
    Origin o = {NULL, assignment};
    const char *eq = strchr(assignment, '=');
    if (!eq) qat_die("--set '%s': expected section.key=value (e.g. training.lr=0.01)", assignment);
    /* Name without surrounding blanks ("training.lr = 0.1" is fine). */
    const char *a = assignment, *b = eq;
    while (a < b && isspace((unsigned char)*a)) a++;
    while (b > a && isspace((unsigned char)b[-1])) b--;
    char name[256];
    if ((size_t)(b - a) >= sizeof name) qat_die("--set '%s': name too long", assignment);
    memcpy(name, a, (size_t)(b - a));
    name[b - a] = '\0';
    char *dot = strchr(name, '.');
    if (!dot || dot == name || !dot[1])
        qat_die("--set '%s': expected section.key=value (e.g. training.lr=0.01)", assignment);
    *dot = '\0';
    const char *section = name, *key = dot + 1;
    if (!has_section(g, section)) die_unknown_section(g, &o, 0, section);
    int idx = find_entry(g, section, key);
    if (idx < 0) die_unknown_key(g, &o, 0, section, key);

    const char *value = eq + 1;
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) qat_die("out of memory while parsing YAML");
    yaml_parser_set_input_string(&p, (const unsigned char *)value, strlen(value));
    yaml_document_t doc;
    load_document(&p, &o, &doc);
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) {
        apply_value(g, idx, &doc, root, &o, 0);
    } else {
        RawValue empty = {"", 0}; /* "training.lr=" : an empty value */
        set_entry(g, idx, &empty, 1, &o, 0);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
}

int config_grid_count(const ConfigGrid *g) {
    long long count = 1;
    for (int i = 0; i < g->n; i++) {
        if (g->entries[i].nvalues > 1) count *= g->entries[i].nvalues;
        if (count > INT_MAX) qat_die("the config grid has more than %d combinations", INT_MAX);
    }
    return (int)count;
}

void config_grid_get(const ConfigGrid *g, int index, Config *out) {
    int count = config_grid_count(g);
    if (index < 0 || index >= count)
        qat_die("internal error: config_grid_get index %d outside [0, %d)", index, count);
    /* Built aside so that out may be g itself. */
    Config *tmp = qat_calloc(1, sizeof *tmp);
    tmp->n = g->n;
    for (int i = g->n - 1; i >= 0; i--) { /* last axis varies fastest */
        const CfgEntry *e = &g->entries[i];
        CfgEntry *d = &tmp->entries[i];
        d->field = e->field;
        memcpy(d->source, e->source, sizeof d->source);
        if (e->nvalues == 0) continue;
        int pick = 0;
        if (e->nvalues > 1) {
            pick = index % e->nvalues;
            index /= e->nvalues;
        }
        d->values[0] = qat_strdup(e->values[pick]);
        d->nvalues = 1;
    }
    if (out == g) config_grid_free(out);
    memcpy(out, tmp, sizeof *tmp);
    free(tmp);
}

void config_grid_describe(const ConfigGrid *g, int index, char *buf, size_t cap) {
    if (cap == 0) return;
    buf[0] = '\0';
    int count = config_grid_count(g);
    if (index < 0 || index >= count)
        qat_die("internal error: config_grid_describe index %d outside [0, %d)", index, count);
    int pick[CFG_MAX_FIELDS];
    for (int i = g->n - 1; i >= 0; i--) {
        int nv = g->entries[i].nvalues;
        pick[i] = nv > 1 ? index % nv : 0;
        if (nv > 1) index /= nv;
    }
    size_t len = 0;
    for (int i = 0; i < g->n && len + 1 < cap; i++) {
        const CfgEntry *e = &g->entries[i];
        if (e->nvalues <= 1) continue;
        snprintf(buf + len, cap - len, "%s%s.%s=%s", len ? " " : "", e->field->section,
                 e->field->key, e->values[pick[i]]);
        len = strlen(buf);
    }
}

/* --- getters ---------------------------------------------------------------------------- */

static const CfgEntry *get_entry(const Config *c, const char *name, CfgType t, const char *fn) {
    char sec[256];
    const char *dot = strchr(name, '.');
    int idx = -1;
    if (dot && (size_t)(dot - name) < sizeof sec) {
        memcpy(sec, name, (size_t)(dot - name));
        sec[dot - name] = '\0';
        idx = find_entry(c, sec, dot + 1);
    }
    if (idx < 0) qat_die("internal error: %s('%s'): no such config key in the schema", fn, name);
    const CfgEntry *e = &c->entries[idx];
    if (e->field->type != t)
        qat_die("internal error: %s('%s'): the key is %s, not %s", fn, name,
                enum_name(e->field->type), enum_name(t));
    if (e->nvalues == 0) qat_die("internal error: %s('%s'): the key has no value", fn, name);
    if (e->nvalues > 1)
        qat_die("internal error: %s('%s'): the key is a grid axis; resolve it with "
                "config_grid_get first", fn, name);
    return e;
}

int64_t cfg_int(const Config *c, const char *name) {
    return strtoll(get_entry(c, name, CFG_INT, "cfg_int")->values[0], NULL, 10);
}

double cfg_float(const Config *c, const char *name) {
    return strtod(get_entry(c, name, CFG_FLOAT, "cfg_float")->values[0], NULL);
}

int cfg_bool(const Config *c, const char *name) {
    return !strcmp(get_entry(c, name, CFG_BOOL, "cfg_bool")->values[0], "true");
}

const char *cfg_str(const Config *c, const char *name) {
    return get_entry(c, name, CFG_STRING, "cfg_str")->values[0];
}

int cfg_has(const Config *c, const char *name) {
    char sec[256];
    const char *dot = strchr(name, '.');
    if (!dot || (size_t)(dot - name) >= sizeof sec) return 0;
    memcpy(sec, name, (size_t)(dot - name));
    sec[dot - name] = '\0';
    int idx = find_entry(c, sec, dot + 1);
    return idx >= 0 && c->entries[idx].nvalues > 0;
}

double cfg_float_or(const Config *c, const char *name, double fallback) {
    return cfg_has(c, name) ? cfg_float(c, name) : fallback;
}

/* --- output ------------------------------------------------------------------------------ */

/* Plain only for simple words that no YAML reader would take for a number, bool or null,
 * so that the file reads back as the same string anywhere. */
static int string_needs_quotes(const char *s) {
    if (!isalpha((unsigned char)s[0]) && s[0] != '_' && s[0] != '/') return 1;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_./-", *p)) return 1;
    static const char *const special[] = {"y", "n", "yes", "no", "on", "off", "true", "false",
                                          "null", "inf", "nan", "infinity"};
    for (size_t i = 0; i < sizeof special / sizeof *special; i++)
        if (!strcasecmp(s, special[i])) return 1;
    return 0;
}

/* One UTF-8 character (values are valid UTF-8: libyaml checks what it reads) in a double-
 * quoted scalar; returns its length. YAML reads U+0085, U+2028 and U+2029 as line breaks
 * (folded to a space in a quoted scalar) and rejects the C1 controls, U+FEFF and
 * U+FFFE/F written as they are, so those are escaped. */
static int write_utf8(FILE *f, const unsigned char *p) {
    int n = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;
    unsigned cp = p[0] & (0x7fu >> n);
    for (int i = 1; i < n; i++) cp = cp << 6 | (p[i] & 0x3fu);
    if (cp == 0x85) fputs("\\N", f);
    else if (cp == 0x2028) fputs("\\L", f);
    else if (cp == 0x2029) fputs("\\P", f);
    else if (cp < 0xa0 || cp == 0xfeff || cp == 0xfffe || cp == 0xffff) fprintf(f, "\\u%04x", cp);
    else fwrite(p, 1, (size_t)n, f);
    return n;
}

static void write_scalar(FILE *f, CfgType t, const char *v) {
    if (t != CFG_STRING || !string_needs_quotes(v)) {
        fputs(v, f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p == '\t') fputs("\\t", f);
        else if (*p == '\r') fputs("\\r", f);
        else if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\x%02x", *p);
        else if (*p < 0x80) fputc(*p, f);
        else p += write_utf8(f, p) - 1;
    }
    fputc('"', f);
}

static void write_entry_value(FILE *f, const CfgEntry *e) {
    if (e->nvalues == 1) {
        write_scalar(f, e->field->type, e->values[0]);
        return;
    }
    fputc('[', f);
    for (int i = 0; i < e->nvalues; i++) {
        if (i) fputs(", ", f);
        write_scalar(f, e->field->type, e->values[i]);
    }
    fputc(']', f);
}

/* Grid axes, if any remain, are written as flow lists so the file reloads as the grid. */
void config_write_yaml(const Config *c, FILE *f) {
    for (int i = 0; i < c->n; i++) {
        const char *section = c->entries[i].field->section;
        int first = 1;
        for (int j = 0; j < i && first; j++) first = strcmp(c->entries[j].field->section, section);
        if (!first) continue; /* section already written with all its keys */
        int any = 0;
        for (int j = i; j < c->n; j++) {
            const CfgEntry *e = &c->entries[j];
            if (strcmp(e->field->section, section) || e->nvalues == 0) continue;
            if (!any) fprintf(f, "%s:\n", section);
            any = 1;
            fprintf(f, "  %s: ", e->field->key);
            write_entry_value(f, e);
            fputc('\n', f);
        }
        if (!any) fprintf(f, "%s: {}\n", section);
    }
}

static uint64_t fnv1a(uint64_t h, const char *s) {
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* FNV-1a 64 over "section.key=value\n" in schema order; keys without a value are
 * skipped and a grid axis hashes as "section.key=[v1, v2]". */
uint64_t config_hash(const Config *c) {
    uint64_t h = 14695981039346656037ULL;
    for (int i = 0; i < c->n; i++) {
        const CfgEntry *e = &c->entries[i];
        if (e->nvalues == 0) continue;
        h = fnv1a(h, e->field->section);
        h = fnv1a(h, ".");
        h = fnv1a(h, e->field->key);
        h = fnv1a(h, "=");
        if (e->nvalues == 1) {
            h = fnv1a(h, e->values[0]);
        } else {
            h = fnv1a(h, "[");
            for (int v = 0; v < e->nvalues; v++) {
                if (v) h = fnv1a(h, ", ");
                h = fnv1a(h, e->values[v]);
            }
            h = fnv1a(h, "]");
        }
        h = fnv1a(h, "\n");
    }
    return h;
}
