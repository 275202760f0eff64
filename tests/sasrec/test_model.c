/* SASRec: metrics, top-K, causality, the length-aware step against the dense
 * one, the training step (sasrec_step), checkpoints, and a short run on the
 * synthetic data against most-popular. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "autograd/profile.h"
#include "models/sasrec/data/synthetic.h"
#include "models/sasrec/eval.h"
#include "models/sasrec/step.h"
#include "models/sasrec/topk.h"
#include "models/sasrec/train.h"
#include "nn/checkpoint.h"
#include "tests/support.h"

START_TEST(metrics_by_hand) {
    int64_t rank[] = {0, 3, 9, 10, 99};
    Metrics s = metrics_from_ranks(PROTOCOL_SAMPLE, rank, 5);
    ck_assert(fabs(metrics_get(&s, "HR@1") - 0.2) < 1e-12);
    ck_assert(fabs(metrics_get(&s, "HR@5") - 0.4) < 1e-12);
    ck_assert(fabs(metrics_get(&s, "HR@10") - 0.6) < 1e-12);
    /* NDCG@5: (1/log2(2) + 1/log2(5)) / 5; NDCG@10 adds 1/log2(11) */
    ck_assert(fabs(metrics_get(&s, "NDCG@5") - (1 + 1 / log2(5.0)) / 5) < 1e-12);
    ck_assert(fabs(metrics_get(&s, "NDCG@10") - (1 + 1 / log2(5.0) + 1 / log2(11.0)) / 5) < 1e-12);
    ck_assert(fabs(metrics_get(&s, "MRR") - (1 + 1 / 4.0 + 1 / 10.0 + 1 / 11.0 + 1 / 100.0) / 5) < 1e-12);
    ck_assert(metrics_get(&s, "HR@20") == -1);
    int64_t full_rank[] = {4, 5, 19, 20};
    Metrics f = metrics_from_ranks(PROTOCOL_FULL, full_rank, 4);
    ck_assert(fabs(metrics_get(&f, "HR@5") - 0.25) < 1e-12);
    ck_assert(fabs(metrics_get(&f, "HR@10") - 0.5) < 1e-12);
    ck_assert(fabs(metrics_get(&f, "HR@20") - 0.75) < 1e-12);
    ck_assert(fabs(metrics_get(&f, "NDCG@20") - (1 / log2(6.0) + 1 / log2(7.0) + 1 / log2(21.0)) / 4) < 1e-12);
    ck_assert_str_eq(metrics_monitor(PROTOCOL_SAMPLE), "MRR");
    ck_assert_str_eq(metrics_monitor(PROTOCOL_FULL), "NDCG@20");
}
END_TEST

START_TEST(topk_selects_best_unseen) {
    real scores[] = {100, 0.5, 3, 3, -1, 7, 2, NAN}; /* item 7 NaN: never ranks */
    real hs[10];
    int32_t hi[10];
    /* offered in two blocks, items 1..3 then 4..7: the same as one */
    TopK t = topk_new(3, hs, hi);
    topk_offer(&t, scores + 1, 1, 3);
    topk_offer(&t, scores + 4, 4, 4);
    ck_assert_int_eq(topk_finish(&t), 3);
    ck_assert(hi[0] == 5 && hi[1] == 2 && hi[2] == 3); /* ties go to the lower index */
    ck_assert(hs[0] == 7 && hs[1] == 3 && hs[2] == 3);
    t = topk_new(10, hs, hi);
    topk_offer(&t, scores + 1, 1, 7);
    ck_assert_int_eq(topk_finish(&t), 6);
    ck_assert(hi[5] == 4);
}
END_TEST

static SasrecConfig small_config(int64_t n_items) {
    SasrecConfig c = sasrec_default_config();
    c.n_items = n_items;
    c.max_len = 6;
    c.hidden = 8;
    c.heads = 2;
    c.init_std = 0.3; /* larger than the seed's so that outputs differ clearly */
    return c;
}

/* Left-padded inputs (3, 6): lengths 6, 3, 1. */
static const int64_t INPUT[18] = {1, 2, 3, 4, 5, 6, 0, 0, 0, 7, 8, 9, 0, 0, 0, 0, 0, 4};
static const int32_t LEN[3] = {6, 3, 1};

