/* The LiGR block (nn/ligr_block.h) against PyTorch: forward and every
 * gradient of one block in evaluation mode, at small shapes (-inf mask) and
 * at SASRec's sizes (H 64, L 50, 1 head, -10000 mask), dense with key padding.
 * References in tests/fixtures/ligr_block*.safetensors, written by
 * tests/fixtures/gen_fixtures_ligr.py (the formula is there); tolerances those
 * of test_golden.c. Then the same block in training mode with dropout 0 is
 * the evaluation block: dropout is the only difference between the modes. */
#include <string.h>

#include "nn/ligr_block.h"
#include "tests/nn/golden.h"

/* The case's block, built from the file's settings with our defaults otherwise, and its parameters loaded. */
static LigrBlock load_block(const Fixture *f, Module *m, real dropout) {
    int64_t *heads = fx_ints(f, "heads", NULL), *neg_inf = fx_ints(f, "neg_inf", NULL);
    int64_t H = fx_get(f, "x")->shape[2];
    LigrBlockConfig cfg = ligr_block_default_config(H, (int)heads[0], dropout);
    cfg.inner = fx_get(f, "param.block.ffn.gate.weight")->shape[0];
    cfg.eps = (real)fx_scalar(f, "eps");
    cfg.mask = neg_inf[0] ? MASK_NEG_INF : MASK_MINUS_10000;
    module_init(m, 7);
    LigrBlock b = ligr_block_new(m, "block", &cfg);
    fx_load_params(f, m);
    free(heads);
    free(neg_inf);
    return b;
}

START_TEST(golden_ligr_block) {
    const char *cases[] = {"ligr_block", "ligr_block_sasrec"};
    for (int k = 0; k < 2; k++) {
        Fixture *f = fx_open(cases[k]);
        Module m;
        LigrBlock b = load_block(f, &m, 0.3);
        module_train(&m, 0); /* dropout off, as the reference in eval mode */
        unsigned char *kv = fx_key_valid(f);
        Tensor *x = fx_input(f);
        Graph *g = graph_new();
        SeqLayout layout = seq_layout_dense(g, x->shape[0], x->shape[1], kv, 1);
        check_layer(f, g, &m, x, ligr_block_forward(&b, &m, g, x, &layout));
        graph_free(g);
        tensor_free(x);
        free(kv);
        module_free(&m);
        fx_free(f);
    }
}
END_TEST

START_TEST(golden_ligr_block_training_without_dropout) {
    Fixture *f = fx_open("ligr_block");
    Module m;
    LigrBlock b = load_block(f, &m, 0);
    module_train(&m, 1);
    unsigned char *kv = fx_key_valid(f);
    Tensor *x = fx_input(f);
    Graph *g = graph_new();
    SeqLayout layout = seq_layout_dense(g, x->shape[0], x->shape[1], kv, 1);
    check_layer(f, g, &m, x, ligr_block_forward(&b, &m, g, x, &layout));
    graph_free(g);
    tensor_free(x);
    free(kv);
    module_free(&m);
    fx_free(f);
}
END_TEST

static Suite *golden_ligr_suite(void) {
    Suite *s = suite_create("golden_ligr");
    TCase *tc = tcase_create("ligr");
    tcase_add_test(tc, golden_ligr_block);
    tcase_add_test(tc, golden_ligr_block_training_without_dropout);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(golden_ligr_suite)
