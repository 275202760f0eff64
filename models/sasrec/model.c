#include "models/sasrec/model.h"

#include <stdlib.h>
#include <string.h>

#include "base/memory.h"
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
                          .mask = MASK_MINUS_10000,
                          .block = BLOCK_SASREC,
                          .ff_mult = SASREC_FFN_FACTOR};
}

/* The --layers blocks, "encoder.layers.<i>", of the kind cfg->block. */
static void add_blocks(Sasrec *s, const SasrecConfig *cfg) {
    int64_t H = cfg->hidden;
    size_t n = (size_t)(cfg->layers ? cfg->layers : 1);
    TransformerBlockConfig sasrec = {.hidden = H,
                                     .inner = cfg->ff_mult * H,
                                     .heads = cfg->heads,
                                     .dropout = (real)cfg->dropout,
                                     .attn_dropout = (real)cfg->attn_dropout,
                                     .eps = SASREC_LAYER_NORM_EPS,
                                     .act = ACT_GELU,
                                     .mask = cfg->mask,
                                     .norm = cfg->norm};
    LigrBlockConfig ligr = ligr_block_default_config(H, cfg->heads, (real)cfg->dropout);
    ligr.inner = cfg->ff_mult * H;
    ligr.attn_dropout = (real)cfg->attn_dropout;
    ligr.eps = SASREC_LAYER_NORM_EPS;
    ligr.mask = cfg->mask;
    if (cfg->block == BLOCK_LIGR)
        s->ligr = nn_calloc(n, sizeof *s->ligr);
    else
        s->blocks = nn_calloc(n, sizeof *s->blocks);
    for (int i = 0; i < cfg->layers; i++) {
        char name[64];
        snprintf(name, sizeof name, "encoder.layers.%d", i);
        if (cfg->block == BLOCK_LIGR)
            s->ligr[i] = ligr_block_new(&s->m, name, &ligr);
        else
            s->blocks[i] = transformer_block_new(&s->m, name, &sasrec);
    }
}

void sasrec_init(Sasrec *s, const SasrecConfig *cfg, uint64_t seed) {
    NN_CHECK(cfg->n_items >= 1 && cfg->max_len >= 1 && cfg->hidden >= 1 && cfg->layers >= 0 && cfg->heads >= 1 &&
                 cfg->hidden % cfg->heads == 0 && cfg->ff_mult >= 1 &&
                 (cfg->block == BLOCK_SASREC || (cfg->block == BLOCK_LIGR && cfg->norm == NORM_POST)),
             "sasrec_init",
             "invalid configuration: %lld items, L %lld, H %lld, %d layers, %d heads, block %d, ff_mult %d, norm %d "
             "(start from sasrec_default_config; the LiGR block takes no norm placement)",
             (long long)cfg->n_items, (long long)cfg->max_len, (long long)cfg->hidden, cfg->layers, cfg->heads,
             (int)cfg->block, cfg->ff_mult, (int)cfg->norm);
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    Module *m = &s->m;
    module_init(m, seed);
    int64_t H = cfg->hidden;
    s->item_emb = embedding_new(m, "item_emb", cfg->n_items + 1, H, 0);
    s->pos_emb = embedding_new(m, "pos_emb", cfg->max_len, H, -1);
    s->emb_norm = layer_norm_new(m, "emb_norm", H, SASREC_LAYER_NORM_EPS);
    s->dropout = dropout_new(m, "dropout", (real)cfg->dropout);
    add_blocks(s, cfg);
    if (cfg->block == BLOCK_SASREC && cfg->norm == NORM_PRE)
        s->final_norm = layer_norm_new(m, "final_norm", H, SASREC_LAYER_NORM_EPS);
    /* The seed's init over the constructors' (as S3-Rec's model.apply(init_weights)), by parameter kind. */
    module_init_weights(m, (real)cfg->init_std);
    memset(s->item_emb.weight->data, 0, (size_t)H * sizeof(real)); /* padding row */
    /* the rows a step gathers are the rows its gradient can reach: zeroing, clipping and lazy Adam visit only those */
    tensor_set_sparse_grad(s->item_emb.weight, 1);
}

void sasrec_free(Sasrec *s) {
    module_free(&s->m);
    free(s->blocks);
    free(s->ligr);
    memset(s, 0, sizeof *s);
}