START_TEST(causality_later_items_do_not_change_earlier_outputs) {
    for (int packed = 0; packed < 2; packed++) {
        Sasrec s;
        SasrecConfig cfg = small_config(10);
        sasrec_init(&s, &cfg, 3);
        module_train(&s.m, 0);
        Graph *g = graph_new();
        int64_t changed[18];
        memcpy(changed, INPUT, sizeof changed);
        changed[5] = 9;  /* the last item of sequence 0 */
        changed[11] = 2; /* the last item of sequence 1 */
        Tokens a = sasrec_tokens(g, INPUT, LEN, 3, 6, packed), b = sasrec_tokens(g, changed, LEN, 3, 6, packed);
        Tensor *fa = sasrec_forward(&s, g, &a), *fb = sasrec_forward(&s, g, &b);
        for (int64_t seq = 0; seq < 3; seq++)
            for (int64_t r = a.layout.offsets[seq]; r < a.layout.offsets[seq + 1]; r++) {
                if (a.ids[r] == 0) continue; /* padded rows (dense) see every key under -10000: not outputs */
                int is_last = r == a.last[seq] && seq < 2;
                double diff = 0;
                for (int h = 0; h < 8; h++) diff += fabs(fa->data[r * 8 + h] - fb->data[r * 8 + h]);
                if (is_last)
                    ck_assert_msg(diff > 1e-3, "the changed position itself must change");
                else
                    ck_assert_msg(diff == 0, "row %lld changed though only later items did", (long long)r);
            }
        graph_free(g);
        sasrec_free(&s);
    }
}
END_TEST

/* Inference's forward at the last positions alone (sasrec_forward_last) gives the user vectors of the whole
 * forward bit for bit: post- and pre-norm, dense and packed, with an empty sequence (a zero row). */
START_TEST(last_positions_alone_equal_the_whole_forward) {
    static const int64_t input[24] = {1, 2, 3, 4, 5, 6, 0, 0, 0, 7, 8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4};
    static const int32_t len[4] = {6, 3, 0, 1};
    for (int norm = 0; norm < 2; norm++)
        for (int packed = 0; packed < 2; packed++) {
            Sasrec s;
            SasrecConfig cfg = small_config(10);
            cfg.norm = norm ? NORM_PRE : NORM_POST;
            sasrec_init(&s, &cfg, 5);
            module_train(&s.m, 0);
            int grad = ag_set_grad_enabled(0);
            Graph *g = graph_new();
            Tokens t = sasrec_tokens(g, input, len, 4, 6, packed);
            Tensor *whole = sasrec_last(g, sasrec_forward(&s, g, &t), &t), *last = sasrec_forward_last(&s, g, &t);
            ck_assert_int_eq(last->shape[0], 4);
            ck_assert_int_eq(last->shape[1], 8);
            ck_assert_msg(memcmp(whole->data, last->data, 4 * 8 * sizeof(real)) == 0,
                          "norm %d packed %d: the last positions alone differ from the whole forward", norm, packed);
            for (int h = 0; h < 8; h++) ck_assert(last->data[2 * 8 + h] == 0); /* the empty sequence */
            graph_free(g);
            ag_set_grad_enabled(grad);
            sasrec_free(&s);
        }
}
END_TEST

/* Loss and gradients (into grads, unless NULL) of one forward and backward pass; dropout off so that both
 * layouts see the same network. */
static double step(int packed, LossKind loss, real *grads) {
    Sasrec s;
    SasrecConfig cfg = small_config(10);
    cfg.dropout = cfg.attn_dropout = 0;
    sasrec_init(&s, &cfg, 4);
    Graph *g = graph_new();
    int64_t pos[18], neg[18];
    for (int i = 0; i < 18; i++) {
        pos[i] = INPUT[i] ? 1 + (INPUT[i] * 3) % 10 : 0;
        neg[i] = INPUT[i] ? 1 + (INPUT[i] * 7 + 1) % 10 : 0;
    }
    Tokens t = sasrec_tokens(g, INPUT, LEN, 3, 6, packed);
    Tensor *F = sasrec_forward(&s, g, &t);
    static const int64_t SHARED[5] = {3, 5, 8, 1, 5}; /* a repeat, and targets of some rows (accidental hits) */
    real log_q[11];
    for (int i = 0; i <= 10; i++) log_q[i] = (real)(-2 - 0.1 * i);
    Negatives n = {.neg = sasrec_gather(g, &t, neg), .shared = SHARED, .n_shared = 5, .beta = 0.6,
                   .log_q = loss == LOSS_SAMPLED ? log_q : NULL};
    Tensor *l = sasrec_loss(&s, g, F, &t, sasrec_gather(g, &t, pos), &n, loss);
    ag_backward(g, l);
    double value = l->data[0];
    for (int i = 0; grads && i < s.m.n_params; i++) {
        const Tensor *gr = s.m.params[i].value->grad;
        memcpy(grads, gr->data, (size_t)gr->numel * sizeof(real));
        grads += gr->numel;
    }
    graph_free(g);
    sasrec_free(&s);
    return value;
}

