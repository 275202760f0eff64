/* A character-level transformer language model trained on any text file.
 *
 *   make && ./build/examples/charlm README.md
 *   ./build/examples/charlm book.txt --steps 3000 --out book.safetensors
 *
 * Out of the source tree, after make install:
 *   cc -O2 charlm.c $(pkg-config --cflags --libs nn) -o charlm
 *
 * It reads the file's bytes as the alphabet, trains a small GPT-style model
 * (token and position embeddings, pre-LayerNorm causal transformer blocks, a
 * linear head) on random windows with AdamW, a warmup and a cosine decay,
 * printing the loss as it falls; then it samples text, saves a checkpoint,
 * builds a second model from it and checks that both give identical logits. */
#include <nn/nn.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t vocab, context, hidden, layers; /* alphabet size, window T, model size H, blocks */
    int heads;
} Config;

typedef struct {
    Module m;
    Config cfg;
    Embedding tok, pos;
    TransformerBlock block[8];
    LayerNorm norm;
    Linear head;
} CharLM;

static void charlm_init(CharLM *lm, const Config *cfg, uint64_t seed) {
    lm->cfg = *cfg;
    module_init(&lm->m, seed);
    lm->tok = embedding_new(&lm->m, "tok", cfg->vocab, cfg->hidden, -1);
    lm->pos = embedding_new(&lm->m, "pos", cfg->context, cfg->hidden, -1);
    /* PyTorch's conventions (-inf masks, eps 1e-5), pre-LayerNorm as GPT-2, GELU, no dropout */
    TransformerBlockConfig tc = transformer_block_default_config(cfg->hidden, cfg->heads, NORM_PRE);
    tc.act = ACT_GELU;
    tc.dropout = tc.attn_dropout = 0;
    char name[32];
    for (int l = 0; l < cfg->layers; l++) {
        snprintf(name, sizeof name, "block%d", l);
        lm->block[l] = transformer_block_new(&lm->m, name, &tc);
    }
    lm->norm = layer_norm_new(&lm->m, "norm", cfg->hidden, 1e-5);
    lm->head = linear_new(&lm->m, "head", cfg->hidden, cfg->vocab, 1);
    /* GPT-2's small-std start: embeddings N(0, 0.02) train faster than PyTorch's N(0, 1) */
    init_normal(lm->tok.weight, 0, 0.02, &lm->m.init_rng);
    init_normal(lm->pos.weight, 0, 0.02, &lm->m.init_rng);
}

/* ids (B, T) -> logits (B, T, vocab) */
static Tensor *charlm_forward(CharLM *lm, Graph *g, const int64_t *ids, int64_t B, int64_t T) {
    int64_t pos[512];
    for (int64_t t = 0; t < T; t++) pos[t] = t;
    Module *m = &lm->m;
    Tensor *h = ag_add(g, embedding_forward(&lm->tok, g, ids, NN_SHAPE(B, T)),
                       embedding_forward(&lm->pos, g, pos, NN_SHAPE(T))); /* (B, T, H) */
    for (int l = 0; l < lm->cfg.layers; l++) h = transformer_block_forward_dense(&lm->block[l], m, g, h, 1, NULL);
    return linear_forward(&lm->head, g, layer_norm_forward(&lm->norm, g, h));
}

/* ---- the text ---- */

typedef struct {
    unsigned char *bytes;
    int64_t n;
    int64_t *ids;         /* (n) each byte's id */
    unsigned char *chars; /* (vocab) the byte of each id */
    int64_t vocab;
} Text;

