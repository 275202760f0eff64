/* A GRU4Rec-style next-item recommender on synthetic sessions.
 *
 *   make && ./build/examples/gru4rec
 *   ./build/examples/gru4rec --epochs 10
 *
 * Out of the source tree, after make install:
 *   cc -O2 gru4rec.c $(pkg-config --cflags --libs nn) -o gru4rec
 *
 * Sessions are walks over a catalogue in which every item has a few likely
 * successors (and, now and then, a jump to a popular item). The model embeds
 * each item, runs a GRU over the session and scores every item of the
 * catalogue at every step (cross-entropy against the next item, padding
 * ignored). Each session's last item is held out: HR@10 on those, against the
 * most-popular baseline, shows what the GRU learned. */
#include <nn/nn.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ITEMS      300 /* catalogue: ids 1..ITEMS; 0 pads */
#define SESSIONS   2000
#define MAX_LEN    12
#define SUCCESSORS 3
#define HIDDEN     64
#define K          10

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
                item = 1 + (int64_t)floor(pow(ITEMS, rng_uniform(rng))) % ITEMS; /* Zipf-like */
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
    Embedding emb;
    Gru gru;
    Linear out;
} Gru4Rec;

/* ids (B, T) -> scores (B, T, ITEMS + 1) */
static Tensor *forward(Gru4Rec *r, Graph *g, const int64_t *ids, int64_t B, int64_t T) {
    Tensor *x = embedding_forward(&r->emb, g, ids, NN_SHAPE(B, T));
    return linear_forward(&r->out, g, gru_forward(&r->gru, &r->m, g, x, NULL, NULL));
}

/* HR@K over sessions: is the held-out last item among the top K scores after the others? */
static double hit_rate(Gru4Rec *r, const Data *d) {
    int prev = ag_set_grad_enabled(0);
    module_train(&r->m, 0);
    Graph *g = graph_new();
    int64_t hits = 0;
    for (int u = 0; u < SESSIONS; u++) {
        int64_t T = d->len[u] - 1;
        Tensor *scores = forward(r, g, d->items[u], 1, T);                 /* (1, T, ITEMS + 1) */
        Tensor *last = ag_select(g, ag_select(g, scores, 0, 0), 0, T - 1); /* (ITEMS + 1) */
        last = ag_narrow(g, last, 0, 1, ITEMS);                            /* padding is never recommended */
        const int64_t *top;
        ag_topk(g, last, 0, K, 1, &top);
        for (int k = 0; k < K; k++) hits += top[k] + 1 == d->items[u][T];
        graph_reset(g);
    }
    graph_free(g);
    module_train(&r->m, 1);
    ag_set_grad_enabled(prev);
    return (double)hits / SESSIONS;
}

int main(int argc, char **argv) {
    long epochs = 8;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--epochs") == 0) {
            epochs = atol(argv[++i]);
        } else {
            fprintf(stderr, "usage: gru4rec [--epochs N]\n");
            return 2;
        }
    }
    static Data d;
    Rng data_rng = rng_new(2024, 0);
    make_sessions(&d, &data_rng);
    int64_t pop_hits = 0;
    for (int u = 0; u < SESSIONS; u++)
        for (int k = 0; k < K; k++) pop_hits += d.popular[k] == d.items[u][d.len[u] - 1];
    printf("%d sessions over %d items; most-popular HR@%d %.3f\n", SESSIONS, ITEMS, K, (double)pop_hits / SESSIONS);

    Gru4Rec r;
    module_init(&r.m, 7);
    r.emb = embedding_new(&r.m, "emb", ITEMS + 1, HIDDEN, 0);
    r.gru = gru_new(&r.m, "gru", HIDDEN, HIDDEN, 1, 1, 0);
    r.out = linear_new(&r.m, "out", HIDDEN, ITEMS + 1, 1);
    AdamConfig ac = adam_defaults();
    ac.lr = 5e-3;
    Adam *opt = adam_new(&r.m, ac);
    LrSchedule sched = {.lr = 5e-3, .decay = LR_STEP, .step_size = 4 * (SESSIONS / 64), .gamma = 0.3};
    CrossEntropyOptions ce = cross_entropy_default_options();
    ce.ignore_index = 0; /* padding targets carry no loss */

    enum { B = 64, T = MAX_LEN - 1 };
    int64_t x[B * T], y[B * T];
    Graph *g = graph_new();
    int64_t step = 0;
    printf("before training: HR@%d %.3f\n", K, hit_rate(&r, &d));
    for (long epoch = 1; epoch <= epochs; epoch++) {
        double total = 0;
        int batches = 0;
        for (int u0 = 0; u0 + B <= SESSIONS; u0 += B, batches++) {
            for (int b = 0; b < B; b++) /* inputs: all but the held-out last item; targets: the next item */
                for (int t = 0; t < T; t++) {
                    int u = u0 + b, last = d.len[u] - 1;
                    x[b * T + t] = t < last - 1 ? d.items[u][t] : 0;
                    y[b * T + t] = t < last - 1 ? d.items[u][t + 1] : 0;
                }
            Tensor *loss = ag_cross_entropy_nd(g, forward(&r, g, x, B, T), -1, y, B * T, &ce); /* (B, T, items) */
            ag_backward(g, loss);
            opt->cfg.lr = lr_schedule_at(&sched, step++);
            adam_step(opt);
            module_zero_grad(&r.m);
            total += loss->data[0];
            graph_reset(g);
        }
        printf("epoch %ld loss %.4f\n", epoch, total / batches);
    }
    double hr = hit_rate(&r, &d);
    printf("after training: HR@%d %.3f (most popular %.3f)\n", K, hr, (double)pop_hits / SESSIONS);
    graph_free(g);
    adam_free(opt);
    module_free(&r.m);
    return hr > (double)pop_hits / SESSIONS ? 0 : 1;
}