START_TEST(length_aware_step_equals_dense_step) {
    for (LossKind loss = LOSS_BCE; loss <= LOSS_GBCE; loss++) {
        real *gd = malloc(20000 * sizeof(real)), *gp = malloc(20000 * sizeof(real));
        double ld = step(0, loss, gd), lp = step(1, loss, gp);
        ck_assert_msg(fabs(ld - lp) <= 1e-6 * fabs(ld), "loss dense %.9g, packed %.9g", ld, lp);
        Sasrec s;
        SasrecConfig cfg = small_config(10);
        sasrec_init(&s, &cfg, 4);
        int64_t n = module_num_params(&s.m);
        sasrec_free(&s);
        double scale = 0;
        for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(gd[i]));
        for (int64_t i = 0; i < n; i++)
            ck_assert_msg(fabs(gd[i] - gp[i]) <= 1e-5 * scale, "gradient %lld: dense %.9g, packed %.9g", (long long)i,
                          gd[i], gp[i]);
        free(gd);
        free(gp);
    }
}
END_TEST

/* A training batch of the sequences of INPUT, with the targets and negatives of step(). */
static void fill_batch(SeqBatch *b) {
    batch_alloc(b, 3, 6);
    b->B = 3;
    memcpy(b->input, INPUT, sizeof INPUT);
    memcpy(b->len, LEN, sizeof LEN);
    for (int i = 0; i < 18; i++) {
        b->pos[i] = INPUT[i] ? 1 + (INPUT[i] * 3) % 10 : 0;
        b->neg[i] = INPUT[i] ? 1 + (INPUT[i] * 7 + 1) % 10 : 0;
    }
}

/* Every parameter of s, in a new flat buffer. */
static real *weights(const Sasrec *s) {
    real *w = malloc((size_t)module_num_params(&s->m) * sizeof *w), *p = w;
    for (int i = 0; i < s->m.n_params; i++) {
        const Tensor *t = s->m.params[i].value;
        memcpy(p, t->data, (size_t)t->numel * sizeof *p);
        p += t->numel;
    }
    return w;
}

/* A small model (dropout off unless asked) with Adam at lr, a graph and the training batch of fill_batch. */
typedef struct {
    Sasrec s;
    Adam *opt;
    Graph *g;
    SeqBatch b;
    TrainConfig tc;
} StepCase;

static void step_case_init(StepCase *c, double lr, int dropout) {
    SasrecConfig cfg = small_config(10);
    if (!dropout) cfg.dropout = cfg.attn_dropout = 0;
    sasrec_init(&c->s, &cfg, 4);
    AdamConfig ac = adam_defaults();
    ac.lr = lr;
    c->opt = adam_new(&c->s.m, ac);
    c->g = graph_new();
    fill_batch(&c->b);
    c->tc = train_default_config();
}

static void step_case_free(StepCase *c) {
    batch_free(&c->b);
    graph_free(c->g);
    adam_free(c->opt);
    sasrec_free(&c->s);
}

