/* A BERT4Rec-style masked-item recommender on synthetic sessions.
 *
 *   make && ./build/examples/bert4rec
 *   ./build/examples/bert4rec --epochs 20 --out bert4rec.safetensors
 *
 * Out of the source tree, after make install:
 *   cc -O2 bert4rec.c $(pkg-config --cflags --libs nn) -o bert4rec
 *
 * Sessions are walks over a catalogue in which every item has a few likely
 * successors (and, now and then, a jump to a popular item), as in gru4rec.c.
 * The model is bidirectional: item and position embeddings, transformer blocks
 * without a causal mask (every position sees the whole session, padding left
 * out through key_valid) and a linear head over the catalogue. Training hides
 * some items behind a [mask] token and asks for them back: the cross-entropy
 * counts the masked positions only (every other target is the ignore index).
 * Each session's last item is held out; to recommend, the model reads the
 * session with [mask] in its last place. HR@10 on those against the
 * most-popular baseline shows what it learned; a checkpoint round trip checks
 * that a reloaded model gives the same scores. */
#include <nn/nn.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ITEMS      300          /* catalogue: ids 1..ITEMS; 0 pads */
#define MASK_ID    (ITEMS + 1)  /* the [mask] token */
#define VOCAB      (ITEMS + 2)  /* padding, the items, [mask] */
#define SESSIONS   2000
#define MAX_LEN    12
#define SUCCESSORS 3
#define HIDDEN     64
#define K          10
#define IGNORE     (-100) /* the target of every position that is not masked */

typedef struct {
    int64_t items[SESSIONS][MAX_LEN]; /* left-aligned, 0 after the end */
    int len[SESSIONS];
    int64_t popular[K]; /* the K most frequent training items */
} Data;

/* A walk: mostly one of the current item's successors, sometimes a jump to a Zipf-popular item. */
static void make_sessions(Data *d, Rng *rng) {
    static int64_t next[ITEMS + 1][SUCCESSORS];
    for (int i = 1; i <= ITEMS; i++)
        for (int s = 0; s < SUCCESSORS; s++) next[i][s] = 1 + (int64_t)rng_below(rng, ITEMS);
    for (int u = 0; u < SESSIONS; u++) {
        d->len[u] = 4 + (int)rng_below(rng, MAX_LEN - 3);
        int64_t item = 1 + (int64_t)rng_below(rng, ITEMS);
        for (int t = 0; t < MAX_LEN; t++) {
            d->items[u][t] = t < d->len[u] ? item : 0;
            if (rng_uniform(rng) < 0.85)
                item = next[item][rng_below(rng, SUCCESSORS)];
            else
                item = 1 + (int64_t)rng_below(rng, 1 + rng_below(rng, ITEMS)); /* small ids more often */
        }
    }
    int64_t count[ITEMS + 1] = {0};
    for (int u = 0; u < SESSIONS; u++)
        for (int t = 0; t < d->len[u] - 1; t++) count[d->items[u][t]]++; /* training part only */
    for (int k = 0; k < K; k++) {
        int64_t best = 1;
        for (int64_t i = 1; i <= ITEMS; i++)
            if (count[i] > count[best]) best = i;
        d->popular[k] = best;
        count[best] = -1;
    }
}

typedef struct {
    Module m;
    Embedding item, pos;
    TransformerBlock block[2];
    Linear head;
} Bert4Rec;

static void bert4rec_init(Bert4Rec *r, uint64_t seed) {
    module_init(&r->m, seed);
    r->item = embedding_new(&r->m, "item", VOCAB, HIDDEN, 0);
    r->pos = embedding_new(&r->m, "pos", MAX_LEN, HIDDEN, -1);
    TransformerBlockConfig tc = transformer_block_default_config(HIDDEN, 2, NORM_PRE);
    tc.act = ACT_GELU;
    tc.dropout = tc.attn_dropout = 0.1;
    r->block[0] = transformer_block_new(&r->m, "block0", &tc);
    r->block[1] = transformer_block_new(&r->m, "block1", &tc);
    r->head = linear_new(&r->m, "head", HIDDEN, VOCAB, 1);
    init_normal(r->item.weight, 0, 0.02, &r->m.init_rng); /* BERT's small-std start */
    init_normal(r->pos.weight, 0, 0.02, &r->m.init_rng);
}

