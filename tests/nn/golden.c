#include "tests/nn/golden.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "autograd/op.h"
#include "base/error.h"
#include "base/memory.h"
#include "nn/embedding.h"
#include "nn/layer_norm.h"
#include "nn/loss.h"
#include "nn/optim.h"

/* ---- fixtures ---- */

void fx_free(Fixture *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) free(f->e[i].v);
    free(f->e);
    safetensors_free(f->st);
    free(f);
}

/* Little-endian bytes of one element as a double. */
static double decode(StDtype dtype, const unsigned char *p) {
    uint64_t bits = 0;
    int size = st_dtype_size(dtype);
    for (int b = size - 1; b >= 0; b--) bits = bits << 8 | p[b];
    if (dtype == ST_I64) return (double)(int64_t)bits;
    if (dtype == ST_F32) {
        uint32_t w = (uint32_t)bits;
        float x;
        memcpy(&x, &w, sizeof x);
        return x;
    }
    double x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

Fixture *fx_load_path(const char *path, const char *name, NnError *err) {
    SafeTensors *st = safetensors_read(path, err);
    if (!st) return NULL;
    Fixture *f = nn_calloc(1, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    f->st = st;
    f->n = safetensors_count(st);
    f->e = nn_calloc((size_t)(f->n ? f->n : 1), sizeof *f->e);
    for (int i = 0; i < f->n; i++) {
        FxEntry *e = &f->e[i];
        const int64_t *shape;
        StDtype dtype = safetensors_dtype(st, i);
        e->name = safetensors_name(st, i);
        e->ndim = safetensors_shape(st, i, &shape);
        if ((dtype != ST_F32 && dtype != ST_F64 && dtype != ST_I64) || e->ndim > TENSOR_MAX_DIMS) {
            nn_fail(err, "%s: tensor '%s' is %s with %d dims; fixtures hold F32, F64 and I64 of at most %d dims "
                    "(regenerate with %s)", path, e->name, st_dtype_name(dtype), e->ndim, TENSOR_MAX_DIMS, REGENERATE);
            fx_free(f);
            return NULL;
        }
        e->is_int = dtype == ST_I64;
        e->stored_f32 = dtype == ST_F32;
        memcpy(e->shape, shape, (size_t)e->ndim * sizeof *shape);
        e->n = shape_numel(e->ndim, e->shape);
        const unsigned char *raw = safetensors_raw(st, i, NULL);
        e->v = nn_malloc((size_t)(e->n ? e->n : 1) * sizeof *e->v);
        for (int64_t k = 0; k < e->n; k++) e->v[k] = decode(dtype, raw + k * st_dtype_size(dtype));
    }
    return f;
}

Fixture *fx_load(const char *name, NnError *err) {
    char path[256];
    snprintf(path, sizeof path, FIXTURE_DIR "%s.safetensors", name);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        nn_fail(err,
                "cannot open fixture %s (%s): run the tests from the repository root; the fixtures are "
                "committed, regenerate them with %s",
                path, strerror(errno), REGENERATE);
        return NULL;
    }
    fclose(fp);
    return fx_load_path(path, name, err);
}

Fixture *fx_open(const char *name) {
    NnError err;
    Fixture *f = fx_load(name, &err);
    ck_assert_msg(f != NULL, "%s", err.msg);
    return f;
}

const FxEntry *fx_find(const Fixture *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->e[i].name, name) == 0) return &f->e[i];
    return NULL;
}

const FxEntry *fx_get(const Fixture *f, const char *name) {
    const FxEntry *e = fx_find(f, name);
    ck_assert_msg(e != NULL, "fixture %s has no entry '%s' (regenerate with %s)", f->name, name, REGENERATE);
    return e;
}

double fx_scalar(const Fixture *f, const char *name) {
    const FxEntry *e = fx_get(f, name);
    ck_assert_msg(e->n == 1, "fixture %s: '%s' should hold one value, has %lld", f->name, name, (long long)e->n);
    return e->v[0];
}

int64_t *fx_ints(const Fixture *f, const char *name, int64_t *n) {
    const FxEntry *e = fx_get(f, name);
    ck_assert_msg(e->is_int, "fixture %s: '%s' is not an I64 entry", f->name, name);
    int64_t *out = nn_malloc((size_t)(e->n ? e->n : 1) * sizeof *out);
    for (int64_t i = 0; i < e->n; i++) out[i] = (int64_t)e->v[i];
    if (n) *n = e->n;
    return out;
}

