#!/usr/bin/env python3
"""Plants a 1% error in the backward pass of each op, one at a time, and
checks that the gradient-check suites (tests/autograd/grad_ops.c, tests/nn/grad_nn.c)
fail for every one of them; then restores the source.

    python3 tests/tools/plant_gradient_errors.py        # from the repository root

Each mutation scales one op's gradient contribution by 1.01. It builds into
build/mutants and never leaves a source file changed (it restores on any exit).
Prints one line per mutation and exits non-zero if any mutation survived."""
import os
import subprocess
import sys

SCALE = "(real)1.01"
HELPER = """
#include "tensor/kernels.h"
static Tensor *mut_scaled(Graph *g_, const Tensor *t_) { /* planted by plant_gradient_errors.py */
    Tensor *d_ = ag_new(g_, t_->ndim, t_->shape);
    tensor_unary(d_, t_, UNARY_MUL_SCALAR, (real)1.01);
    return d_;
}
"""

# (op, file, text to find (unique), replacement)
MUTATIONS = [
    ("add", "op_elementwise.c", "    ag_accumulate(g, n->in[0], n->out->grad);\n    ag_accumulate(g, n->in[1], n->out->grad);",
     "    ag_accumulate(g, n->in[0], mut_scaled(g, n->out->grad));\n    ag_accumulate(g, n->in[1], n->out->grad);"),
    ("sub", "op_elementwise.c", "    ag_accumulate(g, n->in[0], dy);", "    ag_accumulate(g, n->in[0], mut_scaled(g, dy));"),
    ("mul", "op_elementwise.c", "accumulate_product(g, a, dy, b, BINARY_MUL);", "accumulate_product(g, a, mut_scaled(g, dy), b, BINARY_MUL);"),
    ("div", "op_elementwise.c", "accumulate_product(g, a, dy, b, BINARY_DIV);", "accumulate_product(g, a, mut_scaled(g, dy), b, BINARY_DIV);"),
] + [
    (name, "op_elementwise.c", f"GRAD_CASE({case}, {expr});", f"GRAD_CASE({case}, {SCALE} * ({expr}));")
    for name, case, expr in [
        ("neg", "UNARY_NEG", "-dy[i]"), ("exp", "UNARY_EXP", "dy[i] * yv[i]"), ("log", "UNARY_LOG", "dy[i] / xv[i]"),
        ("sqrt", "UNARY_SQRT", "dy[i] / (2 * yv[i])"), ("tanh", "UNARY_TANH", "dy[i] * (1 - yv[i] * yv[i])"),
        ("sigmoid", "UNARY_SIGMOID", "dy[i] * yv[i] * (1 - yv[i])"), ("relu", "UNARY_RELU", "yv[i] > 0 ? dy[i] : 0"),
        ("gelu", "UNARY_GELU", "dy[i] * r_gelu_grad(xv[i])"), ("add_scalar", "UNARY_ADD_SCALAR", "dy[i]"),
        ("mul_scalar", "UNARY_MUL_SCALAR", "dy[i] * c"), ("pow_scalar", "UNARY_POW_SCALAR", "dy[i] * c * R_POW(xv[i], c - 1)"),
    ]
] + [
    ("sum", "op_reduce.c", "grad_keepdim(g, n, 1), BINARY_ADD", f"grad_keepdim(g, n, {SCALE}), BINARY_ADD"),
    ("mean", "op_reduce.c", "grad_keepdim(g, n, 1 / count)", f"grad_keepdim(g, n, {SCALE} / count)"),
    ("max", "op_reduce.c", "gx[i] += y->grad->data[o];", f"gx[i] += {SCALE} * y->grad->data[o];"),
    ("matmul", "op_matmul.c", "accumulate_matmul(g, a, dy, &bt);", "accumulate_matmul(g, a, mut_scaled(g, dy), &bt);"),
    ("matmul (right operand)", "op_matmul.c", "accumulate_matmul(g, b, &at, dy);", "accumulate_matmul(g, b, &at, mut_scaled(g, dy));"),
    ("linear (input)", "op_matmul.c", "gemm(rows, in, out, dy, out, 1, w->data", "gemm(rows, in, out, mut_scaled(g, y->grad)->data, out, 1, w->data"),
    ("linear (weight)", "op_matmul.c", "gemm(out, in, rows, dy, 1, out, xv", "gemm(out, in, rows, mut_scaled(g, y->grad)->data, 1, out, xv"),
    ("linear (bias)", "op_matmul.c", "tensor_sum_to(ag_grad(g, bias), &d, 1);", "tensor_sum_to(ag_grad(g, bias), mut_scaled(g, &d), 1);"),
    ("reshape/contiguous", "op_shape.c", "    tensor_binary(gx, gx, &dy, BINARY_ADD);", "    tensor_binary(gx, gx, mut_scaled(g, &dy), BINARY_ADD);"),
    ("permute/transpose", "op_shape.c", "    Tensor gv = tensor_permute(ag_grad(g, n->in[0]), perm);\n    tensor_binary(&gv, &gv, n->out->grad, BINARY_ADD);",
     "    Tensor gv = tensor_permute(ag_grad(g, n->in[0]), perm);\n    tensor_binary(&gv, &gv, mut_scaled(g, n->out->grad), BINARY_ADD);"),
    ("narrow", "op_shape.c", "n->i[1], n->i[2]);\n    tensor_binary(&gv, &gv, n->out->grad, BINARY_ADD);",
     "n->i[1], n->i[2]);\n    tensor_binary(&gv, &gv, mut_scaled(g, n->out->grad), BINARY_ADD);"),
    ("expand", "op_shape.c", "{ ag_accumulate(g, n->in[0], n->out->grad); }", "{ ag_accumulate(g, n->in[0], mut_scaled(g, n->out->grad)); }"),
    ("concat", "op_shape.c", "tensor_binary(gx, gx, &part, BINARY_ADD);", "tensor_binary(gx, gx, mut_scaled(g, &part), BINARY_ADD);"),
    ("softmax", "op_softmax.c", "gx[r * len + j] += py[j] * (pd[j] - dot);", f"gx[r * len + j] += {SCALE} * py[j] * (pd[j] - dot);"),
    ("log_softmax", "op_softmax.c", "gx[r * len + j] += pd[j] - r_exp(py[j]) * sum;", f"gx[r * len + j] += {SCALE} * (pd[j] - r_exp(py[j]) * sum);"),
    ("where/masked_fill", "op_select.c", "        ag_accumulate(g, t, d);\n    }\n}", "        ag_accumulate(g, t, mut_scaled(g, d));\n    }\n}"),
    ("index_select", "op_select.c", "for (int64_t j = 0; j < s.inner; j++) dst[j] += src[j];", f"for (int64_t j = 0; j < s.inner; j++) dst[j] += {SCALE} * src[j];"),
    ("embedding", "op_select.c", "for (int64_t j = j0; j < j1; j++) dst[j] += src[j];", f"for (int64_t j = j0; j < j1; j++) dst[j] += {SCALE} * src[j];"),
    ("dropout", "op_dropout.c", "gx[i] += keep[i] ? dy[i] * scale : 0;", f"gx[i] += keep[i] ? {SCALE} * dy[i] * scale : 0;"),
    ("layer_norm (input)", "op_layernorm.c", "gx[k] += rs * (", f"gx[k] += {SCALE} * rs * ("),
    ("layer_norm (weight)", "op_layernorm.c", "pw[j] += pd[j] * (px[j] - mu) * rs;", f"pw[j] += {SCALE} * pd[j] * (px[j] - mu) * rs;"),
    ("layer_norm (bias)", "op_layernorm.c", "pb[j] += pd[j];", f"pb[j] += {SCALE} * pd[j];"),
    ("bce_with_logits", "op_loss.c", "gx[i] += scale * w *", f"gx[i] += {SCALE} * scale * w *"),
    ("cross_entropy", "op_loss.c", "d[j] += scale * p[j];", f"d[j] += {SCALE} * scale * p[j];"),
    ("attention (q, k)", "op_attention.c", "g[j] = p[j] * (g[j] - rowdot) * scale;", f"g[j] = {SCALE} * p[j] * (g[j] - rowdot) * scale;"),
    ("attention (v)", "op_attention.c", "for (int64_t j = 0; j < n; j++) t[j] = p[j];\n            if (keep) /* bits",
     f"for (int64_t j = 0; j < n; j++) t[j] = {SCALE} * p[j];\n            if (keep) /* bits"),
]


