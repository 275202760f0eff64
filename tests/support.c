#include "tests/support.h"

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/memory.h"
#include "base/parallel.h"

int test_forking(void) {
    const char *f = getenv("CK_FORK");
    return !(f && strcmp(f, "no") == 0);
}

static void call_plain(void *fn) { (*(void (**)(void))fn)(); }

int test_abort_message(void (*fn)(void), char *msg, size_t cap) {
    ck_assert(cap > 0);
    int status = test_run_forked(call_plain, &fn, msg, cap);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

void test_assert_aborts(const char *what, void (*fn)(void), ...) {
    char msg[4096];
    int aborted = test_abort_message(fn, msg, sizeof msg);
    ck_assert_msg(aborted, "%s: did not abort; it printed:\n%s", what, msg);
    va_list ap;
    va_start(ap, fn);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *))
        ck_assert_msg(strstr(msg, s) != NULL, "%s: the message does not say \"%s\":\n%s", what, s, msg);
    va_end(ap);
}

int test_quick(void) {
    const char *q = getenv("NN_TEST_QUICK");
    return q && strcmp(q, "1") == 0;
}

Tensor *test_randn(uint64_t seed, int ndim, const int64_t *shape) {
    Rng r = rng_new(seed, 99);
    return tensor_normal(ndim, shape, 0, 1, &r);
}

Tensor *test_uniform(uint64_t seed, int ndim, const int64_t *shape, real lo, real hi) {
    Rng r = rng_new(seed, 98);
    return tensor_uniform(ndim, shape, lo, hi, &r);
}

Tensor *test_param(Tensor *t) {
    tensor_set_requires_grad(t, 1);
    return t;
}

static void gradcheck_with(const char *what, GradcheckFn f, void *ctx, int n, Tensor *const *inputs, double eps,
                           int64_t max_elems, int expect_zero) {
    GradcheckOptions o = gradcheck_defaults();
    o.expect_zero = expect_zero;
    if (eps > 0) o.eps = eps;
    o.max_elems = max_elems;
    GradcheckResult r = gradcheck(f, ctx, n, inputs, &o);
    ck_assert_msg(r.checked > 0, "%s: no element was checked", what);
    ck_assert_msg(r.passed,
                  "%s: %lld of %lld gradient elements wrong; worst: input %d element %lld analytic %.10g numeric %.10g",
                  what, (long long)r.failures, (long long)r.checked, r.worst_input, (long long)r.worst_index,
                  r.worst_analytic, r.worst_numeric);
}

void test_gradcheck_eps(const char *what, GradcheckFn f, void *ctx, int n, Tensor *const *inputs, double eps) {
    gradcheck_with(what, f, ctx, n, inputs, eps, 0, 0);
}

void test_gradcheck(const char *what, GradcheckFn f, void *ctx, int n, Tensor *const *inputs) {
    gradcheck_with(what, f, ctx, n, inputs, 0, 0, 0);
}

void test_gradcheck_zero(const char *what, GradcheckFn f, void *ctx, int n, Tensor *const *inputs) {
    gradcheck_with(what, f, ctx, n, inputs, 0, 0, 1);
}

void test_gradcheck_sampled(const char *what, GradcheckFn f, void *ctx, int n, Tensor *const *inputs, int64_t max_elems,
                            double eps) {
    gradcheck_with(what, f, ctx, n, inputs, eps, max_elems, 0);
}

void test_directional(const char *what, GradcheckFn f, void *ctx, int n, Tensor *const *inputs, double eps) {
    DirectionalOptions o = gradcheck_directional_defaults();
    if (eps > 0) o.eps = eps;
    /* under NN_TEST_QUICK (valgrind, the sanitizers, coverage: checks of memory and of lines) one direction
     * runs every line the four do; make test and make mutate check the gradient's value in four */
    if (test_quick()) o.directions = 1;
    GradcheckResult r = gradcheck_directional(f, ctx, n, inputs, &o);
    const char *report = getenv("GRADCHECK_REPORT");
    if (report && strcmp(report, "1") == 0)
        printf("directional %-48s worst %.3g of the tolerance\n", what, r.worst_ratio);
    ck_assert_msg(r.checked > 0, "%s: no direction was checked", what);
    ck_assert_msg(r.passed, "%s: %lld of %lld directions wrong; worst: direction %lld analytic %.12g numeric %.12g (%.3g "
                  "times the tolerance)", what, (long long)r.failures, (long long)r.checked, (long long)r.worst_index,
                  r.worst_analytic, r.worst_numeric, r.worst_ratio);
}

