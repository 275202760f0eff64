/* Optimizers own state for the parameters their module had when they were
 * made. A parameter registered afterwards is refused with a message naming
 * it (in the step, and when a checkpoint would save or load the state),
 * never read past the end of that state. */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "autograd/op.h"
#include "nn/checkpoint.h"
#include "nn/linear.h"
#include "tests/support.h"

typedef enum { OPT_ADAM, OPT_ADAMW, OPT_SGD, OPT_CHECKPOINT } Which;

/* Builds a Linear, makes the optimizer, registers "late.weight", then steps (or saves). */
static void step_after_late_param(void *ctx) {
    Which which = *(Which *)ctx;
    Module m;
    module_init(&m, 1);
    linear_new(&m, "fc", 3, 2, 1);
    AdamConfig ac = adam_defaults();
    ac.decoupled = which == OPT_ADAMW;
    ac.weight_decay = which == OPT_ADAMW ? 0.01 : 0;
    Adam *a = which == OPT_SGD ? NULL : adam_new(&m, ac);
    Sgd *s = which == OPT_SGD ? sgd_new(&m, (SgdConfig){.lr = 0.1, .momentum = 0.9}) : NULL;
    Tensor *late = module_param(&m, "late", "weight", PARAM_WEIGHT, NN_SHAPE(4, 5));
    Graph *g = graph_new();
    tensor_fill(ag_grad(g, late), 1);
    for (int i = 0; i < 2; i++) tensor_fill(ag_grad(g, m.params[i].value), 1);
    if (which == OPT_SGD)
        sgd_step(s);
    else if (which == OPT_CHECKPOINT)
        checkpoint_save("/nonexistent-dir/x.safetensors", &m, a, 0, NULL, NULL, NULL);
    else
        adam_step(a);
}

static void expect_refusal(Which which, const char *op) {
    char err[4096];
    int status = test_run_forked(step_after_late_param, &which, err, sizeof err);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "%s: the child was not aborted (status %d): %s",
                  op, status, err);
    ck_assert_msg(strstr(err, op) && strstr(err, "parameter 'late.weight' was registered after the optimizer") &&
                      strstr(err, "first 2 of 3"),
                  "%s: the message does not name the late parameter: %s", op, err);
}

START_TEST(adam_refuses_a_parameter_registered_after_it) { expect_refusal(OPT_ADAM, "adam_step"); }
END_TEST

START_TEST(adamw_refuses_a_parameter_registered_after_it) { expect_refusal(OPT_ADAMW, "adam_step"); }
END_TEST

START_TEST(sgd_refuses_a_parameter_registered_after_it) { expect_refusal(OPT_SGD, "sgd_step"); }
END_TEST

START_TEST(checkpoint_refuses_optimizer_state_missing_a_parameter) {
    expect_refusal(OPT_CHECKPOINT, "checkpoint_save");
}
END_TEST

/* The check does not get in the way: a model built before its optimizer steps normally. */
START_TEST(optimizers_step_when_built_after_the_model) {
    Module m;
    module_init(&m, 2);
    Linear l = linear_new(&m, "fc", 3, 2, 1);
    Adam *a = adam_new(&m, adam_defaults());
    Sgd *s = sgd_new(&m, (SgdConfig){.lr = 0.1});
    Graph *g = graph_new();
    tensor_fill(ag_grad(g, l.weight), 1);
    real before = l.weight->data[0];
    adam_step(a);
    sgd_step(s);
    ck_assert(l.weight->data[0] < before - (real)0.1);
    graph_free(g);
    adam_free(a);
    sgd_free(s);
    module_free(&m);
}
END_TEST

static Suite *optim_params_suite(void) {
    Suite *s = suite_create("optim_params");
    TCase *tc = tcase_create("params");
    tcase_add_test(tc, optimizers_step_when_built_after_the_model);
    tcase_add_test(tc, adam_refuses_a_parameter_registered_after_it);
    tcase_add_test(tc, adamw_refuses_a_parameter_registered_after_it);
    tcase_add_test(tc, sgd_refuses_a_parameter_registered_after_it);
    tcase_add_test(tc, checkpoint_refuses_optimizer_state_missing_a_parameter);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(optim_params_suite)
