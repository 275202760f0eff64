/* libFuzzer harness: a model folder's config.json. Any input must be refused
 * with a message, or give settings a model can be built from. */
#include <stdint.h>
#include <stdlib.h>

#include "models/sasrec/cli/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    RunConfig c = config_defaults();
    NnError err;
    if (config_parse_model("config.json", (const char *)data, size, &c, &err) != 0) {
        if (!err.msg[0]) abort();
        return 0;
    }
    /* accepted: the settings must be ones sasrec_init takes */
    const SasrecConfig *m = &c.model;
    if (m->n_items < 1 || m->max_len < 1 || m->hidden < 1 || m->heads < 1 || m->hidden % m->heads || m->layers < 0 ||
        !(m->dropout >= 0 && m->dropout < 1))
        abort();
    return 0;
}
