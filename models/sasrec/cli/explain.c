/* sasrec explain: one real batch through the model, stage by stage, with the
 * shapes of the tensors involved (dense layout, as the seed's diagrams). The
 * training batch goes through the real step (sasrec_step), whose stages the
 * module's trace hook prints as they run; then one evaluation batch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/atomic_file.h"
#include "models/sasrec/cli/commands.h"
#include "models/sasrec/cli/common.h"
#include "models/sasrec/item_scores.h"
#include "models/sasrec/step.h"

static const char *USAGE = "usage: sasrec explain [--data PATH] [flags]\n"
                           "Prints the data flow of one training batch (the dataset fields, every stage of the model\n"
                           "with its output shape, the loss) and of one evaluation batch (the scores). The shapes\n"
                           "come from the tensors of that batch; --dot FILE writes the autograd graph of the step.";

typedef struct {
    int64_t B, L, H;
} Dims; /* the batch's sizes, to name the dims of printed shapes */

static void print_shape(const char *what, const char *shape) { printf("  %-52s %s\n", what, shape); }

/* A tensor's shape, with rows of the dense layout (B * L) shown as (B, L, ...) and
 * the common sizes named. */
static void print_tensor(const Dims *l, const char *what, const Tensor *t) {
    char s[160];
    if (t->ndim >= 1 && t->shape[0] == l->B * l->L) {
        int n = snprintf(s, sizeof s, "(B=%lld, L=%lld", (long long)l->B, (long long)l->L);
        if (t->ndim == 2) {
            int64_t w = t->shape[1];
            const char *name = w == l->H ? "H" : w == 3 * l->H ? "3H" : w == 4 * l->H ? "4H" : "";
            snprintf(s + n, sizeof s - (size_t)n, ", %s%s%lld)", name, *name ? "=" : "", (long long)w);
        } else {
            snprintf(s + n, sizeof s - (size_t)n, ")");
        }
    } else {
        snprintf(s, sizeof s, "%s", shape_str(t->ndim, t->shape).s);
    }
    print_shape(what, s);
}

/* What the trace of the step prints: the stages' shapes, and at "loss" the loss and the graph. */
typedef struct {
    Dims dims;
    LossKind loss;
    const char *dot; /* NULL: no graph file */
    Graph *g;
    int failed; /* writing dot failed: err holds why */
    NnError err;
} Explain;

static void trace_stage(void *ctx, const char *stage, const Tensor *t) {
    Explain *e = ctx;
    if (strcmp(stage, "loss") != 0) {
        print_tensor(&e->dims, stage, t);
        return;
    }
    static const char *const what[] = {"loss: BCE over the real targets", "loss: cross-entropy over items",
                                       "loss: sampled softmax over shared negatives",
                                       "loss: gBCE over shared negatives"};
    printf("  %-52s %.4f (an untrained model: about 2 ln 2 = 1.386 for BCE)\n", what[e->loss], (double)t->data[0]);
    if (e->dot) { /* atomic, and checked to the close: a full disk keeps the old file and fails the command */
        AtomicFile *af = atomic_open(e->dot, &e->err);
        if (af) ag_write_dot(t, atomic_stream(af));
        e->failed = !af || atomic_commit(af, &e->err) != 0;
        if (!e->failed) printf("  autograd graph of this step (%zu ops): %s\n", graph_num_nodes(e->g), e->dot);
    }
}