/* ids (B, MAX_LEN), 0 after each session's end -> scores (B, MAX_LEN, VOCAB). No causal mask. */
static Tensor *bert4rec_forward(Bert4Rec *r, Graph *g, const int64_t *ids, int64_t B) {
    int64_t pos[MAX_LEN];
    unsigned char valid[SESSIONS * MAX_LEN]; /* (B, MAX_LEN): 1 on real positions */
    for (int64_t t = 0; t < MAX_LEN; t++) pos[t] = t;
    for (int64_t i = 0; i < B * MAX_LEN; i++) valid[i] = ids[i] != 0;
    Tensor *h = ag_add(g, embedding_forward(&r->item, g, ids, NN_SHAPE(B, MAX_LEN)),
                       embedding_forward(&r->pos, g, pos, NN_SHAPE(MAX_LEN))); /* (B, T, H) */
    for (int l = 0; l < 2; l++) h = transformer_block_forward_dense(&r->block[l], &r->m, g, h, 0, valid);
    return linear_forward(&r->head, g, h);
}

/* The held-out query of session u: its items with [mask] in the last place. */
static void query(const Data *d, int u, int64_t *x) {
    memcpy(x, d->items[u], sizeof d->items[u]);
    x[d->len[u] - 1] = MASK_ID;
}

/* Scores (SESSIONS, VOCAB) of every item at each session's masked last place, in eval mode. */
static real *score_all(Bert4Rec *r, const Data *d) {
    enum { B = 200 };
    static int64_t x[B * MAX_LEN];
    real *out = malloc((size_t)SESSIONS * VOCAB * sizeof *out);
    int prev = ag_set_grad_enabled(0);
    module_train(&r->m, 0);
    Graph *g = graph_new();
    for (int u0 = 0; u0 < SESSIONS; u0 += B) {
        for (int b = 0; b < B; b++) query(d, u0 + b, x + b * MAX_LEN);
        Tensor *s = bert4rec_forward(r, g, x, B); /* (B, T, VOCAB), contiguous */
        for (int b = 0; b < B; b++)
            memcpy(out + (int64_t)(u0 + b) * VOCAB, s->data + ((int64_t)b * MAX_LEN + d->len[u0 + b] - 1) * VOCAB,
                   VOCAB * sizeof *out);
        graph_reset(g);
    }
    graph_free(g);
    module_train(&r->m, 1);
    ag_set_grad_enabled(prev);
    return out;
}

/* HR@K: is the held-out item among the K best-scored items (padding and [mask] never recommended)? */
static double hit_rate(const real *scores, const Data *d) {
    int64_t hits = 0;
    for (int u = 0; u < SESSIONS; u++) {
        const real *s = scores + (int64_t)u * VOCAB;
        int64_t target = d->items[u][d->len[u] - 1], above = 0;
        for (int64_t i = 1; i <= ITEMS; i++) above += s[i] > s[target] || (s[i] == s[target] && i < target);
        hits += above < K;
    }
    return (double)hits / SESSIONS;
}

/* A training batch: sessions u0.. without their held-out item; each place masked with probability 0.2 and
 * the last one half the time (as at recommendation time); targets only where masked. */
static void masked_batch(const Data *d, int u0, int64_t B, Rng *rng, int64_t *x, int64_t *y) {
    for (int64_t b = 0; b < B; b++) {
        int u = u0 + (int)b, n = d->len[u] - 1, masked = 0;
        for (int t = 0; t < MAX_LEN; t++) {
            int64_t item = t < n ? d->items[u][t] : 0;
            int hide = item && (rng_uniform(rng) < 0.2 || (t == n - 1 && rng_uniform(rng) < 0.5));
            x[b * MAX_LEN + t] = hide ? MASK_ID : item;
            y[b * MAX_LEN + t] = hide ? item : IGNORE;
            masked += hide;
        }
        if (!masked) { /* every sequence teaches something */
            x[b * MAX_LEN + n - 1] = MASK_ID;
            y[b * MAX_LEN + n - 1] = d->items[u][n - 1];
        }
    }
}

