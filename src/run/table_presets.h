/* Presets of `qat table`: per model, the --set overrides of the FP baseline run, of the
 * QAT fine-tuning runs and of the PTQ run. `full` uses the default configs (plus the QAT
 * fine-tuning length); `quick` uses smaller settings so that all 18 cells of the three
 * table models finish in about 30 minutes on 2 cores. */
#ifndef QAT_RUN_TABLE_PRESETS_H
#define QAT_RUN_TABLE_PRESETS_H

#define PRESET_MAX_SETS 8

typedef struct {
    const char *model;
    const char *metric;   /* the table's column: result.json metrics key */
    const char *label;    /* column title */
    const char *fp[PRESET_MAX_SETS];
    const char *qat[PRESET_MAX_SETS];
    const char *ptq[PRESET_MAX_SETS];
} TablePreset;

/* NULL when the preset has no entry for this model. */
const TablePreset *table_preset(const char *preset, const char *model);
/* The models a table covers by default (NULL-terminated). */
const char *const *table_default_models(void);

#endif