static int text_read(const char *path, Text *t) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t cap = 1 << 16, n = 0, got;
    t->bytes = malloc(cap);
    while ((got = fread(t->bytes + n, 1, cap - n, f)) > 0)
        if ((n += got) == cap) t->bytes = realloc(t->bytes, cap *= 2);
    fclose(f);
    int64_t id[256];
    int seen[256] = {0};
    for (size_t i = 0; i < n; i++) seen[t->bytes[i]] = 1;
    t->chars = malloc(256);
    t->vocab = 0;
    for (int c = 0; c < 256; c++)
        if (seen[c]) {
            id[c] = t->vocab;
            t->chars[t->vocab++] = (unsigned char)c;
        }
    t->n = (int64_t)n;
    t->ids = malloc((n ? n : 1) * sizeof *t->ids);
    for (size_t i = 0; i < n; i++) t->ids[i] = id[t->bytes[i]];
    return 0;
}

/* B random windows: x the ids at [s, s + T), y those at [s + 1, s + T + 1). */
static void batch(const Text *t, Rng *rng, int64_t B, int64_t T, int64_t *x, int64_t *y) {
    for (int64_t b = 0; b < B; b++) {
        int64_t s = (int64_t)rng_below(rng, (uint64_t)(t->n - T - 1));
        memcpy(x + b * T, t->ids + s, (size_t)T * sizeof *x);
        memcpy(y + b * T, t->ids + s + 1, (size_t)T * sizeof *y);
    }
}

/* ---- sampling ---- */

static void sample(CharLM *lm, const Text *text, int64_t n, double temperature, Rng *rng) {
    int64_t T = lm->cfg.context, len = 1, *ctx = malloc((size_t)(n + 1) * sizeof *ctx);
    ctx[0] = text->ids[0];
    int prev = ag_set_grad_enabled(0);
    module_train(&lm->m, 0);
    Graph *g = graph_new();
    for (int64_t i = 0; i < n; i++) {
        int64_t w = len < T ? len : T;
        Tensor *logits = charlm_forward(lm, g, ctx + len - w, 1, w); /* (1, w, V) */
        Tensor *last = ag_select(g, ag_select(g, logits, 0, 0), 0, w - 1);
        Tensor *p = ag_softmax(g, ag_mul_scalar(g, last, (real)(1 / temperature)));
        ctx[len++] = ag_multinomial(g, p, 1, 1, rng)[0];
        graph_reset(g);
    }
    graph_free(g);
    module_train(&lm->m, 1);
    ag_set_grad_enabled(prev);
    for (int64_t i = 0; i < len; i++) putchar(text->chars[ctx[i]]);
    putchar('\n');
    free(ctx);
}

/* ---- checkpoint round trip ---- */

/* Saves lm, loads the file into a model built from another seed, and compares their logits bit for bit. */
static int checkpoint_round_trip(CharLM *lm, const Text *text, const char *path) {
    NnError err;
    if (checkpoint_save(path, &lm->m, NULL, 0, NULL, NULL, &err)) {
        fprintf(stderr, "charlm: %s\n", err.msg);
        return -1;
    }
    CharLM *copy = malloc(sizeof *copy);
    charlm_init(copy, &lm->cfg, 12345);
    if (checkpoint_load(path, &copy->m, NULL, &err)) {
        fprintf(stderr, "charlm: %s\n", err.msg);
        module_free(&copy->m);
        free(copy);
        return -1;
    }
    int prev = ag_set_grad_enabled(0);
    module_train(&lm->m, 0);
    module_train(&copy->m, 0);
    Graph *g = graph_new();
    int64_t B = 4, T = lm->cfg.context, *x = malloc((size_t)(B * T) * sizeof *x),
            *y = malloc((size_t)(B * T) * sizeof *y);
    Rng rng = rng_new(99, 0);
    batch(text, &rng, B, T, x, y);
    Tensor *a = charlm_forward(lm, g, x, B, T), *b = charlm_forward(copy, g, x, B, T);
    int same = memcmp(a->data, b->data, (size_t)a->numel * sizeof(real)) == 0;
    printf("checkpoint %s: the reloaded model's %lld logits are %s\n", path, (long long)a->numel,
           same ? "identical" : "DIFFERENT");
    graph_free(g);
    ag_set_grad_enabled(prev);
    module_train(&lm->m, 1);
    module_free(&copy->m);
    free(copy);
    free(x);
    free(y);
    return same ? 0 : -1;
}

