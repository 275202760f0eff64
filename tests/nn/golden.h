/* Golden fixtures for tests/nn/test_golden*.c: PyTorch references in
 * tests/fixtures/<case>.safetensors (written by tests/fixtures/gen_fixtures.py,
 * which documents the names), read with the library's own reader
 * (io/safetensors.h), and the comparisons the suites make with them.
 *
 * Names: "x" the input, "W" the loss weights (backward starts from
 * dy = W, the gradient of sum(W * y)), "y" the output, "grad.x" the input's
 * gradient, "param.<ours>" and "grad.<ours>" a parameter and its gradient
 * under our dotted name, "step<k>.<what>.<ours>" optimizer state after step k.
 *
 * GOLDEN_REPORT=1 prints the worst error of every comparison. */
#ifndef NN_TESTS_GOLDEN_H
#define NN_TESTS_GOLDEN_H

#include "io/safetensors.h"
#include "nn/module.h"
#include "tests/support.h"

#define FIXTURE_DIR "tests/fixtures/"
#define REGENERATE  "/usr/bin/python3 tests/fixtures/gen_fixtures.py"

typedef struct {
    const char *name; /* the tensor's name in the file */
    int is_int;       /* stored as I64 */
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    int64_t n;
    double *v;      /* (n) values in row-major order, exactly as stored (F32, F64 or I64) */
    int stored_f32; /* F32: inputs, and the references of the cases at SASRec's sizes (rounded) */
} FxEntry;

typedef struct {
    char name[64];   /* the case, e.g. "linear_bias" */
    SafeTensors *st; /* the file, checked by the library's reader */
    int n;
    FxEntry *e; /* (n) in the file's order */
} Fixture;

/* Reads and decodes a fixture file; NULL with a message in err (the library's for a malformed file). */
Fixture *fx_load_path(const char *path, const char *name, NnError *err);
/* tests/fixtures/<name>.safetensors (tests run from the repository root); NULL and a message. */
Fixture *fx_load(const char *name, NnError *err);
/* The fixture, or a failed test naming the problem. */
Fixture *fx_open(const char *name);
/* Releases a fixture. NULL is allowed. */
void fx_free(Fixture *f);

/* The entry called name, or NULL. */
const FxEntry *fx_find(const Fixture *f, const char *name);
/* The entry called name, or a failed test. */
const FxEntry *fx_get(const Fixture *f, const char *name);
/* A one-value entry. */
double fx_scalar(const Fixture *f, const char *name);
/* An I64 entry as a malloc'd array; its count in *n (may be NULL). */
int64_t *fx_ints(const Fixture *f, const char *name, int64_t *n);
/* Loads an F32 entry into t (any strides, same shape) through safetensors_load_into. */
void fx_fill(const Fixture *f, const char *name, Tensor *t);
/* A new owned tensor holding an F32 entry. */
Tensor *fx_tensor(const Fixture *f, const char *name);
/* The fixture's input "x" as a leaf that requires grad. */
Tensor *fx_input(const Fixture *f);
/* key_valid (B, L) of a fixture as bytes (malloc'd). */
unsigned char *fx_key_valid(const Fixture *f);

/* Element i passes when |actual - expected| <= rtol |expected| + atol + arel max|expected|. */
typedef struct {
    double rtol, atol, arel;
} Tol;

extern const Tol TOL_LAYER; /* layers and losses: 1e-5 relative, 1e-6 absolute in float */
extern const Tol TOL_OPTIM; /* optimizer state: 1e-6 relative, 1e-6 of the tensor's largest value */

/* Compares actual (NULL: all zeros, e.g. a gradient never made) with entry name. */
void fx_check_tol(const Fixture *f, const char *name, const Tensor *actual, Tol tol);
/* fx_check_tol with TOL_LAYER. */
void fx_check(const Fixture *f, const char *name, const Tensor *actual);
/* Compares one value. */
void fx_check_value(const Fixture *f, const char *name, double actual, Tol tol);
/* Loads "param.<name>" into every parameter of m; the fixture must have no other parameters. */
void fx_load_params(const Fixture *f, Module *m);
/* Backpropagates dy = W from y, then compares y, x's gradient (x may be NULL) and every parameter's
 * gradient with "<prefix>y", "<prefix>grad.x" and "<prefix>grad.<param>"; absolute floor 1e-6 of the
 * case's largest value. */
void check_layer_ref(const Fixture *f, const char *prefix, Graph *g, const Module *m, Tensor *x, Tensor *y);
/* check_layer_ref without a prefix. */
void check_layer(const Fixture *f, Graph *g, const Module *m, Tensor *x, Tensor *y);
/* Backpropagates dy = W (a scalar) from the loss and compares it and the gradients of in[i] with
 * "y" and "grad.<names[i]>". */
void check_loss(const Fixture *f, Graph *g, Tensor *loss, int n, Tensor *const *in, const char *const *names);

/* The LayerNorm case name (x, param.ln.*, eps): forward and backward against the reference. */
void golden_layernorm_case(const char *name);
/* The Embedding case name (ids, padding_idx, param.emb.weight): the same, and no gradient to the padding row. */
void golden_embedding_case(const char *name);
/* The SASRec BCE case name (pos_logits, neg_logits, istarget): loss_bce_pos_neg against the reference. */
void golden_bce_case(const char *name);
/* The cross-entropy case name (logits, target, ignore_index): loss_cross_entropy against the reference. */
void golden_ce_case(const char *name);

/* Sets each parameter's gradient to "step<k>.grad.<name>"; parameters without one keep no gradient. */
void set_step_grads(const Fixture *f, Module *m, int k);
/* Compares "step<k>.<what>.<name>" with state[i] for every parameter; a state torch never made must be
 * zero or absent. */
void check_state(const Fixture *f, const Module *m, int k, const char *what, Tensor *const *state);
/* m's parameter values in out (m->n_params of them); returns out. */
Tensor *const *param_values(const Module *m, Tensor **out);
/* Runs the Adam case name on a module whose parameters params() registers: loads "param.*", then for
 * every step k in the fixture sets the gradients, steps, and compares parameters and moments. */
void golden_adam_case(const char *name, void (*params)(Module *m));

/* Whether GOLDEN_REPORT=1. */
int golden_report(void);

#endif
