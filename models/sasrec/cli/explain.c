/* sasrec explain: one real batch through the model, stage by stage, with the
 * shapes of the tensors involved (dense layout, as the seed's diagrams). The
 * training batch goes through the real step (sasrec_step), whose stages the
 * graph's trace hook prints as they run; then one evaluation batch.
 * With --profile: instead, the time, FLOPs and bytes of every op of one
 * training step (autograd/profile.h), as a table and, with --svg, a chart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/profile.h"
#include "base/memory.h"
#include "base/parallel.h"
#include "io/atomic_file.h"
#include "models/sasrec/cli/commands.h"
#include "models/sasrec/cli/common.h"
#include "models/sasrec/item_scores.h"
#include "models/sasrec/step.h"

static const char *USAGE = "usage: sasrec explain [--data PATH] [flags]\n"
                           "Prints the data flow of one training batch (the dataset fields, every stage of the model\n"
                           "with its output shape, the loss) and of one evaluation batch (the scores). The shapes\n"
                           "come from the tensors of that batch; --dot FILE writes the autograd graph of the step.\n"
                           "--profile prints instead where one training step (the real one: length-aware unless\n"
                           "--dense) spends its time, op by op, forward and backward, with FLOPs and bytes;\n"
                           "--svg FILE draws it as a bar chart (and implies --profile).";

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

/* The paths of the flags: --data readable; --dot and --svg writable, none of them an input. 0 or exit code 2. */
static int check_paths(const RunConfig *c) {
    NnError err;
    if (c->data && app_check_input("explain", "--data", c->data, &err)) {
        fprintf(stderr, "sasrec %s\n", err.msg);
        return 2;
    }
    const char *inputs[] = {c->data};
    if ((c->dot && app_check_output("explain", "--dot", c->dot, inputs, 1, &err)) ||
        (c->svg && app_check_output("explain", "--svg", c->svg, inputs, 1, &err))) {
        fprintf(stderr, "sasrec %s\n", err.msg);
        return 2;
    }
    if (c->dot && c->svg && strcmp(c->dot, c->svg) == 0) {
        fprintf(stderr, "sasrec explain: --dot and --svg name the same file '%s'; give each its own\n", c->dot);
        return 2;
    }
    return 0;
}

/* The fields of the training batch b of B users. */
static void print_batch(const SeqBatch *b, const NegSampler *ns, int64_t B, int64_t L) {
    char s1[192];
    int64_t real_positions = 0;
    for (int64_t i = 0; i < B; i++) real_positions += b->len[i];
    printf("one training batch (epoch 0, the first %lld users of the shuffle)\n", (long long)B);
    snprintf(s1, sizeof s1, "(B=%lld, L=%lld)", (long long)B, (long long)L);
    print_shape("input_ids   s[:-3], left-padded with 0", s1);
    print_shape("target_pos  s[1:-2], the next item at each position", s1);
    if (ns->n_shared) {
        char k[64];
        snprintf(k, sizeof k, "(K=%lld)", (long long)ns->n_shared);
        print_shape("shared_neg  negatives scored against every target", k);
    } else {
        print_shape("target_neg  one negative per real target", s1);
    }
    snprintf(s1, sizeof s1, "(B=%lld)", (long long)B);
    print_shape("answer      s[-2] (valid) / s[-1] (test)", s1);
    printf("  %lld of %lld positions are real items (%.1f%% padding)\n\n", (long long)real_positions,
           (long long)(B * L), 100.0 * (double)(B * L - real_positions) / (double)(B * L));
}

/* The model's tables and the additive mask the dense baseline adds to every head's scores (causal x key
 * padding), built in e->g. */
