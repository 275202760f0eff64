/* sasrec explain: one real batch through the model, stage by stage, with the
 * shapes of the tensors involved (dense layout, as the seed's diagrams). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/sasrec/app.h"
#include "models/sasrec/app_common.h"
#include "models/sasrec/batch.h"
#include "models/sasrec/eval.h"

static const char *USAGE = "usage: sasrec explain [--data PATH] [flags]\n"
                           "Prints the data flow of one training batch (the dataset fields, every stage of the model\n"
                           "with its output shape, the loss) and of one evaluation batch (the scores). The shapes\n"
                           "come from the tensors of that batch; --dot FILE writes the autograd graph of the step.";

typedef struct {
    int64_t B, L;
} Layout;

static void print_shape(const char *what, const char *shape) { printf("  %-44s %s\n", what, shape); }

/* Rows of the dense layout are (B * L): show them as (B, L, H). */
static void trace_stage(void *ctx, const char *stage, const Tensor *t) {
    const Layout *l = ctx;
    char s[128];
    if (t->ndim == 2 && t->shape[0] == l->B * l->L)
        snprintf(s, sizeof s, "(B=%lld, L=%lld, H=%lld)", (long long)l->B, (long long)l->L, (long long)t->shape[1]);
    else
        shape_str(t->ndim, t->shape, s, sizeof s);
    print_shape(stage, s);
}