START_TEST(step_learns_a_repeated_batch) {
    for (int dense = 0; dense < 2; dense++) {
        StepCase c;
        step_case_init(&c, 1e-2, 0);
        c.tc.dense = dense;
        StepResult first = sasrec_step(&c.s, c.opt, c.g, &c.b, &c.tc), last = first;
        ck_assert_int_eq(first.targets, 6 + 3 + 1); /* every real input position has a target */
        ck_assert_msg(fabs(first.loss - step(dense == 0, LOSS_BCE, NULL)) <= 1e-6 * first.loss,
                      "the step's loss %.9g is not the forward pass's", first.loss);
        for (int k = 1; k < 20; k++) {
            last = sasrec_step(&c.s, c.opt, c.g, &c.b, &c.tc);
            ck_assert_int_eq(graph_num_nodes(c.g), 0); /* the graph is reset after each step */
            for (int i = 0; i < c.s.m.n_params; i++) { /* and the gradients zeroed */
                const Tensor *gr = c.s.m.params[i].value->grad;
                for (int64_t j = 0; gr && j < gr->numel; j++) ck_assert(gr->data[j] == 0);
            }
        }
        ck_assert_int_eq(c.opt->step, 20);
        ck_assert_msg(last.loss < 0.9 * first.loss, "loss %.4f -> %.4f after 20 steps", first.loss, last.loss);
        step_case_free(&c);
    }
}
END_TEST

/* One step that must change nothing: the weights stay byte for byte, Adam takes no step. Returns its result. */
static StepResult step_without_update(StepCase *c) {
    real *before = weights(&c->s);
    StepResult r = sasrec_step(&c->s, c->opt, c->g, &c->b, &c->tc);
    real *after = weights(&c->s);
    ck_assert(memcmp(before, after, (size_t)module_num_params(&c->s.m) * sizeof(real)) == 0);
    ck_assert_int_eq(c->opt->step, 0); /* Adam's moments and step count untouched */
    ck_assert_int_eq(graph_num_nodes(c->g), 0);
    free(before);
    free(after);
    return r;
}

/* Whole (1 shard) and sharded (3: the non-finite loss in each shard's sum) alike. */
START_TEST(step_refuses_a_non_finite_loss_and_keeps_the_weights) {
    for (int shards = 1; shards <= 3; shards += 2) {
        StepCase c;
        step_case_init(&c, 1e-3, 1);
        c.tc.shards = shards;
        c.s.pos_emb.weight->data[5 * c.s.cfg.hidden] = NAN; /* the last position: every sequence uses it */
        StepResult r = step_without_update(&c);
        ck_assert_msg(isnan(r.loss), "loss %g", r.loss);
        step_case_free(&c);
    }
}
END_TEST

START_TEST(step_skips_a_batch_without_targets) {
    for (int shards = 1; shards <= 3; shards += 2) {
        StepCase c;
        step_case_init(&c, 1e-3, 1);
        c.tc.shards = shards;
        memset(c.b.pos, 0, 18 * sizeof *c.b.pos); /* users with 3 items: inputs, but nothing to predict */
        memset(c.b.neg, 0, 18 * sizeof *c.b.neg);
        StepResult r = step_without_update(&c);
        ck_assert(r.targets == 0 && r.loss == 0);
        step_case_free(&c);
    }
}
END_TEST

/* The sharded step (--shards K, the data-parallel one) is the whole batch's step: shard losses scaled by
 * their share of the targets sum to the batch's mean loss, and their gradients to its gradient. Adam
 * with lr 1 and eps 1 moves each weight by g / (|g| + 1) on its first step, a smooth function of the
 * gradient, so the moves compare the gradients themselves. */
/* K negatives drawn per position (per_position) or per sequence for b, as batch_draw_shared leaves them. */
static void draw_into(SeqBatch *b, int per_position, int64_t K) {
    size_t n = (size_t)b->cap * (size_t)(per_position ? b->L : 1) * (size_t)K;
    b->drawn = malloc(n * sizeof *b->drawn);
    for (size_t i = 0; i < n; i++) b->drawn[i] = (int32_t)(1 + (i * 7 + 3) % 10); /* hits of targets too */
    b->n_drawn = K;
    b->per_position = per_position;
}