static void usage(void) {
    fprintf(stderr,
            "usage: charlm TEXT_FILE [--steps N] [--sample N] [--seed N] [--out CHECKPOINT]\n"
            "trains a character-level transformer on TEXT_FILE, samples text, saves and reloads a checkpoint\n");
}

int main(int argc, char **argv) {
    const char *path = NULL, *out = "charlm.safetensors";
    long steps = 1000, n_sample = 400, seed = 1;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--steps") == 0)
            steps = atol(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--sample") == 0)
            n_sample = atol(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--seed") == 0)
            seed = atol(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--out") == 0)
            out = argv[++i];
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else {
            usage();
            return 2;
        }
    }
    if (!path || steps < 1) {
        usage();
        return 2;
    }
    Text text;
    if (text_read(path, &text)) return 2;
    Config cfg = {.vocab = text.vocab, .context = 64, .hidden = 64, .layers = 2, .heads = 4};
    if (text.n < cfg.context + 2) {
        fprintf(stderr, "charlm: %s has %lld bytes; it needs at least %lld\n", path, (long long)text.n,
                (long long)cfg.context + 2);
        return 2;
    }
    printf("%s: %lld bytes, %lld distinct\n", path, (long long)text.n, (long long)text.vocab);

    CharLM *lm = malloc(sizeof *lm);
    charlm_init(lm, &cfg, (uint64_t)seed);
    printf("model: %lld parameters\n", (long long)module_num_params(&lm->m));
    AdamConfig ac = adam_defaults();
    ac.decoupled = 1; /* AdamW */
    ac.weight_decay = 0.01;
    Adam *opt = adam_new(&lm->m, ac);
    LrSchedule sched = {.lr = 3e-3,
                        .warmup_steps = steps / 20,
                        .warmup_start = 0.1,
                        .decay = LR_COSINE,
                        .decay_steps = steps - steps / 20,
                        .min_lr = 1e-4};
    CrossEntropyOptions ce = cross_entropy_default_options();

    int64_t B = 16, T = cfg.context, *x = malloc((size_t)(B * T) * sizeof *x), *y = malloc((size_t)(B * T) * sizeof *y);
    Rng data_rng = rng_new((uint64_t)seed, 1);
    Graph *g = graph_new();
    double avg = 0;
    for (long step = 1; step <= steps; step++) {
        batch(&text, &data_rng, B, T, x, y);
        Tensor *loss = ag_cross_entropy_nd(g, charlm_forward(lm, g, x, B, T), -1, y, B * T, &ce); /* (B, T, vocab) */
        ag_backward(g, loss);
        clip_grad_norm(&lm->m, 1.0);
        opt->cfg.lr = lr_schedule_at(&sched, step - 1);
        adam_step(opt);
        module_zero_grad(&lm->m);
        avg = step == 1 ? loss->data[0] : 0.9 * avg + 0.1 * loss->data[0];
        if (step == 1 || step % (steps < 10 ? 1 : steps / 10) == 0)
            printf("step %5ld loss %.4f (running mean %.4f) lr %.2e\n", step, (double)loss->data[0], avg, opt->cfg.lr);
        graph_reset(g);
    }
    graph_free(g);

    Rng sample_rng = rng_new((uint64_t)seed, 2);
    printf("sample (temperature 0.8):\n");
    sample(lm, &text, n_sample, 0.8, &sample_rng);
    int rc = checkpoint_round_trip(lm, &text, out) ? 1 : 0;

    adam_free(opt);
    module_free(&lm->m);
    free(lm);
    free(x);
    free(y);
    free(text.bytes);
    free(text.ids);
    free(text.chars);
    return rc;
}
