/* The fused losses over candidates drawn per row or per group of rows
 * (autograd/op_sampled_rows.c), on the double build: gradients against
 * central differences (per position and per sequence, with and without the
 * log-Q correction, gBCE), loss and gradients against a reference made of ag
 * ops (narrow, index_select, linear, ag_sampled_softmax or ag_gbce per group),
 * across the backward's row blocks, and identical for 1, 2 and 3 threads (per
 * position, and per sequence with the gradients kept by the forward or
 * recomputed by the backward). */
#include <math.h>
#include <string.h>

#include "base/parallel.h"
#include "tests/support.h"

typedef struct {
    SampledRowsOptions o;
    int reference; /* 1: the loss from ag ops, group by group */
} RowsCase;

/* The reference: for each group, its rows' logits from ag ops and the shared-candidate op over them,
 * weighted by the group's counted rows over all counted rows. */
static Tensor *reference(Graph *g, Tensor *x, Tensor *w, const SampledRowsOptions *o) {
    int64_t K = o->k, count = 0;
    for (int64_t r = 0; r < o->n_target; r++) count += o->target[r] != o->ignore;
    Tensor *total = ag_zeros(g, 0, NULL);
    for (int64_t j = 0; j < o->n_groups; j++) {
        int64_t a = o->offsets ? o->offsets[j] : j, n = (o->offsets ? o->offsets[j + 1] : j + 1) - a, c = 0;
        if (n == 0) continue;
        const int64_t *ids = o->ids + j * K, *t = o->target + a;
        for (int64_t r = 0; r < n; r++) c += t[r] != o->ignore;
        int64_t *safe = arena_alloc(graph_arena(g), (size_t)n * sizeof *safe); /* ignored rows score item 0 */
        real *pq = arena_alloc(graph_arena(g), (size_t)n * sizeof *pq), *nq = arena_alloc(graph_arena(g), (size_t)K * sizeof *nq);
        for (int64_t r = 0; r < n; r++) safe[r] = t[r] == o->ignore ? 0 : t[r];
        for (int64_t r = 0; r < n; r++) pq[r] = o->log_q ? o->log_q[safe[r]] : 0;
        for (int64_t k = 0; k < K; k++) nq[k] = o->log_q ? o->log_q[ids[k]] : 0;
        Tensor *xs = ag_narrow(g, x, 0, a, n);
        Tensor *neg = ag_linear(g, xs, ag_index_select(g, w, 0, ids, K), NULL);
        Tensor *pos = ag_sum(g, ag_mul(g, xs, ag_index_select(g, w, 0, safe, n)), 1, (int[]){1}, 0);
        Tensor *l = o->gbce ? ag_gbce(g, pos, neg, t, n, ids, K, o->ignore, o->beta)
                            : ag_sampled_softmax(g, pos, neg, t, n, ids, K, o->ignore, o->log_q ? pq : NULL,
                                                 o->log_q ? nq : NULL);
        total = ag_add(g, total, ag_mul_scalar(g, l, (real)((double)c / (double)count)));
    }
    return total;
}

static Tensor *f_rows(Graph *g, Tensor *const *in, void *ctx) {
    const RowsCase *c = ctx;
    return c->reference ? reference(g, in[0], in[1], &c->o) : ag_sampled_rows(g, in[0], in[1], &c->o);
}

enum { R = 9, H = 8, C = 30, K = 21 };

/* Rows 2 and 7 ignored (target 0); group candidates with accidental hits and repeats. */
static const int64_t TARGET[R] = {7, 12, 0, 3, 9, 29, 1, 0, 12};
/* Sequences: rows [0, 4), none, [4, 9). */
static const int64_t OFFSETS[4] = {0, 4, 4, 9};

static void fill_ids(int64_t *ids, int64_t groups) {
    for (int64_t j = 0; j < groups; j++)
        for (int64_t k = 0; k < K; k++) ids[j * K + k] = 1 + (j * 7 + k * 5) % (C - 1);
    ids[3] = 7, ids[K + 4] = 12, ids[5] = ids[6]; /* hits of rows 0 and 1 (or of sequence 0), a repeat */
}

static const char *const SCOPES[] = {"position", "sequence (kept)", "sequence (recomputed)"};

