/* Every nn layer and loss at SASRec's own sizes (B 256, L 50, H 64, 2 heads,
 * feed-forward 256; B 8 under valgrind), on the double build, along random
 * directions at 1 and 2 threads: the input's and every parameter's gradient
 * at once (blocks and the model at one thread count each: dense at 2,
 * packed at 1; their ops are checked at both on their own). Then a SASRec-shaped forward pass as a whole (item and position
 * embeddings, LayerNorm, dropout, two post-LayerNorm blocks with attention
 * dropout, the scores of positive and negative items, the BCE loss), dense
 * (padding included, as the seed) and packed (real positions only), in
 * training mode. Small shapes are in grad_nn.c. */
#include <string.h>

#include "base/memory.h"
#include "base/parallel.h"
#include "nn/embedding.h"
#include "nn/loss.h"
#include "nn/transformer_block.h"
#include "tests/support.h"

#define L 50
#define H 64

/* Steps of the directional check: every input moves at once, so the cubic term of the finite
 * difference grows with their number and the depth: a whole block (50 000 parameters and 819 200
 * inputs) needs 1e-6 and the model (167 000 parameters, two blocks deep) 1e-7 to keep the checks at a
 * few hundredths of their tolerance. */
#define BLOCK_EPS 1e-6
#define MODEL_EPS 1e-7

typedef struct {
    Module m;
    const TestBatch *b;
    int packed;
    void *layer;
} Case;

/* The layout of the case's batch: dense (B sequences of L, padding masked) or packed. */
static SeqLayout layout_of(Graph *g, const Case *c) {
    if (c->packed) return (SeqLayout){c->b->B, c->b->packed_off, NULL, 1};
    return seq_layout_dense(g, c->b->B, L, c->b->key_valid, 1);
}

static Tensor *input(const Case *c, uint64_t seed) {
    int64_t rows = c->packed ? c->b->rows_packed : c->b->B * L;
    return test_param(test_uniform(seed, NN_SHAPE(rows, H), -1, 1));
}

/* The directional check at one thread count (the blocks and the model, whose every op is also checked
 * at 1 and 2 threads on its own: dense at 2 threads, packed at 1). */
static void check_at(int threads, const char *what, GradcheckFn f, void *ctx, int n, Tensor *const *in, double eps) {
    char name[128];
    int before = nn_threads();
    snprintf(name, sizeof name, "%s, %d thread%s", what, threads, threads > 1 ? "s" : "");
    nn_set_threads(threads);
    test_directional(name, f, ctx, n, in, eps);
    nn_set_threads(before);
}

/* ---- layers ---- */

static Tensor *f_layernorm(Graph *g, Tensor *const *in, void *ctx) {
    Case *c = ctx;
    return layer_norm_forward(c->layer, g, in[0]);
}

static Tensor *f_linear(Graph *g, Tensor *const *in, void *ctx) {
    Case *c = ctx;
    return linear_forward(c->layer, g, in[0]);
}

static Tensor *f_ffn(Graph *g, Tensor *const *in, void *ctx) {
    Case *c = ctx;
    return feed_forward_forward(c->layer, g, in[0]);
}

START_TEST(grad_layers_at_sasrec_size) {
    TestBatch b = test_batch(test_quick() ? 8 : 256, L, 1000, 41);
    for (int kind = 0; kind < 3; kind++) {
        Case c = {.b = &b};
        module_init(&c.m, 50 + kind);
        LayerNorm ln;
        Linear lin;
        FeedForward ffn;
        GradcheckFn f = f_layernorm;
        const char *what = "LayerNorm(64)";
        if (kind == 0) {
            ln = layer_norm_new(&c.m, "ln", H, 1e-12);
            c.layer = &ln;
        } else if (kind == 1) {
            lin = linear_new(&c.m, "fc", H, H, 1);
            c.layer = &lin;
            f = f_linear;
            what = "Linear(64, 64)";
        } else {
            ffn = feed_forward_new(&c.m, "ffn", H, 4 * H, ACT_GELU);
            c.layer = &ffn;
            f = f_ffn;
            what = "FeedForward(64, 256, gelu)";
        }
        test_randomise(&c.m, 60 + kind, 0.3);
        Tensor *in[8], *x = input(&c, 70 + kind);
        test_directional_threads(what, f, &c, test_module_inputs(in, x, &c.m), in, 0);
        tensor_free(x);
        module_free(&c.m);
    }
    test_batch_free(&b);
}
END_TEST