Tokens sasrec_tokens(Graph *g, const int64_t *input, const int32_t *len, int64_t B, int64_t L, int packed) {
    Arena *a = graph_arena(g);
    Tokens t = {.B = B, .L = L};
    int64_t *offsets = arena_alloc(a, (size_t)(B + 1) * sizeof *offsets);
    t.last = arena_alloc(a, (size_t)B * sizeof *t.last);
    offsets[0] = 0;
    for (int64_t b = 0; b < B; b++) {
        int64_t n = len[b] < L ? len[b] : L;
        offsets[b + 1] = offsets[b] + (packed ? n : L);
        t.last[b] = n > 0 ? offsets[b + 1] - 1 : -1;
    }
    t.T = offsets[B];
    t.ids = arena_alloc(a, (size_t)(t.T ? t.T : 1) * sizeof *t.ids);
    t.slot = arena_alloc(a, (size_t)(t.T ? t.T : 1) * sizeof *t.slot);
    unsigned char *key_valid = packed ? NULL : arena_alloc(a, (size_t)(t.T ? t.T : 1));
    for (int64_t b = 0; b < B; b++) {
        int64_t first = packed ? L - (offsets[b + 1] - offsets[b]) : 0; /* first slot kept */
        for (int64_t r = offsets[b], slot = first; r < offsets[b + 1]; r++, slot++) {
            t.ids[r] = input[b * L + slot];
            t.slot[r] = slot;
            if (!packed) key_valid[r] = t.ids[r] != 0;
        }
    }
    t.layout = (SeqLayout){.n_seq = B, .offsets = offsets, .key_valid = key_valid, .causal = 1};
    return t;
}

int64_t *sasrec_gather(Graph *g, const Tokens *t, const int64_t *values) {
    int64_t *out = arena_alloc(graph_arena(g), (size_t)(t->T ? t->T : 1) * sizeof *out);
    const int64_t *offsets = t->layout.offsets;
    for (int64_t b = 0; b < t->B; b++)
        for (int64_t r = offsets[b]; r < offsets[b + 1]; r++) out[r] = values[b * t->L + t->slot[r]];
    return out;
}

/* The embeddings and the first n blocks: (T, H). */
static Tensor *forward_blocks(Sasrec *s, Graph *g, const Tokens *t, int n) {
    int64_t T = t->T;
    Module *m = &s->m;
    Tensor *item = embedding_forward(&s->item_emb, g, t->ids, NN_SHAPE(T)); /* (T, H) */
    Tensor *pos = embedding_forward(&s->pos_emb, g, t->slot, NN_SHAPE(T));  /* (T, H) */
    graph_trace(g, "item embedding", item);
    graph_trace(g, "positional embedding", pos);
    Tensor *h = dropout_forward(&s->dropout, m, g, layer_norm_residual_forward(&s->emb_norm, g, item, pos));
    graph_trace(g, "LayerNorm(item + position), dropout", h);
    /* Inference without a trace holds one block's intermediates at a time (graph_release); training keeps them
     * for backward. */
    int scoped = !ag_grad_enabled() && !graph_tracing(g);
    for (int i = 0; i < n; i++) {
        GraphMark mark = scoped ? graph_mark(g) : (GraphMark){0};
        h = s->ligr ? ligr_block_forward(&s->ligr[i], m, g, h, &t->layout)
                    : transformer_block_forward(&s->blocks[i], m, g, h, &t->layout);
        if (scoped) h = graph_release(g, mark, h);
    }
    return h;
}

Tensor *sasrec_forward(Sasrec *s, Graph *g, const Tokens *t) {
    Tensor *h = forward_blocks(s, g, t, s->cfg.layers);
    if (s->cfg.block == BLOCK_SASREC && s->cfg.norm == NORM_PRE) h = layer_norm_forward(&s->final_norm, g, h);
    graph_trace(g, "sequence output F", h);
    return h; /* (T, H) */
}

Tensor *sasrec_forward_last(Sasrec *s, Graph *g, const Tokens *t) {
    if (ag_grad_enabled() || s->m.training || graph_tracing(g) || s->ligr || s->cfg.layers < 1)
        return sasrec_last(g, sasrec_forward(s, g, t), t);
    int64_t H = s->item_emb.weight->shape[1], n = 0;
    int64_t *rows = arena_alloc(graph_arena(g), (size_t)(t->B ? t->B : 1) * sizeof *rows);
    for (int64_t b = 0; b < t->B; b++)
        if (t->last[b] >= 0) rows[n++] = t->last[b];
    Tensor *u = ag_zeros(g, NN_SHAPE(t->B, H));
    if (n == 0) return u;
    Tensor *h = forward_blocks(s, g, t, s->cfg.layers - 1);
    h = transformer_block_forward_rows(&s->blocks[s->cfg.layers - 1], &s->m, g, h, &t->layout, rows, n); /* (n, H) */
    if (s->cfg.block == BLOCK_SASREC && s->cfg.norm == NORM_PRE) h = layer_norm_forward(&s->final_norm, g, h);
    for (int64_t b = 0, i = 0; b < t->B; b++)
        if (t->last[b] >= 0) memcpy(u->data + b * H, h->data + i++ * H, (size_t)H * sizeof(real));
    return u; /* (B, H) */
}

