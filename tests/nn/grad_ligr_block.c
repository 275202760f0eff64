/* Gradient checks (double build) of the LiGR block (nn/ligr_block.h), in
 * training mode with dropout on (fixed masks): element by element at small
 * shapes; along random directions at SASRec's sizes (L 50, H 64, SwiGLU 4 H;
 * B 256, B 8 under valgrind), through the input and every parameter at once
 * (dense with 2 heads at 2 threads, packed with 1 head, as --preset frontier,
 * at 1) and through each parameter alone. The block has no backward of its
 * own, so these check how its ops are wired; a last test shows the checks
 * see a gradient 1% off in the smallest parameter, the feed-forward gate's
 * bias. */
#include <string.h>

#include "base/parallel.h"
#include "nn/ligr_block.h"
#include "tests/support.h"

#define L 50
#define H 64

typedef struct {
    Module m;
    LigrBlock *block;
    SeqLayout layout;
    const TestBatch *b; /* NULL: the small dense case */
    int packed;
    Tensor *x; /* the input when only parameters are checked, else NULL (in[0]) */
    real skew; /* != 0: the feed-forward gate's bias enters as (1 + skew) b - skew b (a wrong gradient) */
} Case;

static Tensor *f_block(Graph *g, Tensor *const *in, void *ctx) {
    Case *c = ctx;
    c->m.dropout_rng = rng_new(11, 23); /* the same masks at every evaluation */
    LigrBlock b = *c->block;
    if (c->skew != 0) { /* the same value, but a gradient (1 + skew) times the true one */
        Tensor *bias = b.ffn_gate.bias, *fixed = ag_new(g, NN_SHAPE(H));
        for (int64_t i = 0; i < H; i++) fixed->data[i] = c->skew * bias->data[i];
        b.ffn_gate.bias = ag_sub(g, ag_mul_scalar(g, bias, 1 + c->skew), fixed);
    }
    SeqLayout layout = c->layout;
    if (c->b)
        layout = c->packed ? (SeqLayout){c->b->B, c->b->packed_off, NULL, 1}
                           : seq_layout_dense(g, c->b->B, L, c->b->key_valid, 1);
    return ligr_block_forward(&b, &c->m, g, c->x ? c->x : in[0], &layout);
}

/* A block at SASRec's sizes with heads heads, weights N(0, 0.3) (gates open and shut alike). */
static LigrBlock sasrec_block(Case *c, int heads, MaskKind mask, uint64_t seed) {
    module_init(&c->m, seed);
    LigrBlockConfig cfg = ligr_block_default_config(H, heads, 0.2);
    cfg.eps = 1e-12; /* SASREC_LAYER_NORM_EPS */
    cfg.mask = mask;
    LigrBlock b = ligr_block_new(&c->m, "block", &cfg);
    test_randomise(&c->m, seed + 10, 0.3);
    return b;
}

static Tensor *input(const Case *c, uint64_t seed) {
    int64_t rows = c->packed ? c->b->rows_packed : c->b->B * L;
    return test_param(test_uniform(seed, NN_SHAPE(rows, H), -1, 1));
}

START_TEST(grad_ligr_block_small) {
    /* 3 left-padded sequences of 5 (lengths 5, 2, 1), H 8, 2 heads, SwiGLU 12, both mask kinds */
    static const unsigned char key_valid[15] = {1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1};
    for (int inf = 0; inf < 2; inf++) {
        Case c = {0};
        module_init(&c.m, 1);
        LigrBlockConfig cfg = ligr_block_default_config(8, 2, 0.25);
        cfg.inner = 12;
        cfg.mask = inf ? MASK_NEG_INF : MASK_MINUS_10000;
        LigrBlock b = ligr_block_new(&c.m, "block", &cfg);
        test_randomise(&c.m, 2, 0.5);
        c.block = &b;
        Graph *g = graph_new();
        c.layout = seq_layout_dense(g, 3, 5, key_valid, 1);
        Tensor *in[20], *x = test_param(test_randn(3, NN_SHAPE(3, 5, 8)));
        test_gradcheck(inf ? "LigrBlock (-inf)" : "LigrBlock (-10000)", f_block, &c, test_module_inputs(in, x, &c.m),
                       in);
        tensor_free(x);
        graph_free(g);
        module_free(&c.m);
    }
}
END_TEST

