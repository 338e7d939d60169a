/* Checkpoints are tensor files (io/tensor_file.c has the format) of kind "QATCKPT1": the
 * model name, the resolved config as meta text, and one array per parameter with its
 * optimizer group. Loading matches arrays to parameters by name, and checks every name
 * and shape before it changes any parameter. */
#include "io/checkpoint.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

void checkpoint_save(const char *path, const char *model_name, const ParamList *params,
                     const char *meta) {
    TensorRef *refs = qat_calloc((size_t)(params->n > 0 ? params->n : 1), sizeof *refs);
    for (int i = 0; i < params->n; i++) {
        const Param *p = params->items[i];
        refs[i] = (TensorRef){p->name, (int)p->group, p->t.ndim, p->t.shape, p->t.data};
    }
    tensor_file_save(&TENSOR_FILE_CHECKPOINT, path, model_name, meta, refs, params->n);
    free(refs);
}

int checkpoint_load(const char *path, const char *model_name, ParamList *params,
                    CheckpointMode mode) {
    TensorFile tf;
    tensor_file_read(&tf, &TENSOR_FILE_CHECKPOINT, path);
    if (strcmp(tf.model, model_name) != 0)
        qat_die("checkpoint %s holds model '%s', not '%s'", path, tf.model, model_name);

    /* Match by name, before touching any parameter. */
    char s1[96], s2[96];
    for (int i = 0; i < tf.n; i++) {
        const StoredTensor *st = &tf.items[i];
        Param *p = param_list_find(params, st->name);
        if (!p && mode == CKPT_ALLOW_MISSING_QUANT && st->group == PARAM_GROUP_QUANT) continue;
        if (!p)
            qat_die("checkpoint %s: parameter '%s' (shape %s) is not in model '%s'", path, st->name,
                    dims_str(st->ndim, st->shape, s1, sizeof s1), model_name);
        int same = p->t.ndim == st->ndim;
        for (int d = 0; same && d < p->t.ndim; d++) same = p->t.shape[d] == st->shape[d];
        if (!same)
            qat_die("checkpoint %s: parameter '%s' has shape %s, the model expects %s", path, st->name,
                    dims_str(st->ndim, st->shape, s1, sizeof s1),
                    dims_str(p->t.ndim, p->t.shape, s2, sizeof s2));
    }
    for (int k = 0; k < params->n; k++) {
        const Param *p = params->items[k];
        if (tensor_file_find(&tf, p->name)) continue;
        if (mode == CKPT_ALLOW_MISSING_QUANT && p->group == PARAM_GROUP_QUANT) continue;
        qat_die("checkpoint %s has no parameter '%s' (shape %s) of model '%s'", path, p->name,
                dims_str(p->t.ndim, p->t.shape, s1, sizeof s1), model_name);
    }

    int loaded = 0;
    for (int k = 0; k < params->n; k++) params->items[k]->loaded = 0;
    for (int i = 0; i < tf.n; i++) {
        Param *p = param_list_find(params, tf.items[i].name);
        if (!p) continue; /* another method's quantizer parameter, skipped above */
        p->loaded = 1;
        stored_tensor_copy(&tf.items[i], p->t.data);
        loaded++;
    }
    tensor_file_free(&tf);
    return loaded;
}
