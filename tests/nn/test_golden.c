/* Golden values from PyTorch: every nn layer, loss and optimizer compared
 * with the fixtures in tests/fixtures/ (written by
 * tests/fixtures/gen_fixtures.py, which documents the format and the names).
 *
 * Each layer case loads PyTorch's weights into our layer by our parameter
 * names, runs the forward pass on the fixture's input, backpropagates
 * dy = W (the gradient of sum(W * y)) and compares the output, the input
 * gradient and every parameter gradient. The references are float64 results
 * from float32 inputs, so a difference is our float32 rounding (or a bug).
 *
 * GOLDEN_REPORT=1 prints the worst error of every comparison. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/embedding.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "nn/transformer_block.h"
#include "base/error.h"
#include "tests/support.h"

#define FIXTURE_DIR "tests/fixtures/"
#define REGENERATE  "/usr/bin/python3 tests/fixtures/gen_fixtures.py"

/* ---- fixtures ---- */

typedef struct {
    char *name;
    int is_int;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    int64_t n;
    double *v; /* (n) values in row-major order; int entries too */
} FxEntry;

typedef struct {
    char name[64]; /* the case, e.g. "linear_bias" */
    int n, cap;
    FxEntry *e;
} Fixture;

static void fx_free(Fixture *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) {
        free(f->e[i].name);
        free(f->e[i].v);
    }
    free(f->e);
    free(f);
}

/* Parses a fixture's text; NULL with a message in err on a malformed file. */
static Fixture *fx_parse(const char *name, const char *text, NnError *err) {
    Fixture *f = nn_calloc(1, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    const char *p = text;
    int line = 1;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') line += *p++ == '\n';
        if (!*p) break;
        const char *eol = strchr(p, '\n');
        if (!eol) eol = p + strlen(p);
        if (*p == '#') {
            p = eol;
            continue;
        }
        /* header: "real|int <name> <dims...>" */
        char head[256], kind[16], key[128];
        int used = 0;
        size_t len = (size_t)(eol - p) < sizeof head ? (size_t)(eol - p) : sizeof head - 1;
        memcpy(head, p, len);
        head[len] = 0;
        if (sscanf(head, "%15s %127s%n", kind, key, &used) != 2 || (strcmp(kind, "real") && strcmp(kind, "int"))) {
            nn_fail(err, "%s line %d: expected 'real <name> <dims>' or 'int <name> <dims>', got '%s'", name, line,
                    head);
            goto fail;
        }
        if (f->n == f->cap) {
            f->cap = f->cap ? 2 * f->cap : 32;
            f->e = nn_realloc(f->e, (size_t)f->cap * sizeof *f->e);
        }
        FxEntry *e = &f->e[f->n++];
        memset(e, 0, sizeof *e);
        e->name = strcpy(nn_malloc(strlen(key) + 1), key);
        e->is_int = kind[0] == 'i';
        e->n = 1;
        for (char *d = head + used, *end;; d = end) {
            long long size = strtoll(d, &end, 10);
            if (end == d) break;
            if (e->ndim == TENSOR_MAX_DIMS || size < 0) {
                nn_fail(err, "%s line %d: bad shape for '%s'", name, line, key);
                goto fail;
            }
            e->shape[e->ndim++] = size;
            e->n *= size;
        }
        p = eol;
        e->v = nn_malloc((size_t)(e->n ? e->n : 1) * sizeof *e->v);
        for (int64_t i = 0; i < e->n; i++) {
            char *end;
            e->v[i] = strtod(p, &end);
            if (end == p) {
                nn_fail(err, "%s: entry '%s' has %lld values, its shape needs %lld", name, key, (long long)i,
                        (long long)e->n);
                goto fail;
            }
            for (; p < end; p++) line += *p == '\n';
        }
        while (*p == ' ' || *p == '\t' || *p == '\r') p++;
        if (*p && *p != '\n') {
            nn_fail(err, "%s line %d: entry '%s' has more values than its shape (%lld)", name, line, key,
                    (long long)e->n);
            goto fail;
        }
    }
    return f;
fail:
    fx_free(f);
    return NULL;
}