static RowsCase make_case(int64_t *ids, int per_sequence, const real *log_q, int gbce) {
    RowsCase c = {.o = {.target = TARGET, .n_target = R, .ignore = 0, .ids = ids, .k = K, .log_q = log_q,
                        .gbce = gbce, .beta = (real)0.3}};
    c.o.n_groups = per_sequence ? 3 : R;
    c.o.offsets = per_sequence ? OFFSETS : NULL;
    fill_ids(ids, c.o.n_groups);
    return c;
}

static void log_q_table(real *q) {
    Rng r = rng_new(7, 0);
    for (int i = 0; i < C; i++) q[i] = (real)(-2 - 3 * rng_uniform(&r));
}

START_TEST(grad_sampled_rows_against_differences) {
    Tensor *in[2] = {test_param(test_uniform(11, NN_SHAPE(R, H), -1.5, 1.5)),
                     test_param(test_uniform(12, NN_SHAPE(C, H), -1.5, 1.5))};
    int64_t ids[R * K];
    real q[C];
    log_q_table(q);
    for (int seq = 0; seq < 3; seq++) /* per position; per sequence, gradients kept; recomputed */
        for (int kind = 0; kind < 3; kind++) { /* uniform, log-Q corrected, gBCE */
            RowsCase c = make_case(ids, seq > 0, kind == 1 ? q : NULL, kind == 2);
            c.o.recompute = seq == 2;
            char what[80];
            snprintf(what, sizeof what, "sampled_rows per %s, %s", SCOPES[seq],
                     kind == 0 ? "uniform" : kind == 1 ? "log-Q" : "gBCE");
            test_gradcheck(what, f_rows, &c, 2, in);
        }
    test_free_all(2, in);
}
END_TEST

/* At the sizes of a run (H 64, K 256 per position or per sequence of 50), on a sample of the elements. */
START_TEST(grad_sampled_rows_at_run_sizes) {
    enum { NR = 100, NH = 64, NC = 2000, NK = 256 };
    Tensor *in[2] = {test_param(test_uniform(21, NN_SHAPE(NR, NH), -0.5, 0.5)),
                     test_param(test_uniform(22, NN_SHAPE(NC, NH), -0.5, 0.5))};
    int64_t target[NR], offsets[3] = {0, 50, NR}, *ids = malloc((size_t)(NR * NK) * sizeof *ids);
    real q[NC];
    Rng rng = rng_new(23, 0);
    for (int64_t r = 0; r < NR; r++) target[r] = r < 10 ? 0 : 1 + (int64_t)rng_below(&rng, NC - 1);
    for (int64_t i = 0; i < NR * NK; i++) ids[i] = 1 + (int64_t)rng_below(&rng, NC - 1);
    for (int64_t i = 0; i < NC; i++) q[i] = (real)(-7 - rng_uniform(&rng));
    for (int seq = 0; seq < 3; seq++)
        for (int kind = 0; kind < 2; kind++) {
            RowsCase c = {.o = {.target = target, .n_target = NR, .ids = ids, .n_groups = seq ? 2 : NR, .k = NK,
                                .offsets = seq ? offsets : NULL, .log_q = kind ? NULL : q, .gbce = kind,
                                .beta = (real)0.4, .recompute = seq == 2}};
            char what[80];
            snprintf(what, sizeof what, "sampled_rows per %s, run size", SCOPES[seq]);
            test_gradcheck_sampled(what, f_rows, &c, 2, in, test_quick() ? 4 : 300, 0); /* valgrind, coverage: fewer */
        }
    free(ids);
    test_free_all(2, in);
}
END_TEST

/* Loss of f and the gradients of x and w into gx, gw. */
static double run_case(const RowsCase *c, Tensor *x, Tensor *w, real *gx, real *gw) {
    Graph *g = graph_new();
    tensor_zero_grad(x);
    tensor_zero_grad(w);
    Tensor *loss = f_rows(g, (Tensor *[]){x, w}, (void *)c);
    double v = loss->data[0];
    ag_backward(g, loss);
    memcpy(gx, x->grad->data, (size_t)x->numel * sizeof(real));
    memcpy(gw, w->grad->data, (size_t)w->numel * sizeof(real));
    graph_free(g);
    return v;
}