static void print_model(const Explain *e, const Sasrec *s, const SasrecConfig *mc, const SeqBatch *b) {
    int64_t B = e->dims.B, L = e->dims.L, H = e->dims.H, masked = 0;
    char s1[192];
    printf("model (%lld parameters, %s, %d heads of %lld)\n", (long long)module_num_params(&s->m), block_kind(mc),
           mc->heads, (long long)(H / mc->heads));
    print_tensor(&e->dims, "item embedding table (row 0: padding)", s->item_emb.weight);
    print_tensor(&e->dims, "positional embedding table", s->pos_emb.weight);
    Tensor *mask = ag_new(e->g, NN_SHAPE(B, 1, L, L));
    for (int64_t r = 0; r < B; r++)
        for (int64_t i = 0; i < L; i++)
            for (int64_t j = 0; j < L; j++) {
                int ok = j <= i && b->input[r * L + j] != 0;
                mask->data[(r * L + i) * L + j] = ok ? 0 : -10000;
                masked += !ok;
            }
    snprintf(s1, sizeof s1, "%s (%.1f%% of entries -10000)", shape_str(mask->ndim, mask->shape).s,
             100.0 * (double)masked / (double)mask->numel);
    print_shape("attention mask: causal x key padding", s1);
    snprintf(s1, sizeof s1, "(B=%lld, heads=%d, L=%lld, d=%lld) and (B, heads, L, L)", (long long)B, mc->heads,
             (long long)L, (long long)(H / mc->heads));
    print_shape("inside the fused attention op: Q, K, V heads, scores", s1);
}

/* The real training step on b, dense as the seed's diagrams; the trace prints each stage as it runs. */
static void traced_step(Explain *e, Sasrec *s, const SeqBatch *b, const TrainConfig *train) {
    TrainConfig tc = *train;
    tc.dense = 1;
    Adam *opt = adam_new(&s->m, adam_defaults());
    graph_set_trace(e->g, trace_stage, e);
    sasrec_step(s, opt, e->g, b, &tc);
    graph_set_trace(e->g, NULL, NULL);
    adam_free(opt);
}

/* One evaluation batch (valid split, the first B users) through the trained-one-step model: the scores' shapes. */
static void print_eval(const Explain *e, Sasrec *s, const Dataset *ds, SeqBatch *b, int64_t *perm) {
    int64_t B = e->dims.B, L = e->dims.L;
    char s1[192];
    printf("\none evaluation batch (valid split, the first %lld users)\n", (long long)B);
    for (int64_t i = 0; i < B; i++) perm[i] = i;
    batch_fill(b, ds, SPLIT_VALID, perm, (int)B, NULL, 0);
    module_train(&s->m, 0);
    Tokens te = sasrec_tokens(e->g, b->input, b->len, B, L, 0);
    Tensor *U = sasrec_forward_last(s, e->g, &te);
    print_tensor(&e->dims, "user vectors F[:, -1, :]", U);
    snprintf(s1, sizeof s1, "(B=%lld, N+1=%lld), in blocks of %lld items", (long long)B, (long long)(ds->n_items + 1),
             (long long)item_scores_block(B));
    print_shape("full ranking: scores U item_emb^T", s1);
    snprintf(s1, sizeof s1, "(B=%lld, %d)", (long long)B, 1 + SAMPLE_DEFAULT_NEG);
    print_shape("sampled: scores of the answer and 99 negatives", s1);
}

/* Writes p's chart to path, atomically; 0 or -1 with err set. */
static int write_svg(const char *path, const Profile *p, NnError *err) {
    AtomicFile *af = atomic_open(path, err);
    if (!af) return -1;
    profile_write_svg(p, atomic_stream(af));
    return atomic_commit(af, err);
}

/* One training step with the flags' settings (c->train: loss, layout, optimizer), profiled: the second batch
 * of the shuffle (the first when there is one only) runs twice unprofiled, as the steps of an epoch find the
 * arena (the first reset replaces its blocks by one that holds the step; the second step touches its pages),
 * then it is filled again and stepped under the profile. */