static Tensor *f_embedding(Graph *g, Tensor *const *in, void *ctx) {
    (void)in;
    const Case *c = ctx;
    Tensor *y = embedding_forward(c->layer, g, c->b->ids, NN_SHAPE(c->b->B, L));
    /* padded positions read the padding row, which gets no gradient by definition: mask them out */
    Tensor mask = tensor_wrap(c->b->istarget, NN_SHAPE(c->b->B, L, 1));
    return ag_mul(g, y, ag_from_buffer(g, 3, mask.shape, mask.data));
}

START_TEST(grad_embedding_at_sasrec_size) {
    TestBatch b = test_batch(test_quick() ? 8 : 256, L, 1000, 41);
    Case c = {.b = &b};
    module_init(&c.m, 51);
    Embedding e = embedding_new(&c.m, "item", 1001, H, 0);
    c.layer = &e;
    Tensor *in[1];
    test_directional_threads("Embedding(1001, 64)", f_embedding, &c, test_module_inputs(in, NULL, &c.m), in, 0);
    module_free(&c.m);
    test_batch_free(&b);
}
END_TEST

static Tensor *f_mha(Graph *g, Tensor *const *in, void *ctx) {
    Case *c = ctx;
    c->m.dropout_rng = rng_new(11, 22); /* the same masks at every evaluation */
    SeqLayout layout = layout_of(g, c);
    return attention_forward(c->layer, &c->m, g, in[0], &layout);
}

static Tensor *f_block(Graph *g, Tensor *const *in, void *ctx) {
    Case *c = ctx;
    c->m.dropout_rng = rng_new(11, 23);
    SeqLayout layout = layout_of(g, c);
    return transformer_block_forward(c->layer, &c->m, g, in[0], &layout);
}

START_TEST(grad_attention_layers_at_sasrec_size) {
    TestBatch b = test_batch(test_quick() ? 8 : 256, L, 1000, 41);
    for (int packed = 0; packed < 2; packed++) {
        /* SASRec's attention: 2 heads, dropout 0.5 on the probabilities, -10000 masking, training */
        Case c = {.b = &b, .packed = packed};
        module_init(&c.m, 52);
        Attention a = attention_new(&c.m, "attn", H, 2, 0.5, MASK_MINUS_10000);
        test_randomise(&c.m, 62, 0.3);
        c.layer = &a;
        Tensor *in[9], *x = input(&c, 72);
        test_directional_threads(packed ? "Attention (packed)" : "Attention (dense)", f_mha, &c,
                                 test_module_inputs(in, x, &c.m), in, 0);
        tensor_free(x);
        module_free(&c.m);
        /* SASRec's block (post-LayerNorm, eps 1e-12, dropout 0.5) and the pre-LayerNorm -inf option; gelu
         * both (relu's kinks among 3.3 million hidden values defeat finite differences: grad_nn.c checks
         * it at small shapes) */
        for (int pre = 0; pre < 2; pre++) {
            Case cb = {.b = &b, .packed = packed};
            module_init(&cb.m, 53);
            TransformerBlockConfig cfg = {H,        4 * H, 2, 0.5, 0.5, pre ? 1e-5 : 1e-12, ACT_GELU, pre ? MASK_NEG_INF : MASK_MINUS_10000,
                                     pre ? NORM_PRE : NORM_POST};
            TransformerBlock t = transformer_block_new(&cb.m, "block", &cfg);
            test_randomise(&cb.m, 63, 0.3);
            cb.layer = &t;
            Tensor *bin[20], *bx = input(&cb, 73);
            char what[64];
            snprintf(what, sizeof what, "TransformerBlock (%s, %s)", pre ? "pre" : "post", packed ? "packed" : "dense");
            check_at(packed ? 1 : 2, what, f_block, &cb, test_module_inputs(bin, bx, &cb.m), bin, BLOCK_EPS);
            tensor_free(bx);
            module_free(&cb.m);
        }
    }
    test_batch_free(&b);
}
END_TEST