void fx_fill(const Fixture *f, const char *name, Tensor *t) {
    NnError err;
    const FxEntry *e = fx_get(f, name);
    /* inputs are float32 values (the double build reads the same values) */
    ck_assert_msg(e->stored_f32, "fixture %s: '%s' is an input and should be F32", f->name, name);
    ck_assert_msg(safetensors_load_into(f->st, name, t, &err) == 0, "fixture %s: %s", f->name, err.msg);
}

Tensor *fx_tensor(const Fixture *f, const char *name) {
    const FxEntry *e = fx_get(f, name);
    Tensor *t = tensor_zeros(e->ndim, e->shape);
    fx_fill(f, name, t);
    return t;
}

Tensor *fx_input(const Fixture *f) { return test_param(fx_tensor(f, "x")); }

unsigned char *fx_key_valid(const Fixture *f) {
    int64_t n, *kv = fx_ints(f, "key_valid", &n);
    unsigned char *out = nn_malloc((size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) out[i] = kv[i] != 0;
    free(kv);
    return out;
}

/* ---- comparison ---- */

#ifdef NN_DOUBLE
/* The Makefile builds the golden suites in float only; compiled with -DNN_DOUBLE against libnn64.a
 * they check the logic alone, to the 16 digits of F64 references (8 of F32 ones, see below). */
const Tol TOL_LAYER = {1e-8, 1e-9, 0};
const Tol TOL_OPTIM = {1e-8, 0, 1e-8};
#else
const Tol TOL_LAYER = {1e-5, 1e-6, 0};
/* Optimizer state: parameters to 1e-6; moments can be tiny (v ~ g^2) or cancel (m), so their floor
 * follows the tensor's own scale. */
const Tol TOL_OPTIM = {1e-6, 0, 1e-6};
#endif

int golden_report(void) {
    const char *r = getenv("GOLDEN_REPORT");
    return r && strcmp(r, "1") == 0;
}

void fx_check_tol(const Fixture *f, const char *name, const Tensor *actual, Tol tol) {
    const FxEntry *e = fx_get(f, name);
    if (actual)
        ck_assert_msg(shape_equal(e->ndim, e->shape, actual->ndim, actual->shape), "%s: '%s' has shape %s, expected %s",
                      f->name, name, shape_str(actual->ndim, actual->shape).s, shape_str(e->ndim, e->shape).s);
    if (e->stored_f32 && tol.rtol < 1.2e-7) tol.rtol = 1.2e-7; /* a reference rounded to float32 */
    double big = 0;
    for (int64_t i = 0; i < e->n; i++) big = fmax(big, fabs(e->v[i]));
    double floor_ = tol.atol + tol.arel * big, worst_ratio = 0, worst_rel = 0, worst_abs = 0;
    int64_t worst = 0;
    for (int64_t i = 0; i < e->n; i++) {
        double a = actual ? (double)actual->data[tensor_offset_of(actual, i)] : 0, b = e->v[i], d = fabs(a - b);
        double ratio = d / (tol.rtol * fabs(b) + floor_);
        if (!(ratio <= worst_ratio)) worst_ratio = ratio, worst = i; /* NaN is the worst */
        if (fabs(b) >= 1e-3 * big && fabs(b) > 0) worst_rel = fmax(worst_rel, d / fabs(b));
        worst_abs = fmax(worst_abs, d);
    }
    if (golden_report())
        printf("golden %-24s %-32s max rel %.2e  max abs %.2e  %.3f of tolerance (floor %.1e)\n", f->name, name,
               worst_rel, worst_abs, worst_ratio, floor_);
    if (!(worst_ratio <= 1)) {
        double a = actual ? (double)actual->data[tensor_offset_of(actual, worst)] : 0;
        ck_abort_msg("%s: '%s' element %lld is %.9g, expected %.9g (|diff| %.3g, tolerance %.3g)", f->name, name,
                     (long long)worst, a, e->v[worst], fabs(a - e->v[worst]), tol.rtol * fabs(e->v[worst]) + floor_);
    }
}

void fx_check(const Fixture *f, const char *name, const Tensor *actual) { fx_check_tol(f, name, actual, TOL_LAYER); }

void fx_check_value(const Fixture *f, const char *name, double actual, Tol tol) {
    real v = (real)actual;
    Tensor t = tensor_wrap(&v, 0, NULL);
    fx_check_tol(f, name, &t, tol);
}

void fx_load_params(const Fixture *f, Module *m) {
    char key[256];
    int n_fixture = 0;
    for (int i = 0; i < f->n; i++) n_fixture += strncmp(f->e[i].name, "param.", 6) == 0;
    ck_assert_msg(n_fixture == m->n_params, "%s: the fixture has %d parameters, our module %d", f->name, n_fixture,
                  m->n_params);
    for (int i = 0; i < m->n_params; i++) {
        snprintf(key, sizeof key, "param.%s", m->params[i].name);
        fx_fill(f, key, m->params[i].value);
    }
}

void check_layer_ref(const Fixture *f, const char *prefix, Graph *g, const Module *m, Tensor *x, Tensor *y) {
    char key[256];
    /* A gradient that cancels to about zero (the key bias's is exactly zero: softmax ignores a
     * shift of a whole row) keeps the rounding error of the terms that cancelled, which are about
     * as large as the case's largest value: the absolute floor is 1e-6 of that. */
    size_t plen = strlen(prefix);
    double scale = 1;
    for (int i = 0; i < f->n; i++) {
        const char *name = f->e[i].name;
        if (strncmp(name, prefix, plen) || (strcmp(name + plen, "y") && strncmp(name + plen, "grad.", 5))) continue;
        for (int64_t k = 0; k < f->e[i].n; k++) scale = fmax(scale, fabs(f->e[i].v[k]));
    }
    Tol tol = {TOL_LAYER.rtol, TOL_LAYER.atol * scale, 0};
    snprintf(key, sizeof key, "%sy", prefix);
    fx_check_tol(f, key, y, tol);
    Tensor *W = fx_tensor(f, "W");
    ag_backward_with(g, y, W);
    tensor_free(W);
    if (x) {
        snprintf(key, sizeof key, "%sgrad.x", prefix);
        fx_check_tol(f, key, x->grad, tol);
    }
    for (int i = 0; i < m->n_params; i++) {
        snprintf(key, sizeof key, "%sgrad.%s", prefix, m->params[i].name);
        fx_check_tol(f, key, m->params[i].value->grad, tol);
    }
}

void check_layer(const Fixture *f, Graph *g, const Module *m, Tensor *x, Tensor *y) {
    check_layer_ref(f, "", g, m, x, y);
}

/* ---- layers ---- */

void golden_layernorm_case(const char *name) {
    Fixture *f = fx_open(name);
    Module m;
    module_init(&m, 3);
    LayerNorm ln = layer_norm_new(&m, "ln", fx_get(f, "param.ln.weight")->shape[0], (real)fx_scalar(f, "eps"));
    fx_load_params(f, &m);
    Graph *g = graph_new();
    Tensor *x = fx_input(f);
    check_layer(f, g, &m, x, layer_norm_forward(&ln, g, x));
    graph_free(g);
    tensor_free(x);
    module_free(&m);
    fx_free(f);
}

void golden_embedding_case(const char *name) {
    Fixture *f = fx_open(name);
    const FxEntry *w = fx_get(f, "param.emb.weight"), *idse = fx_get(f, "ids");
    int64_t *pad = fx_ints(f, "padding_idx", NULL), *ids = fx_ints(f, "ids", NULL);
    Module m;
    module_init(&m, 2);
    Embedding e = embedding_new(&m, "emb", w->shape[0], w->shape[1], pad[0]);
    fx_load_params(f, &m); /* the padding row is nonzero, as after S3-Rec's init */
    Graph *g = graph_new();
    check_layer(f, g, &m, NULL, embedding_forward(&e, g, ids, idse->ndim, idse->shape));
    /* the padding row's gradient is exactly zero */
    for (int64_t j = 0; j < w->shape[1]; j++) ck_assert(e.weight->grad->data[pad[0] * w->shape[1] + j] == 0);
    graph_free(g);
    free(pad);
    free(ids);
    module_free(&m);
    fx_free(f);
}

/* ---- losses ---- */

/* Backpropagates dy = W (a scalar) from the loss and compares it and the gradients of the inputs. */
void check_loss(const Fixture *f, Graph *g, Tensor *loss, int n, Tensor *const *in, const char *const *names) {
    char key[128];
    fx_check(f, "y", loss);
    Tensor *W = fx_tensor(f, "W");
    ag_backward_with(g, loss, W);
    tensor_free(W);
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "grad.%s", names[i]);
        fx_check(f, key, in[i]->grad);
    }
}

