#include "run/saved_run.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/checkpoint.h"
#include "quant/method.h"

void saved_run_open(SavedRun *r, const char *dir) {
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    if (!run_store_read_result(dir, NULL, &r->result))
        qat_die("%s: not a finished run (no result.json; a run writes it when it ends)", dir);
    r->md = model_find(r->result.model);
    if (!r->md) qat_die("%s/result.json: unknown model '%s'", dir, r->result.model);
    r->qm = quant_method_find(r->result.quantizer);
    if (!r->qm) qat_die("%s/result.json: unknown quantizer '%s'", dir, r->result.quantizer);
    char path[1100];
    snprintf(path, sizeof path, "%s/config.yml", dir);
    if (!file_exists(path)) qat_die("%s: the run's config.yml is missing", dir);
    const CfgField *schemas[] = {r->md->schema, quant_schema, NULL};
    config_grid_init(&r->cfg, schemas);
    config_grid_load_file(&r->cfg, path);
    if (config_grid_count(&r->cfg) != 1) qat_die("%s: a grid, not the config of one run", path);
    r->m = r->md->create(&r->cfg, 0);
    quant_attach(r->qm->make, &r->cfg, &r->m->sites, &r->m->params);
    snprintf(path, sizeof path, "%s/model.ckpt", dir);
    checkpoint_load(path, r->md->name, &r->m->params, CKPT_STRICT);
    quant_sites_mark_loaded(&r->m->sites);
    for (int i = 0; i < r->m->sites.n; i++) {
        const QuantSite *s = r->m->sites.items[i];
        if (s->q && s->q->nparams > 0 && !s->q->initialized)
            qat_die("%s: the checkpoint has no parameters for the quantizer of %s", path, s->layer);
    }
}

void saved_run_close(SavedRun *r) {
    model_free(r->m);
    config_grid_free(&r->cfg);
    memset(r, 0, sizeof *r);
}
