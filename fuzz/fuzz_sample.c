/* libFuzzer harness for the sample-file reader, against a small fixed data set.
 *
 * The first byte chooses the number of negatives per line (1 + byte % 4), the
 * rest is the file. A read that succeeds must give negatives that are items of
 * the data and not in their user's sequence; one that fails must leave a
 * message. Any violation aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/sasrec/data/dataset.h"
#include "models/sasrec/data/sample.h"

#define REQUIRE(cond)                                                                                                  \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "fuzz_sample: %s failed (line %d)\n", #cond, __LINE__);                                    \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

/* Users u1, u2, -5, u4 over items a..g, 0, x, y, z. */
static const Dataset *data(void) {
    static Dataset ds;
    static int ready;
    if (!ready) {
        const char text[] = "u1 a b c\nu2 d e f g\n-5 0 a d\nu4 x y z\n";
        REQUIRE(dataset_load_buffer("data", text, sizeof text - 1, NULL, NULL, &ds, NULL) == 0);
        ready = 1;
    }
    return &ds;
}

int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size) {
    if (size < 1) return 0;
    const Dataset *ds = data();
    int n_neg = 1 + bytes[0] % 4;
    SampleSet s;
    NnError err;
    if (sample_read_buffer("sample.txt", (const char *)bytes + 1, size - 1, ds, n_neg, &s, &err) == 0) {
        REQUIRE(s.n_users == ds->n_users && s.n_neg == n_neg);
        for (int64_t u = 0; u < ds->n_users; u++) {
            int64_t len;
            const int32_t *seq = dataset_seq(ds, u, &len);
            for (int k = 0; k < n_neg; k++) {
                int32_t x = s.neg[u * n_neg + k];
                REQUIRE(x >= 1 && x <= ds->n_items);
                for (int64_t t = 0; t < len; t++) REQUIRE(seq[t] != x);
            }
        }
        sample_free(&s);
    } else {
        size_t n = strnlen(err.msg, sizeof err.msg);
        REQUIRE(n > 0 && n < sizeof err.msg);
        REQUIRE(s.neg == NULL);
    }
    return 0;
}
