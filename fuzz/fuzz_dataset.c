/* libFuzzer harness for the interaction loaders and the id list reader.
 *
 * The first byte chooses what to run, the rest is the file:
 *   bits 0-2  0..5: dataset_load_buffer with FORMAT_AUTO, SEQ, PAIRS, CSV, DAT, UDATA;
 *             6, 7: idmap_read_items_buffer (an items.txt)
 *   bits 3-4  min_interactions 0..3
 *   bit 6     csv columns named "u", "i", "t" instead of found by name
 *   bit 7     load with a fixed item vocabulary (unknown items dropped)
 * A load that succeeds must give a consistent Dataset, which then goes
 * through the batches and the negative samplers; one that fails must leave
 * a message. Any violation aborts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/sasrec/batch.h"
#include "models/sasrec/data/dataset.h"
#include "models/sasrec/data/idmap.h"
#include "models/sasrec/data/sample.h"

#define REQUIRE(cond)                                                                                                  \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "fuzz_dataset: %s failed (line %d)\n", #cond, __LINE__);                                   \
            abort();                                                                                                   \
        }                                                                                                              \
    } while (0)

static const Dataset *vocab(void) {
    static Dataset v;
    static int ready;
    if (!ready) {
        const char text[] = "u a b c 0 -5\nv x y z a\n";
        REQUIRE(dataset_load_buffer("vocab", text, sizeof text - 1, NULL, NULL, &v, NULL) == 0);
        ready = 1;
    }
    return &v;
}

static void check_message(const NnError *err) {
    size_t n = strnlen(err->msg, sizeof err->msg);
    REQUIRE(n > 0 && n < sizeof err->msg);
}

static void check_ids(const Dataset *ds) {
    REQUIRE(ds->item_ids && ds->item_ids[0] == NULL);
    for (int64_t i = 1; i <= ds->n_items; i++) {
        size_t len = strlen(ds->item_ids[i]);
        REQUIRE(len > 0 && len <= DATASET_MAX_ID_BYTES);
        REQUIRE(dataset_item_id(ds, ds->item_ids[i], len) == i);
    }
    for (int64_t u = 0; u < ds->n_users; u++) {
        size_t len = strlen(ds->user_ids[u]);
        REQUIRE(len > 0 && len <= DATASET_MAX_ID_BYTES);
        REQUIRE(dataset_user_index(ds, ds->user_ids[u], len) == u);
    }
}

static void check_dataset(const Dataset *ds, const LoadOptions *o, const Dataset *v) {
    REQUIRE(ds->n_users >= 1 && ds->n_items >= 1);
    REQUIRE(ds->format != FORMAT_AUTO && (o->format == FORMAT_AUTO || ds->format == o->format));
    REQUIRE(ds->seq_start[0] == 0 && ds->seq_start[ds->n_users] == ds->n_interactions);
    if (v) REQUIRE(ds->n_items == v->n_items);
    for (int64_t u = 0; u < ds->n_users; u++) {
        int64_t len = ds->seq_start[u + 1] - ds->seq_start[u];
        REQUIRE(len >= 1 && len >= o->min_interactions);
    }
    /* every item id used, and (without a vocabulary) numbered by first appearance */
    int32_t next = 1;
    for (int64_t k = 0; k < ds->n_interactions; k++) {
        int32_t x = ds->items[k];
        REQUIRE(x >= 1 && x <= ds->n_items);
        if (!v) {
            REQUIRE(x <= next);
            if (x == next) next++;
        }
    }
    if (!v) REQUIRE(next == ds->n_items + 1);
    check_ids(ds);
}

/* Batches for the first users, and both negative samplers. */
static void exercise(const Dataset *ds) {
    enum { MAX_USERS = 8, L = 4 };
    int64_t users[MAX_USERS];
    int n = 0;
    for (int64_t u = 0; u < ds->n_users && n < MAX_USERS; u++)
        if (ds->seq_start[u + 1] - ds->seq_start[u] >= 3) users[n++] = u;
    NegSampler ns;
    NnError err;
    SeqBatch b;
    batch_alloc(&b, MAX_USERS, L);
    if (batch_neg_prepare(&ns, ds, 1, &err) == 0) {
        batch_fill(&b, ds, SPLIT_TRAIN, users, n, &ns, 2);
        for (int r = 0; r < n; r++)
            for (int j = 0; j < L; j++) {
                int64_t p = b.pos[r * L + j], q = b.neg[r * L + j];
                REQUIRE((p == 0) == (q == 0) && (p == 0) >= (b.input[r * L + j] == 0));
                if (q) REQUIRE(!batch_neg_in_seq(&ns, users[r], (int32_t)q));
            }
        batch_neg_free(&ns);
    } else {
        check_message(&err);
    }
    for (Split s = SPLIT_VALID; s <= SPLIT_SUBMIT; s++) batch_fill(&b, ds, s, users, n, NULL, 0);
    batch_free(&b);
    SampleSet ss;
    if (sample_generate(ds, 2, 12345, &ss, &err) == 0)
        sample_free(&ss);
    else
        check_message(&err);
    char line[512];
    dataset_summary(ds, line, sizeof line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned ctl = data[0];
    const char *text = (const char *)data + 1;
    NnError err;
    Dataset ds;
    if ((ctl & 7) >= 6) {
        if (idmap_read_items_buffer("items.txt", text, size - 1, &ds, &err) == 0) {
            REQUIRE(ds.n_items >= 1 && ds.n_users == 0);
            check_ids(&ds);
            dataset_free(&ds);
        } else {
            check_message(&err);
        }
        return 0;
    }
    LoadOptions o = dataset_default_options();
    o.format = (DataFormat)(ctl & 7);
    o.min_interactions = (int)((ctl >> 3) & 3);
    if (ctl & 0x40) o.user_col = "u", o.item_col = "i", o.time_col = "t";
    const Dataset *v = (ctl & 0x80) ? vocab() : NULL;
    if (dataset_load_buffer("fuzz.txt", text, size - 1, &o, v, &ds, &err) == 0) {
        check_dataset(&ds, &o, v);
        exercise(&ds);
        dataset_free(&ds);
    } else {
        check_message(&err);
        REQUIRE(ds.items == NULL && ds.user_ids == NULL);
    }
    return 0;
}
