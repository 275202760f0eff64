/* SGD's momentum buffers go into a checkpoint and come back: training resumed
 * from the file takes exactly the steps the uninterrupted run takes. A file
 * holding one optimizer's state is refused by the other, with a message
 * saying which loader takes it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autograd/op.h"
#include "nn/checkpoint.h"
#include "nn/layer_norm.h"
#include "nn/linear.h"
#include "tests/support.h"

typedef struct {
    Module m;
} Net;

static void net_init(Net *n, uint64_t seed) {
    module_init(&n->m, seed);
    linear_new(&n->m, "fc", 4, 3, 1);
    layer_norm_new(&n->m, "ln", 3, 1e-5);
}

/* Gradient k of parameter i: a fixed function of (k, i), the same in every run. */
static void set_grads(Net *n, Graph *g, int k) {
    for (int i = 0; i < n->m.n_params; i++) {
        Tensor *p = n->m.params[i].value, *r = test_randn((uint64_t)(100 * k + i), p->ndim, p->shape);
        tensor_copy(ag_grad(g, p), r);
        tensor_free(r);
    }
}

static void run_steps(Net *n, Sgd *s, int from, int to) {
    for (int k = from; k < to; k++) {
        Graph *g = graph_new();
        set_grads(n, g, k);
        sgd_step(s);
        graph_free(g);
    }
}

static int same_params(const Net *a, const Net *b) {
    for (int i = 0; i < a->m.n_params; i++)
        if (memcmp(a->m.params[i].value->data, b->m.params[i].value->data,
                   (size_t)a->m.params[i].value->numel * sizeof(real)))
            return 0;
    return 1;
}

static const SgdConfig CFG = {.lr = (real)0.1, .momentum = (real)0.9, .dampening = (real)0.1};

