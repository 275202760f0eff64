/* libFuzzer harness: a model folder's config.json. Any input must be refused
 * with a message, or give settings a model can be built from. */
#include <stdint.h>
#include <stdlib.h>

#include "models/sasrec/cli/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    RunConfig c = config_defaults();
    int64_t n_items = 0;
    NnError err;
    if (config_parse_model("config.json", (const char *)data, size, &c, &n_items, &err) != 0) {
        if (!err.msg[0]) abort();
        return 0;
    }
    /* accepted: the settings must be ones sasrec_init takes */
    if (n_items < 1 || c.max_len < 1 || c.hidden < 1 || c.heads < 1 || c.hidden % c.heads || c.layers < 0 ||
        !(c.dropout >= 0 && c.dropout < 1))
        abort();
    return 0;
}
