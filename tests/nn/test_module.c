/* Module: parameters record their kind when they are made, and
 * module_init_weights re-initialises by kind exactly as the name-matching
 * init it replaced did (same numbers, drawn in the same order). */
#include <string.h>

#include "nn/embedding.h"
#include "nn/swiglu.h"
#include "nn/transformer_block.h"
#include "tests/support.h"

/* The layers of a SASRec-like model: an embedding table, a LayerNorm, one transformer block and a bare Linear. */
static void build(Module *m, uint64_t seed) {
    module_init(m, seed);
    embedding_new(m, "item_emb", 7, 4, 0);
    layer_norm_new(m, "emb_norm", 4, 1e-12);
    TransformerBlockConfig cfg = {.hidden = 4,
                                  .inner = 16,
                                  .heads = 2,
                                  .dropout = 0.5,
                                  .attn_dropout = 0.5,
                                  .eps = 1e-12,
                                  .act = ACT_GELU,
                                  .mask = MASK_MINUS_10000,
                                  .norm = NORM_POST};
    transformer_block_new(m, "encoder.layers.0", &cfg);
    linear_new(m, "head", 4, 3, 0);
}

static ParamKind kind_of(const Module *m, const char *name) {
    for (int i = 0; i < m->n_params; i++)
        if (strcmp(m->params[i].name, name) == 0) return m->params[i].kind;
    ck_abort_msg("no parameter %s", name);
    return PARAM_WEIGHT;
}

START_TEST(params_record_their_kind) {
    Module m;
    build(&m, 1);
    ck_assert_int_eq(kind_of(&m, "item_emb.weight"), PARAM_TABLE);
    ck_assert_int_eq(kind_of(&m, "emb_norm.weight"), PARAM_GAIN);
    ck_assert_int_eq(kind_of(&m, "emb_norm.bias"), PARAM_BIAS);
    ck_assert_int_eq(kind_of(&m, "encoder.layers.0.attn.query.weight"), PARAM_WEIGHT);
    ck_assert_int_eq(kind_of(&m, "encoder.layers.0.attn.out.bias"), PARAM_BIAS);
    ck_assert_int_eq(kind_of(&m, "encoder.layers.0.ffn.fc1.weight"), PARAM_WEIGHT);
    ck_assert_int_eq(kind_of(&m, "encoder.layers.0.ffn_norm.weight"), PARAM_GAIN);
    ck_assert_int_eq(kind_of(&m, "head.weight"), PARAM_WEIGHT);
    ck_assert_ptr_null(module_find(&m, "head.bias"));
    module_free(&m);
}
END_TEST

START_TEST(init_by_kind_equals_the_name_matching_init) {
    Module a, b;
    build(&a, 5);
    build(&b, 5);
    module_init_weights(&a, 0.02);
    /* the scheme as it was written before kinds existed: LayerNorm by "norm." in the name, biases by ".bias" */
    for (int i = 0; i < b.n_params; i++) {
        Param *p = &b.params[i];
        size_t n = strlen(p->name);
        int is_bias = n >= 5 && strcmp(p->name + n - 5, ".bias") == 0;
        if (strstr(p->name, "norm."))
            init_constant(p->value, is_bias ? 0 : 1);
        else if (is_bias)
            init_constant(p->value, 0);
        else
            init_normal(p->value, 0, 0.02, &b.init_rng);
    }
    for (int i = 0; i < a.n_params; i++)
        ck_assert_msg(memcmp(a.params[i].value->data, b.params[i].value->data,
                             (size_t)a.params[i].value->numel * sizeof(real)) == 0,
                      "%s differs", a.params[i].name);
    /* and the generator stands at the same place afterwards */
    ck_assert(rng_u64(&a.init_rng) == rng_u64(&b.init_rng));
    /* the init did change the constructors' values: weights now have std 0.02, not PyTorch's defaults */
    const Tensor *w = module_find(&a, "encoder.layers.0.ffn.fc2.weight"); /* (4, 16): default bound 1/4 */
    double sq = 0;
    for (int64_t k = 0; k < w->numel; k++) sq += (double)w->data[k] * w->data[k];
    ck_assert_msg(sq / (double)w->numel < 0.05 * 0.05, "mean square %g", sq / (double)w->numel);
    module_free(&a);
    module_free(&b);
}
END_TEST

/* The stages a trace hook saw: their count and the last stage's name. */
typedef struct {
    int n;
    char last[160];
} Seen;

static void see(void *ctx, const char *stage, const Tensor *t) {
    Seen *s = ctx;
    (void)t;
    s->n++;
    snprintf(s->last, sizeof s->last, "%s", stage);
}

/* The trace hook lives on the graph: a layer that takes no Module (SwiGLU) reports its stages to it, and a
 * block reports under its name; without a hook nothing is called. */
START_TEST(forwards_report_stages_to_the_graphs_trace_hook) {
    Module m;
    build(&m, 1);
    SwiGLU f = swiglu_new(&m, "ffn", 4, 8, 0);
    TransformerBlock blk = transformer_block_new(&m, "probe", &(TransformerBlockConfig){.hidden = 4,
                                                 .inner = 16, .heads = 2, .eps = 1e-12, .act = ACT_GELU,
                                                 .mask = MASK_MINUS_10000, .norm = NORM_POST});
    Graph *g = graph_new();
    Rng rng = rng_new(2, 0);
    Tensor *x = tensor_normal(NN_SHAPE(3, 4), 0, 1, &rng);
    Seen seen = {0, ""};
    ck_assert(!graph_tracing(g));
    swiglu_forward(&f, g, x);
    graph_set_trace(g, see, &seen);
    ck_assert(graph_tracing(g));
    swiglu_forward(&f, g, x);
    ck_assert_int_eq(seen.n, 1);
    ck_assert_str_eq(seen.last, "  SwiGLU gate * up");
    transformer_block_forward_dense(&blk, &m, g, ag_reshape(g, x, NN_SHAPE(1, 3, 4)), 1, NULL);
    ck_assert_str_eq(seen.last, "probe: LayerNorm(h + feed-forward)");
    graph_set_trace(g, NULL, NULL);
    int before = seen.n;
    swiglu_forward(&f, g, x);
    ck_assert_int_eq(seen.n, before);
    tensor_free(x);
    graph_free(g);
    module_free(&m);
}
END_TEST

static Suite *module_suite(void) {
    Suite *s = suite_create("module");
    TCase *tc = tcase_create("module");
    tcase_add_test(tc, params_record_their_kind);
    tcase_add_test(tc, init_by_kind_equals_the_name_matching_init);
    tcase_add_test(tc, forwards_report_stages_to_the_graphs_trace_hook);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(module_suite)