/* The moves of one step at 1, 2 and 3 shards agree (drawn: 0 none, 1 per sequence, 2 per position). */
static void check_sharded(int dense, LossKind loss, int drawn) {
    real *moves[3];
    double loss_of[3];
    for (int K = 1; K <= 3; K++) {
        StepCase c;
        step_case_init(&c, 1, 0);
        c.opt->cfg.eps = 1;
        c.tc.dense = dense;
        c.tc.shards = K;
        c.tc.loss = loss;
        if (drawn) draw_into(&c.b, drawn == 2, 5);
        real *before = weights(&c.s);
        StepResult r = sasrec_step(&c.s, c.opt, c.g, &c.b, &c.tc);
        ck_assert_int_eq(r.targets, 10);
        ck_assert_int_eq(c.opt->step, 1);
        ck_assert_int_eq(graph_num_nodes(c.g), 0);
        loss_of[K - 1] = r.loss;
        moves[K - 1] = weights(&c.s);
        for (int64_t i = 0; i < module_num_params(&c.s.m); i++) moves[K - 1][i] -= before[i];
        free(before);
        step_case_free(&c);
    }
    for (int K = 2; K <= 3; K++) {
        ck_assert_msg(fabs(loss_of[K - 1] - loss_of[0]) <= 1e-6 * loss_of[0],
                      "%d shards (drawn %d): loss %.9g, whole batch %.9g", K, drawn, loss_of[K - 1], loss_of[0]);
        StepCase c;
        step_case_init(&c, 1, 0);
        test_assert_close("moves", moves[K - 1], moves[0], module_num_params(&c.s.m), 2e-6, 1e-4);
        step_case_free(&c);
    }
    for (int K = 0; K < 3; K++) free(moves[K]);
}

START_TEST(sharded_step_equals_the_whole_batch_step) {
    for (int dense = 0; dense < 2; dense++) check_sharded(dense, LOSS_BCE, 0);
}
END_TEST

/* The same with negatives drawn per sequence and per position (--neg-scope): each shard scores the
 * negatives drawn for its own users. */
START_TEST(sharded_step_with_drawn_negatives_equals_the_whole_batch_step) {
    for (int dense = 0; dense < 2; dense++)
        for (int drawn = 1; drawn <= 2; drawn++) {
            check_sharded(dense, LOSS_SAMPLED, drawn);
            check_sharded(dense, LOSS_GBCE, drawn);
        }
}
END_TEST

/* With dropout on, each shard draws its masks from its own stream of (seed, step, shard): two runs of
 * the same sharded steps give the same weights, and differ from the unsharded step's masks. */
START_TEST(sharded_steps_repeat_exactly) {
    real *w[2];
    for (int run = 0; run < 2; run++) {
        StepCase c;
        step_case_init(&c, 1e-2, 1);
        c.tc.shards = 3;
        for (int k = 0; k < 3; k++) sasrec_step(&c.s, c.opt, c.g, &c.b, &c.tc);
        w[run] = weights(&c.s);
        if (run == 1) ck_assert(memcmp(w[0], w[1], (size_t)module_num_params(&c.s.m) * sizeof(real)) == 0);
        step_case_free(&c);
    }
    free(w[0]);
    free(w[1]);
}
END_TEST

/* The largest change of any weight after one step with clipping at max_norm (0: off). */
static double one_step_change(double max_norm) {
    StepCase c;
    step_case_init(&c, 1e-3, 0);
    c.tc.clip = max_norm;
    real *before = weights(&c.s);
    sasrec_step(&c.s, c.opt, c.g, &c.b, &c.tc);
    real *after = weights(&c.s);
    double most = 0;
    for (int64_t i = 0; i < module_num_params(&c.s.m); i++) most = fmax(most, fabs((double)after[i] - before[i]));
    free(before);
    free(after);
    step_case_free(&c);
    return most;
}

/* Item row `row` of the item table after two sampled-softmax steps whose shared negatives are
 * {20, 30} and then {40, 45} (50 items; the batch's inputs and targets are items 1..10). */
static void two_sampled_steps(int lazy, real *row20_after1, real *row20_after2, real *row11) {
    SasrecConfig cfg = small_config(50);
    cfg.dropout = cfg.attn_dropout = 0;
    Sasrec s;
    sasrec_init(&s, &cfg, 4);
    AdamConfig ac = adam_defaults();
    ac.lazy = lazy;
    Adam *opt = adam_new(&s.m, ac);
    Graph *g = graph_new();
    SeqBatch b;
    fill_batch(&b);
    TrainConfig tc = train_default_config();
    tc.loss = LOSS_SAMPLED;
    int64_t shared[2][2] = {{20, 30}, {40, 45}};
    int H = (int)cfg.hidden;
    memcpy(row11, s.item_emb.weight->data + 11 * H, (size_t)H * sizeof(real));
    for (int k = 0; k < 2; k++) {
        b.shared = shared[k], b.n_shared = 2;
        sasrec_step(&s, opt, g, &b, &tc);
        memcpy(k ? row20_after2 : row20_after1, s.item_emb.weight->data + 20 * H, (size_t)H * sizeof(real));
    }
    ck_assert_msg(memcmp(row11, s.item_emb.weight->data + 11 * H, (size_t)H * sizeof(real)) == 0,
                  "row 11 (never used) moved");
    b.shared = NULL, b.n_shared = 0;
    batch_free(&b);
    graph_free(g);
    adam_free(opt);
    sasrec_free(&s);
}