/* The blocks the model stacks, in words. */
static const char *block_kind(const SasrecConfig *mc) {
    if (mc->block == BLOCK_LIGR) return "LiGR blocks: pre-LayerNorm, gated residuals, SwiGLU";
    return mc->norm == NORM_POST ? "post-LayerNorm" : "pre-LayerNorm";
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
    const char *inputs[] = {c.data};
    if (c.dot && app_check_output("explain", "--dot", c.dot, inputs, 1, &err)) {
        fprintf(stderr, "sasrec %s\n", err.msg);
        return 2;
    }
    Dataset ds = {0};
    if (app_load_data(&c, NULL, DATASET_MIN_INTERACTIONS, &ds, &err)) return app_fail("explain", &err, 1);
    char summary[512], s1[192];
    dataset_summary(&ds, summary, sizeof summary);
    SasrecConfig *mc = &c.model;
    int64_t B = c.train.batch < ds.n_users ? c.train.batch : ds.n_users, L = mc->max_len, H = mc->hidden;
    mc->n_items = ds.n_items;
    if (app_plan(PLAN_EXPLAIN, &c, mc, &ds, &err)) {
        dataset_free(&ds);
        return app_fail("explain", &err, 2);
    }
    printf("data: %s\n\n", summary);

    NegSampler ns;
    if (train_negatives(&ns, &ds, &c.train, &err)) {
        dataset_free(&ds);
        return app_fail("explain", &err, 1);
    }
    SeqBatch b;
    batch_alloc(&b, (int)B, (int)L);
    int64_t *perm = nn_malloc((size_t)ds.n_users * sizeof *perm);
    batch_shuffle(c.train.seed, 0, ds.n_users, perm);
    train_fill(&b, &ds, &ns, perm, (int)B, 0, 0);
    int64_t real_positions = 0;
    for (int64_t i = 0; i < B; i++) real_positions += b.len[i];
    printf("one training batch (epoch 0, the first %lld users of the shuffle)\n", (long long)B);
    snprintf(s1, sizeof s1, "(B=%lld, L=%lld)", (long long)B, (long long)L);
    print_shape("input_ids   s[:-3], left-padded with 0", s1);
    print_shape("target_pos  s[1:-2], the next item at each position", s1);
    if (ns.n_shared) {
        char k[64];
        snprintf(k, sizeof k, "(K=%lld)", (long long)ns.n_shared);
        print_shape("shared_neg  negatives scored against every target", k);
    } else {
        print_shape("target_neg  one negative per real target", s1);
    }
    snprintf(s1, sizeof s1, "(B=%lld)", (long long)B);
    print_shape("answer      s[-2] (valid) / s[-1] (test)", s1);
    printf("  %lld of %lld positions are real items (%.1f%% padding)\n\n", (long long)real_positions,
           (long long)(B * L), 100.0 * (double)(B * L - real_positions) / (double)(B * L));

    mc->n_items = ds.n_items;
    Sasrec s;
    sasrec_init(&s, mc, c.train.seed);
    Explain ex = {.dims = {B, L, H}, .loss = c.train.loss, .dot = c.dot, .g = graph_new()};
    Graph *g = ex.g;
    printf("model (%lld parameters, %s, %d heads of %lld)\n", (long long)module_num_params(&s.m), block_kind(mc),
           mc->heads, (long long)(H / mc->heads));
    print_tensor(&ex.dims, "item embedding table (row 0: padding)", s.item_emb.weight);
    print_tensor(&ex.dims, "positional embedding table", s.pos_emb.weight);

    /* the additive mask the dense baseline adds to every head's scores: causal x key padding */
    Tensor *mask = ag_new(g, NN_SHAPE(B, 1, L, L));
    int64_t masked = 0;
    for (int64_t r = 0; r < B; r++)
        for (int64_t i = 0; i < L; i++)
            for (int64_t j = 0; j < L; j++) {
                int ok = j <= i && b.input[r * L + j] != 0;
                mask->data[(r * L + i) * L + j] = ok ? 0 : -10000;
                masked += !ok;
            }
    snprintf(s1, sizeof s1, "%s (%.1f%% of entries -10000)", shape_str(mask->ndim, mask->shape).s,
             100.0 * (double)masked / (double)mask->numel);
    print_shape("attention mask: causal x key padding", s1);
    snprintf(s1, sizeof s1, "(B=%lld, heads=%d, L=%lld, d=%lld) and (B, heads, L, L)", (long long)B, mc->heads,
             (long long)L, (long long)(H / mc->heads));
    print_shape("inside the fused attention op: Q, K, V heads, scores", s1);
    /* the real training step, dense as the seed's diagrams; the trace prints each stage as it runs */
    TrainConfig tc = c.train;
    tc.dense = 1;
    Adam *opt = adam_new(&s.m, adam_defaults());
    s.m.trace = trace_stage;
    s.m.trace_ctx = &ex;
    sasrec_step(&s, opt, g, &b, &tc);
    s.m.trace = NULL;
    adam_free(opt);

    printf("\none evaluation batch (valid split, the first %lld users)\n", (long long)B);
    for (int64_t i = 0; i < B; i++) perm[i] = i;
    batch_fill(&b, &ds, SPLIT_VALID, perm, (int)B, NULL, 0);
    module_train(&s.m, 0);
    Tokens te = sasrec_tokens(g, b.input, b.len, B, L, 0);
    Tensor *U = sasrec_last(g, sasrec_forward(&s, g, &te), &te);
    print_tensor(&ex.dims, "user vectors F[:, -1, :]", U);
    snprintf(s1, sizeof s1, "(B=%lld, N+1=%lld), in blocks of %lld items", (long long)B, (long long)(ds.n_items + 1),
             (long long)item_scores_block(B));
    print_shape("full ranking: scores U item_emb^T", s1);
    snprintf(s1, sizeof s1, "(B=%lld, %d)", (long long)B, 1 + SAMPLE_DEFAULT_NEG);
    print_shape("sampled: scores of the answer and 99 negatives", s1);
    int code = ex.failed ? app_fail("explain", &ex.err, APP_EXIT_DATA) : 0;
    graph_free(g);
    sasrec_free(&s);
    free(perm);
    batch_free(&b);
    batch_neg_free(&ns);
    dataset_free(&ds);
    return code;
}