/* Reads tests/fixtures/<name>.txt (tests run from the repository root). */
static Fixture *fx_load(const char *name, NnError *err) {
    char path[256];
    snprintf(path, sizeof path, FIXTURE_DIR "%s.txt", name);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        nn_fail(err,
                "cannot open fixture %s (%s): run the tests from the repository root; the fixtures are "
                "committed, regenerate them with %s",
                path, strerror(errno), REGENERATE);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0, got;
    char *text = nn_malloc(cap);
    while ((got = fread(text + n, 1, cap - n - 1, fp)) > 0) {
        n += got;
        if (n + 1 == cap) text = nn_realloc(text, cap *= 2);
    }
    fclose(fp);
    text[n] = 0;
    Fixture *f = fx_parse(name, text, err);
    free(text);
    return f;
}

/* The fixture, or a failed test naming the problem. */
static Fixture *fx_open(const char *name) {
    NnError err;
    Fixture *f = fx_load(name, &err);
    ck_assert_msg(f != NULL, "%s", err.msg);
    return f;
}

static const FxEntry *fx_find(const Fixture *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->e[i].name, name) == 0) return &f->e[i];
    return NULL;
}

static const FxEntry *fx_get(const Fixture *f, const char *name) {
    const FxEntry *e = fx_find(f, name);
    ck_assert_msg(e != NULL, "fixture %s has no entry '%s' (regenerate with %s)", f->name, name, REGENERATE);
    return e;
}

static double fx_scalar(const Fixture *f, const char *name) {
    const FxEntry *e = fx_get(f, name);
    ck_assert_msg(e->n == 1, "fixture %s: '%s' should hold one value, has %lld", f->name, name, (long long)e->n);
    return e->v[0];
}

/* An int entry as a malloc'd array of n values. */
static int64_t *fx_ints(const Fixture *f, const char *name, int64_t *n) {
    const FxEntry *e = fx_get(f, name);
    ck_assert_msg(e->is_int, "fixture %s: '%s' is not an int entry", f->name, name);
    int64_t *out = nn_malloc((size_t)(e->n ? e->n : 1) * sizeof *out);
    for (int64_t i = 0; i < e->n; i++) out[i] = (int64_t)e->v[i];
    if (n) *n = e->n;
    return out;
}

/* Copies a real entry into t, whose shape must match. */
static void fx_fill(const Fixture *f, const char *name, Tensor *t) {
    const FxEntry *e = fx_get(f, name);
    ck_assert_msg(!e->is_int && shape_equal(e->ndim, e->shape, t->ndim, t->shape),
                  "fixture %s: '%s' has shape %s, our tensor %s", f->name, name, shape_str(e->ndim, e->shape).s,
                  shape_str(t->ndim, t->shape).s);
    /* inputs are float32 values (the double build rounds them too, to see exactly what the float build sees) */
    for (int64_t i = 0; i < e->n; i++) t->data[tensor_offset_of(t, i)] = (real)(float)e->v[i];
}

/* A new owned tensor holding a real entry. */
static Tensor *fx_tensor(const Fixture *f, const char *name) {
    const FxEntry *e = fx_get(f, name);
    Tensor *t = tensor_zeros(e->ndim, e->shape);
    fx_fill(f, name, t);
    return t;
}

/* ---- comparison ---- */

/* Element i passes when |actual - expected| <= rtol |expected| + atol + arel max|expected|. */
typedef struct {
    double rtol, atol, arel;
} Tol;

#ifdef NN_DOUBLE
/* The Makefile builds this suite in float only; compiled with -DNN_DOUBLE against libnn64.a it
 * checks the logic alone, to the 9 digits the references are written with. */
static const Tol TOL_LAYER = {1e-8, 1e-9, 0};
static const Tol TOL_OPTIM = {1e-8, 0, 1e-8};
#else
static const Tol TOL_LAYER = {1e-5, 1e-6, 0};
/* Optimizer state: parameters to 1e-6; moments can be tiny (v ~ g^2) or cancel (m), so their floor
 * follows the tensor's own scale. */
static const Tol TOL_OPTIM = {1e-6, 0, 1e-6};
#endif

static int report_on(void) {
    const char *r = getenv("GOLDEN_REPORT");
    return r && strcmp(r, "1") == 0;
}