/* ---- losses ---- */

static Tensor *f_loss(Graph *g, Tensor *const *in, void *ctx) {
    const Case *c = ctx;
    if (c->packed) { /* cross-entropy over 1001 classes for 2000 rows, padding targets ignored */
        static int64_t target[2000];
        for (int r = 0; r < 2000; r++) target[r] = r < c->b->B * L ? c->b->ids[r] : 0;
        return loss_cross_entropy(g, in[0], target, 2000, 0);
    }
    Tensor mask = tensor_wrap(c->b->istarget, NN_SHAPE(c->b->B, L));
    return loss_bce_pos_neg(g, in[0], in[1], &mask);
}

START_TEST(grad_losses_at_sasrec_size) {
    TestBatch b = test_batch(test_quick() ? 8 : 256, L, 1000, 41);
    Case bce = {.b = &b, .packed = 0}, ce = {.b = &b, .packed = 1};
    Tensor *in[2] = {test_param(test_uniform(80, NN_SHAPE(b.B, L), -4, 4)),
                     test_param(test_uniform(81, NN_SHAPE(b.B, L), -4, 4))};
    test_directional_threads("loss_bce_pos_neg (B, 50)", f_loss, &bce, 2, in, 0);
    Tensor *logits = test_param(test_uniform(82, NN_SHAPE(2000, 1001), -3, 3));
    test_directional_threads("loss_cross_entropy (2000, 1001)", f_loss, &ce, 1, &logits, 0);
    test_free_all(2, in);
    tensor_free(logits);
    test_batch_free(&b);
}
END_TEST

/* ---- a SASRec-shaped forward pass ---- */

typedef struct {
    Module m;
    Embedding item, pos;
    LayerNorm emb_norm;
    Dropout dropout;
    TransformerBlock blocks[2];
    const TestBatch *b;
    int packed;
    int64_t *neg; /* (B, L) a negative item per position */
} Model;

/* loss = BCE of <F, item[pos]> against <F, item[neg]> at real positions, F the second block's output */
static Tensor *f_model(Graph *g, Tensor *const *in, void *ctx) {
    (void)in;
    Model *s = ctx;
    const TestBatch *b = s->b;
    s->m.dropout_rng = rng_new(11, 24);
    int64_t rows = s->packed ? b->rows_packed : b->B * L, *slot = nn_malloc((size_t)rows * sizeof *slot);
    int64_t *ids = s->packed ? b->packed_ids : b->ids, *pos = nn_malloc((size_t)rows * sizeof *pos);
    int64_t *neg = nn_malloc((size_t)rows * sizeof *neg);
    for (int64_t q = 0, r = 0; q < b->B * L; q++)
        if (!s->packed || b->key_valid[q]) {
            slot[r] = q % L;
            pos[r] = q % L + 1 < L ? b->ids[q + 1] : 1 + q % 999; /* the next item; the last predicts another */
            neg[r++] = s->neg[q];
        }
    Tensor *x = ag_add(g, embedding_forward(&s->item, g, ids, NN_SHAPE(rows)),
                       embedding_forward(&s->pos, g, slot, NN_SHAPE(rows)));
    x = dropout_forward(&s->dropout, &s->m, g, layer_norm_forward(&s->emb_norm, g, x));
    SeqLayout layout = s->packed ? (SeqLayout){b->B, b->packed_off, NULL, 1} : seq_layout_dense(g, b->B, L, b->key_valid, 1);
    for (int k = 0; k < 2; k++) x = transformer_block_forward(&s->blocks[k], &s->m, g, x, &layout);
    Tensor *ep = embedding_forward(&s->item, g, pos, NN_SHAPE(rows)), *en = embedding_forward(&s->item, g, neg, NN_SHAPE(rows));
    Tensor *ps = ag_sum(g, ag_mul(g, x, ep), 1, (int[]){1}, 0), *ns = ag_sum(g, ag_mul(g, x, en), 1, (int[]){1}, 0);
    Tensor *mask = ag_new(g, NN_SHAPE(rows));
    for (int64_t r = 0, q = 0; q < b->B * L; q++)
        if (!s->packed || b->key_valid[q]) mask->data[r++] = b->istarget[q];
    free(slot);
    free(pos);
    free(neg);
    return loss_bce_pos_neg(g, ps, ns, mask);
}