START_TEST(grad_ligr_block_at_sasrec_size) {
    TestBatch tb = test_batch(test_quick() ? 8 : 256, L, 1000, 41);
    for (int packed = 0; packed < 2; packed++) {
        Case c = {.b = &tb, .packed = packed};
        LigrBlock b = sasrec_block(&c, packed ? 1 : 2, packed ? MASK_NEG_INF : MASK_MINUS_10000, 30);
        c.block = &b;
        Tensor *in[20], *x = input(&c, 31);
        int before = nn_threads();
        nn_set_threads(packed ? 1 : 2);
        /* every input moves at once: the step stays small (grad_sasrec_sizes.c, BLOCK_EPS) */
        test_directional(packed ? "LigrBlock (packed, 1 head)" : "LigrBlock (dense, 2 heads)", f_block, &c,
                         test_module_inputs(in, x, &c.m), in, 1e-6);
        nn_set_threads(before);
        tensor_free(x);
        module_free(&c.m);
    }
    test_batch_free(&tb);
}
END_TEST

START_TEST(grad_ligr_block_each_parameter) {
    TestBatch tb = test_batch(8, L, 1000, 42);
    Case c = {.b = &tb, .packed = 1};
    LigrBlock b = sasrec_block(&c, 1, MASK_NEG_INF, 32);
    c.block = &b;
    c.x = input(&c, 33);
    for (int i = 0; i < c.m.n_params; i++) {
        Tensor *p = c.m.params[i].value;
        /* every score of a query moves by <q, key bias> alike, which softmax cancels: its gradient is 0, and
         * the finite difference only rounding (the joint checks include it) */
        if (strstr(c.m.params[i].name, "attn.key.bias")) continue;
        test_directional(c.m.params[i].name, f_block, &c, 1, &p, 0);
    }
    tensor_free(c.x);
    module_free(&c.m);
    test_batch_free(&tb);
}
END_TEST

/* The checks above would fail on a gradient 1% off in one small parameter: alone, and among all of them. */
START_TEST(grad_ligr_block_sees_a_one_percent_error) {
    TestBatch tb = test_batch(8, L, 1000, 43);
    Case c = {.b = &tb, .packed = 1, .skew = 0.01};
    LigrBlock b = sasrec_block(&c, 1, MASK_NEG_INF, 34);
    c.block = &b;
    Tensor *in[20], *x = input(&c, 35);
    DirectionalOptions o = gradcheck_directional_defaults();
    o.verbose = 0;
    Tensor *bias = b.ffn_gate.bias;
    c.x = x;
    GradcheckResult alone = gradcheck_directional(f_block, &c, 1, &bias, &o);
    c.x = NULL;
    ck_assert_msg(alone.checked > 0 && !alone.passed, "a 1%% error in ffn_gate.bias passed alone (worst %.3g)",
                  alone.worst_ratio);
    o.eps = 1e-6;
    GradcheckResult all = gradcheck_directional(f_block, &c, test_module_inputs(in, x, &c.m), in, &o);
    ck_assert_msg(all.checked > 0 && !all.passed, "a 1%% error in ffn_gate.bias passed among every input (worst %.3g)",
                  all.worst_ratio);
    c.skew = 0; /* and the same checks pass on the true gradient */
    ck_assert(gradcheck_directional(f_block, &c, test_module_inputs(in, x, &c.m), in, &o).passed);
    c.x = x;
    o.eps = gradcheck_directional_defaults().eps;
    ck_assert(gradcheck_directional(f_block, &c, 1, &bias, &o).passed);
    tensor_free(x);
    module_free(&c.m);
    test_batch_free(&tb);
}
END_TEST

static Suite *grad_ligr_block_suite(void) {
    Suite *s = suite_create("grad_ligr_block");
    TCase *tc = tcase_create("ligr_block");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, grad_ligr_block_small);
    tcase_add_test(tc, grad_ligr_block_at_sasrec_size);
    tcase_add_test(tc, grad_ligr_block_each_parameter);
    tcase_add_test(tc, grad_ligr_block_sees_a_one_percent_error);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(grad_ligr_block_suite)