void golden_bce_case(const char *name) {
    Fixture *f = fx_open(name);
    const char *names[] = {"pos_logits", "neg_logits"};
    Tensor *in[2] = {test_param(fx_tensor(f, names[0])), test_param(fx_tensor(f, names[1]))};
    Tensor *mask = fx_tensor(f, "istarget");
    Graph *g = graph_new();
    check_loss(f, g, loss_bce_pos_neg(g, in[0], in[1], mask), 2, in, names);
    graph_free(g);
    test_free_all(2, in);
    tensor_free(mask);
    fx_free(f);
}

void golden_ce_case(const char *name) {
    Fixture *f = fx_open(name);
    const char *names[] = {"logits"};
    Tensor *logits = test_param(fx_tensor(f, "logits"));
    int64_t n_target;
    int64_t *target = fx_ints(f, "target", &n_target), *ignore = fx_ints(f, "ignore_index", NULL);
    Graph *g = graph_new();
    check_loss(f, g, loss_cross_entropy(g, logits, target, n_target, ignore[0]), 1, &logits, names);
    graph_free(g);
    tensor_free(logits);
    free(target);
    free(ignore);
    fx_free(f);
}

/* ---- optimizers ---- */

/* Sets each parameter's gradient to "step<k>.grad.<name>"; parameters without one keep no gradient. */
void set_step_grads(const Fixture *f, Module *m, int k) {
    char key[256];
    for (int i = 0; i < m->n_params; i++) {
        snprintf(key, sizeof key, "step%d.grad.%s", k, m->params[i].name);
        if (!fx_find(f, key)) {
            ck_assert_msg(m->params[i].value->grad == NULL, "%s: %s has no gradient at step %d after having one",
                          f->name, m->params[i].name, k);
            continue;
        }
        /* a leaf's gradient buffer is owned by the leaf, so any graph can make it */
        Graph *g = graph_new();
        fx_fill(f, key, ag_grad(g, m->params[i].value));
        graph_free(g);
    }
}