START_TEST(sgd_momentum_survives_a_checkpoint_round_trip) {
    char dir[] = "/tmp/nn_sgd_XXXXXX", path[256];
    ck_assert(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    Net whole, first, resumed, cold;
    net_init(&whole, 1);
    net_init(&first, 1);
    net_init(&resumed, 2);
    net_init(&cold, 2);
    Sgd *sw = sgd_new(&whole.m, CFG), *sf = sgd_new(&first.m, CFG), *sr = sgd_new(&resumed.m, CFG),
        *sc = sgd_new(&cold.m, CFG);
    run_steps(&whole, sw, 0, 5);
    run_steps(&first, sf, 0, 3);
    NnError err;
    ck_assert_msg(checkpoint_save_sgd(path, &first.m, sf, 0, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_msg(checkpoint_load_sgd(path, &resumed.m, sr, &err) == 0, "%s", err.msg);
    ck_assert_msg(checkpoint_load(path, &cold.m, NULL, &err) == 0, "%s", err.msg); /* the model alone */
    for (int i = 0; i < first.m.n_params; i++)
        ck_assert(sr->buf[i] && memcmp(sr->buf[i]->data, sf->buf[i]->data,
                                       (size_t)sf->buf[i]->numel * sizeof(real)) == 0);
    run_steps(&resumed, sr, 3, 5);
    run_steps(&cold, sc, 3, 5);
    ck_assert_msg(same_params(&resumed, &whole), "resumed SGD differs from the uninterrupted run");
    ck_assert_msg(!same_params(&cold, &whole), "without its momentum the run should differ (the test sees nothing)");
    sgd_free(sw);
    sgd_free(sf);
    sgd_free(sr);
    sgd_free(sc);
    module_free(&whole.m);
    module_free(&first.m);
    module_free(&resumed.m);
    module_free(&cold.m);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* Loads path into a fresh Net with the given optimizer; -1 expected, message into err. */
static void expect_refused(const char *path, int adam, real momentum, const char *want) {
    Net n;
    net_init(&n, 3);
    NnError err;
    Adam *a = adam ? adam_new(&n.m, adam_defaults()) : NULL;
    Sgd *s = adam ? NULL : sgd_new(&n.m, (SgdConfig){.lr = (real)0.1, .momentum = momentum});
    real before = n.m.params[0].value->data[0];
    int rc = adam ? checkpoint_load(path, &n.m, a, &err) : checkpoint_load_sgd(path, &n.m, s, &err);
    ck_assert_msg(rc == -1, "loading %s should be refused", path);
    ck_assert_msg(strstr(err.msg, want), "message '%s' lacks '%s'", err.msg, want);
    ck_assert(n.m.params[0].value->data[0] == before);
    adam_free(a);
    sgd_free(s);
    module_free(&n.m);
}

START_TEST(a_checkpoint_refuses_the_other_optimizer) {
    char dir[] = "/tmp/nn_sgd_XXXXXX", sgd_path[256], adam_path[256], bare_path[256];
    ck_assert(mkdtemp(dir) != NULL);
    snprintf(sgd_path, sizeof sgd_path, "%s/sgd.safetensors", dir);
    snprintf(adam_path, sizeof adam_path, "%s/adam.safetensors", dir);
    snprintf(bare_path, sizeof bare_path, "%s/bare.safetensors", dir);
    Net n;
    net_init(&n, 4);
    Sgd *s = sgd_new(&n.m, CFG);
    Adam *a = adam_new(&n.m, adam_defaults());
    run_steps(&n, s, 0, 1);
    NnError err;
    ck_assert_msg(checkpoint_save_sgd(sgd_path, &n.m, s, 0, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_msg(checkpoint_save(adam_path, &n.m, a, 0, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_msg(checkpoint_save(bare_path, &n.m, NULL, 0, NULL, NULL, &err) == 0, "%s", err.msg);
    expect_refused(sgd_path, 1, 0, "holds SGD's momentum buffers, not Adam's state: load it with checkpoint_load_sgd");
    expect_refused(adam_path, 0, (real)0.9, "holds Adam's state, not SGD's momentum buffers: load it with "
                                            "checkpoint_load and an Adam");
    expect_refused(bare_path, 0, (real)0.9, "holds no optimizer state (it was saved without one)");
    expect_refused(sgd_path, 0, 0, "holds 4 momentum buffers, but this SGD has momentum 0");
    sgd_free(s);
    adam_free(a);
    module_free(&n.m);
    unlink(sgd_path);
    unlink(adam_path);
    unlink(bare_path);
    rmdir(dir);
}
END_TEST

/* An SGD without momentum has no buffers; its checkpoint loads into another such SGD. */
START_TEST(sgd_without_momentum_round_trips_with_no_buffers) {
    char dir[] = "/tmp/nn_sgd_XXXXXX", path[256];
    ck_assert(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/plain.safetensors", dir);
    Net a, b;
    net_init(&a, 5);
    net_init(&b, 6);
    Sgd *sa = sgd_new(&a.m, (SgdConfig){.lr = (real)0.1}), *sb = sgd_new(&b.m, (SgdConfig){.lr = (real)0.1});
    run_steps(&a, sa, 0, 2);
    NnError err;
    ck_assert_msg(checkpoint_save_sgd(path, &a.m, sa, 0, NULL, NULL, &err) == 0, "%s", err.msg);
    ck_assert_msg(checkpoint_load_sgd(path, &b.m, sb, &err) == 0, "%s", err.msg);
    ck_assert(same_params(&a, &b));
    for (int i = 0; i < b.m.n_params; i++) ck_assert(sb->buf[i] == NULL);
    sgd_free(sa);
    sgd_free(sb);
    module_free(&a.m);
    module_free(&b.m);
    unlink(path);
    rmdir(dir);
}
END_TEST

static Suite *checkpoint_sgd_suite(void) {
    Suite *s = suite_create("checkpoint_sgd");
    TCase *tc = tcase_create("sgd");
    tcase_add_test(tc, sgd_momentum_survives_a_checkpoint_round_trip);
    tcase_add_test(tc, a_checkpoint_refuses_the_other_optimizer);
    tcase_add_test(tc, sgd_without_momentum_round_trips_with_no_buffers);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(checkpoint_sgd_suite)