/* Saves r, loads the file into a model built from another seed, and compares every held-out score. */
static int checkpoint_round_trip(Bert4Rec *r, const Data *d, const real *scores, const char *path) {
    NnError err;
    if (checkpoint_save(path, &r->m, NULL, 0, NULL, NULL, &err)) {
        fprintf(stderr, "bert4rec: %s\n", err.msg);
        return -1;
    }
    Bert4Rec *copy = malloc(sizeof *copy);
    bert4rec_init(copy, 12345);
    if (checkpoint_load(path, &copy->m, NULL, &err)) {
        fprintf(stderr, "bert4rec: %s\n", err.msg);
        module_free(&copy->m);
        free(copy);
        return -1;
    }
    real *again = score_all(copy, d);
    int same = memcmp(scores, again, (size_t)SESSIONS * VOCAB * sizeof *again) == 0;
    printf("checkpoint %s: the reloaded model's %d scores are %s (HR@%d %.3f)\n", path, SESSIONS * VOCAB,
           same ? "identical" : "DIFFERENT", K, hit_rate(again, d));
    free(again);
    module_free(&copy->m);
    free(copy);
    return same ? 0 : -1;
}

int main(int argc, char **argv) {
    long epochs = 10;
    const char *out = "bert4rec.safetensors";
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--epochs") == 0) {
            epochs = atol(argv[++i]);
        } else if (i + 1 < argc && strcmp(argv[i], "--out") == 0) {
            out = argv[++i];
        } else {
            fprintf(stderr, "usage: bert4rec [--epochs N] [--out CHECKPOINT]\n");
            return 2;
        }
    }
    if (epochs < 1) {
        fprintf(stderr, "bert4rec: --epochs must be at least 1\n");
        return 2;
    }
    static Data d;
    Rng data_rng = rng_new(2024, 0);
    make_sessions(&d, &data_rng);
    int64_t pop_hits = 0;
    for (int u = 0; u < SESSIONS; u++)
        for (int k = 0; k < K; k++) pop_hits += d.popular[k] == d.items[u][d.len[u] - 1];
    double pop_hr = (double)pop_hits / SESSIONS;
    printf("%d sessions over %d items; most-popular HR@%d %.3f\n", SESSIONS, ITEMS, K, pop_hr);

    Bert4Rec *r = malloc(sizeof *r);
    bert4rec_init(r, 7);
    printf("model: %lld parameters\n", (long long)module_num_params(&r->m));
    AdamConfig ac = adam_defaults();
    ac.decoupled = 1; /* AdamW */
    ac.weight_decay = 0.01;
    Adam *opt = adam_new(&r->m, ac);
    enum { B = 64 };
    int64_t steps_per_epoch = SESSIONS / B;
    LrSchedule sched = {.lr = 3e-3,
                        .warmup_steps = steps_per_epoch,
                        .warmup_start = 0.1,
                        .decay = LR_COSINE,
                        .decay_steps = (epochs - 1) * steps_per_epoch + 1,
                        .min_lr = 1e-4};
    CrossEntropyOptions ce = cross_entropy_default_options();
    ce.ignore_index = IGNORE; /* only the masked positions carry loss */

    static int64_t x[B * MAX_LEN], y[B * MAX_LEN];
    Rng mask_rng = rng_new(2024, 1);
    Graph *g = graph_new();
    int64_t step = 0;
    for (long epoch = 1; epoch <= epochs; epoch++) {
        double total = 0;
        for (int u0 = 0; u0 + B <= SESSIONS; u0 += B) {
            masked_batch(&d, u0, B, &mask_rng, x, y);
            Tensor *loss = ag_cross_entropy_nd(g, bert4rec_forward(r, g, x, B), -1, y, B * MAX_LEN, &ce); /* (B, T, VOCAB) */
            ag_backward(g, loss);
            clip_grad_norm(&r->m, 1.0);
            opt->cfg.lr = lr_schedule_at(&sched, step++);
            adam_step(opt);
            module_zero_grad(&r->m);
            total += loss->data[0];
            graph_reset(g);
        }
        printf("epoch %ld loss %.4f\n", epoch, total / steps_per_epoch);
    }
    graph_free(g);
    real *scores = score_all(r, &d);
    double hr = hit_rate(scores, &d);
    printf("held-out last items: HR@%d %.3f (most popular %.3f)\n", K, hr, pop_hr);
    int rc = checkpoint_round_trip(r, &d, scores, out) == 0 && hr > pop_hr ? 0 : 1;
    free(scores);
    adam_free(opt);
    module_free(&r->m);
    free(r);
    return rc;
}