static int profile_step(const RunConfig *c, const Dataset *ds, const NegSampler *ns, Sasrec *s, SeqBatch *b,
                        const int64_t *perm, int64_t B, NnError *err) {
    Graph *g = graph_new();
    Adam *opt = adam_new(&s->m, train_adam_config(&c->train));
    module_train(&s->m, 1);
    int second = 2 * B <= ds->n_users;
    for (int warm = 0; warm < 2; warm++) {
        train_fill(b, ds, ns, perm + (second ? B : 0), (int)B, 0, second);
        sasrec_step(s, opt, g, b, &c->train);
    }
    Profile *p = profile_new();
    profile_set_clock(p, c->profile_clock ? PROFILE_THREAD_CPU : PROFILE_WALL);
    graph_set_profile(g, p);
    profile_start(p);
    train_fill(b, ds, ns, perm + (second ? B : 0), (int)B, 0, second);
    profile_mark(p, "batch fill (negatives too)", 0, 0);
    sasrec_step(s, opt, g, b, &c->train);
    profile_stop(p);
    graph_set_profile(g, NULL);
    printf("profile of one training step (%s, batch %d of epoch 0, %lld users, %d threads, %s)\n",
           c->train.dense ? "dense" : "length-aware", second ? 2 : 1, (long long)B, nn_threads(),
           c->profile_clock ? "CPU time of the main thread" : "wall time");
    profile_print(p, stdout);
    int rc = c->svg ? write_svg(c->svg, p, err) : 0;
    if (c->svg && rc == 0) printf("chart: %s\n", c->svg);
    profile_free(p);
    adam_free(opt);
    graph_free(g);
    return rc;
}

/* The data flow of one training and one evaluation batch (without --profile). */
static int explain_flow(const RunConfig *c, const Dataset *ds, const NegSampler *ns, Sasrec *s, SeqBatch *b,
                        int64_t *perm, int64_t B, NnError *err) {
    const SasrecConfig *mc = &c->model;
    train_fill(b, ds, ns, perm, (int)B, 0, 0);
    print_batch(b, ns, B, mc->max_len);
    Explain ex = {.dims = {B, mc->max_len, mc->hidden}, .loss = c->train.loss, .dot = c->dot, .g = graph_new()};
    print_model(&ex, s, mc, b);
    traced_step(&ex, s, b, &c->train);
    print_eval(&ex, s, ds, b, perm);
    graph_free(ex.g);
    if (ex.failed) *err = ex.err;
    return ex.failed ? -1 : 0;
}

int app_explain(int argc, char **argv) {
    RunConfig c = config_defaults();
    int rc = app_parse("explain", USAGE, argc, argv, &c, config_explain_flags);
    if (rc != APP_CONTINUE) return rc;
    if ((rc = check_paths(&c)) != 0) return rc;
    NnError err;
    Dataset ds = {0};
    if (app_load_data(&c, NULL, DATASET_MIN_INTERACTIONS, &ds, &err)) return app_fail("explain", &err, 1);
    char summary[512];
    dataset_summary(&ds, summary, sizeof summary);
    SasrecConfig *mc = &c.model;
    int64_t B = c.train.batch < ds.n_users ? c.train.batch : ds.n_users;
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
    batch_alloc(&b, (int)B, mc->max_len);
    int64_t *perm = nn_malloc((size_t)ds.n_users * sizeof *perm);
    batch_shuffle(c.train.seed, 0, ds.n_users, perm);
    Sasrec s;
    sasrec_init(&s, mc, c.train.seed);
    int failed = c.profile || c.svg ? profile_step(&c, &ds, &ns, &s, &b, perm, B, &err)
                                    : explain_flow(&c, &ds, &ns, &s, &b, perm, B, &err);
    int code = failed ? app_fail("explain", &err, APP_EXIT_DATA) : 0;
    sasrec_free(&s);
    free(perm);
    batch_free(&b);
    batch_neg_free(&ns);
    dataset_free(&ds);
    return code;
}
