/* libFuzzer harness: a whole model folder, its config.json, items.txt and
 * model.safetensors together, as eval and predict load it
 * (app_load_model_buffers: the same checks as from files). The input is the
 * three files joined by the line "====" (see fuzz/model_dir.dict); a seed with
 * checksums and one without (an older folder) are in fuzz/corpus/model_dir.
 * Any input must be refused with a message, or give a model whose settings
 * match its files and whose every weight is finite. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "models/sasrec/cli/model_dir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEP "\n====\n"

/* The next part of [*p, end) up to SEP (or the end); *p moves past it. */
static const char *part(const char **p, const char *end, size_t *len) {
    const char *start = *p, *hit = NULL;
    for (const char *q = start; q + strlen(SEP) <= end; q++)
        if (memcmp(q, SEP, strlen(SEP)) == 0) {
            hit = q;
            break;
        }
    *len = (size_t)((hit ? hit : end) - start);
    *p = hit ? hit + strlen(SEP) : end;
    return start;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p = (const char *)data, *end = p + size;
    size_t config_len, items_len, ckpt_len;
    const char *config = part(&p, end, &config_len), *items = part(&p, end, &items_len);
    const char *ckpt = part(&p, end, &ckpt_len);
    char *checkpoint = malloc(ckpt_len + 1); /* taken over by the loader */
    memcpy(checkpoint, ckpt, ckpt_len);
    checkpoint[ckpt_len] = '\0';
    RunConfig c = config_defaults();
    LoadedModel lm;
    NnError err;
    if (app_load_model_buffers(&c, config, config_len, items, items_len, checkpoint, ckpt_len, &lm, &err) != 0) {
        if (!err.msg[0]) abort(); /* a refusal says why */
        return 0;
    }
    if (lm.vocab.n_items != c.model.n_items || lm.model.cfg.hidden != c.model.hidden) abort();
    for (int i = 0; i < lm.model.m.n_params; i++) {
        const Tensor *t = lm.model.m.params[i].value;
        for (int64_t k = 0; k < t->numel; k++)
            if (!isfinite(t->data[k])) abort();
    }
    app_free_model(&lm);
    return 0;
}