/* Compares actual (NULL: all zeros, e.g. a gradient never made) with entry name. */
static void fx_check_tol(const Fixture *f, const char *name, const Tensor *actual, Tol tol) {
    const FxEntry *e = fx_get(f, name);
    if (actual)
        ck_assert_msg(shape_equal(e->ndim, e->shape, actual->ndim, actual->shape), "%s: '%s' has shape %s, expected %s",
                      f->name, name, shape_str(actual->ndim, actual->shape).s, shape_str(e->ndim, e->shape).s);
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
    if (report_on())
        printf("golden %-24s %-32s max rel %.2e  max abs %.2e  %.3f of tolerance (floor %.1e)\n", f->name, name,
               worst_rel, worst_abs, worst_ratio, floor_);
    if (!(worst_ratio <= 1)) {
        double a = actual ? (double)actual->data[tensor_offset_of(actual, worst)] : 0;
        ck_abort_msg("%s: '%s' element %lld is %.9g, expected %.9g (|diff| %.3g, tolerance %.3g)", f->name, name,
                     (long long)worst, a, e->v[worst], fabs(a - e->v[worst]), tol.rtol * fabs(e->v[worst]) + floor_);
    }
}

static void fx_check(const Fixture *f, const char *name, const Tensor *actual) {
    fx_check_tol(f, name, actual, TOL_LAYER);
}

static void fx_check_value(const Fixture *f, const char *name, double actual, Tol tol) {
    real v = (real)actual;
    Tensor t = tensor_wrap(&v, 0, NULL);
    fx_check_tol(f, name, &t, tol);
}