/* Lazy Adam moves only the item rows a step used (torch's SparseAdam); dense Adam keeps moving a row
 * by its momentum after the row's last use. */
START_TEST(lazy_adam_moves_only_the_rows_a_step_used) {
    real a1[8], a2[8], r11[8], d1[8], d2[8];
    two_sampled_steps(1, a1, a2, r11);
    ck_assert_msg(memcmp(a1, a2, sizeof a1) == 0, "lazy Adam moved row 20 in a step that did not use it");
    two_sampled_steps(0, d1, d2, r11);
    ck_assert_msg(memcmp(d1, d2, sizeof d1) != 0, "dense Adam kept row 20 still (its momentum should move it)");
    for (int h = 0; h < 8; h++) /* one step: the same move up to where SparseAdam puts eps */
        ck_assert_msg(fabs(a1[h] - d1[h]) <= 1e-5, "first step: lazy %.9g, dense %.9g", a1[h], d1[h]);
}
END_TEST

START_TEST(step_clips_the_gradient_before_adam) {
    /* Adam's first step moves a weight by about lr whatever the gradient's scale, unless the gradient is far
     * below eps (1e-8): clipped to a norm of 1e-12, no weight may move by more than lr / 1000. */
    double free_change = one_step_change(0), clipped = one_step_change(1e-12);
    ck_assert_msg(free_change > 0.5e-3, "an unclipped step moved weights by %g only", free_change);
    ck_assert_msg(clipped < 1e-6, "a step clipped to 1e-12 moved a weight by %g", clipped);
}
END_TEST

