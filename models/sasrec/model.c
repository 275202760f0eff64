#include "models/sasrec/model.h"

#include <stdlib.h>
#include <string.h>

#include "nn/loss.h"
#include "base/error.h"

SasrecConfig sasrec_default_config(void) {
    return (SasrecConfig){.n_items = 0,
                          .max_len = 50,
                          .hidden = 64,
                          .layers = 2,
                          .heads = 2,
                          .dropout = 0.5,
                          .attn_dropout = 0.5,
                          .init_std = 0.02,
                          .norm = NORM_POST,
                          .mask = MASK_MINUS_10000};
}

void sasrec_init(Sasrec *s, const SasrecConfig *cfg, uint64_t seed) {
    NN_CHECK(cfg->n_items >= 1 && cfg->max_len >= 1 && cfg->hidden >= 1 && cfg->layers >= 0 && cfg->heads >= 1 &&
                 cfg->hidden % cfg->heads == 0,
             "sasrec_init", "invalid configuration: %lld items, L %lld, H %lld, %d layers, %d heads",
             (long long)cfg->n_items, (long long)cfg->max_len, (long long)cfg->hidden, cfg->layers, cfg->heads);
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    module_init(&s->m, seed);
    int64_t H = cfg->hidden;
    s->item_emb = embedding_new(&s->m, "item_emb", cfg->n_items + 1, H, 0);
    s->pos_emb = embedding_new(&s->m, "pos_emb", cfg->max_len, H, -1);
    s->emb_norm = layernorm_new(&s->m, "emb_norm", H, 1e-12);
    s->dropout = dropout_new((real)cfg->dropout);
    TransformerConfig tc = {H,     4 * H,    cfg->heads, (real)cfg->dropout, (real)cfg->attn_dropout,
                            1e-12, ACT_GELU, cfg->mask,  cfg->norm};
    s->blocks = nn_calloc((size_t)(cfg->layers ? cfg->layers : 1), sizeof *s->blocks);
    for (int i = 0; i < cfg->layers; i++) {
        char name[64];
        snprintf(name, sizeof name, "encoder.layers.%d", i);
        s->blocks[i] = transformer_block_new(&s->m, name, &tc);
    }
    if (cfg->norm == NORM_PRE) s->final_norm = layernorm_new(&s->m, "final_norm", H, 1e-12);
    /* The seed's init: every Linear/Embedding weight N(0, std), biases 0, LayerNorm (1, 0). */
    for (int i = 0; i < s->m.n_params; i++) {
        Param *p = &s->m.params[i];
        size_t n = strlen(p->name);
        int is_bias = n >= 5 && strcmp(p->name + n - 5, ".bias") == 0;
        int is_norm = strstr(p->name, "norm.") != NULL;
        if (is_norm)
            init_constant(p->value, is_bias ? 0 : 1);
        else if (is_bias)
            init_constant(p->value, 0);
        else
            init_normal(p->value, 0, (real)cfg->init_std, &s->m.init_rng);
    }
    memset(s->item_emb.weight->data, 0, (size_t)H * sizeof(real)); /* padding row */
}

void sasrec_free(Sasrec *s) {
    module_free(&s->m);
    free(s->blocks);
    memset(s, 0, sizeof *s);
}

