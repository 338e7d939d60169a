/* Checkpoints: every parameter of a model (quantizer parameters included) by name and
 * shape, with the model name and the resolved config, in a tensor file (io/tensor_file.h):
 * a truncated or corrupt file is detected, and it is written atomically. */
#ifndef QAT_IO_CHECKPOINT_H
#define QAT_IO_CHECKPOINT_H

#include "core/param.h"
#include "io/tensor_file.h"

/* Saves params; `meta` is free text stored with it (the resolved config YAML). */
void checkpoint_save(const char *path, const char *model_name, const ParamList *params,
                     const char *meta);

typedef enum {
    CKPT_STRICT = 0,          /* every param of the model must be in the file, and vice versa */
    CKPT_ALLOW_MISSING_QUANT = 1 /* quantizer params (group QUANT) may be absent from the file,
                                    and the file's quantizer params the model lacks are skipped */
} CheckpointMode;

/* Loads into params (matched by name) and sets each param's `loaded` flag. Dies with a clear message naming the file when the
 * file is missing, truncated, corrupt, of another model, or a shape differs. Returns the
 * number of parameters loaded. */
int checkpoint_load(const char *path, const char *model_name, ParamList *params,
                    CheckpointMode mode);

#endif