int app_explain(int argc, char **argv) {
    RunConfig c = config_defaults();
    int rc = app_parse("explain", USAGE, argc, argv, &c, config_explain_flags);
    if (rc != APP_CONTINUE) return rc;
    NnError err;
    if (c.data && app_check_input("explain", "--data", c.data, &err)) {
        fprintf(stderr, "sasrec %s\n", err.msg);
        return 2;
    }
    if (c.dot && app_check_output_file("explain", "--dot", c.dot, &err)) {
        fprintf(stderr, "sasrec %s\n", err.msg);
        return 2;
    }
    Dataset ds = {0};
    if (app_load_data(&c, NULL, DATASET_MIN_INTERACTIONS, &ds, &err)) return app_fail("explain", &err, 1);
    char summary[512], s1[128];
    dataset_summary(&ds, summary, sizeof summary);
    int64_t B = c.batch < ds.n_users ? c.batch : ds.n_users, L = c.max_len, H = c.hidden;
    printf("data: %s\n\n", summary);

    NegSampler ns;
    if (batch_neg_prepare(&ns, &ds, (uint64_t)c.seed, &err)) {
        dataset_free(&ds);
        return app_fail("explain", &err, 1);
    }
    SeqBatch b;
    batch_alloc(&b, (int)B, (int)L);
    int64_t *perm = nn_malloc((size_t)ds.n_users * sizeof *perm);
    batch_shuffle((uint64_t)c.seed, 0, ds.n_users, perm);
    batch_fill(&b, &ds, SPLIT_TRAIN, perm, (int)B, &ns, 0);
    int64_t real_positions = 0;
    for (int64_t i = 0; i < B; i++) real_positions += b.len[i];
    printf("one training batch (epoch 0, the first %lld users of the shuffle)\n", (long long)B);
    snprintf(s1, sizeof s1, "(B=%lld, L=%lld)", (long long)B, (long long)L);
    print_shape("input_ids   s[:-3], left-padded with 0", s1);
    print_shape("target_pos  s[1:-2], the next item at each position", s1);
    print_shape("target_neg  one negative per real target", s1);
    snprintf(s1, sizeof s1, "(B=%lld)", (long long)B);
    print_shape("answer      s[-2] (valid) / s[-1] (test)", s1);
    printf("  %lld of %lld positions are real items (%.1f%% padding)\n\n", (long long)real_positions,
           (long long)(B * L), 100.0 * (double)(B * L - real_positions) / (double)(B * L));

    SasrecConfig mc = config_model(&c, ds.n_items);
    Sasrec s;
    sasrec_init(&s, &mc, (uint64_t)c.seed);
    Layout layout = {B, L};
    s.trace = trace_stage;
    s.trace_ctx = &layout;
    printf("model (%lld parameters, %s-LayerNorm, %lld heads of %lld)\n", (long long)module_num_params(&s.m),
           c.norm == NORM_POST ? "post" : "pre", (long long)c.heads, (long long)(H / c.heads));
    snprintf(s1, sizeof s1, "(N+1=%lld, H=%lld)", (long long)(ds.n_items + 1), (long long)H);
    print_shape("item embedding table (row 0: padding)", s1);
    snprintf(s1, sizeof s1, "(L=%lld, H=%lld)", (long long)L, (long long)H);
    print_shape("positional embedding table", s1);
    snprintf(s1, sizeof s1, "(B=%lld, 1, L=%lld, L=%lld)", (long long)B, (long long)L, (long long)L);
    print_shape("attention mask: causal x key padding, -10000", s1);
    snprintf(s1, sizeof s1, "(B=%lld, heads=%lld, L=%lld, d=%lld)", (long long)B, (long long)c.heads, (long long)L,
             (long long)(H / c.heads));
    print_shape("per layer: Q, K, V split into heads", s1);
    snprintf(s1, sizeof s1, "(B=%lld, heads=%lld, L=%lld, L=%lld)", (long long)B, (long long)c.heads, (long long)L,
             (long long)L);
    print_shape("per layer: attention scores and probabilities", s1);
    snprintf(s1, sizeof s1, "(B=%lld, L=%lld, 4H=%lld)", (long long)B, (long long)L, (long long)(4 * H));
    print_shape("per layer: feed-forward inner (GELU)", s1);

    Graph *g = graph_new();
    Tokens t = sasrec_tokens(g, b.input, b.len, B, L, 0);
    Tensor *F = sasrec_forward(&s, g, &t);
    int64_t *pos = sasrec_gather(g, &t, b.pos), *neg = sasrec_gather(g, &t, b.neg);
    Tensor *loss = sasrec_loss(&s, g, F, &t, pos, neg, (LossKind)c.loss);
    if (c.loss == LOSS_BCE) {
        snprintf(s1, sizeof s1, "(B*L=%lld)", (long long)(B * L));
        print_shape("positive / negative logits <F, item_emb[target]>", s1);
    } else {
        snprintf(s1, sizeof s1, "(B*L=%lld, N+1=%lld)", (long long)(B * L), (long long)(ds.n_items + 1));
        print_shape("logits F item_emb^T", s1);
    }
    printf("  %-44s %.4f (an untrained model: about 2 ln 2 = 1.386 for BCE)\n",
           c.loss == LOSS_BCE ? "loss: BCE over real targets" : "loss: cross-entropy over items",
           (double)loss->data[0]);
    if (c.dot) {
        FILE *f = fopen(c.dot, "w");
        if (f) {
            ag_write_dot(loss, f);
            fclose(f);
            printf("  autograd graph of this step (%zu ops): %s\n", graph_num_nodes(g), c.dot);
        }
    }
    graph_reset(g);

    printf("\none evaluation batch (valid split, the first %lld users)\n", (long long)B);
    for (int64_t i = 0; i < B; i++) perm[i] = i;
    batch_fill(&b, &ds, SPLIT_VALID, perm, (int)B, NULL, 0);
    s.trace = NULL;
    module_train(&s.m, 0);
    Tokens te = sasrec_tokens(g, b.input, b.len, B, L, 0);
    Tensor *U = sasrec_last(g, sasrec_forward(&s, g, &te), &te);
    snprintf(s1, sizeof s1, "(B=%lld, H=%lld)", (long long)B, (long long)H);
    print_shape("user vectors F[:, -1, :]", s1);
    snprintf(s1, sizeof s1, "(B=%lld, 1+99=100)", (long long)B);
    print_shape("sampled: scores of answer + 99 negatives", s1);
    snprintf(s1, sizeof s1, "(B=%lld, N+1=%lld)", (long long)U->shape[0], (long long)(ds.n_items + 1));
    print_shape("full ranking: scores U item_emb^T", s1);
    graph_free(g);
    sasrec_free(&s);
    free(perm);
    batch_free(&b);
    batch_neg_free(&ns);
    dataset_free(&ds);
    return 0;
}