/* Loads "param.<name>" into every parameter of m; the fixture must have no other parameters. */
static void fx_load_params(const Fixture *f, Module *m) {
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

/* Backpropagates dy = W from y, then compares y, x's gradient (x may be NULL) and every parameter's
 * gradient with the references "<prefix>y", "<prefix>grad.x" and "<prefix>grad.<param>". */
static void check_layer_ref(const Fixture *f, const char *prefix, Graph *g, const Module *m, Tensor *x, Tensor *y) {
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

static void check_layer(const Fixture *f, Graph *g, const Module *m, Tensor *x, Tensor *y) {
    check_layer_ref(f, "", g, m, x, y);
}

/* The fixture's input as a leaf that requires grad. */
static Tensor *fx_input(const Fixture *f) { return test_param(fx_tensor(f, "x")); }

/* ---- the fixture reader itself ---- */

START_TEST(golden_fixture_reader) {
    NnError err;
    ck_assert(fx_load("no_such_case", &err) == NULL);
    ck_assert_msg(strstr(err.msg, "tests/fixtures/no_such_case.txt") && strstr(err.msg, "gen_fixtures.py"), "%s",
                  err.msg);
    ck_assert(fx_parse("short", "real x 2 2\n 1 2 3\n", &err) == NULL && strstr(err.msg, "has 3 values"));
    ck_assert(fx_parse("long", "real x 2\n 1 2 3\n", &err) == NULL && strstr(err.msg, "more values"));
    ck_assert(fx_parse("kind", "float x 2\n 1 2\n", &err) == NULL && strstr(err.msg, "expected 'real"));
    Fixture *f = fx_parse("ok", "# comment\nreal s\n 2.5\nint ids 2 3\n 1 2 3\n 4 5 6\nreal e 0\n", &err);
    ck_assert_msg(f != NULL, "%s", err.msg);
    ck_assert(f->n == 3 && fx_scalar(f, "s") == 2.5 && fx_get(f, "ids")->n == 6 && fx_get(f, "e")->n == 0);
    int64_t n, *ids = fx_ints(f, "ids", &n);
    ck_assert(n == 6 && ids[5] == 6);
    free(ids);
    fx_free(f);
}
END_TEST

/* ---- layers ---- */

START_TEST(golden_linear) {
    const char *cases[] = {"linear_bias", "linear_nobias"};
    for (int c = 0; c < 2; c++) {
        Fixture *f = fx_open(cases[c]);
        const FxEntry *w = fx_get(f, "param.fc.weight");
        Module m;
        module_init(&m, 1);
        Linear l = linear_new(&m, "fc", w->shape[1], w->shape[0], fx_scalar(f, "bias") != 0);
        fx_load_params(f, &m);
        Graph *g = graph_new();
        Tensor *x = fx_input(f);
        check_layer(f, g, &m, x, linear_forward(&l, &m, g, x));
        graph_free(g);
        tensor_free(x);
        module_free(&m);
        fx_free(f);
    }
}
END_TEST

START_TEST(golden_embedding) {
    const char *cases[] = {"embedding_pad0", "embedding_pad3"};
    for (int c = 0; c < 2; c++) {
        Fixture *f = fx_open(cases[c]);
        const FxEntry *w = fx_get(f, "param.emb.weight"), *idse = fx_get(f, "ids");
        int64_t *pad = fx_ints(f, "padding_idx", NULL), *ids = fx_ints(f, "ids", NULL);
        Module m;
        module_init(&m, 2);
        Embedding e = embedding_new(&m, "emb", w->shape[0], w->shape[1], pad[0]);
        fx_load_params(f, &m); /* the padding row is nonzero, as after S3-Rec's init */
        Graph *g = graph_new();
        check_layer(f, g, &m, NULL, embedding_forward(&e, &m, g, ids, idse->ndim, idse->shape));
        /* the padding row's gradient is exactly zero */
        for (int64_t j = 0; j < w->shape[1]; j++) ck_assert(e.weight->grad->data[pad[0] * w->shape[1] + j] == 0);
        graph_free(g);
        free(pad);
        free(ids);
        module_free(&m);
        fx_free(f);
    }
}
END_TEST

START_TEST(golden_layernorm) {
    const char *cases[] = {"layernorm_eps1e-12", "layernorm_eps1e-5"};
    for (int c = 0; c < 2; c++) {
        Fixture *f = fx_open(cases[c]);
        Module m;
        module_init(&m, 3);
        LayerNorm ln = layer_norm_new(&m, "ln", fx_get(f, "param.ln.weight")->shape[0], (real)fx_scalar(f, "eps"));
        fx_load_params(f, &m);
        Graph *g = graph_new();
        Tensor *x = fx_input(f);
        check_layer(f, g, &m, x, layer_norm_forward(&ln, &m, g, x));
        graph_free(g);
        tensor_free(x);
        module_free(&m);
        fx_free(f);
    }
}
END_TEST

START_TEST(golden_feedforward) {
    const char *cases[] = {"feedforward_gelu", "feedforward_relu"};
    for (int c = 0; c < 2; c++) {
        Fixture *f = fx_open(cases[c]);
        const FxEntry *w1 = fx_get(f, "param.ffn.fc1.weight");
        Module m;
        module_init(&m, 4);
        FeedForward ff = feed_forward_new(&m, "ffn", w1->shape[1], w1->shape[0], c == 0 ? ACT_GELU : ACT_RELU);
        fx_load_params(f, &m);
        Graph *g = graph_new();
        Tensor *x = fx_input(f);
        check_layer(f, g, &m, x, feed_forward_forward(&ff, &m, g, x));
        graph_free(g);
        tensor_free(x);
        module_free(&m);
        fx_free(f);
    }
}
END_TEST

/* key_valid (B, L) of a fixture as bytes. */
static unsigned char *fx_key_valid(const Fixture *f) {
    int64_t n, *kv = fx_ints(f, "key_valid", &n);
    unsigned char *out = nn_malloc((size_t)n);
    for (int64_t i = 0; i < n; i++) out[i] = kv[i] != 0;
    free(kv);
    return out;
}

START_TEST(golden_multihead_attention) {
    const char *cases[] = {"attention_m10000", "attention_inf"};
    for (int c = 0; c < 2; c++)
        for (int fused = 1; fused >= 0; fused--) {
            Fixture *f = fx_open(cases[c]);
            int64_t *heads = fx_ints(f, "heads", NULL), *neg_inf = fx_ints(f, "neg_inf", NULL);
            unsigned char *kv = fx_key_valid(f);
            Tensor *x = fx_input(f);
            int64_t B = x->shape[0], L = x->shape[1], H = x->shape[2];
            Module m;
            module_init(&m, 5);
            /* evaluation mode: the attention dropout must be off */
            Attention a =
                attention_new(&m, "attn", H, (int)heads[0], 0.2, neg_inf[0] ? MASK_NEG_INF : MASK_MINUS_10000);
            module_train(&m, 0);
            fx_load_params(f, &m);
            Graph *g = graph_new();
            Tensor *y;
            SeqLayout layout = seq_layout_dense(g, B, L, kv, 1);
            if (fused)
                y = attention_forward(&a, &m, g, x, &layout);
            else
                y = attention_forward_unfused(&a, &m, g, x, &layout);
            snprintf(f->name, sizeof f->name, "%s/%s", cases[c], fused ? "fused" : "unfused");
            /* The unfused -10000 path adds -10000 in float32, as PyTorch's float32 module: that keeps
             * the scores of fully padded rows to 2^-11 only, and it has its own reference. */
            int rounded = !fused && sizeof(real) == sizeof(float) && fx_find(f, "unfused.y");
            check_layer_ref(f, rounded ? "unfused." : "", g, &m, x, y);
            graph_free(g);
            tensor_free(x);
            free(heads);
            free(neg_inf);
            free(kv);
            module_free(&m);
            fx_free(f);
        }
}
END_TEST

START_TEST(golden_transformer_block) {
    const char *cases[] = {"block_post", "block_pre"};
    for (int c = 0; c < 2; c++) {
        Fixture *f = fx_open(cases[c]);
        int64_t *heads = fx_ints(f, "heads", NULL), *neg_inf = fx_ints(f, "neg_inf", NULL);
        int64_t *pre = fx_ints(f, "pre_norm", NULL), *gelu = fx_ints(f, "gelu", NULL);
        unsigned char *kv = fx_key_valid(f);
        Tensor *x = fx_input(f);
        int64_t B = x->shape[0], L = x->shape[1], H = x->shape[2];
        TransformerBlockConfig cfg = {.hidden = H,
                                      .inner = fx_get(f, "param.block.ffn.fc1.weight")->shape[0],
                                      .heads = (int)heads[0],
                                      .dropout = 0.3, /* evaluation mode: both must be off */
                                      .attn_dropout = 0.2,
                                      .eps = (real)fx_scalar(f, "eps"),
                                      .act = gelu[0] ? ACT_GELU : ACT_RELU,
                                      .mask = neg_inf[0] ? MASK_NEG_INF : MASK_MINUS_10000,
                                      .norm = pre[0] ? NORM_PRE : NORM_POST};
        Module m;
        module_init(&m, 6);
        TransformerBlock t = transformer_block_new(&m, "block", &cfg);
        module_train(&m, 0); /* dropout off, as the reference in eval mode */
        fx_load_params(f, &m);
        Graph *g = graph_new();
        SeqLayout layout = seq_layout_dense(g, B, L, kv, 1);
        check_layer(f, g, &m, x, transformer_block_forward(&t, &m, g, x, &layout));
        graph_free(g);
        tensor_free(x);
        free(heads);
        free(neg_inf);
        free(pre);
        free(gelu);
        free(kv);
        module_free(&m);
        fx_free(f);
    }
}
END_TEST

/* Dropout's masks are not PyTorch's, so this checks its definition instead:
 * evaluation mode (or p = 0) is the identity; in training every output is 0 or
 * x / (1 - p), about a fraction p is dropped, and the gradient is dy with the
 * same mask and scale. */
START_TEST(golden_dropout) {
    const real ps[] = {0.1, 0.5};
    Tensor *x = test_param(test_randn(21, NN_SHAPE(64, 1000)));
    Tensor *dy = test_randn(22, NN_SHAPE(64, 1000));
    for (int k = 0; k < 2; k++) {
        real p = ps[k];
        Module m;
        module_init(&m, 7);
        Dropout d = dropout_new(&m, "dropout", p);
        Graph *g = graph_new();
        module_train(&m, 0);
        ck_assert(dropout_forward(&d, &m, g, x) == x);
        module_train(&m, 1);
        Dropout d0 = dropout_new(&m, "dropout", 0);
        ck_assert(dropout_forward(&d0, &m, g, x) == x);
        Tensor *y = dropout_forward(&d, &m, g, x);
        ag_backward_with(g, y, dy);
        /* One assertion per property, not per element: Check records every assertion it passes. */
        int64_t dropped = 0, bad_zero = -1, bad_value = -1, bad_grad = -1;
        double scale = 1 / (1 - (double)p);
        for (int64_t i = 0; i < x->numel; i++) {
            double xi = x->data[i], yi = y->data[i], gi = x->grad->data[i], di = dy->data[i];
            if (xi == 0 && bad_zero < 0) bad_zero = i;
            if (yi == 0) {
                dropped++;
                if (gi != 0 && bad_grad < 0) bad_grad = i;
            } else {
                if (fabs(yi - xi * scale) > 1e-6 * fabs(xi * scale) && bad_value < 0) bad_value = i;
                if (fabs(gi - di * scale) > 1e-6 * fabs(di * scale) + 1e-12 && bad_grad < 0) bad_grad = i;
            }
        }
        ck_assert_msg(bad_zero < 0, "x has a zero at %lld: the test cannot tell a dropped element",
                      (long long)bad_zero);
        ck_assert_msg(bad_value < 0, "p %g: element %lld is %.9g, neither 0 nor x/(1-p) = %.9g", (double)p,
                      (long long)bad_value, bad_value < 0 ? 0 : (double)y->data[bad_value],
                      bad_value < 0 ? 0 : x->data[bad_value] * scale);
        ck_assert_msg(bad_grad < 0, "p %g: gradient %lld is %.9g, expected %s", (double)p, (long long)bad_grad,
                      bad_grad < 0 ? 0 : (double)x->grad->data[bad_grad],
                      bad_grad >= 0 && y->data[bad_grad] == 0 ? "0 (dropped)" : "dy/(1-p) (kept)");
        /* 64000 draws: the standard deviation of the fraction is at most 0.002 */
        double frac = (double)dropped / (double)x->numel;
        if (report_on()) printf("golden dropout p %.1f: fraction dropped %.4f\n", (double)p, frac);
        ck_assert_msg(fabs(frac - p) < 0.01, "p %g: fraction dropped %g", (double)p, frac);
        tensor_zero_grad(x);
        graph_free(g);
        module_free(&m);
    }
    tensor_free(x);
    tensor_free(dy);
}
END_TEST

/* ---- losses ---- */

/* Backpropagates dy = W (a scalar) from the loss and compares it and the gradients of the inputs. */
static void check_loss(const Fixture *f, Graph *g, Tensor *loss, int n, Tensor *const *in, const char *const *names) {
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

START_TEST(golden_loss_bce) {
    Fixture *f = fx_open("loss_bce");
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
END_TEST

START_TEST(golden_loss_cross_entropy) {
    const char *cases[] = {"loss_ce_ignore_m100", "loss_ce_ignore0"};
    for (int c = 0; c < 2; c++) {
        Fixture *f = fx_open(cases[c]);
        const char *names[] = {"logits"};
        Tensor *logits = test_param(fx_tensor(f, "logits"));
        int64_t *target = fx_ints(f, "target", NULL), *ignore = fx_ints(f, "ignore_index", NULL);
        Graph *g = graph_new();
        check_loss(f, g, loss_cross_entropy(g, logits, target, ignore[0]), 1, &logits, names);
        graph_free(g);
        tensor_free(logits);
        free(target);
        free(ignore);
        fx_free(f);
    }
}
END_TEST

START_TEST(golden_loss_mse) {
    const char *cases[] = {"loss_mse", "loss_mse_broadcast"};
    for (int c = 0; c < 2; c++) {
        Fixture *f = fx_open(cases[c]);
        const char *names[] = {"pred", "target"};
        Tensor *in[2] = {test_param(fx_tensor(f, names[0])), test_param(fx_tensor(f, names[1]))};
        Graph *g = graph_new();
        check_loss(f, g, loss_mse(g, in[0], in[1]), 2, in, names);
        graph_free(g);
        test_free_all(2, in);
        fx_free(f);
    }
}
END_TEST

/* ---- optimizers: Linear(4, 3) + LayerNorm(3), explicit gradients, 5 steps ---- */

static void optim_module(Module *m, const Fixture *f) {
    module_init(m, 8);
    linear_new(m, "fc", 4, 3, 1);
    layer_norm_new(m, "ln", 3, 1e-5);
    fx_load_params(f, m);
}

/* Sets each parameter's gradient to "step<k>.grad.<name>"; parameters without one keep no gradient. */
static void set_step_grads(const Fixture *f, Module *m, int k) {
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
static void check_state(const Fixture *f, const Module *m, int k, const char *what, Tensor *const *state) {
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

static Tensor *const *param_values(const Module *m, Tensor **out) {
    for (int i = 0; i < m->n_params; i++) out[i] = m->params[i].value;
    return out;
}

static void run_adam_case(const char *name) {
    Fixture *f = fx_open(name);
    Module m;
    optim_module(&m, f);
    AdamConfig cfg = {fx_scalar(f, "lr"),  fx_scalar(f, "beta1"),        fx_scalar(f, "beta2"),
                      fx_scalar(f, "eps"), fx_scalar(f, "weight_decay"), (int)fx_scalar(f, "decoupled"), 0};
    Adam *a = adam_new(&m, cfg);
    Tensor *values[8];
    for (int k = 1; k <= 5; k++) {
        set_step_grads(f, &m, k);
        adam_step(a);
        check_state(f, &m, k, "param", param_values(&m, values));
        check_state(f, &m, k, "m", a->m);
        check_state(f, &m, k, "v", a->v);
    }
    adam_free(a);
    module_free(&m);
    fx_free(f);
}

START_TEST(golden_adam) {
    run_adam_case("adam_default");
    run_adam_case("adam_wd");
}
END_TEST

START_TEST(golden_adamw) { run_adam_case("adamw"); }
END_TEST

START_TEST(golden_adam_late_gradient) { run_adam_case("adam_late_grad"); }
END_TEST

START_TEST(golden_sgd) {
    const char *cases[] = {"sgd_plain", "sgd_momentum", "sgd_nesterov", "sgd_wd"};
    for (int c = 0; c < 4; c++) {
        Fixture *f = fx_open(cases[c]);
        Module m;
        optim_module(&m, f);
        SgdConfig cfg = {(real)fx_scalar(f, "lr"), (real)fx_scalar(f, "momentum"), (real)fx_scalar(f, "dampening"),
                         (real)fx_scalar(f, "weight_decay"), (int)fx_scalar(f, "nesterov")};
        Sgd *s = sgd_new(&m, cfg);
        Tensor *values[8];
        for (int k = 1; k <= 5; k++) {
            set_step_grads(f, &m, k);
            sgd_step(s);
            check_state(f, &m, k, "param", param_values(&m, values));
            check_state(f, &m, k, "buf", s->buf);
        }
        sgd_free(s);
        module_free(&m);
        fx_free(f);
    }
}
END_TEST

START_TEST(golden_clip_grad_norm) {
    const char *cases[] = {"clip_grad_norm_clip", "clip_grad_norm_noclip", "clip_grad_norm_tiny"};
    const Tol tol = {1e-5, 0, 1e-6}; /* no absolute floor: the tiny case's gradients are ~1e-6 */
    char key[256];
    for (int c = 0; c < 3; c++) {
        Fixture *f = fx_open(cases[c]);
        Module m;
        module_init(&m, 9);
        linear_new(&m, "fc", 4, 3, 1);
        layer_norm_new(&m, "ln", 3, 1e-5);
        Graph *g = graph_new();
        for (int i = 0; i < m.n_params; i++) {
            snprintf(key, sizeof key, "grad.%s", m.params[i].name);
            if (fx_find(f, key)) fx_fill(f, key, ag_grad(g, m.params[i].value)); /* ln.bias keeps no gradient */
        }
        graph_free(g);
        fx_check_value(f, "norm", clip_grad_norm(&m, fx_scalar(f, "max_norm")), tol);
        for (int i = 0; i < m.n_params; i++) {
            snprintf(key, sizeof key, "clipped.%s", m.params[i].name);
            if (fx_find(f, key))
                fx_check_tol(f, key, m.params[i].value->grad, tol);
            else
                ck_assert(m.params[i].value->grad == NULL);
        }
        module_free(&m);
        fx_free(f);
    }
}
END_TEST

static Suite *golden_suite(void) {
    Suite *s = suite_create("golden");
    TCase *tc = tcase_create("pytorch");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, golden_fixture_reader);
    tcase_add_test(tc, golden_linear);
    tcase_add_test(tc, golden_embedding);
    tcase_add_test(tc, golden_layernorm);
    tcase_add_test(tc, golden_dropout);
    tcase_add_test(tc, golden_feedforward);
    tcase_add_test(tc, golden_multihead_attention);
    tcase_add_test(tc, golden_transformer_block);
    tcase_add_test(tc, golden_loss_bce);
    tcase_add_test(tc, golden_loss_cross_entropy);
    tcase_add_test(tc, golden_loss_mse);
    tcase_add_test(tc, golden_adam);
    tcase_add_test(tc, golden_adamw);
    tcase_add_test(tc, golden_adam_late_gradient);
    tcase_add_test(tc, golden_sgd);
    tcase_add_test(tc, golden_clip_grad_norm);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(golden_suite)
