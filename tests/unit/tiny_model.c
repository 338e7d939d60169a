#include "tiny_model.h"

const ModelDef TINY_MODEL_DEF = {"tiny", NULL, "accuracy", NULL, NULL, NULL};

static Model model;
static QuantSite sites[2];
static Quantizer weight_quantizer;

Model *tiny_model(void) {
    if (model.def) return &model;
    model.def = &TINY_MODEL_DEF;
    param_list_add(&model.params, param_new("fc.weight", 2, (int[]){2, 3}, PARAM_GROUP_WEIGHT));
    param_list_add(&model.params, param_new("fc.bias", 1, (int[]){3}, PARAM_GROUP_NO_DECAY));
    Param *step = param_new("fc.weight.step", 1, (int[]){1}, PARAM_GROUP_QUANT);
    step->frozen = 1;
    param_list_add(&model.params, step);
    quant_site_declare(&model.sites, &sites[0], "fc", SITE_WEIGHT, 1, SITE_FIRST, 2);
    quant_site_declare(&model.sites, &sites[1], "fc", SITE_INPUT, 0, SITE_FIRST, 1);
    quant_site_bind(&sites[0], &sites[1], LAYER_LINEAR, (SiteGeometry){.in = 3, .out = 2}, model.params.items[0],
                    model.params.items[1], FOLLOW_NONE);
    sites[0].q = &weight_quantizer;
    model.train_batches = 7;
    return &model;
}

Quantizer *tiny_model_weight_quantizer(void) { return &weight_quantizer; }
