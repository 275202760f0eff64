/* libFuzzer harness: a checkpoint file loaded into a small SASRec model (and
 * its Adam state). Any input must be refused with a message or loaded; a
 * refused file must leave the model as it was. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "models/sasrec/model.h"
#include "nn/checkpoint.h"
#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static Sasrec model;
    static Adam *opt;
    static real *before;
    if (!opt) { /* one model for the whole run: H 4, L 3, 1 layer, 6 items */
        SasrecConfig c = sasrec_default_config();
        c.n_items = 6;
        c.max_len = 3;
        c.hidden = 4;
        c.layers = 1;
        sasrec_init(&model, &c, 1);
        opt = adam_new(&model.m, adam_defaults());
        before = malloc((size_t)module_num_params(&model.m) * sizeof *before);
    }
    NnError err;
    SafeTensors *st = safetensors_parse(data, size, &err);
    if (!st) return 0;
    int64_t k = 0;
    for (int i = 0; i < model.m.n_params; i++)
        for (int64_t j = 0; j < model.m.params[i].value->numel; j++) before[k++] = model.m.params[i].value->data[j];
    int with_opt = size & 1;
    if (checkpoint_apply(st, "fuzz.safetensors", &model.m, with_opt ? opt : NULL, &err) != 0) {
        if (!err.msg[0]) abort(); /* a refusal says why */
        k = 0;
        for (int i = 0; i < model.m.n_params; i++) /* and changes nothing */
            for (int64_t j = 0; j < model.m.params[i].value->numel; j++, k++)
                if (memcmp(&before[k], &model.m.params[i].value->data[j], sizeof(real)) != 0) abort();
    }
    safetensors_free(st);
    return 0;
}