/* K = 256 per position: backward blocks of 1020 rows, so 1300 rows cross them. */
START_TEST(sampled_rows_equals_the_reference) {
    int64_t NR = 1300, NH = 8, NC = 900, NK = 256, NG = 50;
    Tensor *x = test_param(test_uniform(13, NN_SHAPE(NR, NH), -2, 2));
    Tensor *w = test_param(test_uniform(14, NN_SHAPE(NC, NH), -2, 2));
    int64_t *target = malloc((size_t)NR * sizeof *target), *ids = malloc((size_t)(NR * NK) * sizeof *ids);
    int64_t *offsets = malloc((size_t)(NG + 1) * sizeof *offsets);
    real *q = malloc((size_t)NC * sizeof *q), *gx[2], *gw[2];
    Rng rng = rng_new(15, 0);
    for (int64_t r = 0; r < NR; r++) target[r] = r % 11 == 4 ? 0 : 1 + (int64_t)rng_below(&rng, NC - 1);
    for (int64_t i = 0; i < NR * NK; i++) ids[i] = 1 + (int64_t)rng_below(&rng, NC - 1);
    for (int64_t r = 0; r < NR; r += 3) ids[r * NK + r % NK] = target[r]; /* hits */
    for (int64_t j = 0; j <= NG; j++) offsets[j] = j * NR / NG;
    for (int64_t i = 0; i < NC; i++) q[i] = (real)(-6 - rng_uniform(&rng));
    for (int t = 0; t < 2; t++) {
        gx[t] = malloc((size_t)(NR * NH) * sizeof(real));
        gw[t] = malloc((size_t)(NC * NH) * sizeof(real));
    }
    for (int seq = 0; seq < 3; seq++)
        for (int kind = 0; kind < 3; kind++) {
            RowsCase c = {.o = {.target = target, .n_target = NR, .ids = ids, .n_groups = seq ? NG : NR, .k = NK,
                                .offsets = seq ? offsets : NULL, .log_q = kind == 1 ? q : NULL, .gbce = kind == 2,
                                .beta = (real)0.7, .recompute = seq == 2}};
            double l1 = run_case(&c, x, w, gx[1], gw[1]);
            c.reference = 1;
            double l0 = run_case(&c, x, w, gx[0], gw[0]);
            ck_assert_msg(fabs(l1 - l0) <= 1e-12 * fabs(l0), "scope %d kind %d: loss %.17g, reference %.17g", seq,
                          kind, l1, l0);
            test_assert_close("dx", gx[1], gx[0], NR * NH, 1e-15, 1e-10);
            test_assert_close("dw", gw[1], gw[0], NC * NH, 1e-15, 1e-10);
        }
    for (int t = 0; t < 2; t++) free(gx[t]), free(gw[t]);
    free(target), free(ids), free(offsets), free(q);
    tensor_free(x);
    tensor_free(w);
}
END_TEST

/* Per sequence, w's gradient is summed a band of 32 columns and four candidates at a time: H = 40 (a band and 8
 * more columns), K = 258 (four at a time and 2 more), and 60 items, so that about 18 blocks of four candidates
 * repeat a row (summed one at a time); kept and recomputed, softmax and gBCE. */