def run(cmd):
    return subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def main():
    build = "build/mutants"
    tests = f"{build}/tests/autograd/grad_ops {build}/tests/nn/grad_nn"
    base = run(f"make -s BUILD={build} {tests}")
    if base.returncode != 0:
        sys.exit("the unmutated build failed:\n" + base.stdout)
    for t in tests.split():
        if run(t).returncode != 0:
            sys.exit(f"{t} fails without any mutation")
    survived = []
    for op, fname, old, new in MUTATIONS:
        path = os.path.join("autograd", fname)
        original = open(path).read()
        if original.count(old) != 1:
            sys.exit(f"{op}: the text to mutate occurs {original.count(old)} times in {path}")
        first_func = original.index("\nstatic ") if "mut_scaled" in new else None
        mutated = original.replace(old, new)
        if first_func is not None:
            mutated = mutated[:first_func] + "\n" + HELPER + mutated[first_func:]
        try:
            open(path, "w").write(mutated)
            b = run(f"make -s BUILD={build} {tests}")
            if b.returncode != 0:
                sys.exit(f"{op}: the mutant does not build:\n{b.stdout}")
            caught = [t.split("/")[-1] for t in tests.split() if run(t).returncode != 0]
        finally:
            open(path, "w").write(original)
        print(f"{'caught' if caught else 'SURVIVED':8} {op:24} {', '.join(caught)}", flush=True)
        if not caught:
            survived.append(op)
    run(f"make -s BUILD={build} {tests}")  # leave the build matching the source
    if survived:
        sys.exit(f"{len(survived)} mutations survived: {', '.join(survived)}")
    print(f"all {len(MUTATIONS)} planted 1% errors were caught")


if __name__ == "__main__":
    main()