/* Compares "step<k>.<what>.<name>" with state[i] for every parameter; a state torch never made must be zero or absent.
 */
void check_state(const Fixture *f, const Module *m, int k, const char *what, Tensor *const *state) {
    char key[256];
    for (int i = 0; i < m->n_params; i++) {
        snprintf(key, sizeof key, "step%d.%s.%s", k, what, m->params[i].name);
        const Tensor *s = state ? state[i] : NULL;
        if (fx_find(f, key)) {
            ck_assert_msg(s != NULL, "%s: we have no %s for %s at step %d", f->name, what, m->params[i].name, k);
            fx_check_tol(f, key, s, TOL_OPTIM);
        } else if (s) {
            for (int64_t j = 0; j < s->numel; j++)
                ck_assert_msg(s->data[j] == 0, "%s: %s of %s is nonzero at step %d, torch has none", f->name, what,
                              m->params[i].name, k);
        }
    }
}

Tensor *const *param_values(const Module *m, Tensor **out) {
    for (int i = 0; i < m->n_params; i++) out[i] = m->params[i].value;
    return out;
}

void golden_adam_case(const char *name, void (*params)(Module *m)) {
    char key[256];
    Fixture *f = fx_open(name);
    Module m;
    module_init(&m, 8);
    params(&m);
    fx_load_params(f, &m);
    int steps = 0;
    do snprintf(key, sizeof key, "step%d.param.%s", ++steps, m.params[0].name);
    while (fx_find(f, key));
    steps--;
    ck_assert_msg(steps > 0, "%s: no step<k>.param entries", name);
    AdamConfig cfg = {fx_scalar(f, "lr"),  fx_scalar(f, "beta1"),        fx_scalar(f, "beta2"),
                      fx_scalar(f, "eps"), fx_scalar(f, "weight_decay"), (int)fx_scalar(f, "decoupled"), 0, 0};
    if (fx_find(f, "no_decay") && fx_scalar(f, "no_decay") != 0) cfg.no_decay = OPTIM_NO_DECAY_USUAL;
    Adam *a = adam_new(&m, cfg);
    Tensor **values = nn_malloc((size_t)m.n_params * sizeof *values);
    for (int k = 1; k <= steps; k++) {
        set_step_grads(f, &m, k);
        adam_step(a);
        check_state(f, &m, k, "param", param_values(&m, values));
        check_state(f, &m, k, "m", a->m);
        check_state(f, &m, k, "v", a->v);
    }
    free(values);
    adam_free(a);
    module_free(&m);
    fx_free(f);
}