START_TEST(sampled_rows_bands_of_four_equal_the_reference) {
    int64_t NR = 40, NH = 40, NC = 60, NK = 258, NG = 3, offsets[4] = {0, 9, 9, 40};
    Tensor *x = test_param(test_uniform(23, NN_SHAPE(NR, NH), -2, 2));
    Tensor *w = test_param(test_uniform(24, NN_SHAPE(NC, NH), -2, 2));
    int64_t target[40], ids[3 * 258];
    real *gx[2], *gw[2];
    Rng rng = rng_new(25, 0);
    for (int64_t r = 0; r < NR; r++) target[r] = r % 7 == 3 ? 0 : 1 + (int64_t)rng_below(&rng, NC - 1);
    for (int64_t i = 0; i < NG * NK; i++) ids[i] = 1 + (int64_t)rng_below(&rng, NC - 1);
    for (int t = 0; t < 2; t++) {
        gx[t] = malloc((size_t)(NR * NH) * sizeof(real));
        gw[t] = malloc((size_t)(NC * NH) * sizeof(real));
    }
    for (int kind = 0; kind < 4; kind++) {
        RowsCase c = {.o = {.target = target, .n_target = NR, .ids = ids, .n_groups = NG, .k = NK, .offsets = offsets,
                            .gbce = kind % 2, .beta = (real)0.7, .recompute = kind / 2}};
        double l1 = run_case(&c, x, w, gx[1], gw[1]);
        c.reference = 1;
        double l0 = run_case(&c, x, w, gx[0], gw[0]);
        ck_assert_msg(fabs(l1 - l0) <= 1e-12 * fabs(l0), "kind %d: loss %.17g, reference %.17g", kind, l1, l0);
        test_assert_close("dx", gx[1], gx[0], NR * NH, 1e-15, 1e-10);
        test_assert_close("dw", gw[1], gw[0], NC * NH, 1e-15, 1e-10);
    }
    for (int t = 0; t < 2; t++) free(gx[t]), free(gw[t]);
    tensor_free(x);
    tensor_free(w);
}
END_TEST

START_TEST(sampled_rows_identical_for_any_thread_count) {
    int64_t NR = test_quick() ? 400 : 1500, NH = 32, NC = 500, NK = 256; /* 400: still split among threads */
    Tensor *x = test_param(test_randn(16, NN_SHAPE(NR, NH)));
    Tensor *w = test_param(test_randn(17, NN_SHAPE(NC, NH)));
    int64_t *target = malloc((size_t)NR * sizeof *target), *ids = malloc((size_t)(NR * NK) * sizeof *ids);
    Rng rng = rng_new(18, 0);
    for (int64_t r = 0; r < NR; r++) target[r] = r % 7 == 0 ? 0 : 1 + (int64_t)rng_below(&rng, NC - 1);
    for (int64_t i = 0; i < NR * NK; i++) ids[i] = 1 + (int64_t)rng_below(&rng, NC - 1);
    int64_t NG = NR / 6, *offsets = malloc((size_t)(NG + 1) * sizeof *offsets);
    for (int64_t j = 0; j <= NG; j++) offsets[j] = j * j * NR / (NG * NG); /* growing sequences, the first empty */
    real *gx[3], *gw[3];
    double loss[3];
    int saved = nn_threads();
    for (int kind = 0; kind < 6; kind++) { /* per position, per sequence kept, per sequence recomputed */
        int seq = kind / 2;
        RowsCase c = {.o = {.target = target, .n_target = NR, .ids = ids, .n_groups = seq ? NG : NR, .k = NK,
                            .offsets = seq ? offsets : NULL, .gbce = kind % 2, .beta = (real)0.5,
                            .recompute = seq == 2}};
        for (int t = 0; t < 3; t++) {
            nn_set_threads(t + 1);
            gx[t] = malloc((size_t)(NR * NH) * sizeof(real));
            gw[t] = malloc((size_t)(NC * NH) * sizeof(real));
            loss[t] = run_case(&c, x, w, gx[t], gw[t]);
        }
        nn_set_threads(saved);
        for (int t = 1; t < 3; t++) {
            ck_assert(loss[t] == loss[0]);
            ck_assert(memcmp(gx[t], gx[0], (size_t)(NR * NH) * sizeof(real)) == 0);
            ck_assert(memcmp(gw[t], gw[0], (size_t)(NC * NH) * sizeof(real)) == 0);
        }
        for (int t = 0; t < 3; t++) free(gx[t]), free(gw[t]);
    }
    free(target), free(ids), free(offsets);
    tensor_free(x);
    tensor_free(w);
}
END_TEST

static Suite *grad_sampled_rows_suite(void) {
    Suite *s = suite_create("grad_sampled_rows");
    TCase *tc = tcase_create("ops");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, grad_sampled_rows_against_differences);
    tcase_add_test(tc, grad_sampled_rows_at_run_sizes);
    tcase_add_test(tc, sampled_rows_equals_the_reference);
    tcase_add_test(tc, sampled_rows_bands_of_four_equal_the_reference);
    tcase_add_test(tc, sampled_rows_identical_for_any_thread_count);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(grad_sampled_rows_suite)