void test_directional_threads(const char *what, GradcheckFn f, void *ctx, int n, Tensor *const *inputs, double eps) {
    int threads = nn_threads();
    for (int t = 1; t <= 2; t++) {
        char name[160];
        snprintf(name, sizeof name, "%s, %d thread%s", what, t, t > 1 ? "s" : "");
        nn_set_threads(t);
        test_directional(name, f, ctx, n, inputs, eps);
    }
    nn_set_threads(threads);
}

int test_module_inputs(Tensor **inputs, Tensor *x, const Module *m) {
    int n = 0;
    if (x) inputs[n++] = x;
    for (int i = 0; i < m->n_params; i++) inputs[n++] = m->params[i].value;
    return n;
}

void test_randomise(Module *m, uint64_t seed, real std) {
    Rng r = rng_new(seed, 7);
    for (int i = 0; i < m->n_params; i++) init_normal(m->params[i].value, 0, std, &r);
}

TestBatch test_batch(int64_t B, int64_t L, int64_t n_items, uint64_t seed) {
    TestBatch b = {B, L, 0, NULL, NULL, NULL, NULL, NULL, NULL};
    size_t n = (size_t)(B * L > 0 ? B * L : 1);
    b.dense_off = nn_malloc((size_t)(B + 1) * sizeof *b.dense_off);
    b.packed_off = nn_malloc((size_t)(B + 1) * sizeof *b.packed_off);
    b.key_valid = nn_malloc(n);
    b.istarget = nn_malloc(n * sizeof *b.istarget);
    b.ids = nn_malloc(n * sizeof *b.ids);
    b.packed_ids = nn_malloc(n * sizeof *b.packed_ids);
    Rng r = rng_new(seed, 2);
    b.dense_off[0] = b.packed_off[0] = 0;
    for (int64_t s = 0; s < B; s++) {
        int64_t len = s % 4 == 0 ? L : 1 + (int64_t)rng_below(&r, (uint64_t)L);
        for (int64_t t = 0, q = s * L; t < L; t++, q++) {
            b.key_valid[q] = t >= L - len;
            b.istarget[q] = b.key_valid[q];
            b.ids[q] = b.key_valid[q] ? 1 + (int64_t)rng_below(&r, (uint64_t)n_items) : 0;
            if (b.key_valid[q]) b.packed_ids[b.rows_packed++] = b.ids[q];
        }
        b.dense_off[s + 1] = (s + 1) * L;
        b.packed_off[s + 1] = b.rows_packed;
    }
    return b;
}

void test_batch_free(TestBatch *b) {
    free(b->dense_off);
    free(b->packed_off);
    free(b->key_valid);
    free(b->istarget);
    free(b->ids);
    free(b->packed_ids);
}

void test_free_all(int n, Tensor *const *ts) {
    for (int k = 0; k < n; k++) tensor_free(ts[k]);
}

void test_assert_close(const char *what, const real *a, const real *b, int64_t n, double atol, double rtol) {
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        ck_assert_msg(d <= atol + rtol * fabs((double)b[i]), "%s: element %lld is %.9g, expected %.9g", what,
                      (long long)i, (double)a[i], (double)b[i]);
    }
}

int test_run_forked(void (*fn)(void *ctx), void *ctx, char *out, size_t size) {
    int fd[2];
    ck_assert(pipe(fd) == 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], STDERR_FILENO);
        fn(ctx);
        _exit(0);
    }
    close(fd[1]);
    size_t n = 0;
    char sink[4096];
    for (;;) { /* read everything, keep what fits: the child must never block on a full pipe */
        ssize_t got = read(fd[0], n + 1 < size ? out + n : sink, n + 1 < size ? size - 1 - n : sizeof sink);
        if (got <= 0) break;
        if (n + 1 < size) n += (size_t)got;
    }
    close(fd[0]);
    out[n] = 0;
    int status;
    ck_assert(waitpid(pid, &status, 0) == pid);
    return status;
}