START_TEST(checkpoint_round_trip_gives_identical_outputs) {
    char dir[] = "/tmp/nn_ckpt_XXXXXX", path[256];
    ck_assert(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    Sasrec a, b;
    SasrecConfig cfg = small_config(10);
    sasrec_init(&a, &cfg, 5);
    sasrec_init(&b, &cfg, 6);
    NnError err;
    ck_assert_msg(checkpoint_save(path, &a.m, NULL, 0, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_msg(checkpoint_load(path, &b.m, NULL, &err) == 0, "%s", err.msg);
    for (int i = 0; i < a.m.n_params; i++)
        ck_assert(memcmp(a.m.params[i].value->data, b.m.params[i].value->data,
                         (size_t)a.m.params[i].value->numel * sizeof(real)) == 0);
    /* a model of another size is refused, and left as it was */
    Sasrec c;
    SasrecConfig other = small_config(11);
    sasrec_init(&c, &other, 7);
    real before = c.item_emb.weight->data[9];
    ck_assert(checkpoint_load(path, &c.m, NULL, &err) == -1);
    ck_assert_msg(strstr(err.msg, "item_emb.weight") && strstr(err.msg, "(11, 8)"), "%s", err.msg);
    ck_assert(c.item_emb.weight->data[9] == before);
    sasrec_free(&a);
    sasrec_free(&b);
    sasrec_free(&c);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* Trains on the built-in synthetic data with the seed's defaults, as `sasrec train` does. */
static TrainStatus train_synthetic(const char *dir, int64_t epochs, Sasrec *s, TrainResult *res, NnError *err,
                                   int poison, Profile *profile) {
    Dataset ds = {0};
    SampleSet samples = {0};
    SyntheticOptions so = synthetic_default_options();
    SasrecConfig mc = sasrec_default_config();
    TrainConfig tc = train_default_config();
    if (test_quick()) { /* valgrind runs ~450x slower: a small catalogue and model */
        so.n_users = 300;
        so.n_items = 150;
        so.max_len = 20;
        mc.max_len = 20;
        mc.hidden = 16;
        tc.batch = 32;
    }
    ck_assert(synthetic_generate(&so, &ds, err) == 0);
    ck_assert(sample_generate(&ds, 99, 12345, &samples, err) == 0);
    tc.epochs = (int)epochs;
    tc.profile = profile;
    mc.n_items = ds.n_items;
    sasrec_init(s, &mc, tc.seed);
    if (poison) s->pos_emb.weight->data[(mc.max_len - 1) * mc.hidden] = NAN; /* the last position: always used */
    EvalOptions eo = eval_default_options();
    eo.samples = &samples;
    TrainStatus st = train_run(s, &ds, &tc, &eo, dir, NULL, res, err);
    sample_free(&samples);
    dataset_free(&ds);
    return st;
}

START_TEST(synthetic_run_beats_most_popular_twice) {
    char dir[] = "/tmp/nn_syn_XXXXXX";
    ck_assert(mkdtemp(dir) != NULL);
    Sasrec s;
    TrainResult r;
    NnError err;
    /* under valgrind (NN_TEST_QUICK) a shorter run, held to a lower bar */
    int64_t epochs = test_quick() ? 6 : 12;
    double factor = test_quick() ? 1.2 : 2;
    ck_assert_msg(train_synthetic(dir, epochs, &s, &r, &err, 0, NULL) == TRAIN_OK, "%s", err.msg);
    double hr = metrics_get(&r.test, "HR@10"), pop = metrics_get(&r.popular, "HR@10");
    ck_assert_msg(hr >= factor * pop, "test HR@10 %.4f after %lld epochs, most popular %.4f", hr, (long long)epochs,
                  pop);
    ck_assert_msg(r.first_loss > 1.3 && r.first_loss < 1.45 && r.last_loss < r.first_loss, "loss %.4f -> %.4f",
                  r.first_loss, r.last_loss);
    sasrec_free(&s);
    /* a NaN in the weights: training stops at once, naming epoch and batch, and the checkpoint stays */
    ck_assert(train_synthetic(dir, 3, &s, &r, &err, 1, NULL) == TRAIN_NOT_FINITE);
    ck_assert_msg(strstr(err.msg, "NaN in epoch 0, batch 0"), "%s", err.msg);
    char path[256];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    Sasrec fresh;
    SasrecConfig mc = s.cfg;
    sasrec_init(&fresh, &mc, 9);
    ck_assert_msg(checkpoint_load(path, &fresh.m, NULL, &err) == 0, "%s", err.msg);
    for (int64_t i = 0; i < fresh.pos_emb.weight->numel; i++) ck_assert(isfinite(fresh.pos_emb.weight->data[i]));
    sasrec_free(&fresh);
    sasrec_free(&s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert(system(cmd) == 0);
}
END_TEST

/* A run with a profile attached (TrainConfig.profile) trains the same bits as one without, and the profile
 * holds every step: each batch's fill, and the model's 8 linears (2 blocks of Q/K/V, output and the
 * feed-forward's two) forward and backward in each step. */
START_TEST(a_profiled_run_trains_the_same_and_times_every_step) {
    char dir[] = "/tmp/nn_prof_XXXXXX", cmd[128];
    ck_assert(mkdtemp(dir) != NULL);
    Sasrec plain, timed;
    TrainResult r;
    NnError err;
    Profile *p = profile_new();
    ck_assert_msg(train_synthetic(dir, 1, &plain, &r, &err, 0, NULL) == TRAIN_OK, "%s", err.msg);
    ck_assert_msg(train_synthetic(dir, 1, &timed, &r, &err, 0, p) == TRAIN_OK, "%s", err.msg);
    for (int i = 0; i < plain.m.n_params; i++) {
        const Tensor *a = plain.m.params[i].value, *b = timed.m.params[i].value;
        ck_assert_msg(memcmp(a->data, b->data, (size_t)a->numel * sizeof(real)) == 0, "%s differs when profiled",
                      plain.m.params[i].name);
    }
    ProfileRow fill = profile_find(p, "batch fill (negatives too)", PROFILE_OTHER);
    ProfileRow fwd = profile_find(p, "linear", PROFILE_FORWARD), bwd = profile_find(p, "linear", PROFILE_BACKWARD);
    ProfileRow adam = profile_find(p, "adam", PROFILE_OTHER);
    int64_t users = test_quick() ? 300 : synthetic_default_options().n_users, batch = test_quick() ? 32 : 256;
    int64_t batches = (users + batch - 1) / batch; /* one epoch */
    ck_assert_msg(fill.calls == batches && adam.calls == batches, "%lld fills and %lld Adam steps for %lld batches",
                  (long long)fill.calls, (long long)adam.calls, (long long)batches);
    ck_assert_msg(fwd.calls == 8 * batches && bwd.calls == 8 * batches, "linear: %lld forward, %lld backward calls",
                  (long long)fwd.calls, (long long)bwd.calls);
    ck_assert(fwd.flops > 0 && fwd.seconds > 0 && profile_seconds(p) >= fwd.seconds + bwd.seconds);
    profile_free(p);
    sasrec_free(&plain);
    sasrec_free(&timed);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert(system(cmd) == 0);
}
END_TEST

/* Two Adam steps on a small model from fixed gradients. */
static void adam_steps(Sasrec *s, Adam *a, int steps, uint64_t seed) {
    Rng r = rng_new(seed, 3);
    for (int k = 0; k < steps; k++) {
        for (int i = 0; i < s->m.n_params; i++) {
            Tensor *p = s->m.params[i].value;
            if (!p->grad) p->grad = tensor_zeros(p->ndim, p->shape);
            init_normal(p->grad, 0, 1, &r);
        }
        adam_step(a);
    }
}

START_TEST(checkpoint_with_optimizer_state_resumes_exactly) {
    char dir[] = "/tmp/nn_resume_XXXXXX", path[256];
    ck_assert(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    SasrecConfig cfg = small_config(10);
    Sasrec a, b;
    sasrec_init(&a, &cfg, 5);
    sasrec_init(&b, &cfg, 6);
    Adam *oa = adam_new(&a.m, adam_defaults()), *ob = adam_new(&b.m, adam_defaults());
    adam_steps(&a, oa, 2, 1);
    NnError err;
    ck_assert_msg(checkpoint_save(path, &a.m, oa, 0, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_msg(checkpoint_load(path, &b.m, ob, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(ob->step, 2);
    /* the same third step on both: identical weights, as if never interrupted */
    adam_steps(&a, oa, 1, 9);
    adam_steps(&b, ob, 1, 9);
    for (int i = 0; i < a.m.n_params; i++)
        ck_assert(memcmp(a.m.params[i].value->data, b.m.params[i].value->data,
                         (size_t)a.m.params[i].value->numel * sizeof(real)) == 0);
    /* a file without optimizer state cannot resume one */
    ck_assert_msg(checkpoint_save(path, &a.m, NULL, 0, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(checkpoint_load(path, &b.m, ob, &err), -1);
    ck_assert_msg(strstr(err.msg, "no optimizer state"), "%s", err.msg);
    adam_free(oa);
    adam_free(ob);
    sasrec_free(&a);
    sasrec_free(&b);
    unlink(path);
    rmdir(dir);
}
END_TEST

static Suite *sasrec_model_suite(void) {
    Suite *s = suite_create("sasrec_model");
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, metrics_by_hand);
    tcase_add_test(tc, topk_selects_best_unseen);
    tcase_add_test(tc, causality_later_items_do_not_change_earlier_outputs);
    tcase_add_test(tc, last_positions_alone_equal_the_whole_forward);
    tcase_add_test(tc, length_aware_step_equals_dense_step);
    tcase_add_test(tc, step_learns_a_repeated_batch);
    tcase_add_test(tc, step_refuses_a_non_finite_loss_and_keeps_the_weights);
    tcase_add_test(tc, step_skips_a_batch_without_targets);
    tcase_add_test(tc, sharded_step_equals_the_whole_batch_step);
    tcase_add_test(tc, sharded_step_with_drawn_negatives_equals_the_whole_batch_step);
    tcase_add_test(tc, sharded_steps_repeat_exactly);
    tcase_add_test(tc, step_clips_the_gradient_before_adam);
    tcase_add_test(tc, lazy_adam_moves_only_the_rows_a_step_used);
    tcase_add_test(tc, checkpoint_round_trip_gives_identical_outputs);
    tcase_add_test(tc, checkpoint_with_optimizer_state_resumes_exactly);
    suite_add_tcase(s, tc);
    TCase *run = tcase_create("synthetic run");
    tcase_set_timeout(run, 120);
    tcase_add_test(run, synthetic_run_beats_most_popular_twice);
    tcase_add_test(run, a_profiled_run_trains_the_same_and_times_every_step);
    suite_add_tcase(s, run);
    return s;
}

TEST_MAIN(sasrec_model_suite)