START_TEST(grad_sasrec_shaped_model) {
    TestBatch b = test_batch(test_quick() ? 8 : 256, L, 1000, 41);
    Model s;
    module_init(&s.m, 54);
    s.item = embedding_new(&s.m, "item", 1001, H, 0);
    s.pos = embedding_new(&s.m, "pos", L, H, -1);
    s.emb_norm = layer_norm_new(&s.m, "emb_norm", H, 1e-12);
    s.dropout = dropout_new(&s.m, "dropout", 0.5);
    TransformerBlockConfig cfg = {H, 4 * H, 2, 0.5, 0.5, 1e-12, ACT_GELU, MASK_MINUS_10000, NORM_POST};
    s.blocks[0] = transformer_block_new(&s.m, "blocks.0", &cfg);
    s.blocks[1] = transformer_block_new(&s.m, "blocks.1", &cfg);
    test_randomise(&s.m, 64, 0.3);
    /* LayerNorm gains around 1, as trained: with gains near 0 the finite differences lose digits */
    LayerNorm *norms[] = {&s.emb_norm, &s.blocks[0].attn_norm, &s.blocks[0].ffn_norm, &s.blocks[1].attn_norm,
                          &s.blocks[1].ffn_norm};
    for (int k = 0; k < 5; k++)
        for (int64_t j = 0; j < H; j++) norms[k]->weight->data[j] += 1;
    /* the padding row stays zero, as in SASRec, so it does not reach the loss */
    memset(s.item.weight->data, 0, H * sizeof(real));
    s.b = &b;
    s.neg = nn_malloc((size_t)(b.B * L) * sizeof *s.neg);
    for (int64_t q = 0; q < b.B * L; q++) s.neg[q] = 1 + (q * 7919) % 1000;
    Tensor *in[40];
    int n = test_module_inputs(in, NULL, &s.m);
    s.packed = 0;
    check_at(2, "SASRec-shaped model (dense)", f_model, &s, n, in, MODEL_EPS);
    s.packed = 1;
    check_at(1, "SASRec-shaped model (packed)", f_model, &s, n, in, MODEL_EPS);
    free(s.neg);
    module_free(&s.m);
    test_batch_free(&b);
}
END_TEST

static Suite *grad_sasrec_sizes_suite(void) {
    Suite *s = suite_create("grad_sasrec_sizes");
    TCase *tc = tcase_create("sasrec_sizes");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, grad_layers_at_sasrec_size);
    tcase_add_test(tc, grad_embedding_at_sasrec_size);
    tcase_add_test(tc, grad_attention_layers_at_sasrec_size);
    tcase_add_test(tc, grad_losses_at_sasrec_size);
    tcase_add_test(tc, grad_sasrec_shaped_model);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(grad_sasrec_sizes_suite)