Tokens sasrec_tokens(Graph *g, const int64_t *input, const int32_t *len, int64_t B, int64_t L, int packed) {
    Arena *a = graph_arena(g);
    Tokens t = {.B = B, .L = L};
    t.offsets = arena_alloc(a, (size_t)(B + 1) * sizeof *t.offsets);
    t.last = arena_alloc(a, (size_t)B * sizeof *t.last);
    t.offsets[0] = 0;
    for (int64_t b = 0; b < B; b++) {
        int64_t n = len[b] < L ? len[b] : L;
        t.offsets[b + 1] = t.offsets[b] + (packed ? n : L);
        t.last[b] = n > 0 ? t.offsets[b + 1] - 1 : -1;
    }
    t.T = t.offsets[B];
    t.ids = arena_alloc(a, (size_t)(t.T ? t.T : 1) * sizeof *t.ids);
    t.slot = arena_alloc(a, (size_t)(t.T ? t.T : 1) * sizeof *t.slot);
    t.key_valid = packed ? NULL : arena_alloc(a, (size_t)(t.T ? t.T : 1));
    for (int64_t b = 0; b < B; b++) {
        int64_t first = packed ? L - (t.offsets[b + 1] - t.offsets[b]) : 0; /* first slot kept */
        for (int64_t r = t.offsets[b], slot = first; r < t.offsets[b + 1]; r++, slot++) {
            t.ids[r] = input[b * L + slot];
            t.slot[r] = slot;
            if (!packed) t.key_valid[r] = t.ids[r] != 0;
        }
    }
    return t;
}

int64_t *sasrec_gather(Graph *g, const Tokens *t, const int64_t *values) {
    int64_t *out = arena_alloc(graph_arena(g), (size_t)(t->T ? t->T : 1) * sizeof *out);
    for (int64_t b = 0; b < t->B; b++)
        for (int64_t r = t->offsets[b]; r < t->offsets[b + 1]; r++) out[r] = values[b * t->L + t->slot[r]];
    return out;
}

Tensor *sasrec_forward(Sasrec *s, Graph *g, const Tokens *t) {
    int64_t T = t->T;
    Tensor *item = embedding_forward(&s->item_emb, g, t->ids, NN_SHAPE(T)); /* (T, H) */
    Tensor *pos = embedding_forward(&s->pos_emb, g, t->slot, NN_SHAPE(T));  /* (T, H) */
    module_trace(&s->m, "item embedding", item);
    module_trace(&s->m, "positional embedding", pos);
    Tensor *h = dropout_forward(&s->dropout, &s->m, g, layernorm_forward(&s->emb_norm, g, ag_add(g, item, pos)));
    module_trace(&s->m, "LayerNorm(item + position), dropout", h);
    SeqLayout layout = {t->B, t->offsets, t->key_valid, 1};
    for (int i = 0; i < s->cfg.layers; i++) h = transformer_block_forward(&s->blocks[i], &s->m, g, h, &layout);
    if (s->cfg.norm == NORM_PRE) h = layernorm_forward(&s->final_norm, g, h);
    module_trace(&s->m, "sequence output F", h);
    return h; /* (T, H) */
}

Tensor *sasrec_scores(Sasrec *s, Graph *g, Tensor *F, const int64_t *ids) {
    Tensor *e = embedding_forward(&s->item_emb, g, ids, NN_SHAPE(F->shape[0])); /* (T, H) */
    return ag_sum(g, ag_mul(g, F, e), 1, (int[]){1}, 0);
}

Tensor *sasrec_loss(Sasrec *s, Graph *g, Tensor *F, const Tokens *t, const int64_t *pos, const int64_t *neg,
                    LossKind loss) {
    int64_t T = t->T;
    if (loss == LOSS_CE) {                                          /* softmax over every item, padding rows ignored */
        Tensor *logits = ag_linear(g, F, s->item_emb.weight, NULL); /* (T, N + 1) */
        return loss_cross_entropy(g, logits, pos, 0);
    }
    Tensor *mask = ag_new(g, NN_SHAPE(T));
    for (int64_t r = 0; r < T; r++) mask->data[r] = pos[r] != 0;
    return loss_bce_pos_neg(g, sasrec_scores(s, g, F, pos), sasrec_scores(s, g, F, neg), mask);
}

Tensor *sasrec_last(Graph *g, Tensor *F, const Tokens *t) {
    int64_t H = F->shape[1];
    Tensor *u = ag_zeros(g, NN_SHAPE(t->B, H));
    for (int64_t b = 0; b < t->B; b++)
        if (t->last[b] >= 0) memcpy(u->data + b * H, F->data + t->last[b] * H, (size_t)H * sizeof(real));
    return u;
}
