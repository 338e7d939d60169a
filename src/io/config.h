/* Run configuration: YAML files with the prototype's keys (model:, dataset:, training:,
 * quantizer:, quantizer_optimizer:), checked against a schema, with `--set
 * section.key=value` overrides. A YAML list where the schema expects a scalar is a grid
 * axis: every combination of the axes is one run.
 *
 * Errors a user can cause (unknown section or key, wrong type, malformed YAML, missing
 * file) end the program through qat_die() with a message naming the file, line and key. */
#ifndef QAT_IO_CONFIG_H
#define QAT_IO_CONFIG_H

#include <stdint.h>
#include <stdio.h>

typedef enum { CFG_INT, CFG_FLOAT, CFG_BOOL, CFG_STRING } CfgType;

/* One schema entry. default_value is the text form ("0.005", "true", "lsq"). */
/* range: the values a key takes, or NULL for any of its type. For numbers ">= A", "> A",
 * "A..B" (both included) or "A..<B" (B excluded); for strings the choices "a|b|c". A
 * value outside it is an error naming where it was set. */
typedef struct {
    const char *section;
    const char *key;
    CfgType type;
    const char *default_value;
    const char *range;
    const char *help;
} CfgField;

/* A schema is an array of CfgField ended by an entry with section == NULL. */

#define CFG_MAX_FIELDS 96
#define CFG_MAX_VALUES 16 /* values on one grid axis */

typedef struct {
    const CfgField *field;
    int nvalues;                       /* 1 = scalar, >1 = grid axis */
    char *values[CFG_MAX_VALUES];      /* canonical text of each value */
    char source[160];                  /* "configs/x.yml:12", "--set", "default" */
} CfgEntry;

/* The loaded configuration, possibly with grid axes. */
typedef struct {
    CfgEntry entries[CFG_MAX_FIELDS];
    int n;
} ConfigGrid;

/* One resolved combination: every entry holds exactly one value. */
typedef ConfigGrid Config;

/* Start from the defaults of one or more schemas (NULL-terminated list of schemas). */
void config_grid_init(ConfigGrid *g, const CfgField *const *schemas);
void config_grid_free(ConfigGrid *g);
/* Merge a YAML file into g. Every key must be in the schema; values are type-checked. */
void config_grid_load_file(ConfigGrid *g, const char *path);
/* Apply "section.key=value"; value is YAML (a flow list "[1, 2]" makes a grid axis). */
void config_grid_set(ConfigGrid *g, const char *assignment);
/* Number of combinations (product of the axis lengths). */
int config_grid_count(const ConfigGrid *g);
/* Combination `index` (0 <= index < count); axes vary in schema order, last fastest. */
void config_grid_get(const ConfigGrid *g, int index, Config *out);
/* "training.lr=0.001 quantizer.bit_width=4": the axes' values of a combination. */
void config_grid_describe(const ConfigGrid *g, int index, char *buf, size_t cap);

/* Typed getters on a resolved Config; name is "section.key". Asking for a key not in
 * the schema, or with the wrong type, is an internal error. */
int64_t cfg_int(const Config *c, const char *name);
double cfg_float(const Config *c, const char *name);
int cfg_bool(const Config *c, const char *name);
const char *cfg_str(const Config *c, const char *name);
int cfg_has(const Config *c, const char *name);
/* An optional key (one that only some schemas declare): its value, else fallback. */
double cfg_float_or(const Config *c, const char *name, double fallback);

/* Resolved config as YAML, sections in schema order. */
void config_write_yaml(const Config *c, FILE *f);
/* Stable 64-bit hash of every resolved key and value (for reusing finished runs). */
uint64_t config_hash(const Config *c);

#endif