Tensor *sasrec_scores(Sasrec *s, Graph *g, Tensor *F, const int64_t *ids) {
    Tensor *e = embedding_forward(&s->item_emb, g, ids, NN_SHAPE(F->shape[0])); /* (T, H) */
    return ag_row_dot(g, F, e); /* ag_sum(ag_mul(F, e), 1) bit for bit */
}

/* The sampled loss over negatives drawn per position or per sequence: the drawn ids of each token's
 * position (T, K) or of each sequence (B, K), scored against F by the fused op (no (T, K) logits stored). */
static Tensor *drawn_loss(Sasrec *s, Graph *g, Tensor *F, const Tokens *t, const int64_t *pos, const Negatives *neg,
                          LossKind loss) {
    int64_t K = neg->n_drawn, G = neg->per_position ? t->T : t->B;
    int64_t *ids = arena_alloc(graph_arena(g), (size_t)(G * K > 0 ? G * K : 1) * sizeof *ids);
    const int64_t *offsets = t->layout.offsets;
    for (int64_t b = 0; b < t->B; b++) {
        if (!neg->per_position) {
            for (int64_t k = 0; k < K; k++) ids[b * K + k] = neg->drawn[b * K + k];
            continue;
        }
        for (int64_t r = offsets[b]; r < offsets[b + 1]; r++) {
            const int32_t *d = neg->drawn + (b * t->L + t->slot[r]) * K;
            for (int64_t k = 0; k < K; k++) ids[r * K + k] = pos[r] ? d[k] : 1; /* padding: no loss, any item */
        }
    }
    graph_trace(g, "F, scored against the negatives drawn for each position or sequence", F);
    return loss_sampled_rows(g, F, s->item_emb.weight, pos, t->T, ids, G, K, neg->per_position ? NULL : offsets,
                             loss == LOSS_SAMPLED ? neg->log_q : NULL, loss == LOSS_GBCE, neg->beta);
}

Tensor *sasrec_loss(Sasrec *s, Graph *g, Tensor *F, const Tokens *t, const int64_t *pos, const Negatives *neg,
                    LossKind loss) {
    int64_t T = t->T;
    if ((loss == LOSS_SAMPLED || loss == LOSS_GBCE) && neg->n_drawn) return drawn_loss(s, g, F, t, pos, neg, loss);
    if (loss == LOSS_CE) { /* softmax over every item, padding rows ignored; the (T, N + 1) logits are never stored */
        graph_trace(g, "F, scored against every item in tiles", F);
        return loss_linear_cross_entropy(g, F, s->item_emb.weight, pos, T, 0);
    }
    if (loss == LOSS_SAMPLED || loss == LOSS_GBCE) { /* every row against the K negatives of the batch */
        NN_CHECK(neg->n_shared >= 1, "sasrec_loss", "the %s loss needs shared negatives (batch_draw_shared)",
                 loss == LOSS_SAMPLED ? "sampled" : "gBCE");
        Tensor *e = embedding_forward(&s->item_emb, g, neg->shared, NN_SHAPE(neg->n_shared)); /* (K, H) */
        Tensor *neg_logits = ag_linear(g, F, e, NULL), *pos_logits = sasrec_scores(s, g, F, pos); /* (T, K), (T) */
        graph_trace(g, "positive logits <F, item_emb[target_pos]>", pos_logits);
        graph_trace(g, "shared negative logits F item_emb[shared]^T", neg_logits);
        if (loss == LOSS_SAMPLED)
            return loss_sampled_softmax(g, pos_logits, neg_logits, pos, T, neg->shared, neg->n_shared, neg->log_q);
        return loss_gbce(g, pos_logits, neg_logits, pos, T, neg->shared, neg->n_shared, neg->beta);
    }
    Tensor *mask = ag_new(g, NN_SHAPE(T));
    for (int64_t r = 0; r < T; r++) mask->data[r] = pos[r] != 0;
    /* negatives first: this order of the nodes (hence of the gradient sums into item_emb) is the seed's */
    Tensor *neg_logits = sasrec_scores(s, g, F, neg->neg), *pos_logits = sasrec_scores(s, g, F, pos); /* (T) each */
    graph_trace(g, "positive logits <F, item_emb[target_pos]>", pos_logits);
    graph_trace(g, "negative logits <F, item_emb[target_neg]>", neg_logits);
    return loss_bce_pos_neg(g, pos_logits, neg_logits, mask);
}

Tensor *sasrec_last(Graph *g, Tensor *F, const Tokens *t) {
    int64_t H = F->shape[1];
    Tensor *u = ag_zeros(g, NN_SHAPE(t->B, H));
    for (int64_t b = 0; b < t->B; b++)
        if (t->last[b] >= 0) memcpy(u->data + b * H, F->data + t->last[b] * H, (size_t)H * sizeof(real));
    return u;
}
